package search

import (
	"fmt"
	"math"
)

// Ensemble returns a State that decodes with several models at once, as
// fairseq's EnsembleModel (sequence_generator.py) does: every Step feeds
// the same tokens to each member, which keeps its own incremental state,
// and returns the mean of the members' next-token probabilities, in log
// space:
//
//	log p(y) = logsumexp_k(log p_k(y)) − log n.
//
// The result is a normalized distribution, so greedy, beam search and
// sampling use it as they would one model's. (Marian sums the members'
// log-probabilities instead, optionally weighted: a product of experts,
// not normalized. fairseq's and OpenNMT-py's mean of probabilities is what
// published G2P ensembles use.) Select applies to every member. The
// members must share one target vocabulary; an ensemble of one state is
// that state.
func Ensemble(states ...State) State {
	if len(states) == 1 {
		return states[0]
	}
	return &ensemble{states: states, logN: math.Log(float64(len(states)))}
}

type ensemble struct {
	states []State
	logN   float64
	each   []float32 // (members, rows, V): the members' last log-probabilities
	logp   []float32 // (rows, V): their mean in probability, as log-probabilities
}

func (e *ensemble) VocabSize() int { return e.states[0].VocabSize() }

func (e *ensemble) Step(tokens []int32) ([]float32, error) {
	n, V := len(e.states), e.VocabSize()
	size := len(tokens) * V
	e.each = resize(e.each, n*size)
	e.logp = resize(e.logp, size)
	for k, st := range e.states {
		if st.VocabSize() != V {
			return nil, fmt.Errorf("ensemble member %d has %d target symbols, member 1 %d", k+1, st.VocabSize(), V)
		}
		lp, err := st.Step(tokens)
		if err != nil {
			return nil, fmt.Errorf("ensemble member %d: %w", k+1, err)
		}
		if len(lp) != size {
			return nil, fmt.Errorf("ensemble member %d returned %d log-probabilities for %d rows of %d", k+1, len(lp), len(tokens), V)
		}
		copy(e.each[k*size:(k+1)*size], lp)
	}
	for i := range e.logp {
		m := math.Inf(-1)
		for k := range n {
			m = max(m, float64(e.each[k*size+i]))
		}
		if math.IsInf(m, -1) { // no member gives the token any probability
			e.logp[i] = float32(m)
			continue
		}
		var z float64
		for k := range n {
			z += math.Exp(float64(e.each[k*size+i]) - m)
		}
		e.logp[i] = float32(m + math.Log(z) - e.logN)
	}
	return e.logp, nil
}

func (e *ensemble) Select(rows []int32) {
	for _, st := range e.states {
		st.Select(rows)
	}
}

func resize(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}
