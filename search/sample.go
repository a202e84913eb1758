package search

import (
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
)

var errBadTemperature = errors.New("search: temperature must be positive")

// sample draws NBest sequences per source, token by token, from the model's
// distribution sharpened or flattened by the temperature and, with TopK,
// restricted to the k most likely tokens. Results are ranked by score.
func sample(st State, batch int, sp Special, opt Options) ([][]Hypothesis, error) {
	n := max(opt.NBest, 1)
	temp := opt.Temperature
	if temp == 0 {
		temp = 1
	}
	if temp < 0 {
		return nil, errBadTemperature
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
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
	choose := func(row []float32) int32 { return draw(rng, row, temp, opt.TopK, probs, &top) }
	out := make([][]Hypothesis, batch)
	if err := unroll(st, srcOf, sp, opt, choose, out); err != nil {
		return nil, err
	}
	for _, hs := range out {
		sortByScore(hs)
	}
	return out, nil
}

// draw samples a token from softmax(row / temp), restricted to the topK most
// likely tokens when topK > 0. row holds log-probabilities.
func draw(rng *rand.Rand, row []float32, temp float64, topK int, probs []float64, top *[]candidate) int32 {
	if topK > 0 && topK < len(row) {
		*top = bestK((*top)[:0], row, topK)
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
	maxLP := float64(row[argmax(row)])
	var z float64
	for i, v := range row {
		probs[i] = math.Exp((float64(v) - maxLP) / temp)
		z += probs[i]
	}
	u := rng.Float64() * z
	last := int32(0)
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
