package main

import (
	"encoding/json"
	"fmt"
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
	Use:   "score --metric bleu|chrf|wer|per --hyp FILE --ref FILE [--ref FILE …]",
	Short: "Score a system output against references (BLEU, chrF, WER, PER); prints one JSON line",
	Long: `Score a system output against one or more reference files, one segment a line.

  bleu  corpus BLEU as sacreBLEU's default (13a tokenization, exp smoothing)
  chrf  chrF2 as sacreBLEU's default (character 6-grams, beta 2, no whitespace)
  wer   sequence error rate: a line is right if it equals any reference
        (tokens are the whitespace-separated fields, e.g. phones)
  per   token error rate: edit distance to the closest reference over the
        length of those references

Give several --ref files for several references; an empty reference line
means that segment has one reference fewer, as in sacreBLEU.`,
	Args: cobra.NoArgs,
	RunE: runScore,
}

func init() {
	f := scoreCmd.Flags()
	f.String("metric", "bleu", "bleu, chrf, wer or per")
	f.String("hyp", "", "system output, one segment a line (required)")
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
}

func runScore(cmd *cobra.Command, _ []string) error {
	metric, _ := cmd.Flags().GetString("metric")
	hypPath, _ := cmd.Flags().GetString("hyp")
	refPaths, _ := cmd.Flags().GetStringArray("ref")
	hyps, err := readSegments(hypPath)
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
	default:
		return fmt.Errorf("unknown --metric %q (want bleu, chrf, wer or per)", metric)
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
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimPrefix(string(b), "\uFEFF") // a byte-order mark is not text
	s = strings.TrimSuffix(s, "\n")
	if s == "" && len(b) <= 1 {
		return nil, fmt.Errorf("%s: empty file: there is nothing to score", path)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if !utf8.ValidString(l) {
			return nil, fmt.Errorf("%s:%d: invalid UTF-8", path, i+1)
		}
		lines[i] = l
	}
	return lines, nil
}
