package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/pipeline"
)

var qf struct {
	model, weights, out string
}

var quantizeCmd = &cobra.Command{
	Use:   "quantize --model DIR [--weights FILE] [--out DIR]",
	Short: "Write an int8 copy of a Transformer for faster decoding",
	Long: `Write a copy of a trained Transformer whose Linear layers (the attention
projections, the feed-forward layers and the output projection) hold int8
weights: each output channel is scaled so its largest weight is ±127 and every
weight rounded to the nearest integer; the scales are stored beside the
weights. Embeddings, layer norms and biases stay float32. The file is a quarter
to a third of the float32 size (a quarter for the G2P Transformer).

'qkv predict|eval|serve|bench decode --model OUT' load the copy like any
model, with the same flags. They quantize every row of activations as it
comes (dynamic quantization, like PyTorch's quantize_dynamic; 7 bits and a
zero point, so that the AVX2 products cannot saturate), sum the products
exactly in int32 and scale back, which decodes faster than float32 at nearly
the same accuracy: compare the two with qkv eval.

The output directory (default: DIR-int8 beside DIR) must be new or empty and
may not lie inside DIR; it is written under a temporary name and renamed, so
it appears whole or not at all. The source model is never changed. A model
that is already quantized is refused.`,
	Args: cobra.NoArgs,
	RunE: runQuantize,
}

func init() {
	f := quantizeCmd.Flags()
	f.StringVar(&qf.model, "model", "", "model directory (from qkv train)")
	f.StringVar(&qf.weights, "weights", "", "weights file in the model directory or a path (default: best.safetensors, else last.safetensors)")
	f.StringVar(&qf.out, "out", "", "output model directory, new or empty (default: DIR-int8)")
	rootCmd.AddCommand(quantizeCmd)
}

func runQuantize(cmd *cobra.Command, _ []string) error {
	if qf.model == "" {
		return errors.New("quantize: --model is required")
	}
	out := qf.out
	if out == "" {
		// builtin:NAME-int8 would be a directory of that odd name in the
		// current directory: ask for a place instead, as convert does.
		if name, ok := strings.CutPrefix(qf.model, pipeline.BuiltinPrefix); ok {
			return fmt.Errorf("quantize: %s is built into qkv and cannot be written beside: give --out a new directory, e.g. --out ./%s-int8", qf.model, name)
		}
		out = strings.TrimRight(qf.model, string(os.PathSeparator)) + "-int8"
	}
	p, err := pipeline.LoadWeights(qf.model, qf.weights)
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	if err := p.Quantize(out); err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	st, err := os.Stat(filepath.Join(out, pipeline.BestFile))
	if err != nil {
		return err
	}
	return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
		"out": out, "from": qf.model, "quantized": pipeline.Int8, "weights_bytes": st.Size(),
	})
}
