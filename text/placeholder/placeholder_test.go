package placeholder

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/text/tokenize"
)

func TestFindKinds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string // the placeholders' texts, in order
		kind Kind     // the kind of the first
	}{
		{"Open %s now", []string{"%s"}, Printf},
		{"%d of %d", []string{"%d", "%d"}, Printf},
		{"%5.2f%%", []string{"%5.2f", "%%"}, Printf},
		{"%1$s by %2$s", []string{"%1$s", "%2$s"}, Printf},
		{"%ld bytes, %zu items, %lld, %llu, %-10s|", []string{"%ld", "%zu", "%lld", "%llu", "%-10s"}, Printf},
		{"%*d and %.*s", []string{"%*d", "%.*s"}, Printf},
		{"read %<PRIu64> bytes", []string{"%<PRIu64>"}, Printf},
		{"%6<PRIu32> and %#<PRIx64>", []string{"%6<PRIu32>", "%#<PRIx64>"}, Printf},
		{"%(name)s has %(count)d", []string{"%(name)s", "%(count)d"}, Python},
		{"File %1 of %2", []string{"%1", "%2"}, Qt},
		{"Hello {name}, {0} and {}", []string{"{name}", "{0}", "{}"}, Brace},
		{"{0:.2f} done", []string{"{0:.2f}"}, Brace},
		{"Set ${HOME} and $PATH", []string{"${HOME}", "$PATH"}, Variable},
		{"<b>bold</b> and<br/>line", []string{"<b>", "</b>", "<br/>"}, Markup},
		{`see <a href="https://x.org/">here</a>`, []string{`<a href="https://x.org/">`, "</a>"}, Markup},
		{"Tom &amp; Jerry&#39;s &#x27;", []string{"&amp;", "&#39;", "&#x27;"}, Entity},
		{"_File", []string{"_"}, Accel},
		{"&Open", []string{"&"}, Accel},
		{"Save _As", []string{"_"}, Accel},
		{"one\ntwo\tthree", []string{"\n", "\t"}, Break},
		{"a ⟦1⟧ b", []string{"⟦", "⟧"}, Bracket},
		// Not placeholders:
		{"Usage: cp <SOURCE> <DEST>", nil, ""},
		{"100% sure", nil, ""},
		{"Tom && Jerry", nil, ""},
		{"a__b", nil, ""},
		{"open_sync and F_NOCACHE", nil, ""},
		{"define `_POSIX2_LOCALEDEF' and __func__", nil, ""},
		{"O&pen", []string{"&"}, Accel},
		{"", nil, ""},
	} {
		spans := Find(c.in)
		var got []string
		for _, s := range spans {
			got = append(got, c.in[s.Start:s.End])
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Find(%q) = %q, want %q", c.in, got, c.want)
			continue
		}
		if len(spans) > 0 && spans[0].Kind != c.kind {
			t.Errorf("Find(%q)[0] is %s, want %s", c.in, spans[0].Kind, c.kind)
		}
	}
}

func TestProtectRestoreIdentity(t *testing.T) {
	for _, s := range []string{
		"Open %s now", "%d of %d", "%5.2f%%", "%1$s by %2$s", "%ld %zu", "%(name)s has %(count)d",
		"Hello {name}, {0}", "Set ${HOME} and $PATH", "<b>bold</b><br/>", `<a href="x">here</a>`,
		"Tom &amp; Jerry&#39;s", "_File", "&Open", "one\ntwo\tthree", "\n\nLeading and trailing\n",
		"  spaced  ", "\t", " ", "", "⟦1⟧ literal ⟧⟦", "no placeholders at all", "ä %s ö\r\n",
		strings.Repeat("%s ", 40) + "⟦", // past MaxMarkers, with a literal bracket after
	} {
		p := Protect(s)
		if got := p.Restore(p.Text); got != s {
			t.Errorf("Restore(Protect(%q)) = %q", s, got)
		}
		if strings.TrimSpace(p.Text) != p.Text {
			t.Errorf("Protect(%q).Text = %q keeps leading or trailing white space", s, p.Text)
		}
	}
}

func TestProtectNumbersInOrder(t *testing.T) {
	p := Protect("\nCopy %s to <b>%s</b>? ")
	if p.Text != "Copy ⟦1⟧ to ⟦2⟧⟦3⟧⟦4⟧?" || p.Leading != "\n" || p.Trailing != " " {
		t.Fatalf("Protect = %+v", p)
	}
	if want := []string{"%s", "<b>", "%s", "</b>"}; !slices.Equal(p.Originals, want) {
		t.Fatalf("Originals = %q, want %q", p.Originals, want)
	}
	// The source's outer white space replaces the translation's.
	if got := p.Restore("  ⟦1⟧ ⟦2⟧⟦3⟧⟦4⟧  "); got != "\n%s <b>%s</b> " {
		t.Fatalf("Restore with spaces at the ends = %q", got)
	}
	// A translation that moves the placeholders gets them back where it put them.
	if got := p.Restore("⟦2⟧⟦3⟧⟦4⟧ nach ⟦1⟧ kopieren?"); got != "\n<b>%s</b> nach %s kopieren? " {
		t.Fatalf("Restore = %q", got)
	}
}

func TestProtectPairMatchesTargetToSource(t *testing.T) {
	s, g := ProtectPair("Copy %s to %d places", "%d Orte: %s kopieren %x")
	if s.Text != "Copy ⟦1⟧ to ⟦2⟧ places" {
		t.Fatalf("source %q", s.Text)
	}
	if g.Text != "⟦2⟧ Orte: ⟦1⟧ kopieren ⟦3⟧" { // %x is not in the source: a number of its own
		t.Fatalf("target %q", g.Text)
	}
	if got := g.Restore(g.Text); got != "%d Orte: %s kopieren %x" {
		t.Fatalf("target restores to %q", got)
	}
}

func TestKept(t *testing.T) {
	for _, c := range []struct {
		src, out string
		kept     bool
	}{
		{"Copy %s to %d", "%d nach %s", true},
		{"Copy %s to %d", "%s nach %s", false},
		{"Copy %s", "%s %s kopieren", false},
		{"<b>Bold</b>\n", "<b>Fett</b>\n", true},
		{"Open\n", "Öffnen", false},
		{"&Open", "Ö&ffnen", true},
		{"plain", "schlicht", true},
	} {
		if got := Kept(c.src, c.out); got != c.kept {
			t.Errorf("Kept(%q, %q) = %v", c.src, c.out, got)
		}
	}
}

func TestMarkers(t *testing.T) {
	for _, c := range []struct {
		tok string
		k   int
		ok  bool
	}{{"⟦1⟧", 1, true}, {"⟦32⟧", 32, true}, {"⟦0⟧", 0, false}, {"⟦01⟧", 0, false}, {"⟦⟧", 0, false}, {"⟦a⟧", 0, false}, {"x⟦1⟧", 0, false}} {
		if k, ok := ParseMarker(c.tok); k != c.k || ok != c.ok {
			t.Errorf("ParseMarker(%q) = %d, %v", c.tok, k, ok)
		}
	}
	if got := Markers("a ⟦3⟧ b⟦1⟧⟦2⟧"); !slices.Equal(got, []int{3, 1, 2}) {
		t.Errorf("Markers = %v", got)
	}
}

func TestTokenizerKeepsMarkersWhole(t *testing.T) {
	bpe := tokenize.LearnBPE([]string{"copy the file", "copy files"}, 20)
	for _, inner := range []tokenize.Tokenizer{tokenize.Char{}, bpe} {
		tok := Tokenizer{inner}
		for _, s := range []string{"Copy %s to %d files", "%s", "_File", "a<b>b</b>", "x ⟦ y"} {
			p := Protect(s)
			toks := tok.Tokenize(p.Text)
			var markers []int
			for _, tk := range toks {
				if k, ok := ParseMarker(tk); ok {
					markers = append(markers, k)
				} else if strings.Contains(tk, Open) || strings.Contains(tk, Close) {
					t.Errorf("%T: token %q holds part of a marker", inner, tk)
				}
			}
			if !slices.Equal(markers, Markers(p.Text)) {
				t.Errorf("%T: markers %v, want %v", inner, markers, Markers(p.Text))
			}
			if got := p.Restore(tok.Detokenize(toks)); got != s {
				t.Errorf("%T: %q comes back as %q", inner, s, got)
			}
		}
	}
	w := Tokenizer{tokenize.Word{}}
	p := Protect("Copy %s now")
	if toks := w.Tokenize(p.Text); !slices.Equal(toks, []string{"Copy", "⟦1⟧", "now"}) {
		t.Errorf("word tokens %q", toks)
	} else if got := p.Restore(w.Detokenize(toks)); got != "Copy %s now" {
		t.Errorf("word round trip %q", got)
	}
}

func FuzzProtect(f *testing.F) {
	for _, s := range []string{"Open %s", "%1$s {0} ${x} <b>x</b> &amp; _File &Open\n", "⟦1⟧⟧⟦", " \t x \n", "%(a)s%%"} {
		f.Add(s, "übersetzt ⟦1⟧ ⟦2⟧")
	}
	bpe := tokenize.LearnBPE([]string{"open the file", "%s files"}, 30)
	f.Fuzz(func(t *testing.T, s, tgt string) {
		p := Protect(s)
		if got := p.Restore(p.Text); got != s {
			t.Fatalf("Restore(Protect(%q)) = %q", s, got)
		}
		for _, k := range Markers(p.Text) {
			if k < 1 || k > len(p.Originals) || p.Originals[k-1] == "" {
				t.Fatalf("marker %d of %q stands for nothing", k, s)
			}
		}
		ps, pt := ProtectPair(s, tgt)
		if ps.Restore(ps.Text) != s || pt.Restore(pt.Text) != tgt {
			t.Fatalf("ProtectPair(%q, %q) does not restore", s, tgt)
		}
		if utf8.ValidString(s) {
			tok := Tokenizer{bpe}
			if got := p.Restore(tok.Detokenize(tok.Tokenize(p.Text))); got != s {
				t.Fatalf("through BPE: %q comes back as %q", s, got)
			}
		}
	})
}

// TestRestoreDropsTheModelsWhiteSpace: white space a model puts at the
// ends of its translation is not the message's; the message's own leading
// and trailing white space comes back exactly.
func TestRestoreDropsTheModelsWhiteSpace(t *testing.T) {
	for _, c := range []struct{ src, translated, want string }{
		{"invalid argument for option %s", " Optionsargument ungültig ⟦1⟧  ", "Optionsargument ungültig %s"},
		{"\n  Usage: %s\n", "\tAufruf: ⟦1⟧ ", "\n  Aufruf: %s\n"},
		{"Open", "Öffnen", "Öffnen"},
	} {
		p := Protect(c.src)
		if got := p.Restore(c.translated); got != c.want {
			t.Errorf("%q: Restore(%q) = %q, want %q", c.src, c.translated, got, c.want)
		}
	}
}

// TestRestorePlacesAccelerators: an accelerator mark the translation put
// before a space, punctuation or nothing moves to the start of a word, so
// it marks a letter again and the translation keeps its placeholders;
// marks in place, and every other placeholder, stay where they are.
func TestRestorePlacesAccelerators(t *testing.T) {
	for _, c := range []struct{ src, translated, want string }{
		{"Choose _Server", "⟦1⟧Server wählen", "_Server wählen"},                            // in place
		{"Choose _Server", "⟦1⟧ hat", "_hat"},                                               // before a space
		{"Choose _Server", "Server ⟦1⟧ wählen", "Server _wählen"},                           // between words
		{"Restore _Defaults", "Standard⟦1⟧ wiederherstellen", "Standard _wiederherstellen"}, // after a letter
		{"_Reload", "⟦1⟧:", "_:"},                                                           // no word: left alone (not kept)
		{"_Reload", "Neu laden ⟦1⟧", "Neu _laden"},                                          // at the end: the last word
		{"F-B&W", "F⟦1⟧: Farbe", "F: &Farbe"},                                               // & before punctuation
		{"O&pen", "Ö⟦1⟧ffnen", "Ö&ffnen"},                                                   // & inside a word is an accelerator
		{"(e.g. _http._tcp)", "(z. B. ⟦1⟧⟦2⟧)", "(_z. _B.)"},                                // two marks, two words
		{"_Save %s", "⟦2⟧ ⟦1⟧ speichern", "%s _speichern"},                                  // other placeholders stay
		{"_Open file_name", "Datei_name ⟦1⟧ öffnen", "Datei_name _öffnen"},                  // the text's own _ is not moved
	} {
		p := Protect(c.src)
		got := p.Restore(c.translated)
		if got != c.want {
			t.Errorf("%q: Restore(%q) = %q, want %q", c.src, c.translated, got, c.want)
		}
		if strings.ContainsFunc(c.want, unicode.IsLetter) && c.want != "_:" && !Kept(c.src, got) {
			t.Errorf("%q → %q does not keep the placeholders", c.src, got)
		}
	}
}
