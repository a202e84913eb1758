// Package decode is qkv's model decoding as an Apache Beam transform: lines
// are grouped into length-sorted batches, and each worker loads the model
// once (DoFn Setup, the directory read through Beam's filesystem, so local
// paths and object stores work alike) and decodes its batches with
// pipeline.Translate, the code `qkv predict` and `qkv eval` run. A line
// that cannot be decoded gets its error and an empty output; the rest go
// on.
//
// Apache Beam: Akidau et al. 2015, "The Dataflow Model: A Practical
// Approach to Balancing Correctness, Latency, and Cost in Massive-Scale,
// Unbounded, Out-of-Order Data Processing" (PVLDB 8(12)); the Go SDK,
// github.com/apache/beam/sdks/v2.
package decode

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"reflect"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Line)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Decoded)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*batchKeyFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*decodeFn)(nil)).Elem())
	beam.RegisterDoFn(&batchKeyFn{})
	beam.RegisterDoFn(&decodeFn{})
}

// Line is one input: the file it came from, its 0-based index there, and
// the source text the model reads. Err, when set, says why the input could
// not be read as a source (a TSV line without its source column, say): it
// is not decoded and comes out as a failure.
type Line struct {
	File  string
	Index int
	Text  string
	Err   string
	Refs  []string // carried through to Decoded untouched: an eval source's references
}

// Decoded is what one Line became. Lines are the output lines written for
// it: one (the best output), or --nbest "score<TAB>output" lines; a line
// that could not be decoded has as many empty ones and Err set.
type Decoded struct {
	File    string
	Index   int
	Source  string
	Lines   []string
	Best    string   // the best output (with Err: "")
	Tokens  int      // source tokens as the model reads them
	Unknown []string // source symbols the model never saw, read as <unk>
	// Truncated is how many tokens were cut from a source longer than the
	// model takes (Options.TruncateSource).
	Truncated int
	Err       string
	Refs      []string // the Line's
}

// Options are the decoding flags of qkv predict and eval, as plain values
// that Beam can send to workers.
type Options struct {
	Beam, NBest, MaxLen, TopK, BatchSize int
	Alpha, Temperature                   float64
	Sample, Strict, AllowUnk             bool
	Seed                                 uint64
	// MaxLenA and MaxLenB (when their Set flag is true) override the
	// model's length limit a·|source| + b, as qkv predict's --max-len-a/-b.
	MaxLenA                float64
	MaxLenB                int
	SetMaxLenA, SetMaxLenB bool
	TruncateSource         bool // decode over-long sources from their first tokens, as qkv eval does
}

// Pipeline returns the pipeline options, checked as qkv predict checks its
// flags.
func (o Options) Pipeline() (pipeline.Options, error) {
	opt := pipeline.Options{BatchSize: o.BatchSize, Strict: o.Strict, Search: search.Options{
		Beam: o.Beam, NBest: o.NBest, LengthPenalty: o.Alpha, MaxLen: o.MaxLen,
		Sample: o.Sample, Temperature: o.Temperature, TopK: o.TopK, Seed: o.Seed, AllowUnk: o.AllowUnk,
	}, TruncateSource: o.TruncateSource}
	if o.SetMaxLenA {
		opt.MaxLenA = &o.MaxLenA
	}
	if o.SetMaxLenB {
		opt.MaxLenB = &o.MaxLenB
	}
	if o.Strict && o.AllowUnk {
		return opt, errors.New("--strict and --allow-unk do not go together: --strict refuses inputs with unknown symbols, --allow-unk lets the output hold <unk>")
	}
	return opt, opt.Check()
}

// Model names a model directory (a local path or a URL such as
// gs://bucket/model) and, optionally, its weights file.
type Model struct {
	Dir, Weights string
}

// Decode decodes every Line of lines (a PCollection<Line>) into a
// PCollection<Decoded>, one per line. Lines are keyed by their length
// (rounded to 8 characters) and by one of shards hash shards, grouped, and
// decoded in length-sorted batches of opt.BatchSize within each group: the
// shards spread one length over several workers.
func Decode(s beam.Scope, m Model, opt Options, shards int, lines beam.PCollection) beam.PCollection {
	s = s.Scope("qkv.Decode")
	keyed := beam.ParDo(s, &batchKeyFn{Shards: max(shards, 1)}, lines)
	groups := beam.GroupByKey(s, keyed)
	return beam.ParDo(s, &decodeFn{Model: m, Options: opt}, groups)
}

// CounterUnknown is the Beam counter (namespace "qkv") of decoded lines
// that held symbols the model never saw.
const CounterUnknown = "lines_with_unknown_symbols"

// lengthBuckets bounds the length keys: longer lines share the last one.
const lengthBuckets = 64

// batchKeyFn keys a line by its length bucket and a hash shard.
type batchKeyFn struct {
	Shards int
}

func (f *batchKeyFn) ProcessElement(l Line) (int, Line) {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%d", l.File, l.Index)
	bucket := min(utf8.RuneCountInString(l.Text)/8, lengthBuckets-1)
	return bucket*f.Shards + int(h.Sum32()%uint32(f.Shards)), l
}

// chunk bounds the lines decoded from one group at a time, as qkv predict
// decodes its input in chunks, so memory stays flat on a large group.
const chunk = 4096

// decodeFn decodes groups of lines with the model it loads in Setup.
type decodeFn struct {
	Model   Model
	Options Options

	p       *pipeline.Pipeline
	opt     pipeline.Options
	decoded beam.Counter
	failed  beam.Counter
	unknown beam.Counter // lines holding symbols the model never saw, read as <unk>
}

func (f *decodeFn) Setup(ctx context.Context) error {
	opt, err := f.Options.Pipeline()
	if err != nil {
		return err
	}
	f.opt = opt
	local, weights, err := files.FetchModel(ctx, f.Model.Dir, f.Model.Weights)
	if err != nil {
		return err
	}
	defer os.RemoveAll(local) // everything is in memory once loaded
	if f.p, err = pipeline.LoadWeights(local, weights); err != nil {
		return fmt.Errorf("model %s: %w", f.Model.Dir, err)
	}
	f.decoded = beam.NewCounter("qkv", "lines_decoded")
	f.failed = beam.NewCounter("qkv", "lines_failed")
	f.unknown = beam.NewCounter("qkv", CounterUnknown)
	return nil
}

func (f *decodeFn) ProcessElement(ctx context.Context, _ int, lines func(*Line) bool, emit func(Decoded)) error {
	var batch []Line
	var l Line
	for lines(&l) {
		batch = append(batch, l)
		if len(batch) == chunk {
			f.decode(ctx, batch, emit)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		f.decode(ctx, batch, emit)
	}
	return nil
}

// decode translates one chunk; each line draws (when sampling) from the
// random stream of its index in its file, as in qkv predict, so the
// batching does not change what it gets.
func (f *decodeFn) decode(ctx context.Context, batch []Line, emit func(Decoded)) {
	var texts []string
	var good []Line
	opt := f.opt
	for _, l := range batch {
		if l.Err != "" {
			emit(Format(l, pipeline.Result{Source: l.Text, Err: errors.New(l.Err)}, f.Options.NBest))
			f.failed.Inc(ctx, 1)
			continue
		}
		texts = append(texts, l.Text)
		opt.Lines = append(opt.Lines, l.Index)
		good = append(good, l)
	}
	if len(good) == 0 {
		return
	}
	results := f.p.TranslateContext(ctx, texts, opt)
	for i, r := range results {
		emit(Format(good[i], r, f.Options.NBest))
		if r.Err != nil {
			f.failed.Inc(ctx, 1)
		} else {
			f.decoded.Inc(ctx, 1)
		}
		if len(r.Unknown) > 0 {
			f.unknown.Inc(ctx, 1)
		}
	}
}

// Format turns a result into the lines qkv predict writes for it: the best
// output, or nbest "score<TAB>output" lines; empty lines for a failure.
func Format(l Line, r pipeline.Result, nbest int) Decoded {
	d := Decoded{File: l.File, Index: l.Index, Source: l.Text, Tokens: len(r.SourceTokens), Unknown: r.Unknown, Truncated: r.Truncated, Refs: l.Refs}
	if r.Err != nil {
		d.Err = r.Err.Error()
		d.Lines = make([]string, max(nbest, 1))
		return d
	}
	d.Best = r.Hyps[0].Text
	if nbest == 0 {
		d.Lines = []string{d.Best}
		return d
	}
	for _, h := range r.Hyps {
		d.Lines = append(d.Lines, fmt.Sprintf("%.4f\t%s", h.Score, h.Text))
	}
	return d
}
