// Package search turns a trained model into output sequences: greedy
// decoding, beam search with length penalty and n-best lists, and sampling
// with temperature and top-k, all batched over many sources at once.
//
// Beam search is the left-to-right beam of Sutskever et al. 2014 (§3.2) and
// Bahdanau et al. 2014; the length penalty is that of Wu et al. 2016
// (GNMT): lp(Y) = ((5 + |Y|) / 6)^α, and a hypothesis is ranked by
// log P(Y|X) / lp(Y). Sampling follows Fan et al. 2018 (top-k).
//
// The search speaks to a model only through [State]: the model encodes the
// sources once and then advances every live hypothesis one token at a time,
// keeping its own incremental state (a Transformer's key/value cache, an
// LSTM's hidden state). Rows of the state are hypotheses; the search keeps,
// drops and duplicates rows with Select, so finished hypotheses cost nothing.
package search

import (
	"errors"
	"fmt"
	"math"
)

// State is a model's incremental decoding state over a set of rows, each row
// one hypothesis for one source.
type State interface {
	// Step feeds one token per row (the previous output, or BOS at the
	// start) and returns log-probabilities of the next token, rows × V,
	// row-major. The slice stays valid until the next call.
	Step(tokens []int32) ([]float32, error)
	// Select rebuilds the rows: new row i continues old row rows[i]. Rows may
	// repeat (beam expansion) or be left out (finished hypotheses).
	Select(rows []int32)
	// VocabSize is V.
	VocabSize() int
}

// Attender is implemented by states that can report what the last Step
// attended to, for every row. Search copies it into [Hypothesis.Attention]
// when Options.Attention is set.
type Attender interface {
	// LastAttention returns, for row r of the last Step, the attention maps
	// that produced its token (one per attention module: a layer's
	// cross-attention, say, or RNNsearch's additive attention).
	LastAttention(row int) []Map
}

// Map is one attention distribution: Heads rows of Keys weights, each row
// summing to one.
type Map struct {
	Name    string    // which module, e.g. "decoder.0.cross" or "attention"
	Heads   int       // 1 for additive attention
	Keys    int       // number of positions attended over
	Weights []float32 // (Heads, Keys)
}

// Special token ids the search needs.
type Special struct {
	BOS, EOS int32
}

// Options control decoding. The zero value (with MaxLen set) is greedy.
type Options struct {
	Beam          int     // beam size; 0 or 1 is greedy
	NBest         int     // hypotheses returned per source (≤ Beam for beam search; samples for sampling)
	LengthPenalty float64 // α of GNMT's length penalty; 0 ranks by raw log-probability
	MaxLen        int     // decoding steps at most: output tokens including the final EOS
	Sample        bool    // draw tokens instead of searching
	Temperature   float64 // sampling temperature (1 if 0)
	TopK          int     // sample among the k most likely tokens (all if 0)
	Seed          uint64  // sampling seed
	Attention     bool    // record attention maps per output token (needs an Attender)
}

// Hypothesis is one output sequence.
type Hypothesis struct {
	Tokens    []int32   // without BOS and EOS
	LogProb   float64   // log P(tokens, EOS | source)
	Score     float64   // LogProb / lp(|tokens|+1): the ranking score
	Finished  bool      // ended with EOS (rather than reaching MaxLen)
	Attention [][]Map   // per output token (and EOS), when recorded
	TokenLP   []float32 // log-probability of each output token (and EOS)
}

// errNoRows: reaching MaxLen is not an error (such hypotheses come back with
// Finished false), but decoding nothing is.
var errNoRows = errors.New("search: no sources")

// Decode runs the search configured by opt over a state that holds one row
// per source (batch rows). It returns, for each source, up to NBest
// hypotheses (at least one), best first.
func Decode(st State, batch int, sp Special, opt Options) ([][]Hypothesis, error) {
	if batch == 0 {
		return nil, errNoRows
	}
	if opt.MaxLen <= 0 {
		return nil, fmt.Errorf("search: MaxLen must be positive, got %d", opt.MaxLen)
	}
	switch {
	case opt.Sample:
		return sample(st, batch, sp, opt)
	case opt.Beam > 1:
		return beam(st, batch, sp, opt)
	default:
		if opt.NBest > 1 {
			return nil, fmt.Errorf("search: --nbest %d needs a beam of at least that size", opt.NBest)
		}
		return greedy(st, batch, sp, opt)
	}
}

// lengthPenalty is GNMT's lp(n) = ((5+n)/6)^α.
func lengthPenalty(n int, alpha float64) float64 {
	if alpha == 0 {
		return 1
	}
	return math.Pow((5+float64(n))/6, alpha)
}
