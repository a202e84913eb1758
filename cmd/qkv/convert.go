package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/pipeline"
)

var cvf struct {
	model, weights, out, dtype string
}

var convertCmd = &cobra.Command{
	Use:   "convert --model DIR --dtype f16|bf16|f32 [--weights FILE] [--out FILE]",
	Short: "Write a model's weights in half precision (f16 or bf16), about half the size",
	Long: `Write the weights of a model (best.safetensors by default, or --weights, e.g.
an average) with every value stored as f16 (IEEE binary16) or bf16 (bfloat16),
rounded to nearest, ties to even, as PyTorch's .half() and .bfloat16() do.
Only the model's parameters are written (no optimizer state), so the file is
about half of the parameters' float32 size. qkv computes in float32: loading
converts the values back exactly, and 'qkv predict|eval --weights FILE' use
the file like any other. f16 keeps more digits (10-bit mantissa) but holds
no value beyond ±65504; bf16 keeps float32's range with a 7-bit mantissa.
A weight f16 cannot hold is an error naming it (use bf16).

The output, by default DIR/<weights>-<dtype>.safetensors (best-bf16.safetensors,
say), is written atomically and may not be a file the model directory needs.`,
	Args: cobra.NoArgs,
	RunE: runConvert,
}

func init() {
	f := convertCmd.Flags()
	f.StringVar(&cvf.model, "model", "", "model directory (from qkv train)")
	f.StringVar(&cvf.weights, "weights", "", "weights file in the model directory or a path (default: best.safetensors, else last.safetensors)")
	f.StringVar(&cvf.dtype, "dtype", "", "how to store the values: f16, bf16 or f32")
	f.StringVar(&cvf.out, "out", "", "output file, a name in the model directory or a path (default: <weights>-<dtype>.safetensors in the model directory)")
	rootCmd.AddCommand(convertCmd)
}

func runConvert(cmd *cobra.Command, _ []string) error {
	if cvf.model == "" {
		return errors.New("convert: --model is required")
	}
	if cvf.dtype == "" {
		return errors.New("convert: --dtype is required: f16, bf16 or f32")
	}
	dtype, err := checkpoint.ParseDType(cvf.dtype)
	if err != nil {
		return fmt.Errorf("convert: --dtype: %w", err)
	}
	if pipeline.IsBuiltin(cvf.model) {
		return convertBuiltin(cmd, dtype)
	}
	src := cvf.weights
	if src == "" {
		src = pipeline.BestFile
		if _, err := os.Stat(filepath.Join(cvf.model, src)); err != nil {
			src = pipeline.LastFile
		}
	}
	out := cvf.out
	if out == "" {
		base := strings.TrimSuffix(filepath.Base(src), ".safetensors")
		out = fmt.Sprintf("%s-%s.safetensors", base, strings.ToLower(string(dtype)))
	}
	out = pipeline.InDir(cvf.model, out)
	inputs := append(modelFiles(cvf.model, cvf.weights), pipeline.InDir(cvf.model, src))
	if err := atomicfile.NotAnInput(out, inputs...); err != nil {
		return fmt.Errorf("convert: --out: %w; choose another name, e.g. best-bf16.safetensors", err)
	}
	if base := filepath.Base(out); filepath.Dir(out) == filepath.Clean(cvf.model) && slices.Contains([]string{pipeline.ConfigFile, pipeline.SrcVocabFile, pipeline.TgtVocabFile, pipeline.SrcBPEFile, pipeline.TgtBPEFile, pipeline.BestFile, pipeline.LastFile}, base) {
		return fmt.Errorf("convert: --out %s would replace the model directory's %s; choose another name, e.g. best-bf16.safetensors", out, base)
	}
	p, err := pipeline.LoadWeights(cvf.model, cvf.weights)
	if err != nil {
		return err
	}
	meta := map[string]string{"converted_from": pipeline.InDir(cvf.model, src), "dtype": string(dtype)}
	if err := checkpoint.SaveAs(out, p.Model.Params(), meta, dtype); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
		"out": out, "dtype": string(dtype), "from": pipeline.InDir(cvf.model, src), "bytes": st.Size(),
		"parameters": countParams(p.Model),
	})
}

// convertBuiltin converts the weights of a model embedded in the binary:
// nothing can be written into it, so --out must be a path outside it.
func convertBuiltin(cmd *cobra.Command, dtype checkpoint.DType) error {
	if cvf.out == "" || !strings.ContainsRune(cvf.out, os.PathSeparator) {
		return fmt.Errorf("convert: %s is built into qkv and cannot be written to: give --out a path, e.g. --out ./g2p-en-%s.safetensors", cvf.model, strings.ToLower(string(dtype)))
	}
	p, err := pipeline.LoadWeights(cvf.model, cvf.weights)
	if err != nil {
		return err
	}
	meta := map[string]string{"converted_from": cvf.model, "dtype": string(dtype)}
	if err := checkpoint.SaveAs(cvf.out, p.Model.Params(), meta, dtype); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	st, err := os.Stat(cvf.out)
	if err != nil {
		return err
	}
	return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
		"out": cvf.out, "dtype": string(dtype), "from": cvf.model, "bytes": st.Size(),
		"parameters": countParams(p.Model),
	})
}
