package tokenize

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzBPE = LearnBPE([]string{
	"Die Datei konnte nicht geöffnet werden", "Die Datei wurde gespeichert",
	"파일을 열 수 없습니다", "파일을 저장했습니다", "无法打开文件", "无法保存文件",
	"a ▁ marker ▁ and \uE000 escape", "a ▁ marker ▁ and \uE000 escape",
	"  spaces   everywhere  ", "  spaces   everywhere  ", "\xff\xfe bad \xff\xfe bad",
}, 200)

func FuzzChar(f *testing.F) {
	for _, s := range []string{"", " ", "Grüße", "서울  시", "▁", "\uE000▁", "\xe2\x96", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var c Char
		toks := c.Tokenize(s)
		if back := c.Detokenize(toks); back != s {
			t.Fatalf("%q → %q → %q", s, toks, back)
		}
		if utf8.ValidString(s) && len(toks) != utf8.RuneCountInString(s) {
			t.Fatalf("%q: %d tokens for %d code points", s, len(toks), utf8.RuneCountInString(s))
		}
		for _, tok := range toks {
			if strings.Contains(tok, " ") {
				t.Fatalf("token %q holds a space", tok)
			}
		}
	})
}

func FuzzWord(f *testing.F) {
	for _, s := range []string{"", " a  b ", "Größe\tändern", "\u3000한국어\u00a0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var w Word
		if got, want := w.Detokenize(w.Tokenize(s)), strings.Join(strings.Fields(s), " "); got != want {
			t.Fatalf("%q → %q, want %q", s, got, want)
		}
	})
}

func FuzzBPE(f *testing.F) {
	for _, s := range []string{"", " ", "Die Datei", "파일을 열 수", "无法打开", "▁▁", "\uE000", "\uE000\uE000▁", "\xe2\x96 \x81", "\xff\xfe bad"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := fuzzBPE.Tokenize(s)
		if back := fuzzBPE.Detokenize(toks); back != s {
			t.Fatalf("%q → %q → %q", s, toks, back)
		}
		// Tokens are never empty and never hold a raw space.
		for _, tok := range toks {
			if tok == "" || strings.Contains(tok, " ") {
				t.Fatalf("%q: bad token %q", s, tok)
			}
		}
		// Tokenizing is deterministic.
		if again := fuzzBPE.Tokenize(s); strings.Join(again, "\x00") != strings.Join(toks, "\x00") {
			t.Fatalf("%q: %q then %q", s, toks, again)
		}
	})
}

// FuzzLoadBPE feeds arbitrary text to the merges reader: no panic, errors
// name the file and quote at most a short prefix, and what loads is saved
// and loaded again to the same merges.
func FuzzLoadBPE(f *testing.F) {
	var buf strings.Builder
	fuzzBPE.Save(&buf)
	f.Add(buf.String())
	f.Add("\ufeff" + bpeHeader + "\n\"a\" \"b\"\n\n\"ab\" \"\\t\\xff\"\n")
	f.Add(bpeHeader + "\n\"a\"\"b\"\n")
	f.Add(bpeHeader + "\n\"a\" \"\" \n")
	f.Add(bpeHeader + "\n`a` `b`\n")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := LoadBPE(strings.NewReader(s), "f.bpe")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.bpe:") {
				t.Fatalf("error without the file name: %v", err)
			}
			if len(err.Error()) > 600 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		for _, m := range b.Merges() {
			if m.Left == "" || m.Right == "" {
				t.Fatalf("empty symbol in merge %q", m)
			}
		}
		var out strings.Builder
		if err := b.Save(&out); err != nil {
			t.Fatal(err)
		}
		again, err := LoadBPE(strings.NewReader(out.String()), "g.bpe")
		if err != nil || !slices.Equal(again.Merges(), b.Merges()) {
			t.Fatalf("round trip: %v", err)
		}
		b.Tokenize("Die Datei \uE000▁ x") // the loaded merges apply without panic
	})
}
