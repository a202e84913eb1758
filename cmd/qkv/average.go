package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/train"
)

var avf struct {
	model, out string
	last       int
}

var averageCmd = &cobra.Command{
	Use:   "average --model DIR [--last N | FILE ...]",
	Short: "Average the weights of a run's last snapshots (or of given files)",
	Long: `Write the element-wise mean of several weight files of one model, as
fairseq's average_checkpoints.py does; the Transformer paper averaged its last
5 or 20 checkpoints. By default the newest --last snapshots that
'qkv train --keep-snapshots N' kept in the model directory are averaged; FILEs
(names in the model directory, or paths) choose others; only parameters are
averaged (last.safetensors also holds the optimizer's state). A FILE may also
name a model, as --init-from does: builtin:NAME or a model directory (its
best weights), such as the model a run started from: averaging the ends of
two cycles of the learning rate is stochastic weight averaging (Izmailov et
al. 2018). A model named, or the model directory a file lies in, must have
the architecture and vocabularies of --model. The result, by default
DIR/average.safetensors, is checked to load into the model, and is used with
'qkv predict|eval --weights average.safetensors'.

  qkv average --model run --last 10
  qkv average --model run --out swa.safetensors last.safetensors builtin:g2p-en`,
	RunE: func(cmd *cobra.Command, files []string) error {
		if avf.model == "" {
			return errors.New("average: --model is required")
		}
		if pipeline.IsBuiltin(avf.model) {
			return fmt.Errorf("average: %s is built into qkv: it has no snapshots to average and cannot be written to", avf.model)
		}
		var paths []string
		if len(files) > 0 {
			if cmd.Flags().Changed("last") {
				return errors.New("average: give --last or files, not both")
			}
			for _, f := range files {
				if !pipeline.IsBuiltin(f) {
					f = pipeline.InDir(avf.model, f)
				}
				paths = append(paths, f)
			}
		} else {
			if avf.last < 1 {
				return fmt.Errorf("average: --last must be at least 1, got %d", avf.last)
			}
			snaps, err := train.Snapshots(avf.model)
			if err != nil {
				return err
			}
			if len(snaps) == 0 {
				return fmt.Errorf("average: %s has no snapshots (%s): train with --keep-snapshots N, or name the files", avf.model, train.SnapshotPattern)
			}
			// fairseq's average_checkpoints.py stops here; averaging
			// fewer than asked is useful, but must not pass unnoticed.
			if len(snaps) < avf.last {
				fmt.Fprintf(os.Stderr, "qkv average: --last %d, but %s keeps %d snapshots: averaging those %d\n", avf.last, avf.model, len(snaps), len(snaps))
			}
			paths = snaps[max(0, len(snaps)-avf.last):]
		}
		out := pipeline.InDir(avf.model, avf.out)
		// The output must not replace what it is made from, nor a file
		// the model directory needs (last.safetensors is what --resume
		// continues from, with the optimizer's state).
		if err := atomicfile.NotAnInput(out, append(slices.Clone(paths), modelFiles(avf.model, "")...)...); err != nil {
			return fmt.Errorf("average: --out: %w; choose another name, e.g. average.safetensors", err)
		}
		if base := filepath.Base(out); filepath.Dir(out) == filepath.Clean(avf.model) && slices.Contains([]string{pipeline.ConfigFile, pipeline.SrcVocabFile, pipeline.TgtVocabFile, pipeline.SrcBPEFile, pipeline.TgtBPEFile, pipeline.LastFile}, base) {
			return fmt.Errorf("average: --out %s would replace the model directory's %s; choose another name, e.g. average.safetensors", avf.out, base)
		}
		// Average into a temporary file beside the output, check that it
		// loads into the model, and only then rename it into place: a
		// failure leaves any previous output as it was.
		// The temporary name is random, as atomicfile's: two qkv average
		// writing the same --out at once must not write into, or remove,
		// each other's file.
		if err := atomicfile.CanCreate(out); err != nil {
			return fmt.Errorf("average: --out: %w", err)
		}
		tf, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
		if err != nil {
			return fmt.Errorf("average: --out: %w", err)
		}
		tmp := tf.Name()
		tf.Close()
		defer os.Remove(tmp)
		p, err := pipeline.LoadForResume(avf.model)
		if err != nil {
			return fmt.Errorf("average: %w", err)
		}
		err = checkpoint.AverageOf(tmp, paths, func(name string) (map[string]checkpoint.Array, error) {
			return pipeline.WeightsFor(p, name)
		})
		if err != nil {
			return fmt.Errorf("average: %w", err)
		}
		abs, err := filepath.Abs(tmp) // a path, never a bare name LoadWeights would look for in the model directory
		if err != nil {
			return err
		}
		if _, err := pipeline.LoadWeights(avf.model, abs); err != nil {
			return fmt.Errorf("average: the result does not fit the model in %s (nothing was written): %w", avf.model, err)
		}
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("average: %w", err)
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"out": out, "averaged": paths})
	},
}

func init() {
	f := averageCmd.Flags()
	f.StringVar(&avf.model, "model", "", "model directory (from qkv train)")
	f.IntVar(&avf.last, "last", 5, "average the newest N snapshots")
	f.StringVar(&avf.out, "out", "average.safetensors", "output file (a name in the model directory, or a path)")
	rootCmd.AddCommand(averageCmd)
}
