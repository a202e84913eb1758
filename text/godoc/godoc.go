// Package godoc builds a code-summarization corpus from a tree of Go
// source: every documented function or method becomes a pair (its code →
// the first sentence of its doc comment), the Go counterpart of the Go
// split of CodeSearchNet (Husain et al. 2019, "CodeSearchNet Challenge:
// Evaluating the State of Semantic Code Search") as CodeXGLUE's
// code-to-text task uses it (Lu et al. 2021, "CodeXGLUE: A Machine Learning
// Benchmark Dataset for Code Understanding and Generation").
//
// As there, the target is the documentation's first sentence as written
// (Go's convention makes it start with the function's name: "Join
// concatenates …"), the source is the function without its doc comment, as
// code tokens, and pairs whose documentation has fewer than three words are
// dropped. The first sentence is the one go/doc's Synopsis takes (up to the
// first period followed by a space and not after a single capital, or the
// first blank line; go/doc/comment syntax such as [links] rendered as
// text). The code is the function's go/scanner tokens separated by single
// spaces on one line: comments inside it and the semicolons the scanner
// inserts at line ends are left out, and white space inside a literal is
// folded to one space, so a TSV line holds it.
//
// The corpus is split by package (directory), so no package is in two
// splits: a fixed hash of the package's path decides, so a package lands in
// the same split whatever else the tree holds. The go command's rules for
// what a package is are followed: _test.go files, testdata and vendor
// directories and names starting with "." or "_" are left out, and so are
// generated files ("// Code generated … DO NOT EDIT."). Identical code is kept
// once, where it first occurs in path order, so no code is in two splits.
package godoc

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options are the corpus's limits and split.
type Options struct {
	// MaxCodeTokens skips functions whose code has more go/scanner tokens
	// (the models have a longest source; CodeXGLUE cuts sources at 256
	// subword tokens). 0: no limit.
	MaxCodeTokens int `json:"max_code_tokens"`
	// MinDocWords and MaxDocWords bound the first sentence's words
	// (CodeXGLUE drops documentation under 3 or over 256 tokens).
	MinDocWords int `json:"min_doc_words"`
	MaxDocWords int `json:"max_doc_words"`
	// ValidFrac and TestFrac are the shares of packages (not pairs) hashed
	// to the validation and test splits.
	ValidFrac float64 `json:"valid_frac"`
	TestFrac  float64 `json:"test_frac"`
}

// DefaultOptions: 256 code tokens, 3 to 128 words, 5% and 5% of packages.
func DefaultOptions() Options {
	return Options{MaxCodeTokens: 256, MinDocWords: 3, MaxDocWords: 128, ValidFrac: 0.05, TestFrac: 0.05}
}

// Example is one pair and where it came from.
type Example struct {
	Package string // the directory relative to the root, slash-separated ("." for the root)
	File    string // relative to the root
	Line    int
	Name    string // the function's or method's name
	Code    string // its tokens, separated by single spaces
	Tokens  int    // how many
	Doc     string // the first sentence of its doc comment
}

// Lead is the lead baseline's output for the example: its name split into
// words (LeadWords).
func (e Example) Lead() string { return LeadWords(e.Name) }

// Counts say what the tree held and why functions were left out.
type Counts struct {
	Packages       int `json:"packages"`            // directories with at least one pair
	Files          int `json:"files"`               // Go files read
	GeneratedFiles int `json:"generated_files"`     // left out as generated
	BadFiles       int `json:"unparsable_files"`    // left out because they do not parse
	Functions      int `json:"functions"`           // function and method declarations with a body
	Undocumented   int `json:"undocumented"`        // with no doc comment
	NoSentence     int `json:"no_sentence"`         // doc comment with no first sentence: only //go: directives, or it starts with a code block, list or "Copyright"
	ShortDoc       int `json:"short_doc"`           // first sentence under MinDocWords words
	LongDoc        int `json:"long_doc"`            // over MaxDocWords words
	LongCode       int `json:"long_code"`           // over MaxCodeTokens tokens
	BadCode        int `json:"bad_code"`            // code the scanner rejects or that is not UTF-8
	Duplicates     int `json:"duplicates"`          // code already seen (kept once)
	Pairs          int `json:"pairs"`               // kept
	Train          int `json:"train"`               // pairs per split
	Valid          int `json:"valid"`               //
	Test           int `json:"test"`                //
	TrainPackages  int `json:"train_packages"`      // packages per split
	ValidPackages  int `json:"valid_packages"`      //
	TestPackages   int `json:"test_packages"`       //
	LongestCode    int `json:"longest_code_tokens"` // the longest code kept, in tokens
	LongestDoc     int `json:"longest_doc_words"`   // the longest first sentence kept, in words
	IgnoredDirs    int `json:"ignored_dirs"`        // testdata, vendor, . and _ directories not entered
	TestFiles      int `json:"skipped_test_files"`  // _test.go files not read
}

// Corpus is the split corpus.
type Corpus struct {
	Train, Valid, Test []Example
	// Packages lists each split's packages in order.
	Packages struct {
		Train, Valid, Test []string
	}
	Counts Counts
	// Warnings name the files that could not be parsed (they are skipped).
	Warnings []error
}

// Build reads every package under root and returns the corpus. It fails if
// root is not a readable directory or yields no pair.
func Build(root string, opt Options) (*Corpus, error) {
	if !(opt.ValidFrac >= 0 && opt.TestFrac >= 0 && opt.ValidFrac+opt.TestFrac < 1) {
		return nil, fmt.Errorf("fractions valid %g and test %g must be ≥ 0 with a sum below 1", opt.ValidFrac, opt.TestFrac)
	}
	if opt.MaxCodeTokens < 0 || opt.MinDocWords < 0 || opt.MaxDocWords < 0 || (opt.MaxDocWords > 0 && opt.MaxDocWords < opt.MinDocWords) {
		return nil, fmt.Errorf("limits out of range: code tokens %d, document words %d to %d (0 is no limit; the minimum must not exceed the maximum)", opt.MaxCodeTokens, opt.MinDocWords, opt.MaxDocWords)
	}
	st, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist (give the root of a Go source tree, e.g. $(go env GOROOT)/src)", root)
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, fmt.Errorf("%s is a file, not a directory (give the root of a Go source tree, e.g. $(go env GOROOT)/src)", root)
	}
	c := &Corpus{}
	byPkg := map[string][]string{} // package → its files, in name order
	var pkgs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				c.Counts.IgnoredDirs++
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || !d.Type().IsRegular() {
			return nil
		}
		if strings.HasSuffix(name, "_test.go") {
			c.Counts.TestFiles++
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, ok := byPkg[pkg]; !ok {
			pkgs = append(pkgs, pkg)
		}
		byPkg[pkg] = append(byPkg[pkg], path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s holds no Go files (outside testdata and vendor directories, and not counting _test.go files)", root)
	}
	// Package paths in byte order, so "a/b" comes before "a0" and the first
	// occurrence of duplicated code does not depend on the walk.
	slices.Sort(pkgs)
	seen := map[string]bool{}
	for _, pkg := range pkgs {
		got, err := c.readPackage(root, pkg, byPkg[pkg], opt)
		if err != nil {
			return nil, err
		}
		var exs []Example
		for _, e := range got {
			if seen[e.Code] {
				c.Counts.Duplicates++
				continue
			}
			seen[e.Code] = true
			exs = append(exs, e)
		}
		if len(exs) == 0 {
			continue
		}
		c.Counts.Packages++
		for _, e := range exs {
			c.Counts.LongestCode = max(c.Counts.LongestCode, e.Tokens)
			c.Counts.LongestDoc = max(c.Counts.LongestDoc, len(strings.Fields(e.Doc)))
		}
		switch splitOf(pkg, opt) {
		case "test":
			c.Test = append(c.Test, exs...)
			c.Packages.Test = append(c.Packages.Test, pkg)
		case "valid":
			c.Valid = append(c.Valid, exs...)
			c.Packages.Valid = append(c.Packages.Valid, pkg)
		default:
			c.Train = append(c.Train, exs...)
			c.Packages.Train = append(c.Packages.Train, pkg)
		}
	}
	n := &c.Counts
	n.Train, n.Valid, n.Test = len(c.Train), len(c.Valid), len(c.Test)
	n.Pairs = n.Train + n.Valid + n.Test
	n.TrainPackages, n.ValidPackages, n.TestPackages = len(c.Packages.Train), len(c.Packages.Valid), len(c.Packages.Test)
	if n.Pairs == 0 {
		return nil, fmt.Errorf("%s: no function or method in its %d Go files has a usable doc comment (%d undocumented, %d without a first sentence, %d with fewer than %d words, %d with code over %d tokens)",
			root, n.Files, n.Undocumented, n.NoSentence, n.ShortDoc, opt.MinDocWords, n.LongCode, opt.MaxCodeTokens)
	}
	return c, nil
}

// splitOf maps a package path to a split by the first 8 bytes of its
// SHA-256, read as a fraction of 2⁶⁴: below TestFrac is test, below
// TestFrac+ValidFrac valid, the rest train.
func splitOf(pkg string, opt Options) string {
	h := sha256.Sum256([]byte(pkg))
	u := float64(binary.BigEndian.Uint64(h[:8])) / (1 << 64)
	switch {
	case u < opt.TestFrac:
		return "test"
	case u < opt.TestFrac+opt.ValidFrac:
		return "valid"
	}
	return "train"
}

// readPackage returns the usable examples of one package's files, in file
// and source order. A file that does not parse is counted and reported in
// Warnings, not fatal; one that cannot be read is.
func (c *Corpus) readPackage(root, pkg string, paths []string, opt Options) ([]Example, error) {
	type candidate struct {
		fn      *ast.FuncDecl
		docText string
		file    string
		src     []byte
	}
	fset := token.NewFileSet()
	var files []*ast.File
	var cands []candidate
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		c.Counts.Files++
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			c.Counts.BadFiles++
			c.Warnings = append(c.Warnings, err)
			continue
		}
		files = append(files, f) // generated files too: their names are the package's symbols
		if ast.IsGenerated(f) {
			c.Counts.GeneratedFiles++
			continue
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil { // a body-less declaration is implemented in assembly
				continue
			}
			c.Counts.Functions++
			if fn.Doc == nil {
				c.Counts.Undocumented++
				continue
			}
			cands = append(cands, candidate{fn, fn.Doc.Text(), filepath.ToSlash(rel), src})
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	// go/doc's view of the package resolves doc links ([Reader],
	// [io.Writer]) as go doc does, so they read as plain names.
	dp, err := doc.NewFromFiles(fset, files, pkg, doc.AllDecls|doc.PreserveAST)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkg, err)
	}
	var out []Example
	for _, cd := range cands {
		sentence := dp.Synopsis(cd.docText)
		words := len(strings.Fields(sentence))
		switch {
		case sentence == "":
			c.Counts.NoSentence++
			continue
		case words < opt.MinDocWords:
			c.Counts.ShortDoc++
			continue
		case opt.MaxDocWords > 0 && words > opt.MaxDocWords:
			c.Counts.LongDoc++
			continue
		}
		// fn.Pos() is the func keyword: the doc comment is not part of it.
		start, end := fset.Position(cd.fn.Pos()).Offset, fset.Position(cd.fn.End()).Offset
		toks, ok := CodeTokens(cd.src[start:end])
		switch {
		case !ok:
			c.Counts.BadCode++
			continue
		case opt.MaxCodeTokens > 0 && len(toks) > opt.MaxCodeTokens:
			c.Counts.LongCode++
			continue
		}
		out = append(out, Example{Package: pkg, File: cd.file, Line: fset.Position(cd.fn.Pos()).Line,
			Name: cd.fn.Name.Name, Code: strings.Join(toks, " "), Tokens: len(toks), Doc: sentence})
	}
	return out, nil
}

// FirstSentence is the first sentence of a doc comment's text
// (ast.CommentGroup.Text), as go/doc's Package.Synopsis finds it: up to the
// first period followed by a space and not preceded by exactly one capital
// letter, or the first paragraph break; "" if the text starts with a
// heading, list or code block, or with "copyright", "all rights" or
// "author". The result is one line with single spaces and go/doc/comment
// syntax rendered as text. Outside a package, doc links to its own symbols
// ([Reader]) stay in brackets; Build resolves them with the package's
// symbols, as go doc does.
func FirstSentence(text string) string {
	var p doc.Package
	return p.Synopsis(text)
}

// CodeTokens returns the go/scanner tokens of src (one function's source)
// as text: comments and the semicolons the scanner inserts at line ends are
// dropped, and white space inside a literal (a raw string over several
// lines) is folded to single spaces. ok is false when the scanner reports an
// error or the source is not UTF-8.
func CodeTokens(src []byte) (toks []string, ok bool) {
	if !utf8.Valid(src) {
		return nil, false
	}
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(src))
	var s scanner.Scanner
	bad := false
	s.Init(file, src, func(token.Position, string) { bad = true }, 0)
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // inserted by the scanner, not written
		}
		text := tok.String()
		if lit != "" {
			text = lit
		}
		if strings.ContainsFunc(text, unicode.IsSpace) {
			text = strings.Join(strings.Fields(text), " ")
		}
		toks = append(toks, text)
	}
	return toks, !bad && len(toks) > 0
}

// LeadWords splits a Go identifier into lowercase words, the lead
// baseline's summary: at underscores, between a lowercase letter or digit
// and a capital ("readAll" → read all), and before the last capital of a
// run of capitals followed by a lowercase letter ("HTTPServer" → http
// server). Digits stay with the word before them ("Int64" → int64).
func LeadWords(name string) string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		if r == '_' {
			flush()
			continue
		}
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	if len(words) == 0 {
		return strings.ToLower(name)
	}
	return strings.Join(words, " ")
}
