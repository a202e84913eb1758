package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/godoc"
	"github.com/qkv-dev/qkv/text/tokenize"
)

// dataCmd is `qkv data`: building corpora and subword models.
var dataCmd = &cobra.Command{
	Use:   "data",
	Short: "Build corpora (gettext catalogues, Go code → its documentation) and BPE subword models",
}

var gettextCmd = &cobra.Command{
	Use:   "gettext --locale-dir DIR --lang LL [--lang …] --out DIR",
	Short: "Build English→LL corpora from the machine's gettext catalogues",
	Long: `Build an English→LL parallel corpus from every catalogue
DIR/LL/LC_MESSAGES/*.mo (e.g. /usr/share/locale/de/LC_MESSAGES/*.mo).
LL is used exactly: "pt" does not read "pt_BR" (ask for pt_BR by name).

Entries with plural forms, contexts, fuzzy or empty translations, tabs or
line breaks are skipped; a source string is kept once, in the first
catalogue (by name) that has it; format directives and accelerators stay
as they are. Whole catalogues go to train, valid or test, so no catalogue
is in two of them. Writes OUT/LL/{train,valid,test}.tsv and
OUT/LL/catalogues.json, and prints one JSON line of counts per language.
An existing corpus there is kept (runs trained on it need it to --resume)
unless --overwrite.`,
	Args: cobra.NoArgs,
	RunE: runGettext,
}

var godocCmd = &cobra.Command{
	Use:   "godoc --root DIR --out DIR",
	Short: "Build a Go code → documentation summarization corpus from a Go source tree",
	Long: `Build a summarization corpus from a tree of Go source, e.g. $(go env GOROOT)/src:
every documented function or method becomes a pair (its code → the first
sentence of its doc comment, as go/doc's Synopsis takes it), as the Go split of
CodeSearchNet that CodeXGLUE's code-to-text task uses.

The code is the function without its doc comment, as go/scanner tokens
separated by spaces on one line (comments and inserted semicolons left out).
_test.go files, testdata and vendor directories, names starting with . or _,
and generated files ("Code generated ... DO NOT EDIT.") are left out; so are
functions whose first sentence has fewer than --min-doc-words or more than
--max-doc-words words, or whose code has more than --max-code-tokens tokens
(counted in stats.json). Identical code is kept once. Whole packages go to
train, valid or test by a fixed hash of their path, so no package is in two
splits.

Writes OUT/{train,valid,test}.tsv (code<TAB>sentence, for qkv train and qkv
eval), OUT/{valid,test}.lead.txt (the lead baseline: each function's name
split into words, for qkv score --metric rouge), OUT/{train,valid,test}.origin.tsv
(package, file:line and name of each pair), OUT/packages.json and
OUT/stats.json, and prints one JSON line of counts. An existing corpus in OUT
is kept (runs trained on it need it to --resume) unless --overwrite.`,
	Args: cobra.NoArgs,
	RunE: runGodoc,
}

var bpeCmd = &cobra.Command{
	Use:   "bpe --merges N --input FILE [--out FILE] | bpe --apply MERGES --input FILE [--out FILE] [--decode]",
	Short: "Learn BPE merges from a corpus, or apply them to a file",
	Long: `Learn byte-pair-encoding merges (Sennrich et al. 2016) from the lines of
one or more files, or apply learned merges to a file.

Learning: --merges N [--min-freq 2] --input FILE [--input FILE …] [--out MERGES]
  writes the merges as text (stdout without --out).
Applying: --apply MERGES --input FILE [--out FILE]
  writes each line as its tokens separated by single spaces; spaces of the
  text are the marker ▁, so --decode restores the text exactly.
With --tsv, each line is source<TAB>target and both sides are used
(learning) or tokenized separately, keeping the tab (applying).`,
	Args: cobra.NoArgs,
	RunE: runBPE,
}

func init() {
	f := gettextCmd.Flags()
	f.String("locale-dir", "/usr/share/locale", "directory of LL/LC_MESSAGES/*.mo catalogues")
	f.StringArray("lang", nil, "target language code, exactly as the directory is named (repeatable)")
	f.String("out", "", "output directory (required)")
	f.Float64("valid-frac", 0.05, "share of pairs for validation (whole catalogues)")
	f.Float64("test-frac", 0.05, "share of pairs for test (whole catalogues)")
	f.Uint64("seed", 1, "seed of the catalogue shuffle")
	f.Bool("overwrite", false, "replace a corpus already in --out")
	gettextCmd.MarkFlagRequired("lang")
	gettextCmd.MarkFlagRequired("out")

	g := godocCmd.Flags()
	def := godoc.DefaultOptions()
	g.String("root", "", "root of the Go source tree, e.g. $(go env GOROOT)/src (required)")
	g.String("out", "", "output directory (required)")
	g.Int("max-code-tokens", def.MaxCodeTokens, "skip functions whose code has more go/scanner tokens (0: no limit)")
	g.Int("min-doc-words", def.MinDocWords, "skip functions whose first sentence has fewer words")
	g.Int("max-doc-words", def.MaxDocWords, "skip functions whose first sentence has more words (0: no limit)")
	g.Float64("valid-frac", def.ValidFrac, "share of packages for validation")
	g.Float64("test-frac", def.TestFrac, "share of packages for test")
	g.Bool("overwrite", false, "replace a corpus already in --out")
	godocCmd.MarkFlagRequired("root")
	godocCmd.MarkFlagRequired("out")

	b := bpeCmd.Flags()
	b.Int("merges", 0, "number of merges to learn")
	b.Int("min-freq", 2, "stop learning when the best pair occurs fewer times")
	b.StringArray("input", nil, "input text file, one segment a line (repeatable when learning)")
	b.String("out", "", "output file (default stdout)")
	b.String("apply", "", "merges file to tokenize --input with")
	b.Bool("decode", false, "with --apply: turn tokenized lines back into text")
	b.Bool("tsv", false, "lines are source<TAB>target")
	bpeCmd.MarkFlagRequired("input")

	dataCmd.AddCommand(gettextCmd, godocCmd, bpeCmd)
	rootCmd.AddCommand(dataCmd)
}

type gettextCounts struct {
	Lang       string `json:"lang"`
	Catalogues int    `json:"catalogues"`
	Skipped    int    `json:"skipped_files"`
	Pairs      int    `json:"pairs"`
	Train      int    `json:"train"`
	Valid      int    `json:"valid"`
	Test       int    `json:"test"`
	Dir        string `json:"dir"`
}

func runGettext(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags()
	localeDir, _ := fl.GetString("locale-dir")
	langs, _ := fl.GetStringArray("lang")
	out, _ := fl.GetString("out")
	validFrac, _ := fl.GetFloat64("valid-frac")
	testFrac, _ := fl.GetFloat64("test-frac")
	seed, _ := fl.GetUint64("seed")
	overwrite, _ := fl.GetBool("overwrite")
	var outputs []string
	for _, lang := range langs {
		for _, name := range corpus.GettextFiles {
			outputs = append(outputs, filepath.Join(out, lang, name))
		}
	}
	if err := refuseEarlierCorpus("data gettext", outputs, overwrite); err != nil {
		return err
	}
	// Read every language before writing anything: a language that yields
	// nothing stops the command with no half-written output.
	type loaded struct {
		lang     string
		cats     []corpus.Catalogue
		warnings []error
		split    corpus.Split
	}
	var all []loaded
	for _, lang := range langs {
		cats, warnings, err := corpus.LoadGettext(localeDir, lang)
		if err != nil {
			return fmt.Errorf("data gettext: --lang %s: %w", lang, err)
		}
		for _, w := range warnings {
			fmt.Fprintln(cmd.ErrOrStderr(), "qkv: skipped:", w)
		}
		if len(cats) == 0 {
			dir := filepath.Join(localeDir, lang, "LC_MESSAGES")
			if len(warnings) > 0 {
				return fmt.Errorf("data gettext: --lang %s: no pairs from %s: %d catalogues were skipped as unreadable (see above) and any others held no usable entries; nothing was written", lang, dir, len(warnings))
			}
			return fmt.Errorf("data gettext: --lang %s: the catalogues in %s hold no usable pairs (plural, fuzzy, empty or multi-line entries are skipped); nothing was written", lang, dir)
		}
		split, err := corpus.SplitCatalogues(cats, validFrac, testFrac, seed)
		if err != nil {
			return fmt.Errorf("data gettext: --valid-frac/--test-frac: %w", err)
		}
		all = append(all, loaded{lang, cats, warnings, split})
	}
	for _, l := range all {
		dir := filepath.Join(out, l.lang)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c := gettextCounts{Lang: l.lang, Catalogues: len(l.cats), Skipped: len(l.warnings), Dir: dir}
		names := map[string][]string{}
		for _, part := range []struct {
			name string
			cats []corpus.Catalogue
			n    *int
		}{{"train", l.split.Train, &c.Train}, {"valid", l.split.Valid, &c.Valid}, {"test", l.split.Test, &c.Test}} {
			pairs := corpus.Flatten(part.cats)
			*part.n = len(pairs)
			c.Pairs += len(pairs)
			if err := corpus.WriteTSVFile(filepath.Join(dir, part.name+".tsv"), pairs); err != nil {
				return err
			}
			names[part.name] = []string{}
			for _, cat := range part.cats {
				names[part.name] = append(names[part.name], cat.Name)
			}
		}
		// Whole catalogues go to each split, so a few catalogues can leave
		// valid.tsv or test.tsv empty; qkv train --valid and qkv eval
		// --test refuse an empty file, so say so here, where it is made.
		for _, e := range []struct {
			name string
			n    int
			frac float64
		}{{"valid", c.Valid, validFrac}, {"test", c.Test, testFrac}} {
			if e.n == 0 && e.frac > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "qkv: data gettext: --lang %s: %s.tsv is empty: its share (%g) of %d pairs is less than one whole catalogue; add catalogues or raise --%s-frac (qkv train without --valid holds out 2%% of train instead)\n",
					l.lang, e.name, e.frac, c.Pairs, e.name)
			}
		}
		js, _ := json.MarshalIndent(names, "", " ")
		if err := atomicfile.WriteFile(filepath.Join(dir, "catalogues.json"), append(js, '\n')); err != nil {
			return err
		}
		line, _ := json.Marshal(c)
		if _, err := fmt.Fprintln(cmd.OutOrStdout(), string(line)); err != nil {
			return err
		}
	}
	return nil
}

// refuseEarlierCorpus stops a corpus build, before any work, when one of
// the files it would write exists: a corpus is what earlier runs trained and
// were scored on, and rebuilding it (another seed, other catalogues) would
// change it under them. --overwrite says the user means it.
func refuseEarlierCorpus(command string, paths []string, overwrite bool) error {
	if overwrite {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %s exists (a corpus built earlier, which runs trained on it need to --resume and to be scored again): choose another --out, or add --overwrite to replace it", command, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: --out: %w", command, err)
		}
	}
	return nil
}

func runGodoc(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags()
	root, _ := fl.GetString("root")
	out, _ := fl.GetString("out")
	var opt godoc.Options
	opt.MaxCodeTokens, _ = fl.GetInt("max-code-tokens")
	opt.MinDocWords, _ = fl.GetInt("min-doc-words")
	opt.MaxDocWords, _ = fl.GetInt("max-doc-words")
	opt.ValidFrac, _ = fl.GetFloat64("valid-frac")
	opt.TestFrac, _ = fl.GetFloat64("test-frac")
	if root == "" || out == "" {
		return errors.New("data godoc: --root and --out are required")
	}
	overwrite, _ := fl.GetBool("overwrite")
	var outputs []string
	for _, name := range godoc.FileNames() {
		outputs = append(outputs, filepath.Join(out, name))
	}
	if err := refuseEarlierCorpus("data godoc", outputs, overwrite); err != nil {
		return err
	}
	// Everything is read before anything is written: a tree that yields
	// nothing leaves --out as it was.
	c, err := godoc.Build(root, opt)
	if err != nil {
		return fmt.Errorf("data godoc: --root: %w; nothing was written", err)
	}
	for i, w := range c.Warnings {
		if i == 5 {
			fmt.Fprintf(cmd.ErrOrStderr(), "qkv: … and %d more files that do not parse\n", len(c.Warnings)-5)
			break
		}
		fmt.Fprintln(cmd.ErrOrStderr(), "qkv: skipped a file that does not parse:", w)
	}
	if err := c.Write(out, opt); err != nil {
		return fmt.Errorf("data godoc: --out %s: %w", out, err)
	}
	line, _ := json.Marshal(struct {
		godoc.Counts
		Dir string `json:"dir"`
	}{c.Counts, out})
	if _, err := fmt.Fprintln(cmd.OutOrStdout(), string(line)); err != nil {
		return err
	}
	return nil
}

func runBPE(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags()
	merges, _ := fl.GetInt("merges")
	minFreq, _ := fl.GetInt("min-freq")
	inputs, _ := fl.GetStringArray("input")
	outPath, _ := fl.GetString("out")
	apply, _ := fl.GetString("apply")
	decode, _ := fl.GetBool("decode")
	tsv, _ := fl.GetBool("tsv")

	if apply == "" {
		if decode {
			return fmt.Errorf("--decode needs --apply MERGES")
		}
		if merges <= 0 {
			return fmt.Errorf("--merges must be positive (or give --apply MERGES to tokenize)")
		}
		if minFreq < 1 {
			return fmt.Errorf("--min-freq %d is out of range: a pair must occur at least once (2 is usual)", minFreq)
		}
	} else if len(inputs) != 1 {
		return fmt.Errorf("--apply takes exactly one --input")
	} else {
		// Learning flags with --apply did nothing: the user may have
		// meant to learn merges and got a tokenized file instead.
		for _, name := range []string{"merges", "min-freq"} {
			if fl.Changed(name) {
				return fmt.Errorf("--%s is for learning merges, and --apply tokenizes with merges already learned: give one of them", name)
			}
		}
	}
	// The output is never an input (nor the merges), and it is written to a
	// temporary file renamed into place at the end: a failure leaves any
	// previous file as it was.
	if err := atomicfile.NotAnInput(outPath, append(slices.Clone(inputs), apply)...); err != nil {
		return fmt.Errorf("data bpe: --out: %w; write it elsewhere", err)
	}
	if outPath == "" {
		if err := stdoutIsInput(append(slices.Clone(inputs), apply)...); err != nil {
			return fmt.Errorf("data bpe: %w", err)
		}
	}
	var w io.Writer = cmd.OutOrStdout()
	var f *atomicfile.File
	writing := guardOutputs("data bpe") // held while writing, so Ctrl-C aborts between writes
	defer writing.stop()
	if outPath != "" {
		var err error
		if f, err = writing.create(outPath); err != nil {
			return fmt.Errorf("data bpe: --out: %w", err)
		}
		defer f.Abort()
		w = f
	}
	bw := bufio.NewWriter(w)
	finish := func() error {
		writing.Lock()
		defer writing.Unlock()
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("data bpe: writing the output: %w", err)
		}
		if f != nil {
			return f.Commit()
		}
		return nil
	}

	if apply == "" {
		t := tokenize.NewBPETrainer()
		for _, in := range inputs {
			if err := eachSide(in, tsv, func(s string) error { t.Add(s); return nil }); err != nil {
				return err
			}
		}
		b := t.Learn(merges, minFreq)
		writing.Lock()
		err := b.Save(bw)
		writing.Unlock()
		if err != nil {
			return err
		}
		if err := finish(); err != nil {
			return err
		}
		if len(b.Merges()) < merges {
			fmt.Fprintf(cmd.ErrOrStderr(), "qkv: learned %d merges (no pair left occurring %d times)\n", len(b.Merges()), minFreq)
		}
		return nil
	}
	b, err := tokenize.LoadBPEFile(apply)
	if err != nil {
		return err
	}
	conv := func(s string) string { return strings.Join(b.Tokenize(s), " ") }
	if decode {
		conv = func(s string) string {
			if s == "" {
				return ""
			}
			return b.Detokenize(strings.Split(s, " "))
		}
	}
	lineNo := 0
	err = eachLineOf(inputs[0], func(line string) error {
		writing.Lock()
		defer writing.Unlock()
		lineNo++
		if tsv {
			src, tgt, ok := strings.Cut(line, "\t")
			if !ok {
				return fmt.Errorf("%s:%d: no tab in %s: with --tsv every line is source<TAB>target", inputs[0], lineNo, excerpt.Quote(line))
			}
			bw.WriteString(conv(src) + "\t" + conv(tgt) + "\n")
			return nil
		}
		bw.WriteString(conv(line) + "\n")
		return nil
	})
	if err != nil {
		return err
	}
	return finish()
}

// eachSide calls fn with every line of path, or with both sides of every
// source<TAB>target line when tsv is set.
func eachSide(path string, tsv bool, fn func(string) error) error {
	if !tsv {
		return eachLineOf(path, fn)
	}
	pairs, err := corpus.ReadTSVFile(path)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if err := fn(p.Source); err != nil {
			return err
		}
		if err := fn(p.Target); err != nil {
			return err
		}
	}
	return nil
}

// eachLineOf calls fn with every line of path (without "\n", and without a
// byte-order mark at the start of the file), until fn fails.
func eachLineOf(path string, fn func(string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		if first {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line != "" {
			if ferr := fn(strings.TrimSuffix(line, "\n")); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}
