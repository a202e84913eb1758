package po

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/text/corpus"
)

func parseFile(t *testing.T, path string) (*File, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data, path)
	if err != nil {
		t.Fatal(err)
	}
	return f, data
}

func TestRoundTripIsIdentity(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.po")
	if len(paths) < 4 {
		t.Fatalf("want the test catalogues, found %v", paths)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string][]byte{
			"as is":           data,
			"CRLF":            bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")),
			"no final \\n":    bytes.TrimSuffix(data, []byte("\n")),
			"leading blanks":  append([]byte("\n\n"), data...),
			"trailing blanks": append(slices.Clone(data), "\n\n"...),
			"byte-order mark": append([]byte("\ufeff"), data...),
		} {
			f, err := Parse(v, path)
			if err != nil {
				t.Fatalf("%s (%s): %v", path, name, err)
			}
			if got := f.Bytes(); !bytes.Equal(got, v) {
				t.Errorf("%s (%s): written back differently", path, name)
			}
		}
	}
}

// TestMachineCatalogues: every German catalogue of this machine, as
// msgunfmt writes it, reads and writes back byte for byte, with the
// messages text/corpus reads from the .mo file.
func TestMachineCatalogues(t *testing.T) {
	if _, err := exec.LookPath("msgunfmt"); err != nil {
		t.Skip("msgunfmt (Debian package gettext) is not installed")
	}
	mos, _ := filepath.Glob("/usr/share/locale/de/LC_MESSAGES/*.mo")
	if len(mos) == 0 {
		t.Skip("no German catalogues in /usr/share/locale")
	}
	dir := t.TempDir()
	checked := 0
	for _, mo := range mos {
		out := filepath.Join(dir, filepath.Base(mo)+".po")
		if err := exec.Command("msgunfmt", mo, "-o", out).Run(); err != nil {
			continue // not every .mo converts (a few are symlinks to nothing)
		}
		f, data := parseFile(t, out)
		if !bytes.Equal(f.Bytes(), data) {
			t.Errorf("%s: written back differently", mo)
		}
		msgs, err := corpus.ReadMOFile(mo)
		if err != nil {
			continue
		}
		// Every message of ours (system-dependent strings such as
		// %<PRIdMAX> aside: .mo files keep them in a table of their own)
		// is the .mo's message, with the same translations.
		mo := map[string][]string{}
		for _, m := range msgs {
			mo[m.Context+"\x04"+m.ID] = m.Translations
		}
		matched := 0
		for _, e := range f.Entries {
			if !e.HasID || strings.Contains(e.ID+e.Plural+strings.Join(e.Str, ""), "<PRI") {
				continue
			}
			if tr, ok := mo[e.Context+"\x04"+e.ID]; !ok || !slices.Equal(tr, e.Str) {
				t.Errorf("%s:%d: %q reads as %q, the .mo has %q (%v)", out, e.Line, e.ID, e.Str, tr, ok)
			}
			matched++
		}
		if matched < len(msgs)*95/100 {
			t.Errorf("%s: %d entries match the .mo's %d messages", mo, matched, len(msgs))
		}
		checked++
	}
	t.Logf("%d catalogues read and written back", checked)
	if checked < 10 {
		t.Errorf("only %d catalogues checked", checked)
	}
}

func TestParseEdgeCases(t *testing.T) {
	f, _ := parseFile(t, "testdata/edge.po")
	if n, ok := f.NPlurals(); !ok || n != 2 {
		t.Errorf("NPlurals = %d, %v", n, ok)
	}
	if cs := f.Charset(); cs != "UTF-8" {
		t.Errorf("Charset = %q", cs)
	}
	byID := map[string]*Entry{}
	var obsolete int
	for _, e := range f.Entries {
		if e.Obsolete {
			obsolete++
			continue
		}
		if e.HasID {
			byID[e.Context+"|"+e.ID] = e
		}
	}
	if obsolete != 2 {
		t.Errorf("%d obsolete entries, want 2", obsolete)
	}
	e := byID["|Cannot open %s"]
	if e == nil || !e.HasFlag("c-format") || e.Fuzzy() || !e.Untranslated() || e.Line != 16 {
		t.Errorf("Cannot open %%s: %+v", e)
	}
	e = byID["|Copy %d file"]
	if e == nil || !e.Fuzzy() || e.Plural != "Copy %d files" || !slices.Equal(e.Str, []string{"%d Datei kopiert", "%d Dateien kopiert"}) {
		t.Errorf("Copy %%d file: %+v", e)
	}
	if e := byID["menu|_Open"]; e == nil || !e.HasContext || !e.Untranslated() {
		t.Errorf("menu|_Open: %+v", e)
	}
	if e := byID["verb|Open"]; e == nil || e.Untranslated() {
		t.Errorf("verb|Open: %+v", e)
	}
	want := "Usage: edge [OPTION]... FILE\nPrint the edges of FILE, which is a rather long line that gettext wraps at seventy-nine columns.\n"
	if byID["|"+want] == nil {
		t.Errorf("the wrapped msgid was not joined")
	}
	if byID["|Say \"hello\"\tnow\\then"] == nil {
		t.Errorf("escapes were not decoded")
	}
	if byID["|indented entry"] == nil {
		t.Errorf("the indented entry was not read")
	}
}

func TestSyntaxErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		line int
		want string
	}{
		{"msgid \"a\"\nmsgstr \"b\"\nmsgfoo \"c\"\n", 3, "unknown keyword"},
		{"msgid \"a\"\n", 1, "no msgstr"},
		{"msgid \"a\"\nmsgstr \"b\n", 2, "double-quoted"},
		{"msgid \"a\"\nmsgstr \"b\\q\"\n", 2, "unknown escape"},
		{"\"orphan\"\n", 1, "continues no keyword"},
		{"msgstr \"b\"\n", 1, "without a msgid"},
		{"msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[1] \"x\"\n", 3, "out of order"},
		{"msgid \"a\"\nmsgid_plural \"as\"\nmsgstr \"x\"\n", 3, "msgstr[0]"},
		{"msgid \"a\"\nmsgstr \"x\"\nmsgstr[0] \"x\"\n", 3, "without msgid_plural"},
		{"msgid \"a\"\n# comment\nmsgstr \"x\"\n", 2, "comment inside"},
		{"msgid \"a\"\nmsgstr \"x\"\n\n\n\nmsgid \"b\"\nmsgid \"c\"\nmsgstr \"\"\n", 7, "before the msgstr"},
	} {
		_, err := Parse([]byte(c.in), "in.po")
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != c.line || !strings.Contains(se.Error(), c.want) || !strings.HasPrefix(se.Error(), "in.po:") {
			t.Errorf("Parse(%q) = %v, want line %d with %q", c.in, err, c.line, c.want)
		}
	}
}

// changedLines returns the lines of b that differ from a, by an LCS-free
// check that suffices here: the line multisets' difference.
func changedLines(a, b []byte) (removed, added []string) {
	count := map[string]int{}
	for _, l := range strings.SplitAfter(string(a), "\n") {
		count[l]++
	}
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if count[l] > 0 {
			count[l]--
		} else {
			added = append(added, l)
		}
	}
	for l, n := range count {
		for range n {
			removed = append(removed, l)
		}
	}
	slices.Sort(removed)
	return removed, added
}

func TestFillChangesOnlyItsEntry(t *testing.T) {
	for _, crlf := range []bool{false, true} {
		f, data := parseFile(t, "testdata/edge.po")
		if crlf {
			data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			var err error
			if f, err = Parse(data, "edge-crlf.po"); err != nil {
				t.Fatal(err)
			}
		}
		var filled []*Entry
		for _, e := range f.Entries {
			if !e.Untranslated() {
				continue
			}
			strs := []string{"Ü: " + e.ID}
			if e.HasPlural {
				strs = []string{"eins: " + e.ID, "viele: " + e.Plural}
			}
			if err := f.Fill(e, strs); err != nil {
				t.Fatal(err)
			}
			filled = append(filled, e)
		}
		if len(filled) != 6 {
			t.Fatalf("filled %d entries, want 6", len(filled))
		}
		out := f.Bytes()
		nl := "\n"
		if crlf {
			nl = "\r\n"
			if bytes.Count(out, []byte("\n")) != bytes.Count(out, []byte("\r\n")) {
				t.Errorf("a line of the CRLF file ends in a bare LF")
			}
		}
		removed, _ := changedLines(data, out)
		for _, l := range removed {
			if !strings.Contains(l, `msgstr`) && !strings.HasPrefix(l, "#, c-format") {
				t.Errorf("a line that is not a filled msgstr or flags changed: %q", l)
			}
		}
		g, err := Parse(out, "out.po")
		if err != nil {
			t.Fatalf("the filled file does not parse: %v", err)
		}
		for i, e := range g.Entries {
			was := f.Entries[i]
			if e.ID != was.ID || !slices.Equal(e.Str, was.Str) {
				t.Errorf("entry %d reads back as %q %q, want %q %q", i, e.ID, e.Str, was.ID, was.Str)
			}
			if slices.Contains(filled, was) && (!e.Fuzzy() || e.HasFlag("c-format") != strings.Contains(e.ID, "%")) {
				t.Errorf("filled entry %q has flags %q", e.ID, e.Flags)
			}
		}
		for _, want := range []string{
			"#, fuzzy, c-format" + nl + "msgid \"Cannot open %s\"" + nl + "msgstr \"Ü: Cannot open %s\"" + nl,
			"#, fuzzy" + nl + "msgctxt \"menu\"" + nl,
			"#: src/help.c:9" + nl + "#, fuzzy" + nl + "#| msgid",
			"msgstr[0] \"eins: Deleted %d file\"" + nl + "msgstr[1] \"viele: Deleted %d files\"" + nl,
			"    msgstr \"Ü: indented entry\"" + nl,
			"msgstr \"\"" + nl + "\"Ü: Usage: edge [OPTION]... FILE\\n\"" + nl + "\"Print the edges",
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("crlf=%v: output lacks %q", crlf, want)
			}
		}
		if _, err := exec.LookPath("msgfmt"); err == nil && !crlf {
			path := filepath.Join(t.TempDir(), "out.po")
			os.WriteFile(path, out, 0o644)
			for _, args := range [][]string{{"--check"}, {"--check", "--use-fuzzy"}} {
				if msg, err := exec.Command("msgfmt", append(args, "-o", os.DevNull, path)...).CombinedOutput(); err != nil {
					t.Errorf("msgfmt %v refuses the filled file: %v\n%s", args, err, msg)
				}
			}
		}
	}
}

// TestWrapAsMsgcat: strings Fill writes come out of msgcat unchanged, so
// they are wrapped as gettext wraps them.
func TestWrapAsMsgcat(t *testing.T) {
	if _, err := exec.LookPath("msgcat"); err != nil {
		t.Skip("msgcat (Debian package gettext) is not installed")
	}
	strs := []string{
		"short",
		"A line that is long enough to need wrapping because it goes on and on past the seventy-nine columns of a PO file line.",
		"two\nlines",
		"ends with a break\n",
		"\nstarts with one",
		"Quotes \"and\" back\\slashes\tand tabs that push a long line over the edge of the column limit here",
		strings.Repeat("x", 100),
		"Unicode: Größenänderung der Fenster ist während der Übertragung nicht möglich, bitte warten Sie",
	}
	var b strings.Builder
	b.WriteString("msgid \"\"\nmsgstr \"Content-Type: text/plain; charset=UTF-8\\n\"\n")
	for i, s := range strs {
		b.WriteString("\nmsgid \"m" + string(rune('a'+i)) + "\"\n")
		for _, l := range wrap("msgstr", s, 79) {
			b.WriteString(l + "\n")
		}
	}
	path := filepath.Join(t.TempDir(), "w.po")
	os.WriteFile(path, []byte(b.String()), 0o644)
	got, err := exec.Command("msgcat", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != b.String() {
		t.Errorf("msgcat rewraps:\n--- ours\n%s\n--- msgcat\n%s", b.String(), got)
	}
	f, err := Parse(got, "w.po")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range strs {
		if f.Entries[i+1].Str[0] != s {
			t.Errorf("string %d reads back as %q", i, f.Entries[i+1].Str[0])
		}
	}
}

// TestPluralForms fills the plural entries of edge.po under headers with
// one, two and three plural forms: as many msgstr[N] as nplurals, from the
// right sources, and msgfmt --check accepts them.
func TestPluralForms(t *testing.T) {
	data, err := os.ReadFile("testdata/edge.po")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    int
		rule string
	}{
		{1, "nplurals=1; plural=0;"},
		{2, "nplurals=2; plural=(n != 1);"},
		{3, "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"},
	} {
		v := bytes.Replace(data, []byte("nplurals=2; plural=(n != 1);"), []byte(c.rule), 1)
		// Drop the translated plural entry, whose two forms fit only nplurals=2.
		i := bytes.Index(v, []byte("#: src/main.c:20\n"))
		j := i + bytes.Index(v[i:], []byte("\n\n")) + 2
		v = append(v[:i:i], v[j:]...)
		f, err := Parse(v, "edge.po")
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := f.NPlurals(); !ok || n != c.n {
			t.Fatalf("NPlurals = %d, %v; want %d", n, ok, c.n)
		}
		filled := 0
		for _, e := range f.Entries {
			if !e.Untranslated() {
				continue
			}
			src := f.Sources(e)
			if e.HasPlural {
				want := []string{e.Plural}
				if c.n > 1 {
					want = append([]string{e.ID}, slices.Repeat([]string{e.Plural}, c.n-1)...)
				}
				if !slices.Equal(src, want) {
					t.Errorf("nplurals=%d: sources %q, want %q", c.n, src, want)
				}
				filled++
			}
			if err := f.Fill(e, src); err != nil { // "translated" as itself: valid for msgfmt
				t.Fatal(err)
			}
		}
		if filled != 1 {
			t.Fatalf("nplurals=%d: %d plural entries filled, want 1", c.n, filled)
		}
		g, err := Parse(f.Bytes(), "out.po")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range g.Entries {
			if e.HasPlural && e.Fuzzy() && e.ID == "Deleted %d file" && len(e.Str) != c.n {
				t.Errorf("nplurals=%d: %d msgstr[N] written", c.n, len(e.Str))
			}
		}
		if _, err := exec.LookPath("msgfmt"); err == nil {
			path := filepath.Join(t.TempDir(), "out.po")
			os.WriteFile(path, f.Bytes(), 0o644)
			if msg, err := exec.Command("msgfmt", "--check", "--use-fuzzy", "-o", os.DevNull, path).CombinedOutput(); err != nil {
				t.Errorf("nplurals=%d: msgfmt --check refuses: %v\n%s", c.n, err, msg)
			}
		}
	}
}
