package tokenize

// WithVocabulary returns a tokenizer that applies b's merges but never
// outputs a piece that known rejects: such a piece is split back into the
// two pieces it was merged from, recursively, until every piece is known or
// is a single base symbol. This is subword-nmt's apply_bpe --vocabulary
// (its recursive_split), except that a piece is split along the merges that
// actually built it in this word rather than the last merge that spells it.
//
// A model's vocabulary is built from the pieces of its training data, so a
// piece the merges make only as a step towards a longer one ("peed" on the
// way to "▁speed") or one dropped by a frequency threshold is not in it;
// without the filter such a piece in new text would be an unknown symbol.
// Base symbols are output as they are, known or not: the caller maps those
// it lacks (characters never seen in training) to <unk>.
//
// known must be safe for concurrent use if the tokenizer is; b is not
// changed.
func (b *BPE) WithVocabulary(known func(piece string) bool) *BPE {
	return &BPE{merges: b.merges, rank: b.rank, known: known}
}

// Symbols returns the base symbols that BPE reads text as, before any
// merge: every piece Tokenize outputs is a run of them, and a vocabulary
// that holds them all (with WithVocabulary) can spell any text made of
// them.
func (b *BPE) Symbols(text string) []string {
	var out []string
	for _, w := range words(text) {
		out = append(out, w...)
	}
	return out
}

// bpeNode is a piece of a word being merged: a base symbol (left < 0) or
// the merge of two earlier nodes.
type bpeNode struct {
	piece       string
	left, right int32
}

// applyWordKnown is applyWord that remembers how each piece was built, and
// then splits the pieces known rejects (see WithVocabulary).
func (b *BPE) applyWordKnown(syms []string) []string {
	nodes := make([]bpeNode, len(syms), 2*len(syms))
	w := make([]int32, len(syms)) // the word as node indices
	for i, s := range syms {
		nodes[i] = bpeNode{piece: s, left: -1, right: -1}
		w[i] = int32(i)
	}
	for len(w) > 1 {
		best, bestRank := [2]string{}, -1
		for i := 0; i+1 < len(w); i++ {
			if r, ok := b.rank[[2]string{nodes[w[i]].piece, nodes[w[i+1]].piece}]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = [2]string{nodes[w[i]].piece, nodes[w[i+1]].piece}, r
			}
		}
		if bestRank < 0 {
			break
		}
		merged := best[0] + best[1]
		out := w[:0]
		for i := 0; i < len(w); i++ {
			if i+1 < len(w) && nodes[w[i]].piece == best[0] && nodes[w[i+1]].piece == best[1] {
				nodes = append(nodes, bpeNode{piece: merged, left: w[i], right: w[i+1]})
				out = append(out, int32(len(nodes)-1))
				i++
			} else {
				out = append(out, w[i])
			}
		}
		w = out
	}
	pieces := make([]string, 0, len(w))
	var emit func(n int32)
	emit = func(n int32) {
		nd := nodes[n]
		if nd.left < 0 || b.known(nd.piece) {
			pieces = append(pieces, nd.piece)
			return
		}
		emit(nd.left)
		emit(nd.right)
	}
	for _, n := range w {
		emit(n)
	}
	return pieces
}
