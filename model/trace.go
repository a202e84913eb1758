package model

import (
	"errors"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/tensor"
)

// Kinds of the Transformer's attention, as AttentionCall.Kind names them.
const (
	KindEncSelf = "enc-self" // encoder self-attention: source over source
	KindDecSelf = "dec-self" // masked decoder self-attention: target over earlier target
	KindCross   = "cross"    // encoder-decoder attention: target over source
)

// AttentionCall is what one multi-head attention sub-layer was given and
// gave back during a traced forward pass: enough to recompute it by hand.
// The tensors belong to the graph of the pass: read them before it is
// reset.
type AttentionCall struct {
	Kind   string                 // KindEncSelf, KindDecSelf or KindCross
	Layer  int                    // 0-based, within the encoder or the decoder
	Attn   *nn.MultiHeadAttention // the module, with its trained weights
	Query  *tensor.Tensor         // (B, Tq, D): what the query projection sees (after norm1/norm2 in a pre-norm model, the residual stream in a post-norm one)
	Src    *tensor.Tensor         // (B, Tk, D): what the key and value projections see
	Pad    []bool                 // (B, Tk) padded keys, or nil
	Causal bool                   // future keys masked (decoder self-attention)
	Out    *tensor.Tensor         // (B, Tq, D): the sub-layer's output, after the output projection (before dropout and the residual)
	Probs  []float32              // (B, H, Tq, Tk): the attention weights
}

// Tracer receives each attention call of a traced forward pass, in the
// order the pass makes them.
type Tracer func(AttentionCall)

func (t Tracer) call(kind string, layer int, a *nn.MultiHeadAttention, query, src *tensor.Tensor, pad []bool, causal bool, out *tensor.Tensor, probs []float32) {
	if t == nil {
		return
	}
	t(AttentionCall{Kind: kind, Layer: layer, Attn: a, Query: query, Src: src, Pad: pad, Causal: causal, Out: out, Probs: probs})
}

// Trace runs the Transformer's teacher-forced forward pass (Forward: the
// encoder over b's sources, the decoder over b.TgtIn) on g and calls tr
// with every attention sub-layer's inputs and outputs. The graph should
// not train (no dropout) for the numbers to be the inference ones. It
// returns the logits (B·T, V) as Forward does.
func Trace(m Model, g *tensor.Graph, b *batch.Batch, tr Tracer) (*tensor.Tensor, error) {
	t, ok := m.(*Transformer)
	if !ok {
		return nil, errors.New("model: only the Transformer has query, key and value projections to trace")
	}
	if err := t.checkLengths(b); err != nil {
		return nil, err
	}
	if b.T > t.cfg.MaxLen {
		return nil, errors.New("model: the target is longer than the model's positions")
	}
	return t.forward(g, b, tr), nil
}
