package model

import (
	"fmt"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// Reordered decodes with a model whose vocabularies hold the same symbols
// as another's in another order, in that other model's ids, so that the
// two can be members of one Ensemble. Vocabularies are built by symbol
// frequency, so two models trained on different data (a distillation
// student trained on extra words, say) usually number the same letters
// differently; fairseq and Marian would refuse such an ensemble unless both
// were trained with one dictionary file.
//
// The source ids of a batch are mapped into the model's before it encodes;
// at every step the tokens fed back are mapped likewise, and the model's
// log-probabilities are permuted back into the outer order, so the search
// (and any constraint on it) sees one vocabulary. Reordered only decodes:
// Forward panics.
type Reordered struct {
	inner    Model
	src, tgt []int32 // outer id → the inner model's id: (SrcVocab), (TgtVocab)
}

// NewReordered wraps m, reading outer source id i as m's src[i] and outer
// target id j as m's tgt[j]. Both maps must be permutations of m's
// vocabularies.
func NewReordered(m Model, src, tgt []int32) (*Reordered, error) {
	cfg := m.Config()
	for _, p := range []struct {
		name string
		ids  []int32
		size int
	}{{"source", src, cfg.SrcVocab}, {"target", tgt, cfg.TgtVocab}} {
		if err := checkPermutation(p.ids, p.size); err != nil {
			return nil, fmt.Errorf("model: reordering the %s vocabulary: %w", p.name, err)
		}
	}
	return &Reordered{inner: m, src: src, tgt: tgt}, nil
}

// checkPermutation reports why ids is not a permutation of 0..n-1.
func checkPermutation(ids []int32, n int) error {
	if len(ids) != n {
		return fmt.Errorf("%d ids for a vocabulary of %d symbols", len(ids), n)
	}
	seen := make([]bool, n)
	for i, id := range ids {
		if id < 0 || int(id) >= n {
			return fmt.Errorf("id %d maps to %d, outside the vocabulary of %d symbols", i, id, n)
		}
		if seen[id] {
			return fmt.Errorf("id %d maps to %d, as an earlier id does", i, id)
		}
		seen[id] = true
	}
	return nil
}

// Inner is the wrapped model.
func (r *Reordered) Inner() Model { return r.inner }

// Config is the wrapped model's: the vocabulary sizes are the same.
func (r *Reordered) Config() Config { return r.inner.Config() }

// Params are the wrapped model's.
func (r *Reordered) Params() []*tensor.Tensor { return r.inner.Params() }

// Forward is not defined: a reordered model only decodes (train the model
// itself).
func (r *Reordered) Forward(*tensor.Graph, *batch.Batch) *tensor.Tensor {
	panic("model: a reordered model only decodes; train the model itself")
}

// Start encodes b's sources, mapped into the wrapped model's ids.
func (r *Reordered) Start(g *tensor.Graph, b *batch.Batch) (Decoder, error) {
	mb := *b
	mb.Src = mapIDs(r.src, b.Src)
	mb.TgtIn = mapIDs(r.tgt, b.TgtIn)
	mb.TgtOut = mapIDs(r.tgt, b.TgtOut)
	dec, err := r.inner.Start(g, &mb)
	if err != nil {
		return nil, err
	}
	return &reorderedDecoder{Decoder: dec, tgt: r.tgt}, nil
}

// mapIDs returns ids through m (nil for nil).
func mapIDs(m []int32, ids []int32) []int32 {
	if ids == nil {
		return nil
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}

// reorderedDecoder steps the wrapped model's decoder in its ids and
// returns its log-probabilities in the outer order. Attention is reported
// as the wrapped decoder reports it: positions are the same in any order
// of the symbols.
type reorderedDecoder struct {
	Decoder
	tgt    []int32 // outer id → inner id (V)
	tokens []int32 // (rows): the step's tokens in inner ids
	out    []float32
}

func (d *reorderedDecoder) Step(tokens []int32) ([]float32, error) {
	d.tokens = append(d.tokens[:0], tokens...)
	for i, t := range d.tokens {
		d.tokens[i] = d.tgt[t]
	}
	lp, err := d.Decoder.Step(d.tokens)
	if err != nil {
		return nil, err
	}
	v := len(d.tgt)
	if cap(d.out) < len(lp) {
		d.out = make([]float32, len(lp))
	}
	d.out = d.out[:len(lp)]
	for row := 0; row < len(lp)/v; row++ {
		in, out := lp[row*v:(row+1)*v], d.out[row*v:(row+1)*v] // (V) each
		for j, k := range d.tgt {
			out[j] = in[k]
		}
	}
	return d.out, nil
}

var _ search.State = (*reorderedDecoder)(nil)
