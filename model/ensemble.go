package model

import (
	"errors"
	"fmt"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// Ensemble decodes with several models at once, as fairseq's EnsembleModel
// (sequence_generator.py) does: at every step each member advances its own
// incremental state on the same tokens, and the ensemble's next-token
// distribution is the mean of the members' probabilities, computed in log
// space (see search.Ensemble), so greedy, beam search and sampling use it
// unchanged. An ensemble of one model is that model.
//
// Members may be of any architecture; they must share the source and
// target vocabularies (the pipeline checks the symbols, tokenizers and
// lowercasing; NewEnsemble the sizes). An ensemble only decodes: Forward
// panics, train its members one by one.
type Ensemble struct {
	members []Model
	cfg     Config
}

// NewEnsemble returns the ensemble of members, which must agree on the
// vocabulary sizes. Its Config is the first member's, with MaxLen the
// smallest positive MaxLen of the members (the longest output every member
// can represent).
func NewEnsemble(members ...Model) (*Ensemble, error) {
	if len(members) == 0 {
		return nil, errors.New("model: an ensemble needs at least one model")
	}
	cfg := members[0].Config()
	for i, m := range members[1:] {
		c := m.Config()
		if c.SrcVocab != cfg.SrcVocab || c.TgtVocab != cfg.TgtVocab {
			return nil, fmt.Errorf("model: ensemble member %d has vocabularies of %d/%d symbols, member 1 %d/%d: the members of an ensemble must share their vocabularies",
				i+2, c.SrcVocab, c.TgtVocab, cfg.SrcVocab, cfg.TgtVocab)
		}
		if c.MaxLen > 0 && (cfg.MaxLen <= 0 || c.MaxLen < cfg.MaxLen) {
			cfg.MaxLen = c.MaxLen
		}
	}
	return &Ensemble{members: members, cfg: cfg}, nil
}

// Members are the ensemble's models, in the order given.
func (e *Ensemble) Members() []Model { return e.members }

// Config is the first member's configuration, with the smallest MaxLen.
func (e *Ensemble) Config() Config { return e.cfg }

// ParamCount is the number of parameters of all the members together, as
// Config.ParamCount counts one model's.
func (e *Ensemble) ParamCount() uint64 {
	var n uint64
	for _, m := range e.members {
		n += m.Config().ParamCount()
	}
	return n
}

// Params are every member's parameters, member after member. Names repeat
// when members share an architecture: they are for counting, not for
// saving.
func (e *Ensemble) Params() []*tensor.Tensor {
	var ps []*tensor.Tensor
	for _, m := range e.members {
		ps = append(ps, m.Params()...)
	}
	return ps
}

// Forward is not defined for an ensemble: it panics.
func (e *Ensemble) Forward(*tensor.Graph, *batch.Batch) *tensor.Tensor {
	panic("model: an ensemble only decodes; train its members one by one")
}

// Start encodes b's sources with every member. The first member decodes
// on g; the others each get a graph of their own, since every member
// resets its graph at each step.
func (e *Ensemble) Start(g *tensor.Graph, b *batch.Batch) (Decoder, error) {
	if len(e.members) == 1 {
		return e.members[0].Start(g, b)
	}
	states := make([]search.State, len(e.members))
	for k, m := range e.members {
		gk := g
		if k > 0 {
			gk = tensor.NewGraph(0)
		}
		st, err := m.Start(gk, b)
		if err != nil {
			return nil, fmt.Errorf("ensemble member %d: %w", k+1, err)
		}
		states[k] = st
	}
	return ensembleState{search.Ensemble(states...)}, nil
}

// ensembleState is search.Ensemble over the members' states; it reports
// no attention.
type ensembleState struct{ search.State }

// LastAttention is nil: the members attend differently, and their maps
// (a Transformer's layers and heads, RNNsearch's one additive attention)
// need not even have the same shape. Draw one member's attention by
// decoding with it alone.
func (ensembleState) LastAttention(int) []search.Map { return nil }

// EncoderAttention is nil, as LastAttention.
func (ensembleState) EncoderAttention(int) []search.Map { return nil }
