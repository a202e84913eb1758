package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/beam/decode"
	"github.com/qkv-dev/qkv/beam/evaluate"
	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/internal/excerpt"
)

var ef struct {
	run                    runFlags
	decode                 decodeFlags
	tests                  []string
	format, metric, output string
}

var evalCmd = &cobra.Command{
	Use:   "eval --model DIR --test GLOB [flags] [-- BEAM OPTIONS]",
	Short: "Decode test corpora and score them, as qkv eval does, on a Beam runner",
	Long: `Decode every distinct source of the test corpora (TSV or CMUdict) and score the
outputs against all their references: WER and PER for grapheme-to-phoneme
models, ROUGE-1/2/L and smoothed BLEU-4 for summarizers (models trained with
--metric rouge or sbleu), BLEU and chrF (sacreBLEU's defaults) otherwise
(--metric). Workers
score their segments into sufficient statistics (n-gram matches and totals,
lengths, edit counts), summed by a Beam combiner, so the scores are exactly
those of "qkv eval" on the same file. Prints one JSON line.

A source that cannot be decoded counts as an empty output ("undecodable" in
the JSON line), as in qkv eval. Several test files are scored together (a
source repeated in two files counts twice).

--output also writes the summed statistics as JSON to a file (local or
gs://…), where a distributed run leaves them.`,
	Args: cobra.ArbitraryArgs,
	RunE: runEval,
}

func init() {
	f := evalCmd.Flags()
	ef.run.register(evalCmd)
	ef.decode.register(f, false, 256)
	f.StringArrayVar(&ef.tests, "test", nil, "test corpora: a path or glob, local or gs://… (repeat for more; required)")
	f.StringVar(&ef.format, "format", "tsv", "corpus format: tsv or cmudict")
	f.StringVar(&ef.metric, "metric", "auto", "wer (also gives per), bleu (also gives chrf), rouge or sbleu (each gives rouge1, rouge2, rougeL and sbleu), or auto (from the model)")
	f.StringVar(&ef.output, "output", "", "also keep the summed statistics in this JSON file")
	rootCmd.AddCommand(evalCmd)
}

func runEval(cmd *cobra.Command, args []string) error {
	beamArgs := splitBeamArgs(cmd, args)
	if len(args) > len(beamArgs) {
		return fmt.Errorf("eval: unexpected argument %s (Beam options go after --)", excerpt.Quote(args[0]))
	}
	if err := ef.decode.check(); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if len(ef.tests) == 0 {
		return errors.New("eval: --test is required")
	}
	ctx := context.Background()
	var tests []string
	for _, glob := range ef.tests {
		got, err := files.Expand(ctx, glob)
		if err != nil {
			return fmt.Errorf("eval: --test: %w", err)
		}
		tests = append(tests, got...)
	}
	model := decode.Model{Dir: ef.decode.model, Weights: ef.decode.weights}
	if _, err := files.ModelFiles(ctx, model.Dir, model.Weights); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	metric, err := evaluate.Metric(ctx, ef.metric, model.Dir)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	out, cleanup, err := statsPath(ef.output, tests)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	defer cleanup()
	p, s := beam.NewPipelineWithRoot()
	if err := evaluate.BuildEval(s, evaluate.EvalConfig{Model: model, Tests: tests, Format: ef.format, Metric: metric,
		Options: ef.decode.opt, Shards: ef.decode.shards, Output: out}); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	start := time.Now()
	if err := ef.run.run(ctx, p, beamArgs); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	secs := time.Since(start).Seconds()
	st, err := evaluate.ReadStats(ctx, out)
	if err != nil {
		return fmt.Errorf("eval: reading the statistics: %w", err)
	}
	if st.Segments == 0 {
		return fmt.Errorf("eval: %v hold no pairs: there is nothing to score", tests)
	}
	if st.Failed == st.Segments {
		return fmt.Errorf("eval: none of the %d test sources could be decoded, e.g. %s", st.Failed, st.FailText)
	}
	if st.Failed > 0 {
		fmt.Fprintf(os.Stderr, "qkv beam eval: %d of %d test sources could not be decoded and count as empty outputs, e.g. %s\n", st.Failed, st.Segments, st.FailText)
	}
	scores, err := st.Scores(metric)
	if err != nil {
		return err
	}
	res := map[string]any{"model": model.Dir, "test": ef.tests, "beam": ef.decode.opt.Beam, "sentences": st.Segments,
		"seconds": evaluate.Round(secs, 2), "sentences_per_s": evaluate.Round(float64(st.Segments)/secs, 1)}
	if st.Failed > 0 {
		res["undecodable"] = st.Failed
	}
	if st.Truncated > 0 {
		fmt.Fprintf(os.Stderr, "qkv beam eval: %d of %d sources are longer than the model takes (data.max_src_len): they were decoded from their first tokens and scored against their full references\n", st.Truncated, st.Segments)
		res["truncated"] = st.Truncated
	}
	if ef.decode.opt.Alpha != 0 {
		res["alpha"] = ef.decode.opt.Alpha
	}
	for k, v := range scores {
		res[k] = evaluate.Round(v, 4)
	}
	return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
}

// statsPath is where the pipeline leaves its statistics: --output, or a
// temporary local file (removed by cleanup) for a run on this machine. A
// distributed run needs --output on storage its workers share.
func statsPath(output string, inputs []string) (string, func(), error) {
	if output != "" {
		if files.IsLocal(output) {
			for _, in := range inputs {
				if abs(in) == abs(output) {
					return "", nil, fmt.Errorf("--output %s is an input", output)
				}
			}
		}
		return output, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "qkv-beam-")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "stats.json"), func() { os.RemoveAll(dir) }, nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
