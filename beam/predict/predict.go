// Package predict is `qkv beam predict`: qkv predict as an Apache Beam
// pipeline, for inputs larger than one machine decodes in reasonable time.
// It reads every input file (plain lines, the source column of a TSV file,
// or the msgids of a gettext .po file), decodes the lines in length-sorted
// batches on as many workers as the runner gives (package decode), and
// writes one output file per input, in the input's order, with exactly the
// lines `qkv predict --input FILE` writes. Lines that cannot be decoded get
// an empty output line (outputs stay aligned) and a row in a failures file
// (file, line, error); they never stop the others.
package predict

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/qkv-dev/qkv/beam/decode"
	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/text/corpus"
)

func init() {
	for _, t := range []any{(*readFn)(nil), (*writeFn)(nil), (*failuresFn)(nil)} {
		beam.RegisterType(reflect.TypeOf(t).Elem())
	}
	beam.RegisterDoFn(&readFn{})
	beam.RegisterDoFn(&writeFn{})
	beam.RegisterDoFn(&failuresFn{})
	beam.RegisterFunction(keyByFile)
	beam.RegisterFunction(keyFailure)
	beam.RegisterFunction(failureMarker)
}

// Input formats.
const (
	FormatText = "text" // one source a line
	FormatTSV  = "tsv"  // source<TAB>anything: the first column
	FormatPO   = "po"   // gettext .po: each entry's msgid, the header left out
)

// FailuresName is the failures file's name after the output prefix.
const FailuresName = "failures.tsv"

// Config is one run of beam predict.
type Config struct {
	Model   decode.Model
	Inputs  []string // input files (local paths or URLs), each read whole by one worker
	Format  string
	Output  string // prefix: input F is written to Output+Base(F), failures to Output+FailuresName
	Options decode.Options
	Shards  int // hash shards per length bucket (more spread one length over more workers)
}

// Outputs returns each input's output path and the failures file's, or an
// error when two inputs would write the same file or an output is an input
// or a file of the model.
func (c Config) Outputs() (map[string]string, string, error) {
	out := map[string]string{}
	by := map[string]string{}
	failures := c.Output + FailuresName
	for _, in := range c.Inputs {
		o := c.Output + files.Base(in)
		if prev, ok := by[o]; ok {
			return nil, "", fmt.Errorf("inputs %s and %s would both be written to %s: give inputs distinct names, or run them separately", prev, in, o)
		}
		if o == failures {
			return nil, "", fmt.Errorf("input %s would be written to %s, the failures file: rename it", in, o)
		}
		by[o], out[in] = in, o
	}
	if files.IsLocal(c.Output) {
		var guarded []string
		guarded = append(guarded, c.Inputs...)
		if files.IsLocal(c.Model.Dir) {
			for _, name := range []string{pipeline.ConfigFile, pipeline.SrcVocabFile, pipeline.TgtVocabFile, pipeline.SrcBPEFile, pipeline.TgtBPEFile, pipeline.BestFile, pipeline.LastFile} {
				guarded = append(guarded, files.Join(c.Model.Dir, name))
			}
		}
		for _, o := range append(slices.Sorted(maps.Values(out)), failures) {
			if err := atomicfile.NotAnInput(o, guarded...); err != nil {
				return nil, "", fmt.Errorf("--output %s: %w; write elsewhere", c.Output, err)
			}
		}
	}
	return out, failures, nil
}

// Build adds the pipeline to s.
func Build(s beam.Scope, c Config) error {
	if _, err := c.Options.Pipeline(); err != nil {
		return err
	}
	switch c.Format {
	case FormatText, FormatTSV, FormatPO:
	default:
		return fmt.Errorf("--format %s: want text, tsv or po", excerpt.Quote(c.Format))
	}
	outputs, failures, err := c.Outputs()
	if err != nil {
		return err
	}
	s = s.Scope("qkv.Predict")
	inputs := beam.CreateList(s, c.Inputs)
	lines, counts := beam.ParDo2(s, &readFn{Format: c.Format}, inputs)
	decoded := decode.Decode(s, c.Model, c.Options, c.Shards, lines)
	perFile := beam.CoGroupByKey(s, counts, beam.ParDo(s, keyByFile, decoded))
	beam.ParDo0(s, &writeFn{Outputs: outputs}, perFile)
	marker := beam.ParDo(s, failureMarker, beam.Impulse(s))
	failed := beam.CoGroupByKey(s, marker, beam.ParDo(s, keyFailure, decoded))
	beam.ParDo0(s, &failuresFn{Path: failures}, failed)
	return nil
}

// readFn reads one input file into Lines, and emits the file's line count
// so the writer can tell a complete output from a lost one.
type readFn struct {
	Format string
}

func (f *readFn) ProcessElement(ctx context.Context, path string, emit func(decode.Line), count func(string, int)) error {
	r, err := files.Open(ctx, path)
	if err != nil {
		return err
	}
	defer r.Close()
	n := 0
	switch f.Format {
	case FormatPO:
		msgs, err := corpus.ReadPO(r, path)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.ID == "" {
				continue // the header
			}
			emit(decode.Line{File: path, Index: n, Text: m.ID})
			n++
		}
	default:
		err = files.Lines(r, func(i int, line string) error {
			l := decode.Line{File: path, Index: i, Text: line}
			if f.Format == FormatTSV {
				src, _, ok := strings.Cut(line, "\t")
				if !ok && line != "" {
					l.Err = "no tab: a TSV line is source<TAB>…"
				}
				l.Text = src
			}
			emit(l)
			n = i + 1
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	count(path, n)
	return nil
}

func keyByFile(d decode.Decoded) (string, decode.Decoded) { return d.File, d }

// writeFn writes one file's outputs in its input's order.
type writeFn struct {
	Outputs map[string]string
}

func (f *writeFn) ProcessElement(ctx context.Context, file string, counts func(*int) bool, decoded func(*decode.Decoded) bool) error {
	n := 0
	var c int
	for counts(&c) {
		n += c
	}
	var all []decode.Decoded
	var d decode.Decoded
	for decoded(&d) {
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b decode.Decoded) int { return cmp.Compare(a.Index, b.Index) })
	for i, d := range all {
		if d.Index != i || i >= n {
			return fmt.Errorf("%s: line %d came back as line %d of %d: an output was lost or doubled", file, i+1, d.Index+1, n)
		}
	}
	if len(all) != n {
		return fmt.Errorf("%s: %d lines read but %d decoded", file, n, len(all))
	}
	out, ok := f.Outputs[file]
	if !ok {
		return fmt.Errorf("%s: no output path", file)
	}
	return files.WriteFile(ctx, out, func(w io.Writer) error {
		for _, d := range all {
			for _, l := range d.Lines {
				if _, err := io.WriteString(w, l+"\n"); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func failureMarker(_ []byte) (int, int) { return 0, 0 }

func keyFailure(d decode.Decoded, emit func(int, decode.Decoded)) {
	if d.Err != "" {
		emit(0, d)
	}
}

// failuresFn writes the failures file: file<TAB>line (1-based)<TAB>error,
// sorted by file and line; an empty file when every line was decoded.
type failuresFn struct {
	Path string
}

func (f *failuresFn) ProcessElement(ctx context.Context, _ int, _ func(*int) bool, failed func(*decode.Decoded) bool) error {
	var all []decode.Decoded
	var d decode.Decoded
	for failed(&d) {
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b decode.Decoded) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Index, b.Index))
	})
	clean := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
	return files.WriteFile(ctx, f.Path, func(w io.Writer) error {
		for _, d := range all {
			if _, err := fmt.Fprintf(w, "%s\t%d\t%s\n", d.File, d.Index+1, clean.Replace(d.Err)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadFailures reads a failures file back (for the report at the end of a
// run): the number of failed lines and the first row.
func ReadFailures(ctx context.Context, path string) (n int, first string, err error) {
	b, err := files.ReadFile(ctx, path)
	if err != nil {
		return 0, "", err
	}
	for _, row := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if row == "" {
			continue
		}
		if n == 0 {
			first = row
		}
		n++
	}
	return n, first, nil
}
