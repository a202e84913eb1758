package search

// greedy takes the most likely token at every step.
func greedy(st State, batch int, sp Special, opt Options) ([][]Hypothesis, error) {
	srcOf := make([]int, batch)
	for i := range srcOf {
		srcOf[i] = i
	}
	out := make([][]Hypothesis, batch)
	m := sp.mask(&opt)
	return out, unroll(st, srcOf, sp, opt, func(_ int, row []float32) int32 { return argmax(row, m) }, out)
}

// unroll extends every row of the state one token at a time, the token
// chosen from the row's log-probabilities by choose, until it ends with EOS
// or its source's limit of steps (Options.maxLen) is reached; row r's hypothesis is appended to
// out[srcOf[r]]. Finished rows are dropped from the state, so they cost
// nothing.
func unroll(st State, srcOf []int, sp Special, opt Options, choose func(src int, row []float32) int32, out [][]Hypothesis) error {
	V := st.VocabSize()
	rows := len(srcOf)
	srcOf = append([]int(nil), srcOf...)
	paths := make([]*node, rows)
	lps := make([]float64, rows)
	tokens := make([]int32, rows)
	for i := range tokens {
		tokens[i] = sp.BOS
	}
	keep := make([]int32, 0, rows)
	var prefix []int32
	for step := 0; step < opt.MaxLen && len(srcOf) > 0; step++ {
		logp, err := st.Step(tokens)
		if err != nil {
			return err
		}
		keep = keep[:0]
		live := 0
		for r, src := range srcOf {
			row := logp[r*V : (r+1)*V]
			restrict(opt.Constraint, src, paths[r], row, &prefix, opt.maxLen(src))
			tok := choose(src, row)
			paths[r] = paths[r].extend(tok, row[tok], attentionOf(st, opt.Attention, r))
			lps[r] += float64(row[tok])
			if tok == sp.EOS {
				out[src] = append(out[src], paths[r].hypothesis(lps[r], true, opt.LengthPenalty, opt.Attention))
				continue
			}
			if step+1 >= opt.maxLen(src) { // its source's limit: stop here, unfinished
				out[src] = append(out[src], paths[r].hypothesis(lps[r], false, opt.LengthPenalty, opt.Attention))
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
	return nil
}

// argmax returns the index of the largest value not in m (the first on
// ties).
func argmax(row []float32, m mask) int32 {
	best := -1
	for i, v := range row {
		if (best < 0 || v > row[best]) && !m.has(i) {
			best = i
		}
	}
	return int32(max(best, 0))
}
