package prepare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/text/corpus"
)

func init() {
	for _, t := range []any{(*Catalogue)(nil), (*MOFile)(nil), (*readCatalogueFn)(nil), (*writeCorpusFn)(nil), (*GettextCounts)(nil)} {
		beam.RegisterType(reflect.TypeOf(t).Elem())
	}
	beam.RegisterDoFn(&readCatalogueFn{})
	beam.RegisterDoFn(&writeCorpusFn{})
}

// MOFile is one catalogue to read: LocaleDir/Lang/LC_MESSAGES/Name.mo.
type MOFile struct {
	Lang, Path string
}

// Catalogue is the usable pairs of one catalogue (corpus.GettextPairs), or
// why it could not be read.
type Catalogue struct {
	Name             string
	Sources, Targets []string
	Err              string
}

// GettextCounts is qkv data gettext's JSON line for one language.
type GettextCounts struct {
	Lang       string   `json:"lang"`
	Catalogues int      `json:"catalogues"`
	Skipped    int      `json:"skipped_files"`
	Pairs      int      `json:"pairs"`
	Train      int      `json:"train"`
	Valid      int      `json:"valid"`
	Test       int      `json:"test"`
	Dir        string   `json:"dir"`
	Warnings   []string `json:"-"`
}

// GettextConfig is one run of beam prepare gettext.
type GettextConfig struct {
	Catalogues          []MOFile // every .mo file of every language
	Out                 string   // corpus directory: Out/LL/{train,valid,test}.tsv and catalogues.json
	ValidFrac, TestFrac float64
	Seed                uint64
	Summary             string // the languages' GettextCounts are written to Summary+LL+".json"
}

// CatalogueFiles lists the .mo catalogues of each language (as qkv data
// gettext reads them: LocaleDir/LL/LC_MESSAGES/*.mo).
func CatalogueFiles(ctx context.Context, localeDir string, langs []string) ([]MOFile, error) {
	var out []MOFile
	for _, lang := range langs {
		if lang == "" || lang == "." || lang == ".." || strings.ContainsAny(lang, "/\\*?[") {
			return nil, fmt.Errorf("--lang %q is not a locale directory name (such as de, pt_BR or sr@latin)", lang)
		}
		got, err := files.Expand(ctx, files.Join(files.Join(files.Join(localeDir, lang), "LC_MESSAGES"), "*.mo"))
		if err != nil {
			return nil, fmt.Errorf("--lang %s: %w", lang, err)
		}
		for _, p := range got {
			out = append(out, MOFile{Lang: lang, Path: p})
		}
	}
	return out, nil
}

// BuildGettext adds corpus building to s: workers read and filter the
// catalogues, one step per language puts them in name order, gives each
// msgid to the first catalogue that has it, splits by catalogue and writes
// the corpus, exactly as qkv data gettext does on one machine.
func BuildGettext(s beam.Scope, c GettextConfig) error {
	if !(c.ValidFrac >= 0 && c.TestFrac >= 0 && c.ValidFrac+c.TestFrac < 1) {
		return fmt.Errorf("--valid-frac %g and --test-frac %g must be ≥ 0 with a sum below 1", c.ValidFrac, c.TestFrac)
	}
	s = s.Scope("qkv.Gettext")
	cats := beam.ParDo(s, &readCatalogueFn{}, beam.CreateList(s, c.Catalogues))
	beam.ParDo0(s, &writeCorpusFn{Out: c.Out, ValidFrac: c.ValidFrac, TestFrac: c.TestFrac, Seed: c.Seed, Summary: c.Summary}, beam.GroupByKey(s, cats))
	return nil
}

type readCatalogueFn struct{}

func (readCatalogueFn) ProcessElement(ctx context.Context, f MOFile) (string, Catalogue) {
	c := Catalogue{Name: strings.TrimSuffix(files.Base(f.Path), ".mo")}
	data, err := files.ReadFile(ctx, f.Path)
	var msgs []corpus.Message
	if err == nil {
		msgs, err = corpus.ReadMO(data, f.Path)
	}
	if err == nil {
		msgs, err = corpus.ToUTF8(msgs)
	}
	if err != nil { // skipped and reported, as qkv data gettext does
		c.Err = fmt.Sprintf("%s: %v", f.Path, err)
		return f.Lang, c
	}
	for _, p := range corpus.GettextPairs(msgs) {
		c.Sources = append(c.Sources, p.Source)
		c.Targets = append(c.Targets, p.Target)
	}
	return f.Lang, c
}

// writeCorpusFn builds one language's corpus from all its catalogues.
type writeCorpusFn struct {
	Out                 string
	ValidFrac, TestFrac float64
	Seed                uint64
	Summary             string
}

func (f *writeCorpusFn) ProcessElement(ctx context.Context, lang string, read func(*Catalogue) bool) error {
	var all []Catalogue
	var c Catalogue
	for read(&c) {
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b Catalogue) int { return strings.Compare(a.Name, b.Name) })
	counts := GettextCounts{Lang: lang, Dir: files.Join(f.Out, lang)}
	seen := map[string]bool{}
	var cats []corpus.Catalogue
	for _, c := range all {
		if c.Err != "" {
			counts.Skipped++
			counts.Warnings = append(counts.Warnings, c.Err)
			continue
		}
		cat := corpus.Catalogue{Name: c.Name}
		for i, src := range c.Sources {
			if !seen[src] {
				seen[src] = true
				cat.Pairs = append(cat.Pairs, corpus.Pair{Source: src, Target: c.Targets[i]})
			}
		}
		if len(cat.Pairs) > 0 {
			cats = append(cats, cat)
		}
	}
	if len(cats) == 0 {
		return fmt.Errorf("--lang %s: no usable pairs in %d catalogues (%d unreadable); nothing was written", lang, len(all), counts.Skipped)
	}
	split, err := corpus.SplitCatalogues(cats, f.ValidFrac, f.TestFrac, f.Seed)
	if err != nil {
		return err
	}
	counts.Catalogues = len(cats)
	names := map[string][]string{}
	for _, part := range []struct {
		name string
		cats []corpus.Catalogue
		n    *int
	}{{"train", split.Train, &counts.Train}, {"valid", split.Valid, &counts.Valid}, {"test", split.Test, &counts.Test}} {
		pairs := corpus.Flatten(part.cats)
		*part.n = len(pairs)
		counts.Pairs += len(pairs)
		if err := files.WriteFile(ctx, files.Join(counts.Dir, part.name+".tsv"), func(w io.Writer) error { return corpus.WriteTSV(w, pairs) }); err != nil {
			return err
		}
		names[part.name] = []string{}
		for _, cat := range part.cats {
			names[part.name] = append(names[part.name], cat.Name)
		}
	}
	js, _ := json.MarshalIndent(names, "", " ")
	if err := files.WriteFile(ctx, files.Join(counts.Dir, "catalogues.json"), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return err
	}
	return files.WriteFile(ctx, f.Summary+lang+".json", func(w io.Writer) error {
		return json.NewEncoder(w).Encode(struct {
			GettextCounts
			Warnings []string `json:"warnings"`
		}{counts, counts.Warnings})
	})
}

// ReadGettextCounts reads the summary a run wrote for lang, with the
// catalogues it skipped.
func ReadGettextCounts(ctx context.Context, summary, lang string) (GettextCounts, error) {
	var c struct {
		GettextCounts
		Warnings []string `json:"warnings"`
	}
	b, err := files.ReadFile(ctx, summary+lang+".json")
	if err != nil {
		return GettextCounts{}, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return GettextCounts{}, err
	}
	c.GettextCounts.Warnings = c.Warnings
	return c.GettextCounts, nil
}

// JSONLine is the counts as qkv data gettext prints them.
func JSONLine(c GettextCounts) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}
