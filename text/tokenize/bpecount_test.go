package tokenize

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Word counts summed in parts and added with AddCount learn the merges
// that Add over the whole corpus learns.
func TestAddCountEqualsAdd(t *testing.T) {
	texts := []string{"low lower lowest", "newer wider newest", "  two  spaces ", "ünïcödé wörds wörds", "low low low"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		texts = append(texts, texts[rng.IntN(len(texts))]+" "+texts[rng.IntN(len(texts))])
	}
	whole := NewBPETrainer()
	counts := map[string]int{}
	split := map[string][]string{}
	for _, s := range texts {
		whole.Add(s)
		for _, w := range BPEWords(s) {
			k := joinSymbols(w)
			counts[k]++
			split[k] = w
		}
	}
	parts := NewBPETrainer()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		half := counts[k] / 2
		parts.AddCount(split[k], half) // two workers' sums
		parts.AddCount(split[k], counts[k]-half)
	}
	want, got := whole.Learn(40, 2).Merges(), parts.Learn(40, 2).Merges()
	if len(want) < 10 || !slices.Equal(got, want) {
		t.Errorf("merges from counts %v\nfrom texts %v", got, want)
	}
}
