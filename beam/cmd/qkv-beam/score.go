package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/beam/evaluate"
	"github.com/qkv-dev/qkv/internal/excerpt"
)

var sf struct {
	run         runFlags
	metric, hyp string
	refs        []string
	output      string
}

var scoreCmd = &cobra.Command{
	Use:   "score --metric bleu|chrf|wer|per|rouge|sbleu --hyp FILE --ref FILE [--ref FILE …] [flags] [-- BEAM OPTIONS]",
	Short: "Score a system output against references, as qkv score does, on a Beam runner",
	Long: `Score a system output against one or more reference files, one segment a
line, and print the JSON line "qkv score" prints: the lines are keyed by their
number, scored by workers into sufficient statistics and summed by a Beam
combiner, so the figure is exactly qkv score's.

  bleu  corpus BLEU as sacreBLEU's default (13a tokenization, exp smoothing)
  chrf  chrF2 as sacreBLEU's default (character 6-grams, beta 2, no whitespace)
  wer   sequence error rate: a line is right if it equals any reference
  per   token error rate: edit distance to the closest reference over the
        length of those references
  rouge ROUGE-1, ROUGE-2 and ROUGE-L F-measures as Google's rouge-score
        (default tokenizer, no stemmer), the mean over segments (equal to
        qkv score's up to rounding in the last bits)
  sbleu smoothed sentence BLEU-4 averaged over segments, as CodeXGLUE's
        code-to-text evaluator

An empty reference line means that segment has one reference fewer. Every
reference file needs one line per hypothesis line.`,
	Args: cobra.ArbitraryArgs,
	RunE: runScore,
}

func init() {
	f := scoreCmd.Flags()
	sf.run.register(scoreCmd)
	f.StringVar(&sf.metric, "metric", "bleu", "bleu, chrf, wer, per, rouge or sbleu")
	f.StringVar(&sf.hyp, "hyp", "", "system output, one segment a line (required)")
	f.StringArrayVar(&sf.refs, "ref", nil, "reference file, one segment a line (repeat for several references; required)")
	f.StringVar(&sf.output, "output", "", "also keep the summed statistics in this JSON file")
	rootCmd.AddCommand(scoreCmd)
}

func runScore(cmd *cobra.Command, args []string) error {
	beamArgs := splitBeamArgs(cmd, args)
	if len(args) > len(beamArgs) {
		return fmt.Errorf("score: unexpected argument %s (Beam options go after --)", excerpt.Quote(args[0]))
	}
	if sf.hyp == "" || len(sf.refs) == 0 {
		return errors.New("score: --hyp and --ref are required")
	}
	ctx := context.Background()
	out, cleanup, err := statsPath(sf.output, append([]string{sf.hyp}, sf.refs...))
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	defer cleanup()
	p, s := beam.NewPipelineWithRoot()
	if err := evaluate.BuildScore(s, evaluate.ScoreConfig{Metric: sf.metric, Hyp: sf.hyp, Refs: sf.refs, Output: out}); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	if err := sf.run.run(ctx, p, beamArgs); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	st, err := evaluate.ReadStats(ctx, out)
	if err != nil {
		return fmt.Errorf("score: reading the statistics: %w", err)
	}
	line, err := st.Line(sf.metric, len(sf.refs))
	if err != nil {
		return err
	}
	if err := line.WriteLine(cmd.OutOrStdout()); err != nil {
		return fmt.Errorf("score: writing the result: %w", err)
	}
	return nil
}
