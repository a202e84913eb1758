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
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"

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
	threads    int
)

func init() {
	pf := rootCmd.PersistentFlags()
	pf.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	pf.IntVar(&threads, "threads", 0, "cores to use (default: all)")
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if threads > 0 {
			runtime.GOMAXPROCS(threads)
			kernels.SetThreads(threads)
		}
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		return nil
	}
}

func main() {
	defer pprof.StopCPUProfile()
	if err := rootCmd.Execute(); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "qkv:", err)
		os.Exit(1)
	}
}
