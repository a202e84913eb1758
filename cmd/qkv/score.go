package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/metrics"
)

// scoreCmd is `qkv score`: a system output against one or more reference
// files, one segment a line, printed as one JSON line in the form of
// sacreBLEU's command line.
var scoreCmd = &cobra.Command{
	Use:   "score --metric bleu|chrf|wer|per|rouge|sbleu --hyp FILE --ref FILE [--ref FILE …]",
	Short: "Score a system output against references (BLEU, chrF, WER, PER, ROUGE, smoothed BLEU); prints one JSON line",
	Long: `Score a system output against one or more reference files, one segment a line.

  bleu  corpus BLEU as sacreBLEU's default (13a tokenization, exp smoothing)
  chrf  chrF2 as sacreBLEU's default (character 6-grams, beta 2, no whitespace)
  wer   sequence error rate: a line is right if it equals any reference
        (tokens are the whitespace-separated fields, e.g. phones)
  per   token error rate: edit distance to the closest reference over the
        length of those references
  rouge ROUGE-1, ROUGE-2 and ROUGE-L F-measures as Google's rouge-score
        (default tokenizer; --rouge-stemmer is its use_stemmer), the mean
        over segments; with several references, each segment's best
  sbleu smoothed sentence BLEU-4 averaged over segments, as CodeXGLUE's
        code-to-text evaluator (lowercased, punctuation split, add-one
        smoothing of 2- to 4-grams, shortest reference)

Give several --ref files for several references; an empty reference line
means that segment has one reference fewer, as in sacreBLEU.`,
	Args: cobra.NoArgs,
	RunE: runScore,
}

func init() {
	f := scoreCmd.Flags()
	f.String("metric", "bleu", "bleu, chrf, wer, per, rouge or sbleu")
	f.Bool("rouge-stemmer", false, "rouge: Porter-stem tokens longer than 3 characters (rouge-score's use_stemmer)")
	f.String("hyp", "", `system output, one segment a line (required; "-": standard input, as sacreBLEU reads it)`)
	f.StringArray("ref", nil, "reference file, one segment a line (repeat for several references)")
	scoreCmd.MarkFlagRequired("hyp")
	scoreCmd.MarkFlagRequired("ref")
	rootCmd.AddCommand(scoreCmd)
}

// scoreResult is the JSON line, in sacreBLEU's field order.
type scoreResult struct {
	Name         string  `json:"name"`
	Score        float64 `json:"score"`
	Signature    string  `json:"signature"`
	VerboseScore string  `json:"verbose_score"`
	NRefs        string  `json:"nrefs"`
	Segments     int     `json:"segments"`
	// Scores holds every figure of a metric that has several (rouge:
	// rouge1, rouge2, rougeL).
	Scores map[string]float64 `json:"scores,omitempty"`
}

func runScore(cmd *cobra.Command, _ []string) error {
	metric, _ := cmd.Flags().GetString("metric")
	rougeStem, _ := cmd.Flags().GetBool("rouge-stemmer")
	hypPath, _ := cmd.Flags().GetString("hyp")
	if rougeStem && metric != "rouge" {
		return fmt.Errorf("--rouge-stemmer applies to --metric rouge only, not %s", metric)
	}
	refPaths, _ := cmd.Flags().GetStringArray("ref")
	var hyps []string
	var err error
	if hypPath == "-" {
		hypPath = "standard input"
		hyps, err = readSegmentsFrom(cmd.InOrStdin(), hypPath)
	} else {
		hyps, err = readSegments(hypPath)
	}
	if err != nil {
		return err
	}
	streams := make([][]string, len(refPaths))
	for k, p := range refPaths {
		if streams[k], err = readSegments(p); err != nil {
			return err
		}
		if len(streams[k]) != len(hyps) {
			return fmt.Errorf("%s has %d lines but %s has %d: every reference file needs one line per hypothesis line", p, len(streams[k]), hypPath, len(hyps))
		}
	}
	refs, err := metrics.Transpose(streams)
	if err != nil {
		return err
	}
	for i, rs := range refs {
		if !slices.ContainsFunc(rs, func(r string) bool { return r != "" }) {
			return fmt.Errorf("line %d is empty in every --ref file: each segment needs at least one reference", i+1)
		}
	}
	nrefs := fmt.Sprint(len(refPaths))
	for _, rs := range refs {
		for _, r := range rs {
			if r == "" {
				nrefs = "var"
			}
		}
	}
	res := scoreResult{NRefs: nrefs, Segments: len(hyps)}
	switch metric {
	case "bleu":
		s, err := metrics.BLEU(hyps, refs)
		if err != nil {
			return err
		}
		res.Name, res.Score = "BLEU", s.Score
		res.Signature = "nrefs:" + nrefs + "|case:mixed|eff:no|tok:13a|smooth:exp|impl:qkv"
		res.VerboseScore = strings.TrimPrefix(s.String(), fmt.Sprintf("BLEU = %.2f ", s.Score))
	case "chrf":
		s, err := metrics.ChrF(hyps, refs)
		if err != nil {
			return err
		}
		res.Name, res.Score = "chrF2", s.Score
		res.Signature = "nrefs:" + nrefs + "|case:mixed|eff:yes|nc:6|nw:0|space:no|impl:qkv"
		res.VerboseScore = fmt.Sprintf("%.4f", s.Score)
	case "wer", "per":
		th := make([][]string, len(hyps))
		tr := make([][][]string, len(refs))
		for i := range hyps {
			th[i] = strings.Fields(hyps[i])
			for _, r := range refs[i] {
				if r != "" {
					tr[i] = append(tr[i], strings.Fields(r))
				}
			}
		}
		f, name := metrics.WER, "WER"
		if metric == "per" {
			f, name = metrics.PER, "PER"
		}
		s, err := f(th, tr)
		if err != nil {
			return err
		}
		res.Name, res.Score = name, s.Rate
		res.Signature = "nrefs:" + nrefs + "|tok:whitespace|impl:qkv"
		res.VerboseScore = fmt.Sprintf("%d errors / %d", s.Errors, s.Total)
	case "rouge":
		s, err := metrics.Rouge(hyps, refs, metrics.RougeOptions{Stemmer: rougeStem})
		if err != nil {
			return err
		}
		stem := "no"
		if rougeStem {
			stem = "yes"
		}
		res.Name, res.Score = "ROUGE-L", s.RougeL.F
		res.Signature = "nrefs:" + nrefs + "|tok:rouge-score|stem:" + stem + "|multi:max-f|avg:mean-f|impl:qkv"
		res.VerboseScore = s.String()
		res.Scores = map[string]float64{}
		for k, v := range map[string]float64{"rouge1": s.Rouge1.F, "rouge2": s.Rouge2.F, "rougeL": s.RougeL.F} {
			res.Scores[k] = math.Round(v*1e4) / 1e4
		}
	case "sbleu":
		s, err := metrics.SmoothBLEU(hyps, refs)
		if err != nil {
			return err
		}
		res.Name, res.Score = "smoothed BLEU-4", s.Score
		res.Signature = "nrefs:" + nrefs + "|case:lc|tok:codexglue|smooth:add-one-2to4|ref:shortest|avg:segments|impl:qkv"
		res.VerboseScore = fmt.Sprintf("%.4f (mean of %d segments)", s.Score, s.Segments)
	default:
		return fmt.Errorf("unknown --metric %q (want bleu, chrf, wer, per, rouge or sbleu)", metric)
	}
	res.Score = math.Round(res.Score*1e4) / 1e4
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(cmd.OutOrStdout(), string(line)); err != nil {
		return fmt.Errorf("score: writing the result: %w", err)
	}
	return nil
}

// readSegments reads a file as lines: no trailing line after the final
// "\n", "\r\n" line ends accepted, valid UTF-8 required.
func readSegments(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readSegmentsFrom(f, path)
}

// readSegmentsFrom is readSegments on a reader; name is what errors call it.
func readSegmentsFrom(r io.Reader, name string) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := strings.TrimPrefix(string(b), "\uFEFF") // a byte-order mark is not text
	s = strings.TrimSuffix(s, "\n")
	if s == "" && len(b) <= 1 {
		return nil, fmt.Errorf("%s: empty file: there is nothing to score", name)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if !utf8.ValidString(l) {
			return nil, fmt.Errorf("%s:%d: invalid UTF-8", name, i+1)
		}
		lines[i] = l
	}
	return lines, nil
}
