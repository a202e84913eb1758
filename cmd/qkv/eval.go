package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/metrics"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/placeholder"
)

var ef struct {
	models               modelFlags
	test, format, metric string
	output               string
	byLength, rougeStem  bool
	decode               decodeFlags
}

var evalCmd = &cobra.Command{
	Use:   "eval --model DIR [--model DIR …] --test FILE",
	Short: "Decode a test corpus and print its score as one JSON line",
	Long: `Decode every source of a test corpus (TSV or CMUdict) and score the outputs:
WER and PER for grapheme-to-phoneme data (a word is right when it equals any of
its reference pronunciations), BLEU and chrF (sacreBLEU's defaults) for text,
ROUGE-1/2/L F-measures (as Google's rouge-score) and smoothed BLEU-4 (as
CodeXGLUE's code-to-text evaluator) for summaries (a model trained with
--metric rouge or sbleu reports these by default),
with, when sources hold placeholders (%s, {name}, <b>, _File, …),
"placeholders_kept": the share of those whose output keeps every one of them
and the same leading and trailing white space.
Prints one JSON line with the scores and the decoding time.

A source symbol the model never saw is read as <unk> (a count is printed on
stderr; --strict refuses such lines). A source longer than the model takes
(data.max_src_len tokens) is decoded from its first tokens, as fairseq's
--truncate-source, and scored against its full references; "truncated" in
the JSON line and a note on stderr count them. A source that cannot be
decoded (empty, say) is reported on stderr and scored as an empty output, so
it counts as wrong; "undecodable" in the JSON line says how many there were.
An empty test set, or one where no source can be decoded, is an error.

--output FILE writes the outputs too, one line for each line of the test
corpus (so "paste TEST FILE" sets each beside its source and reference; an
undecodable source gives an empty line), as predict prints them.

` + ensembleHelp,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		if len(ef.models.models) == 0 || ef.test == "" {
			return errors.New("eval: --model and --test are required")
		}
		members, err := ef.models.members()
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		ef.decode.takeCard(members)
		opt, err := ef.decode.options()
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		p, err := pipeline.LoadEnsemble(members)
		if err != nil {
			return err
		}
		if ef.output != "" {
			if err := checkOutputs([][2]string{{"--output", ef.output}}, append(ef.models.files(members), ef.test)...); err != nil {
				return fmt.Errorf("eval: %w", err)
			}
		}
		pairs, err := readCorpus(ef.test, ef.format)
		if err != nil {
			return err
		}
		if len(pairs) == 0 {
			return fmt.Errorf("eval: --test %s holds no pairs: there is nothing to score", ef.test)
		}
		metric := chooseMetric(ef.metric, p.Config.Data)
		s, err := scorePairs(p, pairs, metric, ef.rougeStem, opt)
		if err != nil {
			return fmt.Errorf("eval: %s: %w", ef.test, err)
		}
		if ef.output != "" {
			if err := writeEvalOutputs(ef.output, pairs, s); err != nil {
				return fmt.Errorf("eval: --output: %w", err)
			}
		}
		if s.Failed > 0 {
			fmt.Fprintf(os.Stderr, "qkv eval: %d of %d test sources could not be decoded and count as empty outputs, e.g. %s\n", s.Failed, s.Sentences, s.FirstFailure)
		}
		if note := s.Unknown.note("eval"); note != "" {
			fmt.Fprintln(os.Stderr, note)
		}
		if note := s.truncatedNote("eval", p.Config.Data.MaxSrcLen); note != "" {
			fmt.Fprintln(os.Stderr, note)
		}
		out := map[string]any{
			"model": ef.models.name(), "test": ef.test, "beam": ef.decode.beam, "sentences": s.Sentences,
			"decode_seconds": round(s.Seconds, 2), "sentences_per_s": round(float64(s.Sentences)/s.Seconds, 1),
		}
		if s.Failed > 0 {
			out["undecodable"] = s.Failed
		}
		if s.Truncated > 0 {
			out["truncated"] = s.Truncated
		}
		if len(members) > 1 {
			out["ensemble"] = len(members)
		}
		if ws := ef.models.weights; len(ws) > 0 {
			out["weights"] = strings.Join(ws, ",")
		}
		if ef.decode.alpha != 0 {
			out["alpha"] = ef.decode.alpha
		}
		out["max_len_a"], out["max_len_b"] = p.LengthLimit(opt)
		for k, v := range s.All {
			out[k] = round(v, 4)
		}
		if ef.byLength && s.ByLength != nil {
			out["by_length"] = s.ByLength
		}
		return json.NewEncoder(os.Stdout).Encode(out)
	},
}

func init() {
	f := evalCmd.Flags()
	ef.models.register(f)
	f.StringVar(&ef.test, "test", "", "test corpus")
	f.StringVar(&ef.format, "format", "tsv", "corpus format: tsv or cmudict")
	f.StringVar(&ef.metric, "metric", "auto", "wer (also gives per), bleu (also gives chrf), rouge or sbleu (each gives rouge1, rouge2, rougeL and sbleu), or auto (the model's data.metric, else wer for char→word models, else bleu)")
	f.BoolVar(&ef.rougeStem, "rouge-stemmer", false, "ROUGE: Porter-stem tokens longer than 3 characters (rouge-score's use_stemmer)")
	f.BoolVar(&ef.byLength, "by-length", false, "add the error rate by source length")
	f.StringVar(&ef.output, "output", "", "also write the outputs to this file, one line per test line (written atomically)")
	ef.decode.register(f, false, 256)
	rootCmd.AddCommand(evalCmd)
}

// score is the outcome of decoding and scoring a corpus.
type score struct {
	Value        float64            // the chosen metric
	All          map[string]float64 // every metric computed
	Sentences    int
	Seconds      float64
	ByLength     []metrics.LengthBucket
	Failed       int    // sources that could not be decoded, scored as empty outputs
	FirstFailure string // the first of them and why, for a message
	Unknown      unknownTally
	Truncated    int               // sources longer than the model takes, decoded from their first data.max_src_len tokens
	Outputs      map[string]string // each distinct source's output ("" when undecodable)
}

// writeEvalOutputs writes the output of each test pair's source, one line
// per pair, atomically.
func writeEvalOutputs(path string, pairs []corpus.Pair, s score) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for _, pr := range pairs {
			bw.WriteString(s.Outputs[pr.Source])
			bw.WriteByte('\n')
		}
		return bw.Flush()
	})
}

// truncatedNote is the end-of-run note about truncated sources, or "".
func (s score) truncatedNote(cmd string, maxSrcLen int) string {
	if s.Truncated == 0 {
		return ""
	}
	return fmt.Sprintf("qkv %s: %d of %d sources are longer than the model's %d tokens (data.max_src_len): they were decoded from their first %d tokens and scored against their full references",
		cmd, s.Truncated, s.Sentences, maxSrcLen, maxSrcLen)
}

// scorePairs decodes the distinct sources of pairs and scores the outputs
// against all their references. A source that cannot be decoded is scored
// as an empty output (and counted in Failed); no pairs, or no source
// decoded, is an error rather than a score.
// rougeStem is rouge-score's use_stemmer for the rouge and sbleu metrics.
func scorePairs(p *pipeline.Pipeline, pairs []corpus.Pair, metric string, rougeStem bool, opt pipeline.Options) (score, error) {
	if len(pairs) == 0 {
		return score{}, errors.New("no test pairs: there is nothing to score")
	}
	var srcs []string
	refs := map[string][]string{}
	for _, pr := range pairs {
		if _, ok := refs[pr.Source]; !ok {
			srcs = append(srcs, pr.Source)
		}
		refs[pr.Source] = append(refs[pr.Source], pr.Target)
	}
	start := time.Now()
	opt.TruncateSource = true // every source gets an output, scored against its full references
	results := p.Translate(srcs, opt)
	s := score{Sentences: len(srcs), Seconds: time.Since(start).Seconds(), All: map[string]float64{}}
	hyps := make([]string, len(srcs))
	for i, r := range results {
		s.Unknown.add(r)
		if r.Truncated > 0 {
			s.Truncated++
		}
		if r.Err != nil {
			if s.Failed == 0 {
				s.FirstFailure = fmt.Sprintf("source %s: %v", excerpt.Quote(r.Source), r.Err)
			}
			s.Failed++
			continue
		}
		hyps[i] = r.Hyps[0].Text
	}
	s.Outputs = make(map[string]string, len(srcs))
	for i, src := range srcs {
		s.Outputs[src] = hyps[i]
	}
	if s.Failed == len(results) {
		return s, fmt.Errorf("none of the %d test sources could be decoded, e.g. %s", s.Failed, s.FirstFailure)
	}
	switch metric {
	case "wer", "per":
		h := make([][]string, len(srcs))
		rs := make([][][]string, len(srcs))
		lens := make([]int, len(srcs))
		for i, src := range srcs {
			h[i] = strings.Fields(hyps[i])
			for _, r := range refs[src] {
				rs[i] = append(rs[i], strings.Fields(r))
			}
			lens[i] = len(results[i].SourceTokens)
		}
		wer, err := metrics.WER(h, rs)
		if err != nil {
			return s, err
		}
		per, err := metrics.PER(h, rs)
		if err != nil {
			return s, err
		}
		s.All["wer"], s.All["per"] = wer.Rate, per.Rate
		s.ByLength, _ = metrics.ByLength(lens, h, rs, []int{4, 6, 8, 10, 12})
	case "bleu", "chrf":
		rs := make([][]string, len(srcs))
		for i, src := range srcs {
			rs[i] = refs[src]
		}
		bleu, err := metrics.BLEU(hyps, rs)
		if err != nil {
			return s, err
		}
		chrf, err := metrics.ChrF(hyps, rs)
		if err != nil {
			return s, err
		}
		s.All["bleu"], s.All["chrf"] = bleu.Score, chrf.Score
		// Of the sources with placeholders (%s, <b>, _File, …), the share
		// whose output keeps them all (text/placeholder.Kept). A truncated
		// source is left out: the model never read the end it lost.
		with, kept := 0, 0
		for i, src := range srcs {
			if results[i].Err != nil || results[i].Truncated > 0 || len(placeholder.Find(src)) == 0 {
				continue
			}
			with++
			if placeholder.Kept(src, hyps[i]) {
				kept++
			}
		}
		if with > 0 {
			s.All["placeholder_sources"] = float64(with)
			s.All["placeholders_kept"] = float64(kept) / float64(with)
		}
	case "rouge", "sbleu":
		rs := make([][]string, len(srcs))
		for i, src := range srcs {
			rs[i] = refs[src]
		}
		rouge, err := metrics.Rouge(hyps, rs, metrics.RougeOptions{Stemmer: rougeStem})
		if err != nil {
			return s, err
		}
		sbleu, err := metrics.SmoothBLEU(hyps, rs)
		if err != nil {
			return s, err
		}
		s.All["rouge1"], s.All["rouge2"], s.All["rougeL"] = rouge.Rouge1.F, rouge.Rouge2.F, rouge.RougeL.F
		s.All["sbleu"] = sbleu.Score
		if metric == "rouge" {
			metric = "rougeL"
		}
	default:
		return s, fmt.Errorf("unknown metric %q (%s)", metric, strings.Join(pipeline.Metrics, ", "))
	}
	s.Value = s.All[metric]
	return s, nil
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
