package tokenize

import (
	"slices"
	"strings"
	"testing"
)

// TestBPEWithVocabularySplitsUnknownPieces: a piece the merges build only
// on the way to a longer one ("peed" inside "▁speed") is split back along
// the merges that built it until its parts are known, as subword-nmt's
// --vocabulary filter does; base symbols stay as they are.
func TestBPEWithVocabularySplitsUnknownPieces(t *testing.T) {
	b := NewBPE([]Merge{{"▁", "s"}, {"p", "e"}, {"e", "d"}, {"pe", "ed"}, {"▁s", "peed"}})
	if got := b.Tokenize("High-speed"); !slices.Equal(got, []string{"▁", "H", "i", "g", "h", "-", "s", "peed"}) {
		t.Fatalf("unfiltered: %q", got)
	}
	known := map[string]bool{"▁speed": true, "pe": true, "ed": true, "▁": true, "s": true, "-": true}
	f := b.WithVocabulary(func(p string) bool { return known[p] })
	got := f.Tokenize("High-speed speed")
	want := []string{"▁", "H", "i", "g", "h", "-", "s", "pe", "ed", "▁speed"}
	if !slices.Equal(got, want) {
		t.Fatalf("filtered: %q, want %q", got, want)
	}
	// Without "pe" the split goes down to base symbols.
	delete(known, "pe")
	if got := f.Tokenize("-speed"); !slices.Equal(got, []string{"▁", "-", "s", "p", "e", "ed"}) {
		t.Fatalf("filtered without pe: %q", got)
	}
	if b.known != nil {
		t.Fatal("WithVocabulary changed the tokenizer it was called on")
	}
}

// TestBPEWithVocabularyOnlyKnownPieces: over real text, every piece the
// filtered tokenizer outputs is in the vocabulary or is one base symbol,
// the pieces still spell the text exactly, and a vocabulary that holds
// every piece changes nothing.
func TestBPEWithVocabularyOnlyKnownPieces(t *testing.T) {
	lines := readLines(t, "testdata/multilingual.txt")
	half := len(lines) / 2
	b := LearnBPE(lines[:half], 400)
	counts := map[string]int{}
	for _, s := range lines[:half] {
		for _, p := range b.Tokenize(s) {
			counts[p]++
		}
	}
	all := b.WithVocabulary(func(p string) bool { return counts[p] > 0 })
	for _, minFreq := range []int{1, 2, 5} {
		f := b.WithVocabulary(func(p string) bool { return counts[p] >= minFreq })
		split := 0
		for _, s := range lines {
			raw, got := b.Tokenize(s), f.Tokenize(s)
			if back := f.Detokenize(got); back != s {
				t.Fatalf("min %d: %q → %q → %q", minFreq, s, got, back)
			}
			if strings.Join(raw, "") != strings.Join(got, "") {
				t.Fatalf("min %d: filtered pieces %q do not spell the unfiltered %q", minFreq, got, raw)
			}
			base := b.Symbols(s)
			for _, p := range got {
				if counts[p] < minFreq && !slices.Contains(base, p) {
					t.Fatalf("min %d: %q holds %q, a merged piece outside the vocabulary", minFreq, s, p)
				}
			}
			if len(got) > len(raw) {
				split++
			}
			if minFreq == 1 && slices.Index(lines, s) < half && !slices.Equal(all.Tokenize(s), raw) {
				t.Fatalf("a vocabulary of every training piece changed %q: %q, want %q", s, all.Tokenize(s), raw)
			}
		}
		if minFreq > 1 && split == 0 {
			t.Errorf("min %d: no line was split further: the test does not exercise the filter", minFreq)
		}
	}
}
