package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/internal/excerpt"
)

func init() {
	for _, t := range []any{(*Segment)(nil), (*segmentFile)(nil), (*readSegmentsFn)(nil), (*scoreSegmentFn)(nil)} {
		beam.RegisterType(reflect.TypeOf(t).Elem())
	}
	beam.RegisterDoFn(&readSegmentsFn{})
	beam.RegisterDoFn(&scoreSegmentFn{})
}

// ScoreConfig is one run of beam score: a system output against reference
// files, line by line, as qkv score.
type ScoreConfig struct {
	Metric string // bleu, chrf, wer, per, rouge or sbleu
	Hyp    string
	Refs   []string
	Output string // where the summed Stats are written, as JSON
}

// Segment is one line of a hypothesis (Ref -1) or reference file (Ref k).
type Segment struct {
	Ref  int
	Text string
}

type segmentFile struct {
	Path string
	Ref  int
}

// BuildScore adds beam score to s: the lines of every file are keyed by
// their line number, grouped, and scored; the statistics are summed.
func BuildScore(s beam.Scope, c ScoreConfig) error {
	if _, err := (Stats{}).Scores(c.Metric); err != nil {
		return err
	}
	if len(c.Refs) == 0 {
		return fmt.Errorf("no reference file")
	}
	s = s.Scope("qkv.Score")
	in := []segmentFile{{c.Hyp, -1}}
	for k, r := range c.Refs {
		in = append(in, segmentFile{r, k})
	}
	lines := beam.ParDo(s, &readSegmentsFn{}, beam.CreateList(s, in))
	byLine := beam.GroupByKey(s, lines)
	stats := Sum(s, beam.ParDo(s, &scoreSegmentFn{Metric: c.Metric, Refs: c.Refs, Hyp: c.Hyp}, byLine))
	beam.ParDo0(s, &writeStatsFn{Path: c.Output}, stats)
	return nil
}

// readSegmentsFn reads a file's lines as qkv score does: valid UTF-8, a
// byte-order mark dropped, "\r\n" accepted, no line after the final "\n".
type readSegmentsFn struct{}

func (readSegmentsFn) ProcessElement(ctx context.Context, f segmentFile, emit func(int, Segment)) error {
	b, err := files.ReadFile(ctx, f.Path)
	if err != nil {
		return err
	}
	s := strings.TrimPrefix(string(b), "\uFEFF")
	s = strings.TrimSuffix(s, "\n")
	if s == "" && len(b) <= 1 {
		return fmt.Errorf("%s: empty file: there is nothing to score", f.Path)
	}
	for i, l := range strings.Split(s, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if !utf8.ValidString(l) {
			return fmt.Errorf("%s:%d: invalid UTF-8", f.Path, i+1)
		}
		emit(i, Segment{Ref: f.Ref, Text: l})
	}
	return nil
}

// scoreSegmentFn scores one line: its hypothesis against its references.
type scoreSegmentFn struct {
	Metric string
	Hyp    string
	Refs   []string
}

func (f *scoreSegmentFn) ProcessElement(line int, segs func(*Segment) bool) (Stats, error) {
	var hyp *string
	refs := make([]*string, len(f.Refs))
	var seg Segment
	for segs(&seg) {
		text := seg.Text
		if seg.Ref < 0 {
			hyp = &text
		} else {
			refs[seg.Ref] = &text
		}
	}
	if hyp == nil {
		return Stats{}, fmt.Errorf("%s has no line %d, which a reference file has: every reference file needs one line per hypothesis line", f.Hyp, line+1)
	}
	rs := make([]string, len(refs))
	empty := 0
	for k, r := range refs {
		if r == nil {
			return Stats{}, fmt.Errorf("%s has no line %d, which %s has: every reference file needs one line per hypothesis line", f.Refs[k], line+1, f.Hyp)
		}
		rs[k] = *r
		if *r == "" {
			empty++
		}
	}
	if empty == len(rs) {
		return Stats{}, fmt.Errorf("line %d is empty in every --ref file: each segment needs at least one reference", line+1)
	}
	s, err := segment(f.Metric, *hyp, rs)
	s.EmptyRefs = empty
	return s, err
}

// ScoreLine is qkv score's JSON line, in sacreBLEU's field order.
type ScoreLine struct {
	Name         string  `json:"name"`
	Score        float64 `json:"score"`
	Signature    string  `json:"signature"`
	VerboseScore string  `json:"verbose_score"`
	NRefs        string  `json:"nrefs"`
	Segments     int     `json:"segments"`
	// Scores holds every figure of a metric that has several (rouge).
	Scores map[string]float64 `json:"scores,omitempty"`
}

// Line is the JSON line qkv score prints for these statistics.
func (s Stats) Line(metric string, refFiles int) (ScoreLine, error) {
	nrefs := fmt.Sprint(refFiles)
	if s.EmptyRefs > 0 {
		nrefs = "var"
	}
	res := ScoreLine{NRefs: nrefs, Segments: s.Segments}
	switch metric {
	case "bleu":
		b := s.BLEU.Score()
		res.Name, res.Score = "BLEU", b.Score
		res.Signature = "nrefs:" + nrefs + "|case:mixed|eff:no|tok:13a|smooth:exp|impl:qkv"
		res.VerboseScore = strings.TrimPrefix(b.String(), fmt.Sprintf("BLEU = %.2f ", b.Score))
	case "chrf":
		c := s.ChrF.Score()
		res.Name, res.Score = "chrF2", c.Score
		res.Signature = "nrefs:" + nrefs + "|case:mixed|eff:yes|nc:6|nw:0|space:no|impl:qkv"
		res.VerboseScore = fmt.Sprintf("%.4f", c.Score)
	case "wer", "per":
		r, name := s.Errors.WER(), "WER"
		if metric == "per" {
			r, name = s.Errors.PER(), "PER"
		}
		res.Name, res.Score = name, r.Rate
		res.Signature = "nrefs:" + nrefs + "|tok:whitespace|impl:qkv"
		res.VerboseScore = fmt.Sprintf("%d errors / %d", r.Errors, r.Total)
	case "rouge":
		r := s.Rouge.Score()
		res.Name, res.Score = "ROUGE-L", r.RougeL.F
		res.Signature = "nrefs:" + nrefs + "|tok:rouge-score|stem:no|multi:max-f|avg:mean-f|impl:qkv"
		res.VerboseScore = r.String()
		res.Scores = map[string]float64{}
		for k, v := range map[string]float64{"rouge1": r.Rouge1.F, "rouge2": r.Rouge2.F, "rougeL": r.RougeL.F} {
			res.Scores[k] = math.Round(v*1e4) / 1e4
		}
	case "sbleu":
		b := s.SmoothBLEU.Score()
		res.Name, res.Score = "smoothed BLEU-4", b.Score
		res.Signature = "nrefs:" + nrefs + "|case:lc|tok:codexglue|smooth:add-one-2to4|ref:shortest|avg:segments|impl:qkv"
		res.VerboseScore = fmt.Sprintf("%.4f (mean of %d segments)", b.Score, b.Segments)
	default:
		return res, fmt.Errorf("unknown --metric %s (want bleu, chrf, wer, per, rouge or sbleu)", excerpt.Quote(metric))
	}
	res.Score = math.Round(res.Score*1e4) / 1e4
	return res, nil
}

// WriteLine prints the JSON line.
func (l ScoreLine) WriteLine(w io.Writer) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
