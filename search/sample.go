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
	V := st.VocabSize()
	rows := batch * n
	srcOf := make([]int, rows)
	paths := make([]*node, rows)
	lps := make([]float64, rows)
	tokens := make([]int32, rows)
	expand := make([]int32, rows)
	for r := range srcOf {
		srcOf[r] = r / n
		expand[r] = int32(r / n)
		tokens[r] = sp.BOS
	}
	if n > 1 {
		st.Select(expand)
	}
	out := make([][]Hypothesis, batch)
	probs := make([]float64, V)
	var top []candidate
	keep := make([]int32, 0, rows)
	for step := 0; step < opt.MaxLen && len(srcOf) > 0; step++ {
		logp, err := st.Step(tokens)
		if err != nil {
			return nil, err
		}
		keep = keep[:0]
		live := 0
		for r, src := range srcOf {
			row := logp[r*V : (r+1)*V]
			tok := draw(rng, row, temp, opt.TopK, probs, &top)
			paths[r] = paths[r].extend(tok, row[tok], attentionOf(st, opt.Attention, r))
			lps[r] += float64(row[tok])
			if tok == sp.EOS {
				out[src] = append(out[src], paths[r].hypothesis(lps[r], true, opt.LengthPenalty, opt.Attention))
				continue
			}
			keep = append(keep, int32(r))
			srcOf[live], paths[live], lps[live], tokens[live] = src, paths[r], lps[r], tok
			live++
		}
		srcOf, paths, lps, tokens = srcOf[:live], paths[:live], lps[:live], tokens[:live]
		if live > 0 && live < len(logp)/V {
			st.Select(keep)
		}
	}
	for r, src := range srcOf {
		out[src] = append(out[src], paths[r].hypothesis(lps[r], false, opt.LengthPenalty, opt.Attention))
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
