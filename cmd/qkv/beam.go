package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
)

// beamBinary is the program `qkv beam` runs. It carries the Apache Beam Go
// SDK (and its gRPC and cloud dependencies), so it is built apart, from the
// beam/ module, and qkv itself stays small and quick to build.
const beamBinary = "qkv-beam"

// beamBuildHint says how to get beamBinary.
const beamBuildHint = "build it from this repository with `cd beam && CGO_ENABLED=0 go build -o ../qkv-beam ./cmd/qkv-beam` (or `make build-beam`) and keep it beside the qkv binary or on PATH"

var beamCmd = &cobra.Command{
	Use:   "beam COMMAND [flags]",
	Short: "Decode, score and prepare corpora as Apache Beam pipelines, on one machine or a cluster (runs qkv-beam)",
	Long: `qkv beam runs qkv predict, eval and score, and corpus preparation, as Apache
Beam pipelines: on this machine (Beam's in-process Prism runner, the default)
or on a Flink or Spark job server or Google Cloud Dataflow.

  qkv beam predict --model DIR --input GLOB --output PREFIX [--beam K …]
  qkv beam eval --model DIR --test GLOB
  qkv beam score --metric bleu --hyp FILE --ref FILE
  qkv beam prepare gettext|bpe …

The work is done by a second program, qkv-beam, which carries the Beam SDK;
qkv looks for it beside its own executable, then on PATH, and hands it every
argument. Run "qkv beam COMMAND --help" for each command's flags, and see
docs/scaling.md for the runners.

If qkv-beam is missing, ` + beamBuildHint + `.`,
	DisableFlagParsing: true,
	RunE:               runBeam,
}

func init() { rootCmd.AddCommand(beamCmd) }

// findBeamBinary looks for qkv-beam beside the running qkv, then on PATH.
func findBeamBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), beamBinary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(beamBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("qkv beam needs the %s program, which is neither beside qkv nor on PATH: %s", beamBinary, beamBuildHint)
}

func runBeam(cmd *cobra.Command, args []string) error {
	bin, err := findBeamBinary()
	if err != nil {
		if len(args) == 0 || slices.Contains(args, "--help") || slices.Contains(args, "-h") {
			fmt.Fprintln(cmd.OutOrStdout(), cmd.Long)
		}
		return err
	}
	c := exec.Command(bin, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	err = c.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		// qkv-beam has said what went wrong: pass its status on, silently.
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("beam: running %s: %w", bin, err)
	}
	return nil
}
