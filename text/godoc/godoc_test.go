package godoc

import (
	"encoding/json"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/text/corpus"
)

// byName indexes every example of every split by package and name.
func byName(c *Corpus) map[string]Example {
	m := map[string]Example{}
	for _, set := range [][]Example{c.Train, c.Valid, c.Test} {
		for _, e := range set {
			m[e.Package+"."+e.Name] = e
		}
	}
	return m
}

// copyTree copies testdata/tree into a temporary directory and adds a file
// that does not parse (kept out of the repository, where gofmt reads it).
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/tree", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/tree", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	writeGo(t, dst, "gamma/bad.go", "package gamma\n\n// Broken is not valid Go.\nfunc Broken( {\n")
	return dst
}

func writeGo(t *testing.T, root, rel, src string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuildTestdataTree(t *testing.T) {
	root := copyTree(t)
	opt := DefaultOptions()
	opt.MaxCodeTokens = 40
	c, err := Build(root, opt)
	if err != nil {
		t.Fatal(err)
	}
	got := byName(c)
	for key, want := range map[string]struct{ doc, code, lead string }{
		// The first sentence only; the code without its doc comment or the
		// comment inside it.
		"alpha.Join": {"Join concatenates the elements of a.", `func Join ( a [ ] string ) string { return strings . Join ( a , "" ) }`, "join"},
		// Doc links to the package's own symbols read as go doc shows them.
		"alpha.NewReader": {"NewReader returns a new Reader reading from s, see strings.Builder.", "", "new reader"},
		// A period after a single capital does not end the sentence.
		"alpha.Greet": {"Greet greets J. Smith politely.", "", "greet"},
		// A paragraph break ends it; lines are joined.
		"alpha.Split": {"Split splits s into parts", "", "split"},
		"alpha.Len":   {"Len returns the number of items.", "func ( l * List ) Len ( ) int { return len ( l . items ) }", "len"},
		// White space inside a raw string is folded, so the pair is one line.
		"alpha.Usage":           {"Usage returns the usage text of the command, which spans lines.", "func Usage ( ) string { return `usage: alpha [flags]` }", "usage"},
		"alpha.parseHTTPHeader": {"parseHTTPHeader reads an HTTP header line.", "", "parse http header"},
		"beta.Twice":            {"Twice returns s twice over.", "", "twice"},
		"gamma.Fine":            {"Fine is a documented function beside a file that does not parse.", "", "fine"},
	} {
		e, ok := got[key]
		if !ok {
			t.Errorf("%s is missing", key)
			continue
		}
		if e.Doc != want.doc {
			t.Errorf("%s: doc %q, want %q", key, e.Doc, want.doc)
		}
		if want.code != "" && e.Code != want.code {
			t.Errorf("%s: code %q, want %q", key, e.Code, want.code)
		}
		if e.Lead() != want.lead {
			t.Errorf("%s: lead %q, want %q", key, e.Lead(), want.lead)
		}
	}
	// Left out: a test file, a generated file, testdata, vendor, _ and .
	// directories, an assembly stub, directive-only, short and long docs,
	// over-long code, and beta.Join, whose code is alpha.Join's.
	for _, key := range []string{"alpha.TestHelper", "alpha.Generated", "t.InTestdata", "testdata.InTestdata", "alpha/testdata.InTestdata",
		"vendor/v.Vendored", "_ignored.Ignored", ".hidden.Hidden", "alpha.Add", "alpha.directiveOnly", "alpha.Foo", "alpha.undocumented", "alpha.Long", "beta.Join", "gamma.Broken"} {
		if _, ok := got[key]; ok {
			t.Errorf("%s is in the corpus", key)
		}
	}
	if len(got) != 9 {
		t.Errorf("%d pairs, want the 9 above", len(got))
	}
	n := c.Counts
	want := Counts{Packages: 3, Files: 5, GeneratedFiles: 1, BadFiles: 1, Functions: 14, Undocumented: 1, NoSentence: 1, ShortDoc: 1,
		LongCode: 1, Duplicates: 1, Pairs: 9, IgnoredDirs: 4, TestFiles: 1}
	n.Train, n.Valid, n.Test, n.TrainPackages, n.ValidPackages, n.TestPackages, n.LongestCode, n.LongestDoc = 0, 0, 0, 0, 0, 0, 0, 0
	if n != want {
		t.Errorf("counts\n%+v, want\n%+v", n, want)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Error(), "bad.go") {
		t.Errorf("warnings %v, want the file that does not parse", c.Warnings)
	}
	if c.Counts.LongestCode > opt.MaxCodeTokens {
		t.Errorf("kept code of %d tokens over the limit %d", c.Counts.LongestCode, opt.MaxCodeTokens)
	}
}

// Packages are split by a hash of their path, none in two splits, and code
// that occurs in several packages is kept once.
func TestBuildSplitsByPackageAndDeduplicates(t *testing.T) {
	root := t.TempDir()
	for i := range 40 {
		writeGo(t, root, fmt.Sprintf("p%02d/x.go", i), fmt.Sprintf(`package p%02d

// Own%d returns the package's own number, %d.
func Own%d() int { return %d }

// Shared returns the same number in every package.
func Shared() int { return 99 }
`, i, i, i, i, i))
	}
	opt := DefaultOptions()
	opt.ValidFrac, opt.TestFrac = 0.25, 0.25
	c, err := Build(root, opt)
	if err != nil {
		t.Fatal(err)
	}
	split := map[string]string{}
	for name, set := range map[string][]Example{"train": c.Train, "valid": c.Valid, "test": c.Test} {
		if len(set) == 0 {
			t.Errorf("no %s pairs from 40 packages", name)
		}
		for _, e := range set {
			if s, ok := split[e.Package]; ok && s != name {
				t.Errorf("package %s is in %s and %s", e.Package, s, name)
			}
			split[e.Package] = name
		}
	}
	shared := 0
	code := map[string]bool{}
	for _, set := range [][]Example{c.Train, c.Valid, c.Test} {
		for _, e := range set {
			if code[e.Code] {
				t.Errorf("code %q twice", e.Code)
			}
			code[e.Code] = true
			if e.Name == "Shared" {
				shared++
				if e.Package != "p00" {
					t.Errorf("Shared kept from %s, want its first occurrence, p00", e.Package)
				}
			}
		}
	}
	if shared != 1 || c.Counts.Duplicates != 39 || c.Counts.Pairs != 41 {
		t.Errorf("Shared kept %d times, %d duplicates, %d pairs; want 1, 39, 41", shared, c.Counts.Duplicates, c.Counts.Pairs)
	}
	// The split of a package depends on its path only.
	for i := range 40 {
		pkg := fmt.Sprintf("p%02d", i)
		if s := split[pkg]; s != splitOf(pkg, opt) {
			t.Errorf("%s in %s, its hash says %s", pkg, s, splitOf(pkg, opt))
		}
	}
	// Deterministic: a second build gives the same corpus.
	c2, err := Build(root, opt)
	if err != nil || !slices.Equal(c2.Test, c.Test) || !slices.Equal(c2.Train, c.Train) {
		t.Errorf("a second build differs (%v)", err)
	}
}

func TestBuildBadRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.go")
	os.WriteFile(file, []byte("package f\n"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	onlyTests := filepath.Join(dir, "tests")
	writeGo(t, onlyTests, "a_test.go", "package a\n\n// TestX is documented.\nfunc TestX() {}\n")
	undocumented := filepath.Join(dir, "undoc")
	writeGo(t, undocumented, "a.go", "package a\n\nfunc f() {}\n")
	for _, c := range []struct{ root, want string }{
		{filepath.Join(dir, "missing"), "does not exist"},
		{file, "is a file, not a directory"},
		{empty, "holds no Go files"},
		{onlyTests, "holds no Go files"},
		{undocumented, "has a usable doc comment"},
	} {
		_, err := Build(c.root, DefaultOptions())
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.root) {
			t.Errorf("Build(%s): %v, want an error naming it and saying %q", c.root, err, c.want)
		}
	}
	for _, opt := range []Options{{ValidFrac: 0.6, TestFrac: 0.5}, {ValidFrac: -0.1}, {MinDocWords: 5, MaxDocWords: 3}, {MaxCodeTokens: -1}} {
		if _, err := Build(undocumented, opt); err == nil {
			t.Errorf("options %+v accepted", opt)
		}
	}
}

// What Write leaves in the directory reads back: qkv train's TSV reader
// takes the splits, the lead files follow the test and validation pairs
// line for line.
func TestWriteReadsBack(t *testing.T) {
	root := t.TempDir()
	for i := range 30 {
		writeGo(t, root, fmt.Sprintf("q%02d/x.go", i), fmt.Sprintf("package q\n\n// ReadAll%d reads all of package %d.\nfunc ReadAll%d() int { return %d }\n", i, i, i, i))
	}
	opt := DefaultOptions()
	opt.ValidFrac, opt.TestFrac = 0.3, 0.3
	c, err := Build(root, opt)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "corpus")
	if err := c.Write(out, opt); err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string][]Example{"train": c.Train, "valid": c.Valid, "test": c.Test} {
		pairs, err := corpus.ReadTSVFile(filepath.Join(out, name+".tsv"))
		if err != nil {
			t.Fatal(err)
		}
		if len(pairs) != len(set) {
			t.Fatalf("%s.tsv: %d pairs, want %d", name, len(pairs), len(set))
		}
		for i, p := range pairs {
			if p.Source != set[i].Code || p.Target != set[i].Doc {
				t.Errorf("%s.tsv line %d: %q", name, i+1, p)
			}
		}
		if name == "train" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, name+".lead.txt"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(set) > 0 && len(lines) != len(set) {
			t.Fatalf("%s.lead.txt has %d lines for %d pairs", name, len(lines), len(set))
		}
		for i, l := range lines {
			if want := fmt.Sprintf("read all%s", strings.TrimPrefix(set[i].Name, "ReadAll")); l != want {
				t.Errorf("%s.lead.txt line %d: %q, want %q", name, i+1, l, want)
			}
		}
	}
	var st struct {
		Counts  Counts
		Options Options
	}
	b, err := os.ReadFile(filepath.Join(out, StatsFile))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Counts != c.Counts || st.Options != opt {
		t.Errorf("stats.json: %s (%v)", b, err)
	}
	var pk map[string][]string
	b, _ = os.ReadFile(filepath.Join(out, PackagesFile))
	if json.Unmarshal(b, &pk) != nil || len(pk["train"])+len(pk["valid"])+len(pk["test"]) != 30 {
		t.Errorf("packages.json: %s", b)
	}
}

func TestLeadWords(t *testing.T) {
	for in, want := range map[string]string{
		"Join": "join", "readAll": "read all", "HTTPServer": "http server", "parseHTTPHeader": "parse http header",
		"ParseInt64": "parse int64", "utf8Decode": "utf8 decode", "snake_case_name": "snake case name",
		"ID": "id", "x": "x", "_": "_", "NewReaderSize": "new reader size", "String": "string",
	} {
		if got := LeadWords(in); got != want {
			t.Errorf("LeadWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCodeTokens(t *testing.T) {
	toks, ok := CodeTokens([]byte("func f(x int) int {\n\t// comment\n\ty := x /* c */ + 1; return y\n}"))
	if want := "func f ( x int ) int { y := x + 1 ; return y }"; !ok || strings.Join(toks, " ") != want {
		t.Errorf("got %q %v, want %q", strings.Join(toks, " "), ok, want)
	}
	if _, ok := CodeTokens([]byte("func f() { \"unterminated }")); ok {
		t.Error("a scanner error was accepted")
	}
	if _, ok := CodeTokens([]byte("func f() { x := \"\xff\" }")); ok {
		t.Error("invalid UTF-8 was accepted")
	}
}

// The real thing, on one package of the Go tree this test runs with:
// $(go env GOROOT)/src/strings.
func TestBuildGoStrings(t *testing.T) {
	root := filepath.Join(build.Default.GOROOT, "src", "strings")
	if _, err := os.Stat(filepath.Join(root, "strings.go")); err != nil {
		t.Skipf("no Go source tree here: %v", err)
	}
	opt := DefaultOptions()
	opt.ValidFrac, opt.TestFrac = 0, 0
	c, err := Build(root, opt)
	if err != nil {
		t.Fatal(err)
	}
	if c.Counts.Pairs < 50 || len(c.Train) != c.Counts.Pairs {
		t.Fatalf("%+v: want all of strings' documented functions in train", c.Counts)
	}
	if c.Counts.TestFiles == 0 || c.Counts.IgnoredDirs != 0 {
		t.Errorf("%+v: strings has _test.go files and no testdata", c.Counts)
	}
	named := 0
	for _, e := range c.Train {
		if strings.ContainsAny(e.Doc, "\t\n") || len(strings.Fields(e.Doc)) < 3 || !strings.HasPrefix(e.Code, "func ") ||
			strings.ContainsAny(e.Code, "\t\n") || e.Tokens > opt.MaxCodeTokens || strings.HasSuffix(e.File, "_test.go") {
			t.Errorf("bad pair %s %s: %q → %q", e.File, e.Name, e.Code, e.Doc)
		}
		if strings.HasPrefix(e.Doc, e.Name+" ") {
			named++
		}
	}
	// Go's convention: a doc comment starts with the name it documents.
	if named < len(c.Train)*9/10 {
		t.Errorf("only %d of %d first sentences start with the function's name", named, len(c.Train))
	}
	e, ok := byName(c)["..Join"] // the root is package "."
	if !ok || !strings.HasPrefix(e.Doc, "Join concatenates the elements of its first argument") || !strings.HasSuffix(e.Doc, ".") {
		t.Errorf("strings.Join: %+v", e)
	}
	if e.Package != "." {
		t.Errorf("the root directory is package %q, want \".\"", e.Package)
	}
}
