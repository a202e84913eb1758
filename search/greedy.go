package search

// greedy takes the most likely token at every step. Finished rows are
// dropped from the state so they cost nothing.
func greedy(st State, batch int, sp Special, opt Options) ([][]Hypothesis, error) {
	V := st.VocabSize()
	out := make([][]Hypothesis, batch)
	srcOf := make([]int, batch) // source of each live row
	paths := make([]*node, batch)
	lps := make([]float64, batch)
	tokens := make([]int32, batch)
	for i := range srcOf {
		srcOf[i] = i
		tokens[i] = sp.BOS
	}
	keep := make([]int32, 0, batch)
	for step := 0; step < opt.MaxLen && len(srcOf) > 0; step++ {
		logp, err := st.Step(tokens)
		if err != nil {
			return nil, err
		}
		keep = keep[:0]
		live := 0
		for r, src := range srcOf {
			row := logp[r*V : (r+1)*V]
			best := argmax(row)
			paths[r] = paths[r].extend(best, row[best], attentionOf(st, opt.Attention, r))
			lps[r] += float64(row[best])
			if best == sp.EOS {
				out[src] = []Hypothesis{paths[r].hypothesis(lps[r], true, opt.LengthPenalty, opt.Attention)}
				continue
			}
			keep = append(keep, int32(r))
			srcOf[live], paths[live], lps[live], tokens[live] = src, paths[r], lps[r], best
			live++
		}
		srcOf, paths, lps, tokens = srcOf[:live], paths[:live], lps[:live], tokens[:live]
		if live > 0 && live < len(logp)/V {
			st.Select(keep)
		}
	}
	for r, src := range srcOf {
		out[src] = []Hypothesis{paths[r].hypothesis(lps[r], false, opt.LengthPenalty, opt.Attention)}
	}
	return out, nil
}

// argmax returns the index of the largest value (the first on ties).
func argmax(row []float32) int32 {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return int32(best)
}
