// Package prepare is corpus preparation as Apache Beam pipelines, for the
// parts that grow with the corpus: counting the words BPE learns from
// (Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words
// with Subword Units"), and reading many gettext catalogues into an
// English→LL corpus split by catalogue. Workers do the reading and
// counting; the step that needs everything at once (learning merges from
// the summed counts, de-duplicating and splitting catalogues) runs once, on
// what they produced, so the results equal `qkv data bpe` and `qkv data
// gettext` exactly.
package prepare

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/tokenize"
)

func init() {
	for _, t := range []any{(*WordCount)(nil), (*countWordsFn)(nil), (*wordSumFn)(nil), (*writeCountsFn)(nil)} {
		beam.RegisterType(reflect.TypeOf(t).Elem())
	}
	beam.RegisterDoFn(&countWordsFn{})
	beam.RegisterDoFn(&writeCountsFn{})
	register.Combiner1[WordCount](&wordSumFn{})
	beam.RegisterFunction(toOneKey)
}

// WordCount is one BPE word (its base symbols) and how often it occurs.
type WordCount struct {
	Symbols []string `json:"w"`
	N       int      `json:"n"`
}

// BPEConfig is one run of beam prepare bpe: the word counts of the inputs
// are written to Counts (JSON lines, sorted), from which LearnBPE learns.
type BPEConfig struct {
	Inputs []string
	TSV    bool // lines are source<TAB>target: both sides count, as qkv data bpe --tsv
	Counts string
}

// BuildBPECounts adds the counting to s: every file is read by one worker,
// which emits each word of each line; counts are summed per word (combined
// on the workers before the shuffle) and written, sorted, to one file.
func BuildBPECounts(s beam.Scope, c BPEConfig) {
	s = s.Scope("qkv.BPECounts")
	words := beam.ParDo(s, &countWordsFn{TSV: c.TSV}, beam.CreateList(s, c.Inputs))
	summed := beam.CombinePerKey(s, &wordSumFn{}, words)
	all := beam.GroupByKey(s, beam.ParDo(s, toOneKey, summed))
	beam.ParDo0(s, &writeCountsFn{Path: c.Counts}, all)
}

// countWordsFn reads one file as qkv data bpe does (each non-empty line,
// or each side of each TSV pair) and emits its words.
type countWordsFn struct {
	TSV bool
}

func (f *countWordsFn) ProcessElement(ctx context.Context, path string, emit func(string, WordCount)) error {
	r, err := files.Open(ctx, path)
	if err != nil {
		return err
	}
	defer r.Close()
	add := func(text string) {
		for _, w := range tokenize.BPEWords(text) {
			emit(strings.Join(w, ""), WordCount{Symbols: w, N: 1})
		}
	}
	if f.TSV {
		pairs, err := corpus.ReadTSV(r, path)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			add(p.Source)
			add(p.Target)
		}
		return nil
	}
	return eachLine(r, path, func(line string) { add(line) })
}

// eachLine is qkv data bpe's reading of a text file: every line without
// its "\n", a byte-order mark at the start dropped, empty lines skipped.
func eachLine(r io.Reader, path string, fn func(string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		if first {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line != "" {
			fn(strings.TrimSuffix(line, "\n"))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// wordSumFn sums the counts of one word.
type wordSumFn struct{}

func (wordSumFn) MergeAccumulators(a, b WordCount) WordCount {
	if a.Symbols == nil {
		a.Symbols = b.Symbols
	}
	a.N += b.N
	return a
}

func toOneKey(_ string, w WordCount) (int, WordCount) { return 0, w }

// writeCountsFn writes every word count, sorted by word, as JSON lines.
type writeCountsFn struct {
	Path string
}

func (f *writeCountsFn) ProcessElement(ctx context.Context, _ int, counts func(*WordCount) bool) error {
	var all []WordCount
	var w WordCount
	for counts(&w) {
		all = append(all, w)
	}
	slices.SortFunc(all, func(a, b WordCount) int {
		return strings.Compare(strings.Join(a.Symbols, ""), strings.Join(b.Symbols, ""))
	})
	return files.WriteFile(ctx, f.Path, func(out io.Writer) error {
		enc := json.NewEncoder(out)
		for _, w := range all {
			if err := enc.Encode(w); err != nil {
				return err
			}
		}
		return nil
	})
}

// LearnBPE learns up to merges merges from a counts file BuildBPECounts
// wrote, as qkv data bpe learns them from the texts (minFreq as its
// --min-freq).
func LearnBPE(ctx context.Context, counts string, merges, minFreq int) (*tokenize.BPE, error) {
	r, err := files.Open(ctx, counts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	t := tokenize.NewBPETrainer()
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var w WordCount
		if err := dec.Decode(&w); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", counts, err)
		}
		t.AddCount(w.Symbols, w.N)
	}
	return t.Learn(merges, minFreq), nil
}
