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
	"slices"
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

	// Copy attention (See et al. 2017): Copies marks the map whose
	// weights, averaged over its heads, are the step's copy distribution,
	// and PCopy is the probability 1 − p_gen with which the step copied
	// through it rather than generated from the vocabulary.
	Copies bool
	PCopy  float32
}

// Special token ids the search needs. PAD and BOS are never emitted, nor
// is UNK unless Options.AllowUnk: their log-probabilities are masked before
// a token is chosen or a hypothesis ranked, in every search (greedy, every
// entry of a beam's n-best list, sampling), as fairseq does. Masking does
// not renormalize: scores stay the model's log-probabilities. The zero
// value of PAD and UNK is id 0; EOS is never masked.
type Special struct {
	PAD, BOS, EOS, UNK int32
}

// Upper bounds of the options: each costs memory in proportion (a beam of K
// keeps K rows of decoder state, with a Transformer's key/value cache, per
// source, and NBest samples as many), so a typo such as --beam 100000 is
// refused instead of eating all memory.
const (
	MaxBeam        = 256   // Options.Beam
	MaxSamples     = 1024  // Options.NBest when sampling
	MaxOutputSteps = 10000 // Options.MaxLen
)

// Options control decoding. The zero value (with MaxLen set) is greedy.
type Options struct {
	Beam          int     // beam size; 0 or 1 is greedy; at most MaxBeam
	NBest         int     // hypotheses returned per source (≤ Beam for beam search; samples, ≤ MaxSamples, for sampling)
	LengthPenalty float64 // α of GNMT's length penalty; 0 ranks by raw log-probability
	MaxLen        int     // decoding steps at most: output tokens including the final EOS
	Sample        bool    // draw tokens instead of searching
	Temperature   float64 // sampling temperature; 0 takes the most likely token (greedy)
	TopK          int     // sample among the k most likely tokens (all if 0)
	Seed          uint64  // sampling seed
	// Lines numbers the sources for sampling: source i draws from its own
	// random stream, derived from Seed and Lines[i] (its line in the whole
	// input, say), so its samples do not depend on the batch it is decoded
	// in, and identical sources get different samples. nil numbers the
	// sources 0, 1, 2, ….
	Lines     []int
	AllowUnk  bool // let the search emit UNK
	Attention bool // record attention maps per output token (needs an Attender)
	// Constraint, when set, masks what each hypothesis may emit next
	// (see Placeholders).
	Constraint Constraint

	// SourceMaxLen, when set, holds one limit per source, in decoding
	// steps as MaxLen (each at most MaxLen): a hypothesis of source i that
	// reaches SourceMaxLen[i] steps without EOS stops there, unfinished.
	// A caller sets it from the source's length (fairseq's
	// --max-len-a/--max-len-b), so that a hypothesis that loops stops near
	// the length its source calls for.
	SourceMaxLen []int
}

// Check returns an error, naming the option as the command line spells it
// (--beam, …) and the range it takes, for a value out of range. It checks
// options as a user gives them: Beam 0, which Decode takes as greedy, is
// refused; MaxLen 0 means "the caller's default" and passes.
func (o Options) Check() error {
	bad := func(flag string, v any, want string) error {
		return fmt.Errorf("%s %v is out of range: %s", flag, v, want)
	}
	if o.Beam < 1 || o.Beam > MaxBeam {
		return bad("--beam", o.Beam, fmt.Sprintf("use 1 (greedy) to %d; every beam entry holds a copy of the decoder's state, so memory grows with it", MaxBeam))
	}
	if o.Sample && o.Beam > 1 {
		return fmt.Errorf("--beam %d and --sample do not go together: sampling draws --nbest outputs instead of searching", o.Beam)
	}
	if o.Sample {
		if o.NBest < 0 || o.NBest > MaxSamples {
			return bad("--nbest", o.NBest, fmt.Sprintf("when sampling, draw 0 to %d samples per input", MaxSamples))
		}
	} else if o.NBest < 0 || o.NBest > max(o.Beam, 1) {
		return bad("--nbest", o.NBest, fmt.Sprintf("beam search returns 0 to --beam (%d) outputs per input; raise --beam for more", max(o.Beam, 1)))
	}
	if math.IsNaN(o.LengthPenalty) || math.IsInf(o.LengthPenalty, 0) {
		return bad("--alpha", o.LengthPenalty, "the length penalty must be a finite number (0 to 2 is usual)")
	}
	if o.MaxLen < 0 || o.MaxLen > MaxOutputSteps {
		return bad("--max-len", o.MaxLen, fmt.Sprintf("use 1 to %d output tokens (0: the model's default)", MaxOutputSteps))
	}
	if math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0) || o.Temperature < 0 {
		return bad("--temperature", o.Temperature, "use a finite number ≥ 0 (0 takes the most likely token, 1 samples the model's distribution)")
	}
	if o.Sample && o.Temperature == 0 && o.NBest > 1 {
		return fmt.Errorf("--temperature 0 is greedy and gives one output per input, so --nbest %d cannot be drawn: use a positive temperature", o.NBest)
	}
	if o.TopK < 0 {
		return bad("--top-k", o.TopK, "use 0 (all tokens) or a positive number of most likely tokens to sample among")
	}
	return nil
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
	if opt.Beam == 0 {
		opt.Beam = 1
	}
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if opt.Lines != nil && len(opt.Lines) != batch {
		return nil, fmt.Errorf("search: %d line numbers for %d sources", len(opt.Lines), batch)
	}
	if opt.SourceMaxLen != nil {
		if len(opt.SourceMaxLen) != batch {
			return nil, fmt.Errorf("search: %d length limits for %d sources", len(opt.SourceMaxLen), batch)
		}
		for i, n := range opt.SourceMaxLen {
			if n < 1 || n > opt.MaxLen {
				return nil, fmt.Errorf("search: the length limit of source %d is %d steps: it must be between 1 and MaxLen (%d)", i, n, opt.MaxLen)
			}
		}
	}
	switch {
	case opt.Sample:
		return sample(st, batch, sp, opt)
	case opt.Beam > 1:
		return beam(st, batch, sp, opt)
	default:
		return greedy(st, batch, sp, opt)
	}
}

// masked reports whether the search must never emit tok.
func (sp Special) masked(tok int32, opt *Options) bool {
	if tok == sp.EOS {
		return false
	}
	return tok == sp.PAD || tok == sp.BOS || (tok == sp.UNK && !opt.AllowUnk)
}

// mask is the set of token ids the search never emits, as a sorted list
// (there are at most three).
type mask []int32

func (sp Special) mask(opt *Options) mask {
	var m mask
	for _, t := range []int32{sp.PAD, sp.BOS, sp.UNK} {
		if sp.masked(t, opt) && !slices.Contains(m, t) {
			m = append(m, t)
		}
	}
	slices.Sort(m)
	return m
}

func (m mask) has(tok int) bool {
	for _, t := range m {
		if int(t) == tok {
			return true
		}
	}
	return false
}

// maxLen is the decoding limit of source src, in steps.
func (o *Options) maxLen(src int) int {
	if o.SourceMaxLen != nil {
		return o.SourceMaxLen[src]
	}
	return o.MaxLen
}

// lengthPenalty is GNMT's lp(n) = ((5+n)/6)^α.
func lengthPenalty(n int, alpha float64) float64 {
	if alpha == 0 {
		return 1
	}
	return math.Pow((5+float64(n))/6, alpha)
}
