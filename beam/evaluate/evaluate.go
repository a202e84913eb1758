// Package evaluate is `qkv beam eval` and `qkv beam score`: corpus BLEU,
// chrF, WER and PER computed on Apache Beam workers from sufficient
// statistics (metrics.BLEUStats, ChrFStats, ErrorStats: n-gram matches and
// totals, lengths, edit counts), summed by a CombineFn, so the score equals
// the one `qkv eval` and `qkv score` compute on one machine exactly,
// however the segments are spread. ROUGE and smoothed BLEU are means of
// per-segment figures (metrics.RougeStats, SmoothBLEUStats): sums of
// floats, equal up to rounding in the last bits.
package evaluate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/qkv-dev/qkv/beam/decode"
	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/metrics"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/placeholder"
)

func init() {
	for _, t := range []any{(*Stats)(nil), (*readTestFn)(nil), (*segmentFn)(nil), (*statsFn)(nil), (*writeStatsFn)(nil)} {
		beam.RegisterType(reflect.TypeOf(t).Elem())
	}
	beam.RegisterDoFn(&readTestFn{})
	beam.RegisterDoFn(&segmentFn{})
	beam.RegisterDoFn(&writeStatsFn{})
	register.Combiner1[Stats](&statsFn{})
}

// Stats are the sufficient statistics of a scored set of segments, and how
// many there were and could not be decoded.
type Stats struct {
	Segments int
	BLEU     metrics.BLEUStats
	ChrF     metrics.ChrFStats
	Errors   metrics.ErrorStats
	// ROUGE-1/2/L (rouge-score's defaults, no stemmer) and smoothed BLEU-4,
	// for the rouge and sbleu metrics.
	Rouge      metrics.RougeStats
	SmoothBLEU metrics.SmoothBLEUStats
	Failed     int
	// Truncated counts the sources longer than the model takes, decoded
	// from their first data.max_src_len tokens (qkv eval's "truncated").
	Truncated int
	// EmptyRefs counts the missing (empty) references of qkv score's
	// reference files: any makes sacreBLEU's nrefs "var".
	EmptyRefs int
	// Of the decoded sources holding placeholders (%s, {name}, <b>, _File,
	// …), how many there were and how many outputs kept them all
	// (text/placeholder.Kept): qkv eval's placeholders_kept.
	PlaceholderSources, PlaceholdersKept int
	// The first failure in input order (file, then index), for the report.
	FailFile  string
	FailIndex int
	FailText  string
}

// Add returns both parts together.
func (s Stats) Add(o Stats) Stats {
	out := Stats{Segments: s.Segments + o.Segments, BLEU: s.BLEU.Add(o.BLEU), ChrF: s.ChrF.Add(o.ChrF),
		Errors: s.Errors.Add(o.Errors), Rouge: s.Rouge.Add(o.Rouge), SmoothBLEU: s.SmoothBLEU.Add(o.SmoothBLEU), Failed: s.Failed + o.Failed, Truncated: s.Truncated + o.Truncated, EmptyRefs: s.EmptyRefs + o.EmptyRefs,
		PlaceholderSources: s.PlaceholderSources + o.PlaceholderSources, PlaceholdersKept: s.PlaceholdersKept + o.PlaceholdersKept}
	out.FailFile, out.FailIndex, out.FailText = s.FailFile, s.FailIndex, s.FailText
	if o.FailText != "" && (s.FailText == "" || cmp.Or(cmp.Compare(o.FailFile, s.FailFile), cmp.Compare(o.FailIndex, s.FailIndex)) < 0) {
		out.FailFile, out.FailIndex, out.FailText = o.FailFile, o.FailIndex, o.FailText
	}
	return out
}

// Scores are the metrics of Stats, as qkv eval and qkv score print them.
func (s Stats) Scores(metric string) (map[string]float64, error) {
	switch metric {
	case "wer", "per":
		return map[string]float64{"wer": s.Errors.WER().Rate, "per": s.Errors.PER().Rate}, nil
	case "bleu", "chrf":
		out := map[string]float64{"bleu": s.BLEU.Score().Score, "chrf": s.ChrF.Score().Score}
		if s.PlaceholderSources > 0 {
			out["placeholder_sources"] = float64(s.PlaceholderSources)
			out["placeholders_kept"] = float64(s.PlaceholdersKept) / float64(s.PlaceholderSources)
		}
		return out, nil
	case "rouge", "sbleu":
		r := s.Rouge.Score()
		return map[string]float64{"rouge1": r.Rouge1.F, "rouge2": r.Rouge2.F, "rougeL": r.RougeL.F, "sbleu": s.SmoothBLEU.Score().Score}, nil
	}
	return nil, fmt.Errorf("unknown metric %s (%s)", excerpt.Quote(metric), strings.Join(pipeline.Metrics, ", "))
}

// segment scores one hypothesis: text metrics on the strings, error rates
// on their whitespace-separated tokens (as qkv eval and qkv score do).
func segment(metric, hyp string, refs []string) (Stats, error) {
	s := Stats{Segments: 1}
	var err error
	switch metric {
	case "wer", "per":
		var rs [][]string
		for _, r := range refs {
			if r != "" { // a missing reference, as in BLEU
				rs = append(rs, strings.Fields(r))
			}
		}
		s.Errors, err = metrics.ErrorSegment(strings.Fields(hyp), rs)
	case "bleu", "chrf":
		if s.BLEU, err = metrics.BLEUSegment(hyp, refs); err == nil {
			s.ChrF, err = metrics.ChrFSegment(hyp, refs)
		}
	case "rouge", "sbleu":
		if s.Rouge, err = metrics.RougeSegment(hyp, refs, metrics.RougeOptions{}); err == nil {
			s.SmoothBLEU, err = metrics.SmoothBLEUSegment(hyp, refs)
		}
	default:
		err = fmt.Errorf("unknown metric %s (%s)", excerpt.Quote(metric), strings.Join(pipeline.Metrics, ", "))
	}
	return s, err
}

// statsFn is the CombineFn: it sums Stats.
type statsFn struct{}

func (statsFn) CreateAccumulator() Stats           { return Stats{} }
func (statsFn) AddInput(a Stats, s Stats) Stats    { return a.Add(s) }
func (statsFn) MergeAccumulators(a, b Stats) Stats { return a.Add(b) }
func (statsFn) ExtractOutput(a Stats) Stats        { return a }

// Sum combines a PCollection<Stats> into one Stats.
func Sum(s beam.Scope, stats beam.PCollection) beam.PCollection {
	return beam.Combine(s.Scope("qkv.SumStats"), &statsFn{}, stats)
}

// EvalConfig is one run of beam eval.
type EvalConfig struct {
	Model   decode.Model
	Tests   []string // test corpora: source<TAB>target (tsv) or CMUdict
	Format  string   // tsv or cmudict
	Metric  string   // wer, bleu, rouge, … (auto is resolved by Metric)
	Options decode.Options
	Shards  int
	Output  string // where the summed Stats are written, as JSON
}

// Metric resolves "auto" as qkv eval does, from the model's config.json
// (read through Beam's filesystem): the metric the model recorded
// (data.metric), else WER for characters to words (G2P), else BLEU.
func Metric(ctx context.Context, m, modelDir string) (string, error) {
	if m != "auto" {
		return m, nil
	}
	b, err := files.ReadFile(ctx, files.Join(modelDir, pipeline.ConfigFile))
	if err != nil {
		return "", fmt.Errorf("model %s: %w", modelDir, err)
	}
	var c pipeline.Config
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("model %s: %s: %w", modelDir, pipeline.ConfigFile, err)
	}
	if c.Data.Metric != "" {
		return c.Data.Metric, nil
	}
	if c.Data.SrcTokenizer == pipeline.TokChar && c.Data.TgtTokenizer == pipeline.TokWord {
		return "wer", nil
	}
	return "bleu", nil
}

// BuildEval adds beam eval to s: every distinct source of each test file
// (its references in file order, as qkv eval gathers them) is decoded and
// scored; a source longer than the model takes is decoded from its first
// tokens (Stats.Truncated), and one that cannot be decoded at all scores as
// an empty output.
func BuildEval(s beam.Scope, c EvalConfig) error {
	// Every source gets an output, scored against its full references: an
	// over-long one is decoded from its first tokens, as qkv eval does.
	c.Options.TruncateSource = true
	if _, err := c.Options.Pipeline(); err != nil {
		return err
	}
	if _, err := (Stats{}).Scores(c.Metric); err != nil {
		return err
	}
	if c.Format != "tsv" && c.Format != "cmudict" {
		return fmt.Errorf("--format %s: want tsv or cmudict", excerpt.Quote(c.Format))
	}
	s = s.Scope("qkv.Eval")
	sources := beam.ParDo(s, &readTestFn{Format: c.Format}, beam.CreateList(s, c.Tests))
	decoded := decode.Decode(s, c.Model, c.Options, c.Shards, sources)
	stats := Sum(s, beam.ParDo(s, &segmentFn{Metric: c.Metric}, decoded))
	beam.ParDo0(s, &writeStatsFn{Path: c.Output}, stats)
	return nil
}

// readTestFn reads one test file and emits each distinct source once, with
// every reference it has in the file, in order.
type readTestFn struct {
	Format string
}

func (f *readTestFn) ProcessElement(ctx context.Context, path string, emit func(decode.Line)) error {
	r, err := files.Open(ctx, path)
	if err != nil {
		return err
	}
	defer r.Close()
	var pairs []corpus.Pair
	if f.Format == "cmudict" {
		prons, err := corpus.ReadCMUdict(r, path, corpus.CMUOptions{StripStress: true, Case: corpus.LowerCase})
		if err != nil {
			return err
		}
		pairs = corpus.G2PPairs(prons)
	} else if pairs, err = corpus.ReadTSV(r, path); err != nil {
		return err
	}
	var order []string
	refs := map[string][]string{}
	for _, p := range pairs {
		if _, ok := refs[p.Source]; !ok {
			order = append(order, p.Source)
		}
		refs[p.Source] = append(refs[p.Source], p.Target)
	}
	for i, src := range order {
		emit(decode.Line{File: path, Index: i, Text: src, Refs: refs[src]})
	}
	return nil
}

// segmentFn scores one decoded source against its references.
type segmentFn struct {
	Metric string
}

func (f *segmentFn) ProcessElement(d decode.Decoded) (Stats, error) {
	s, err := segment(f.Metric, d.Best, d.Refs)
	if err != nil {
		return s, fmt.Errorf("%s: source %s: %w", d.File, excerpt.Quote(d.Source), err)
	}
	if d.Truncated > 0 {
		s.Truncated = 1
	}
	// A truncated source's cut tail was never read: its placeholders are
	// left out of the share, as qkv eval leaves them out.
	if (f.Metric == "bleu" || f.Metric == "chrf") && d.Err == "" && d.Truncated == 0 && len(placeholder.Find(d.Source)) > 0 {
		s.PlaceholderSources = 1
		if placeholder.Kept(d.Source, d.Best) {
			s.PlaceholdersKept = 1
		}
	}
	if d.Err != "" {
		s.Failed, s.FailFile, s.FailIndex = 1, d.File, d.Index
		s.FailText = fmt.Sprintf("source %s: %s", excerpt.Quote(d.Source), d.Err)
	}
	return s, nil
}

// writeStatsFn writes the summed statistics as JSON.
type writeStatsFn struct {
	Path string
}

func (f *writeStatsFn) ProcessElement(ctx context.Context, s Stats) error {
	return files.WriteFile(ctx, f.Path, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(s)
	})
}

// ReadStats reads what a run wrote.
func ReadStats(ctx context.Context, path string) (Stats, error) {
	var s Stats
	b, err := files.ReadFile(ctx, path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// Round is qkv eval's rounding of the figures it prints.
func Round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
