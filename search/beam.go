package search

import (
	"cmp"
	"math"
	"slices"
)

// beamHyp is a live hypothesis of one source.
type beamHyp struct {
	path    *node
	logProb float64
	row     int // state row of its parent while the next beam is built
}

// candidate is a one-token extension of a live hypothesis.
type candidate struct {
	row     int // state row of the parent hypothesis
	token   int32
	lp      float32
	logProb float64
}

// beamSource is the search of one source.
type beamSource struct {
	live     []beamHyp
	finished []Hypothesis
	done     bool
}

// beam keeps the K most probable prefixes of every source. At each step the
// candidates of a source (the best 2K extensions of each of its live
// hypotheses) are taken in order of probability: those ending in EOS are
// finished, the others fill the next beam until it holds K. A source is done
// when it has K finished hypotheses or no live one. With K = 1 this is
// exactly greedy decoding.
func beam(st State, batch int, sp Special, opt Options) ([][]Hypothesis, error) {
	K := opt.Beam
	nbest := max(opt.NBest, 1)
	if nbest > K {
		nbest = K
	}
	V := st.VocabSize()
	m := sp.mask(&opt)
	srcs := make([]beamSource, batch)
	for i := range srcs {
		srcs[i].live = []beamHyp{{}}
	}
	tokens := make([]int32, batch)
	for i := range tokens {
		tokens[i] = sp.BOS
	}
	var (
		parents []int32
		cands   []candidate
		top     []candidate
		prefix  []int32
	)
	for step := 0; step < opt.MaxLen && len(tokens) > 0; step++ {
		logp, err := st.Step(tokens)
		if err != nil {
			return nil, err
		}
		parents, tokens = parents[:0], tokens[:0]
		row0 := 0
		for s := range srcs {
			src := &srcs[s]
			if src.done {
				continue
			}
			cands = cands[:0]
			for i, h := range src.live {
				r := row0 + i
				restrict(opt.Constraint, s, h.path, logp[r*V:(r+1)*V], &prefix, opt.maxLen(s))
				top = bestK(top[:0], logp[r*V:(r+1)*V], 2*K, m)
				for _, c := range top {
					if opt.Constraint != nil && math.IsInf(float64(c.lp), -1) {
						continue // ruled out by the constraint
					}
					c.row, c.logProb = r, h.logProb+float64(c.lp)
					cands = append(cands, c)
				}
			}
			// Most probable first; ties by row then token keep runs reproducible.
			slices.SortStableFunc(cands, func(a, b candidate) int {
				if a.logProb != b.logProb {
					return cmp.Compare(b.logProb, a.logProb)
				}
				if a.row != b.row {
					return cmp.Compare(a.row, b.row)
				}
				return cmp.Compare(a.token, b.token)
			})
			next := src.live[:0:0]
			for _, c := range cands {
				if len(next) == K || len(src.finished) == K {
					break
				}
				parent := src.live[c.row-row0].path
				path := parent.extend(c.token, c.lp, attentionOf(st, opt.Attention, c.row))
				if c.token == sp.EOS {
					src.finished = append(src.finished, path.hypothesis(c.logProb, true, opt.LengthPenalty, opt.Attention))
					continue
				}
				next = append(next, beamHyp{path: path, logProb: c.logProb, row: c.row})
			}
			row0 += len(src.live)
			src.live = next
			if len(src.finished) >= K || len(next) == 0 || step+1 >= opt.maxLen(s) {
				src.done = true // at its source's limit, its live hypotheses end unfinished
				continue
			}
			for _, h := range next {
				parents = append(parents, int32(h.row))
				tokens = append(tokens, h.path.token)
			}
		}
		if len(tokens) > 0 {
			st.Select(parents)
		}
	}
	out := make([][]Hypothesis, batch)
	for s := range srcs {
		src := &srcs[s]
		if len(src.finished) < nbest {
			for _, h := range src.live {
				src.finished = append(src.finished, h.path.hypothesis(h.logProb, false, opt.LengthPenalty, opt.Attention))
			}
		}
		sortByScore(src.finished)
		out[s] = src.finished[:min(nbest, len(src.finished))]
	}
	return out, nil
}

// bestK appends to dst the k largest entries of row that are not in m,
// largest first (the lower token first on ties).
func bestK(dst []candidate, row []float32, k int, m mask) []candidate {
	for tok, v := range row {
		if len(dst) == k && v <= dst[k-1].lp {
			continue
		}
		if m.has(tok) {
			continue
		}
		if len(dst) < k {
			dst = append(dst, candidate{})
		}
		i := len(dst) - 1
		for i > 0 && dst[i-1].lp < v {
			dst[i] = dst[i-1]
			i--
		}
		dst[i] = candidate{token: int32(tok), lp: v}
	}
	return dst
}
