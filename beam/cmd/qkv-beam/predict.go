package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/qkv-dev/qkv/beam/decode"
	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/beam/predict"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// decodeFlags are qkv predict's decoding flags, with its defaults.
type decodeFlags struct {
	model, weights string
	opt            decode.Options
	shards         int
	flags          *pflag.FlagSet // to tell a given --max-len-a/-b from the model's default
}

func (d *decodeFlags) register(f *pflag.FlagSet, sampling bool, batchSize int) {
	f.StringVar(&d.model, "model", "", "model directory (local or gs://…), as written by qkv train (required)")
	f.StringVar(&d.weights, "weights", "", "weights file in the model directory (default: best.safetensors, else last.safetensors)")
	f.IntVar(&d.opt.Beam, "beam", 1, fmt.Sprintf("beam size: 1 (greedy) to %d", search.MaxBeam))
	f.Float64Var(&d.opt.Alpha, "alpha", 0, "length penalty α (GNMT): score = log P / ((5+|y|)/6)^α")
	f.IntVar(&d.opt.MaxLen, "max-len", 0, fmt.Sprintf("decoding steps at most, up to %d (default: the longest training target + 1)", search.MaxOutputSteps))
	d.flags = f
	f.Float64Var(&d.opt.MaxLenA, "max-len-a", 0, fmt.Sprintf("outputs stop at ⌊a·|source|⌋ + b tokens (counting </s>), as qkv predict's --max-len-a: a (default: the model's data.max_len_a, %v unless qkv train was told otherwise)", pipeline.DefaultMaxLenA))
	f.IntVar(&d.opt.MaxLenB, "max-len-b", 0, fmt.Sprintf("… and b (default: the model's data.max_len_b, %d unless qkv train was told otherwise)", pipeline.DefaultMaxLenB))
	f.IntVar(&d.opt.BatchSize, "batch-size", batchSize, fmt.Sprintf("inputs decoded together, 1 to %d", pipeline.MaxBatchSize))
	f.BoolVar(&d.opt.Strict, "strict", false, "refuse input lines holding symbols the model never saw (default: read them as <unk>)")
	f.BoolVar(&d.opt.AllowUnk, "allow-unk", false, "let the output hold <unk>")
	f.IntVar(&d.shards, "shards", 16, "hash shards per length bucket: lines of one length are spread over this many groups (workers)")
	if !sampling {
		return
	}
	f.IntVar(&d.opt.NBest, "nbest", 0, "write the N best outputs of each input as score<TAB>output (N ≤ --beam; with --sample, N samples)")
	f.BoolVar(&d.opt.Sample, "sample", false, "sample outputs instead of searching")
	f.Float64Var(&d.opt.Temperature, "temperature", 1, "sampling temperature, ≥ 0")
	f.IntVar(&d.opt.TopK, "top-k", 0, "sample among the k most likely tokens (0: all)")
	f.Uint64Var(&d.opt.Seed, "seed", 1, "sampling seed (each line draws from the stream of its line number in its file, as in qkv predict)")
}

func (d *decodeFlags) check() error {
	if d.model == "" {
		return errors.New("--model is required")
	}
	if d.shards < 1 || d.shards > 1<<16 {
		return fmt.Errorf("--shards %d is out of range: 1 to 65536", d.shards)
	}
	if d.flags != nil {
		d.opt.SetMaxLenA, d.opt.SetMaxLenB = d.flags.Changed("max-len-a"), d.flags.Changed("max-len-b")
	}
	_, err := d.opt.Pipeline()
	return err
}

var pf struct {
	run    runFlags
	decode decodeFlags
	inputs []string
	output string
	format string
}

var predictCmd = &cobra.Command{
	Use:   "predict --model DIR --input GLOB [--input GLOB …] --output PREFIX [flags] [-- BEAM OPTIONS]",
	Short: "Decode many files with a model, as qkv predict does, on a Beam runner",
	Long: `Decode every line of every input file and write, for each input file F,
PREFIX + the base name of F: exactly what "qkv predict --input F" writes, line
for line and in F's order (one line per input, or --nbest lines). Lines are
grouped into length-sorted batches across all files and decoded on as many
workers as the runner gives; each worker loads the model once.

Inputs (--format):
  text   one source a line (the default)
  tsv    the first column of source<TAB>… lines (a test corpus, say)
  po     the msgid of every entry of a gettext .po file (the header left out)

A line that cannot be decoded (empty, too long, or, with --strict, holding
unknown symbols) gives an empty output line, so outputs stay aligned, and a
row "file<TAB>line<TAB>error" in PREFIX + failures.tsv; the rest complete.
qkv beam then reports the count and exits with status 1.

Example, on this machine:
  qkv beam predict --model g2p --input 'words/*.txt' --output out/ --beam 4
writes out/a.txt, out/b.txt, … and out/failures.tsv.`,
	Args: cobra.ArbitraryArgs,
	RunE: runPredict,
}

func init() {
	f := predictCmd.Flags()
	pf.run.register(predictCmd)
	pf.decode.register(f, true, 64)
	f.StringArrayVar(&pf.inputs, "input", nil, "input files: a path or glob, local or gs://… (repeat for more)")
	f.StringVar(&pf.output, "output", "", "output prefix: input F is written to PREFIX+base(F); a directory prefix ends in / (required)")
	f.StringVar(&pf.format, "format", predict.FormatText, "input format: text, tsv (first column) or po (msgids)")
	rootCmd.AddCommand(predictCmd)
}

func runPredict(cmd *cobra.Command, args []string) error {
	beamArgs := splitBeamArgs(cmd, args)
	if len(args) > len(beamArgs) {
		return fmt.Errorf("predict: unexpected argument %q (inputs are given with --input; Beam options go after --)", args[0])
	}
	if err := pf.decode.check(); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if len(pf.inputs) == 0 || pf.output == "" {
		return errors.New("predict: --input and --output are required")
	}
	ctx := context.Background()
	var inputs []string
	for _, glob := range pf.inputs {
		got, err := files.Expand(ctx, glob)
		if err != nil {
			return fmt.Errorf("predict: --input: %w", err)
		}
		inputs = append(inputs, got...)
	}
	c := predict.Config{Model: decode.Model{Dir: pf.decode.model, Weights: pf.decode.weights}, Inputs: inputs,
		Format: pf.format, Output: pf.output, Options: pf.decode.opt, Shards: pf.decode.shards}
	if _, err := files.ModelFiles(ctx, c.Model.Dir, c.Model.Weights); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	p, s := beam.NewPipelineWithRoot()
	if err := predict.Build(s, c); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	start := time.Now()
	res, err := pf.run.runResult(ctx, p, beamArgs)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	_, failures, _ := c.Outputs()
	n, first, err := predict.ReadFailures(ctx, failures)
	if err != nil {
		return fmt.Errorf("predict: reading %s: %w", failures, err)
	}
	fmt.Fprintf(os.Stderr, "qkv beam predict: %d files decoded in %.1fs\n", len(inputs), time.Since(start).Seconds())
	if n := counter(res, decode.CounterUnknown); n > 0 {
		fmt.Fprintf(os.Stderr, "qkv beam predict: %d input lines held symbols the model never saw; they were read as <unk> (--strict refuses such lines)\n", n)
	}
	if n > 0 {
		return fmt.Errorf("predict: %d lines could not be decoded and have empty outputs; they are listed in %s, the first: %s", n, failures, first)
	}
	return nil
}
