package tokenize

import (
	"bufio"
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/data/cmudict"
)

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func cmudictLines(t testing.TB) []string {
	rc, err := cmudict.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var lines []string
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestChar(t *testing.T) {
	var c Char
	got := c.Tokenize("Grüße, 서울  ▁x")
	want := []string{"G", "r", "ü", "ß", "e", ",", "▁", "서", "울", "▁", "▁", "\uE000▁", "x"}
	if !slices.Equal(got, want) {
		t.Fatalf("Tokenize = %q, want %q", got, want)
	}
	for _, s := range append(readLines(t, "testdata/multilingual.txt"), "", " ", "\xff\xfe", "\xe2\x96 ", "a\uE000") {
		if back := c.Detokenize(c.Tokenize(s)); back != s {
			t.Errorf("Char round trip %q → %q", s, back)
		}
	}
}

func TestWord(t *testing.T) {
	var w Word
	if got := w.Tokenize("  Größe\tändern  한국어 "); !slices.Equal(got, []string{"Größe", "ändern", "한국어"}) {
		t.Fatalf("%q", got)
	}
	if got := w.Detokenize([]string{"a", "b"}); got != "a b" {
		t.Fatalf("%q", got)
	}
}

func TestBPELearnByHand(t *testing.T) {
	// Sennrich et al.'s example: low×5 lower×2 newest×6 widest×3. With the
	// dummy prefix every word starts with "▁". Counts: (e,s) 9, (s,t) 9,
	// (▁,l) 7, (l,o) 7, (o,w) 7, ... ties go to the smaller pair in byte
	// order: (e,s) < (s,t); "▁" (U+2581) sorts after ASCII letters.
	var texts []string
	for w, n := range map[string]int{"low": 5, "lower": 2, "newest": 6, "widest": 3} {
		for range n {
			texts = append(texts, w)
		}
	}
	b := LearnBPE(texts, 4)
	want := []Merge{{"e", "s"}, {"es", "t"}, {"l", "o"}, {"lo", "w"}}
	if !slices.Equal(b.Merges(), want) {
		t.Fatalf("merges %q, want %q", b.Merges(), want)
	}
	if got := b.Tokenize("lowest newer"); !slices.Equal(got, []string{"▁", "low", "est", "▁", "n", "e", "w", "e", "r"}) {
		t.Fatalf("Tokenize = %q", got)
	}
	// Learning is deterministic: the same corpus in another order gives the same merges.
	slices.Reverse(texts)
	b2 := LearnBPE(texts, 50)
	b3 := LearnBPE(append(texts[len(texts)/2:], texts[:len(texts)/2]...), 50)
	if !slices.Equal(b2.Merges(), b3.Merges()) {
		t.Fatalf("order-dependent: %q vs %q", b2.Merges(), b3.Merges())
	}
	// It stops when the best pair occurs fewer than twice.
	if n := len(LearnBPE([]string{"abc"}, 10).Merges()); n != 0 {
		t.Fatalf("%d merges from pairs seen once", n)
	}
}

// Every line of the embedded CMUdict and of the multilingual test file
// comes back byte for byte, with merges learned from that corpus.
func TestBPERoundTripRealCorpora(t *testing.T) {
	multi := readLines(t, "testdata/multilingual.txt")
	cmu := cmudictLines(t)
	var cmuSample []string // learning from a quarter keeps the test fast; every line is checked
	for i := 0; i < len(cmu); i += 4 {
		cmuSample = append(cmuSample, cmu[i])
	}
	for _, c := range []struct {
		name   string
		learn  []string
		merges int
	}{
		{"cmudict", cmuSample, 2000},
		{"multilingual", multi, 300},
	} {
		b := LearnBPE(c.learn, c.merges)
		if len(b.Merges()) == 0 {
			t.Fatalf("%s: no merges learned", c.name)
		}
		for _, lines := range [][]string{cmu, multi} {
			tokens := 0
			for _, s := range lines {
				toks := b.Tokenize(s)
				tokens += len(toks)
				if back := b.Detokenize(toks); back != s {
					t.Fatalf("%s merges: %q → %q → %q", c.name, s, toks, back)
				}
			}
			if lines[0] == cmu[0] && c.name == "cmudict" {
				// 2000 merges compress CMUdict lines well below one token per character.
				chars := 0
				for _, s := range lines {
					chars += len([]rune(s))
				}
				if tokens*2 > chars {
					t.Errorf("cmudict: %d tokens for %d characters", tokens, chars)
				}
			}
		}
	}
}

func TestBPEUnicode(t *testing.T) {
	texts := readLines(t, "testdata/multilingual.txt")
	b := LearnBPE(append(append(texts, texts...), texts...), 200)
	corpus := " " + strings.Join(texts, "\n ") // each line with its dummy-prefix space
	for _, m := range b.Merges() {
		if !strings.Contains(corpus, decode(m.Left+m.Right)) {
			t.Fatalf("merged symbol %q is not a piece of the corpus", m.Left+m.Right)
		}
	}
	// Korean syllables and German umlauts stay whole code points.
	for _, tok := range b.Tokenize("설정을 저장하시겠습니까? Änderungen übernehmen") {
		if !strings.HasPrefix(tok, "\uE000") && !utfWhole(tok) {
			t.Fatalf("token %q splits a code point", tok)
		}
	}
}

func utfWhole(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestBPESaveLoad(t *testing.T) {
	texts := readLines(t, "testdata/multilingual.txt")
	texts = append(texts, "tab\there", "tab\there", "bad\xffbyte", "bad\xffbyte")
	b := LearnBPE(texts, 500)
	var buf bytes.Buffer
	if err := b.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "#qkv-bpe v1\n") {
		t.Fatalf("header: %q", buf.String()[:20])
	}
	l, err := LoadBPE(bytes.NewReader(buf.Bytes()), "m.bpe")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Merges(), b.Merges()) {
		t.Fatal("merges differ after Save/Load")
	}
	for _, c := range []struct{ in, want string }{
		{"", "m.bpe: empty file"},
		{"a b\n", "m.bpe:1: not a qkv BPE merges file"},
		{"#qkv-bpe v1\n\"a\" \"b\"\n\"a\"\"b\"\n", "m.bpe:3: want a space"},
		{"#qkv-bpe v1\n\"a\" b\n", "m.bpe:2: want a double-quoted symbol"},
		{"#qkv-bpe v1\n\"a\" \"b\" x\n", "m.bpe:2: unexpected text"},
		{"#qkv-bpe v1\n\"\" \"b\"\n", "m.bpe:2: empty symbol"},
	} {
		_, err := LoadBPE(strings.NewReader(c.in), "m.bpe")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}
