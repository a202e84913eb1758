// Package batch groups examples into padded mini-batches by token count, as
// the Transformer paper trains (Vaswani et al. 2017, §5.1: "sentence pairs
// were batched together by approximate sequence length"): examples are
// sorted by length so a batch wastes little on padding, cut when the padded
// size would pass a token budget, and the batches (not the examples) are
// shuffled each epoch.
package batch

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Special ids shared with the vocabularies (text/vocab).
const (
	PAD int32 = 0
	BOS int32 = 1
	EOS int32 = 2
)

// Example is one source/target pair of token ids, without BOS or EOS.
type Example struct {
	Src, Tgt []int32
}

// Batch is a padded mini-batch. Rows are examples; targets are given twice,
// shifted for teacher forcing: TgtIn = BOS y₁ … yₙ and TgtOut = y₁ … yₙ EOS.
type Batch struct {
	B, S, T int     // rows, padded source length, padded target length
	Src     []int32 // (B, S), PAD after each source
	SrcLen  []int   // (B)
	TgtIn   []int32 // (B, T)
	TgtOut  []int32 // (B, T), PAD where TgtIn is PAD
	TgtLen  []int   // (B): n+1, the positions that count in the loss
	Index   []int   // (B): the examples' indices in the corpus

	SrcTokens int // non-pad source tokens
	TgtTokens int // non-pad target tokens counting BOS and EOS (n+2 per row)
}

// Plan cuts examples into batches of at most maxTokens padded tokens,
// counting source and target (BOS and EOS included) alike: a batch of b rows
// whose longest side is m costs 2·b·m. Examples are taken in order of
// (source length, target length), ties by index. A single example longer
// than the budget gets a batch of its own.
func Plan(examples []Example, maxTokens int) [][]int {
	order := make([]int, len(examples))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ea, eb := examples[a], examples[b]
		if c := cmp.Compare(len(ea.Src), len(eb.Src)); c != 0 {
			return c
		}
		return cmp.Compare(len(ea.Tgt), len(eb.Tgt))
	})
	var plan [][]int
	var cur []int
	curMax := 0
	for _, i := range order {
		s, t := len(examples[i].Src), len(examples[i].Tgt)+2
		m := max(curMax, s, t)
		if len(cur) > 0 && m*(len(cur)+1)*2 > maxTokens {
			plan = append(plan, cur)
			cur, m = nil, max(s, t)
		}
		cur = append(cur, i)
		curMax = m
	}
	if len(cur) > 0 {
		plan = append(plan, cur)
	}
	return plan
}

// Shuffled returns the order in which to visit the batches of a plan in the
// given epoch: a permutation that depends only on seed and epoch, so a
// resumed run visits them in the same order.
func Shuffled(n int, seed uint64, epoch int) []int {
	rng := rand.New(rand.NewPCG(seed, uint64(epoch)+1))
	return rng.Perm(n)
}

// Make builds the padded batch of the examples at idx.
func Make(examples []Example, idx []int) (*Batch, error) {
	b := &Batch{B: len(idx), Index: slices.Clone(idx)}
	for _, i := range idx {
		if i < 0 || i >= len(examples) {
			return nil, fmt.Errorf("batch: example %d out of range [0, %d)", i, len(examples))
		}
		e := examples[i]
		b.S = max(b.S, len(e.Src))
		b.T = max(b.T, len(e.Tgt)+1)
	}
	b.Src = make([]int32, b.B*b.S)
	b.TgtIn = make([]int32, b.B*b.T)
	b.TgtOut = make([]int32, b.B*b.T)
	b.SrcLen = make([]int, b.B)
	b.TgtLen = make([]int, b.B)
	for r, i := range idx {
		e := examples[i]
		copy(b.Src[r*b.S:], e.Src)
		in, out := b.TgtIn[r*b.T:(r+1)*b.T], b.TgtOut[r*b.T:(r+1)*b.T]
		in[0] = BOS
		copy(in[1:], e.Tgt)
		copy(out, e.Tgt)
		out[len(e.Tgt)] = EOS
		b.SrcLen[r] = len(e.Src)
		b.TgtLen[r] = len(e.Tgt) + 1
		b.SrcTokens += len(e.Src)
		b.TgtTokens += len(e.Tgt) + 2
	}
	return b, nil
}

// Sources builds a source-only batch for decoding.
func Sources(srcs [][]int32) *Batch {
	b := &Batch{B: len(srcs)}
	for _, s := range srcs {
		b.S = max(b.S, len(s))
	}
	b.Src = make([]int32, b.B*b.S)
	b.SrcLen = make([]int, b.B)
	for r, s := range srcs {
		copy(b.Src[r*b.S:], s)
		b.SrcLen[r] = len(s)
		b.SrcTokens += len(s)
	}
	return b
}

// SrcPad returns the padding mask (B, S): true where Src is padding.
func (b *Batch) SrcPad() []bool {
	pad := make([]bool, b.B*b.S)
	for r := 0; r < b.B; r++ {
		for j := b.SrcLen[r]; j < b.S; j++ {
			pad[r*b.S+j] = true
		}
	}
	return pad
}

// TgtPad returns the padding mask (B, T) of TgtIn: true where it is padding.
func (b *Batch) TgtPad() []bool {
	pad := make([]bool, b.B*b.T)
	for r := 0; r < b.B; r++ {
		for j := b.TgtLen[r]; j < b.T; j++ {
			pad[r*b.T+j] = true
		}
	}
	return pad
}
