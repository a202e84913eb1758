// Command qkv trains, runs, evaluates, explains and serves attention-based
// sequence-transduction models: the LSTM encoder-decoder of Sutskever et al.
// (2014), RNNsearch of Bahdanau et al. (2014) and the Transformer of Vaswani
// et al. (2017).
//
// Each subcommand lives in its own file of this package and registers itself
// on the root command in an init function.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/kernels"
)

// rootCmd is the `qkv` command; subcommands add themselves to it in init.
var rootCmd = &cobra.Command{
	Use:   "qkv",
	Short: "Attention-based sequence transduction: train, run, evaluate and explain seq2seq, RNNsearch and Transformer models",
	Long: `qkv implements the three models that tell the story of attention:
  seq2seq      the LSTM encoder-decoder of Sutskever et al. 2014
  rnnsearch    the attentional bidirectional-LSTM model of Bahdanau et al. 2014
  transformer  the Transformer of Vaswani et al. 2017

Start with "qkv demo": it trains a small Transformer on the built-in CMU
Pronouncing Dictionary and pronounces words it never saw.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

var (
	cpuProfile string
	memProfile string
	threads    int
)

func init() {
	pf := rootCmd.PersistentFlags()
	pf.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	pf.StringVar(&memProfile, "memprofile", "", "write a memory profile to this file when the command ends (go tool pprof -sample_index=alloc_space: where memory was allocated; inuse_space: what was still held)")
	pf.IntVar(&threads, "threads", 0, "cores to use (default and at most: all the machine has)")
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		n, note, err := checkThreads(threads, runtime.NumCPU())
		if err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintln(cmd.ErrOrStderr(), note)
		}
		if n > 0 {
			runtime.GOMAXPROCS(n)
			kernels.SetThreads(n)
		}
		// The memory profile is written when the command ends: a path it
		// cannot be written to is refused now, not after the work.
		if memProfile != "" {
			if err := atomicfile.CanCreate(memProfile); err != nil {
				return fmt.Errorf("--memprofile: %w", err)
			}
		}
		if cpuProfile != "" {
			f, err := atomicfile.Create(cpuProfile)
			if err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Abort()
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			profileFile = f
		}
		return nil
	}
}

// profileFile is the --cpuprofile file being written, committed when the
// command ends (a profile is written as the program runs, so it goes
// through the atomic writer like every other file qkv writes).
var profileFile *atomicfile.File

// stopProfile ends the CPU profile and puts its file in place.
func stopProfile() error {
	if profileFile == nil {
		return nil
	}
	pprof.StopCPUProfile()
	f := profileFile
	profileFile = nil
	if err := f.Commit(); err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	return nil
}

// checkThreads returns the thread count --threads asks for: 0 leaves the
// default (all CPUs), a negative count is an error, and more threads than
// the machine has CPUs is capped to them (more only adds contention, and a
// typo such as 100000 would exhaust the system's threads), with a note
// saying so.
func checkThreads(asked, cpus int) (n int, note string, err error) {
	switch {
	case asked < 0:
		return 0, "", fmt.Errorf("--threads %d is out of range: give a positive number of cores (at most %d here), or leave it out for all", asked, cpus)
	case asked > cpus:
		return cpus, fmt.Sprintf("qkv: --threads %d: this machine has %d CPUs; using %d", asked, cpus, cpus), nil
	}
	return asked, "", nil
}

// writeMemProfile writes the heap profile --memprofile asks for.
func writeMemProfile() error {
	if memProfile == "" {
		return nil
	}
	runtime.GC() // up-to-date in-use figures
	if err := atomicfile.Write(memProfile, func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) }); err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	return nil
}

// groupsRefuseUnknown makes a command that only groups others (qkv data,
// qkv bench) fail on an unknown subcommand: cobra prints such a command's
// help and exits 0, so `qkv data gettxt` looked like a success to a script.
// Without arguments the help is printed, as before.
func groupsRefuseUnknown(c *cobra.Command) {
	for _, sub := range c.Commands() {
		groupsRefuseUnknown(sub)
	}
	if c == rootCmd || c.Runnable() || !c.HasSubCommands() {
		return
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unknown command %q for %q (run '%s --help' for its commands)", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return cmd.Help()
	}
}

func main() {
	groupsRefuseUnknown(rootCmd)
	err := rootCmd.Execute()
	if perr := writeMemProfile(); err == nil {
		err = perr
	}
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "qkv:", err)
		os.Exit(1)
	}
}
