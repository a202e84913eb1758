package model

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/tensor"
)

// Transformer is the encoder-decoder of Vaswani et al. 2017 (§3): N encoder
// layers of self-attention and feed-forward, N decoder layers of masked
// self-attention, encoder-decoder attention and feed-forward, each
// sub-layer wrapped as LayerNorm(x + Dropout(Sublayer(x))) ("post-norm", the
// paper's §5.4) or, with PreNorm, x + Dropout(Sublayer(LayerNorm(x))) and a
// final LayerNorm on each stack (Wang et al. 2019). Embeddings are scaled
// by √d_model and summed with sinusoidal positions (§3.4, §3.5).
//
// With copy attention (cfg.Copy), the output distribution mixes the
// vocabulary softmax P_vocab with copying source tokens, as fairseq's
// transformer_pointer_generator (Enarvi et al. 2020) carries See et al.'s
// pointer-generator over to the Transformer:
//
//	p_gen = σ(w_c·[c_t; y_t; x_t] + b_c)
//	P(w)  = p_gen·P_vocab(w) + (1 − p_gen)·Σ_{i: x_i = w} a_ti
//
// where a_t is the last decoder layer's cross-attention averaged over its
// heads, c_t that sub-layer's output (the context it hands to the
// residual stream), y_t the decoder's output and x_t its input (the
// embedded previous token with its position). All heads, not one
// dedicated alignment head (fairseq's default --alignment-heads 1): the
// copy loss then shapes the mean without forcing one head to point
// alone, and the copy distribution is exactly what the attention pictures
// show for that layer, averaged.
type Transformer struct {
	cfg    Config
	srcEmb *nn.Embedding
	tgtEmb *nn.Embedding // the same as srcEmb when ShareEmb
	pos    *nn.SinusoidalPositions
	enc    []*encoderLayer
	dec    []*decoderLayer
	encLN  *nn.LayerNorm // final norms: pre-norm, or post-norm with FinalNorm
	decLN  *nn.LayerNorm
	out    *nn.Linear // nil when TieOutput: logits = y·Embᵀ
	// copyGate is copy attention's w_c, b_c: [context; output; input]
	// (3·d_model) → 1; nil without copy attention.
	copyGate *nn.Linear
	drop     nn.Dropout
	params   []*tensor.Tensor
}

type encoderLayer struct {
	self     *nn.MultiHeadAttention
	ff       *nn.FeedForward
	ln1, ln2 *nn.LayerNorm
}

type decoderLayer struct {
	self, cross   *nn.MultiHeadAttention
	ff            *nn.FeedForward
	ln1, ln2, ln3 *nn.LayerNorm
}

// layerNormEps is torch.nn.LayerNorm's default ε.
const layerNormEps = 1e-5

func newTransformer(cfg Config) *Transformer {
	d, s := cfg.DModel, cfg.Seed
	m := &Transformer{cfg: cfg, drop: nn.Dropout{P: cfg.Dropout}, pos: nn.NewSinusoidalPositions(d, cfg.MaxLen)}
	if cfg.ShareEmb {
		m.srcEmb = nn.NewEmbedding("embed", cfg.SrcVocab, d, batch.PAD, s)
		m.tgtEmb = m.srcEmb
	} else {
		m.srcEmb = nn.NewEmbedding("encoder.embed", cfg.SrcVocab, d, batch.PAD, s)
		m.tgtEmb = nn.NewEmbedding("decoder.embed", cfg.TgtVocab, d, batch.PAD, s)
	}
	for i := 0; i < cfg.EncLayers; i++ {
		p := nn.Join("encoder.layers", i)
		m.enc = append(m.enc, &encoderLayer{
			self: newAttention(nn.Join(p, "self_attn"), cfg),
			ff:   newFeedForward(nn.Join(p, "ff"), cfg),
			ln1:  nn.NewLayerNorm(nn.Join(p, "norm1"), d, layerNormEps),
			ln2:  nn.NewLayerNorm(nn.Join(p, "norm2"), d, layerNormEps),
		})
	}
	for i := 0; i < cfg.DecLayers; i++ {
		p := nn.Join("decoder.layers", i)
		m.dec = append(m.dec, &decoderLayer{
			self:  newAttention(nn.Join(p, "self_attn"), cfg),
			cross: newAttention(nn.Join(p, "cross_attn"), cfg),
			ff:    newFeedForward(nn.Join(p, "ff"), cfg),
			ln1:   nn.NewLayerNorm(nn.Join(p, "norm1"), d, layerNormEps),
			ln2:   nn.NewLayerNorm(nn.Join(p, "norm2"), d, layerNormEps),
			ln3:   nn.NewLayerNorm(nn.Join(p, "norm3"), d, layerNormEps),
		})
	}
	if cfg.PreNorm || cfg.FinalNorm {
		m.encLN = nn.NewLayerNorm("encoder.norm", d, layerNormEps)
		m.decLN = nn.NewLayerNorm("decoder.norm", d, layerNormEps)
	}
	if !cfg.TieOutput {
		m.out = nn.NewLinear("decoder.out", d, cfg.TgtVocab, true, s)
	}
	if cfg.Copy {
		m.copyGate = nn.NewLinear("decoder.copy_gate", 3*d, 1, true, s)
	}
	mods := []nn.Module{m.srcEmb}
	if !cfg.ShareEmb {
		mods = append(mods, m.tgtEmb)
	}
	for _, l := range m.enc {
		mods = append(mods, l.self, l.ff, l.ln1, l.ln2)
	}
	for _, l := range m.dec {
		mods = append(mods, l.self, l.cross, l.ff, l.ln1, l.ln2, l.ln3)
	}
	if m.encLN != nil {
		mods = append(mods, m.encLN, m.decLN)
	}
	if m.out != nil {
		mods = append(mods, m.out)
	}
	if m.copyGate != nil {
		mods = append(mods, m.copyGate)
	}
	params, err := nn.Collect(mods...)
	if err != nil {
		panic(err) // names are built above; a clash is a bug here
	}
	m.params = params
	return m
}

func newAttention(name string, cfg Config) *nn.MultiHeadAttention {
	a := nn.NewMultiHeadAttention(name, cfg.DModel, cfg.Heads, cfg.Seed)
	a.Dropout = cfg.AttnDropout
	return a
}

func newFeedForward(name string, cfg Config) *nn.FeedForward {
	ff := nn.NewFeedForward(name, cfg.DModel, cfg.DFF, cfg.Dropout, cfg.Seed)
	ff.GELU = cfg.GELU
	return ff
}

// Config returns the configuration.
func (m *Transformer) Config() Config { return m.cfg }

// Linears returns every Linear layer, which qkv quantize turns to int8:
// the attention projections, the feed-forward layers and the output
// projection (unless it is the tied target embedding, which stays float).
func (m *Transformer) Linears() []*nn.Linear {
	var ls []*nn.Linear
	for _, l := range m.enc {
		ls = append(ls, l.self.Q, l.self.K, l.self.V, l.self.Out, l.ff.Linear1, l.ff.Linear2)
	}
	for _, l := range m.dec {
		ls = append(ls, l.self.Q, l.self.K, l.self.V, l.self.Out, l.cross.Q, l.cross.K, l.cross.V, l.cross.Out, l.ff.Linear1, l.ff.Linear2)
	}
	if m.out != nil {
		ls = append(ls, m.out)
	}
	return ls
}

// Params returns every trainable tensor.
func (m *Transformer) Params() []*tensor.Tensor { return m.params }

// embed returns Dropout(Emb(ids)·√d + PE(offset …)) for ids (B, T).
func (m *Transformer) embed(g *tensor.Graph, e *nn.Embedding, ids []int32, B, T, offset int) *tensor.Tensor {
	x := g.Scale(e.Forward(g, ids, B, T), float32(math.Sqrt(float64(m.cfg.DModel))))
	return m.drop.Forward(g, m.pos.Forward(g, x, offset))
}

// sublayer applies one residual sub-layer in the configured order.
func (m *Transformer) sublayer(g *tensor.Graph, x *tensor.Tensor, ln *nn.LayerNorm, f func(*tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	if m.cfg.PreNorm {
		return g.AddDropout(x, f(ln.Forward(g, x)), m.cfg.Dropout)
	}
	return ln.Forward(g, g.AddDropout(x, f(x), m.cfg.Dropout))
}

// encode runs the encoder over b's sources: memory (B, S, D). When probs is
// not nil, each layer's self-attention probabilities (B, H, S, S) are
// appended to it.
func (m *Transformer) encode(g *tensor.Graph, b *batch.Batch, srcPad []bool, probs *[][]float32) *tensor.Tensor {
	return m.encodeTraced(g, b, srcPad, probs, nil, nil)
}

// encodeTraced is encode, reporting each self-attention call to tr (if
// not nil). between, if not nil, is given each sublayer's output and returns
// the next sublayer's input (Start uses it to free the sublayer's
// intermediates).
func (m *Transformer) encodeTraced(g *tensor.Graph, b *batch.Batch, srcPad []bool, probs *[][]float32, tr Tracer, between func(*tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	x := m.embed(g, m.srcEmb, b.Src, b.B, b.S, 0)
	for li, l := range m.enc {
		if li > 0 && between != nil {
			x = between(x)
		}
		x = m.sublayer(g, x, l.ln1, func(h *tensor.Tensor) *tensor.Tensor {
			out, p := l.self.Forward(g, h, h, srcPad, false)
			if probs != nil {
				*probs = append(*probs, p)
			}
			tr.call(KindEncSelf, li, l.self, h, h, srcPad, false, out, p)
			return out
		})
		if between != nil {
			x = between(x)
		}
		x = m.sublayer(g, x, l.ln2, func(h *tensor.Tensor) *tensor.Tensor { return l.ff.Forward(g, h) })
	}
	if m.encLN != nil {
		x = m.encLN.Forward(g, x)
	}
	return x
}

// logits projects decoder states (…, D) to the target vocabulary.
func (m *Transformer) logits(g *tensor.Graph, y *tensor.Tensor) *tensor.Tensor {
	if m.out == nil {
		return g.Linear(y, m.tgtEmb.Weight, nil)
	}
	return m.out.Forward(g, y)
}

// Forward returns the logits (B·T, V) of every target position; with copy
// attention, the log-probabilities of the mixed distribution.
func (m *Transformer) Forward(g *tensor.Graph, b *batch.Batch) *tensor.Tensor {
	return m.forward(g, b, nil)
}

// forward is Forward, reporting every attention call to tr (if not nil).
func (m *Transformer) forward(g *tensor.Graph, b *batch.Batch, tr Tracer) *tensor.Tensor {
	srcPad := b.SrcPad()
	mem := m.encodeTraced(g, b, srcPad, nil, tr, nil)
	y := m.embed(g, m.tgtEmb, b.TgtIn, b.B, b.T, 0)
	input := y                       // x_t, for the copy gate
	var ctx, copyAttn *tensor.Tensor // the last layer's cross-attention output and head mean
	for li, l := range m.dec {
		y = m.sublayer(g, y, l.ln1, func(h *tensor.Tensor) *tensor.Tensor {
			out, p := l.self.Forward(g, h, h, nil, true)
			tr.call(KindDecSelf, li, l.self, h, h, nil, true, out, p)
			return out
		})
		y = m.sublayer(g, y, l.ln2, func(h *tensor.Tensor) *tensor.Tensor {
			if m.copyGate != nil && li == len(m.dec)-1 {
				out, p, mean := l.cross.ForwardMean(g, h, mem, srcPad)
				tr.call(KindCross, li, l.cross, h, mem, srcPad, false, out, p)
				ctx, copyAttn = out, mean
				return out
			}
			out, p := l.cross.Forward(g, h, mem, srcPad, false)
			tr.call(KindCross, li, l.cross, h, mem, srcPad, false, out, p)
			return out
		})
		y = m.sublayer(g, y, l.ln3, func(h *tensor.Tensor) *tensor.Tensor { return l.ff.Forward(g, h) })
	}
	if m.decLN != nil {
		y = m.decLN.Forward(g, y)
	}
	N := b.B * b.T
	logits := m.logits(g, g.Reshape(y, N, m.cfg.DModel))
	if m.copyGate == nil {
		return logits
	}
	gate := g.Reshape(m.copyGate.Forward(g, g.Concat(2, ctx, y, input)), N, 1) // (B, T, 1): scores of p_gen
	return g.CopyMix(logits, gate, g.Reshape(copyAttn, N, b.S), b.Src, outputRows(b.B, b.T))
}

// checkLengths rejects sources the positional table cannot hold.
func (m *Transformer) checkLengths(b *batch.Batch) error {
	if b.S > m.cfg.MaxLen {
		return fmt.Errorf("model: a source of %d tokens is longer than the model's %d positions", b.S, m.cfg.MaxLen)
	}
	if b.S == 0 {
		return fmt.Errorf("model: empty source")
	}
	return nil
}
