package search

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
)

// sample draws NBest sequences per source, token by token, from the model's
// distribution sharpened or flattened by the temperature and, with TopK,
// restricted to the k most likely tokens. Results are ranked by score.
// Temperature 0 takes the most likely token: greedy decoding.
//
// Each source draws from its own random stream (see [Stream]), keyed by the
// seed and the source's line number (Options.Lines), so a line's samples
// are the same whichever batch it is decoded in, and two identical lines
// get different samples.
func sample(st State, batch int, sp Special, opt Options) ([][]Hypothesis, error) {
	n := max(opt.NBest, 1)
	m := sp.mask(&opt)
	if opt.Temperature == 0 {
		if n > 1 {
			return nil, opt.Check() // names the conflict
		}
		return greedy(st, batch, sp, opt)
	}
	rngs := make([]*rand.Rand, batch)
	for s := range rngs {
		line := s
		if opt.Lines != nil {
			line = opt.Lines[s]
		}
		rngs[s] = Stream(opt.Seed, line)
	}
	rows := batch * n
	srcOf := make([]int, rows)
	expand := make([]int32, rows)
	for r := range srcOf {
		srcOf[r] = r / n
		expand[r] = int32(r / n)
	}
	if n > 1 {
		st.Select(expand)
	}
	probs := make([]float64, st.VocabSize())
	var top []candidate
	choose := func(src int, row []float32) int32 {
		return draw(rngs[src], row, opt.Temperature, opt.TopK, m, probs, &top)
	}
	out := make([][]Hypothesis, batch)
	if err := unroll(st, srcOf, sp, opt, choose, out); err != nil {
		return nil, err
	}
	for _, hs := range out {
		sortByScore(hs)
	}
	return out, nil
}

// Stream returns the random stream that sampling uses for the source on
// line of an input decoded with seed: a ChaCha8 generator keyed by both,
// so streams of different lines (or seeds) are independent.
func Stream(seed uint64, line int) *rand.Rand {
	var key [32]byte
	copy(key[:16], "qkv/search/sampl")
	binary.LittleEndian.PutUint64(key[16:], seed)
	binary.LittleEndian.PutUint64(key[24:], uint64(line))
	return rand.New(rand.NewChaCha8(key))
}

// draw samples a token from softmax(row / temp) over the tokens not in m,
// restricted to the topK most likely of them when topK > 0. row holds
// log-probabilities.
func draw(rng *rand.Rand, row []float32, temp float64, topK int, m mask, probs []float64, top *[]candidate) int32 {
	if topK > 0 && topK < len(row)-len(m) {
		*top = bestK((*top)[:0], row, topK, m)
		maxLP := float64((*top)[0].lp)
		var z float64
		for i, c := range *top {
			probs[i] = math.Exp((float64(c.lp) - maxLP) / temp)
			z += probs[i]
		}
		u := rng.Float64() * z
		for i, c := range *top {
			if u -= probs[i]; u < 0 {
				return c.token
			}
		}
		return (*top)[len(*top)-1].token
	}
	best := argmax(row, m)
	maxLP := float64(row[best])
	var z float64
	for i, v := range row {
		probs[i] = 0
		if !m.has(i) {
			probs[i] = math.Exp((float64(v) - maxLP) / temp)
		}
		z += probs[i]
	}
	if !(z > 0) || math.IsInf(z, 0) { // NaN or overflowing log-probabilities: nothing to draw from
		return best
	}
	u := rng.Float64() * z
	last := best
	for i := range row {
		if probs[i] > 0 {
			last = int32(i)
		}
		if u -= probs[i]; u < 0 {
			return int32(i)
		}
	}
	return last
}

// sortByScore orders hypotheses best first.
func sortByScore(hs []Hypothesis) {
	slices.SortStableFunc(hs, func(a, b Hypothesis) int { return cmp.Compare(b.Score, a.Score) })
}
