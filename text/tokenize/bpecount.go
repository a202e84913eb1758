package tokenize

// Counting words apart from learning merges, so that the count, the part
// that grows with the corpus, can run on many machines (qkv beam prepare
// bpe) and its sums be learned from as if one trainer had read it all.

// BPEWords cuts text into the words BPETrainer.Add counts, each a slice of
// base symbols.
func BPEWords(text string) [][]string { return words(text) }

// AddCount counts word (base symbols, as BPEWords gives them) n more times:
// adding every word of a corpus with its total count gives the trainer of
// Add over that corpus.
func (t *BPETrainer) AddCount(word []string, n int) {
	if len(word) == 0 || n <= 0 {
		return
	}
	k := joinSymbols(word)
	if _, ok := t.split[k]; !ok {
		t.split[k] = append([]string(nil), word...)
	}
	t.counts[k] += n
}

func joinSymbols(word []string) string {
	n := 0
	for _, s := range word {
		n += len(s)
	}
	b := make([]byte, 0, n)
	for _, s := range word {
		b = append(b, s...)
	}
	return string(b)
}
