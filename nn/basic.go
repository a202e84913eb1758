package nn

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/tensor"
)

// Linear is the affine map y = x·Wᵀ + b of torch.nn.Linear.
//
// A quantized model's Linear also holds its weight in int8 (Int8, one
// scale per output channel): Forward then computes with it, for inference
// only, and Weight holds the dequantized values for anything that reads
// the weights themselves.
type Linear struct {
	Weight *tensor.Tensor // (Out, In), "<name>.weight"
	Bias   *tensor.Tensor // (Out) or nil, "<name>.bias"
	Int8   *kernels.Int8Matrix
}

// NewLinear returns a Linear from in to out features, Xavier-uniform
// weights and zero bias (no bias when bias is false).
func NewLinear(name string, in, out int, bias bool, seed uint64) *Linear {
	l := &Linear{Weight: tensor.NewParam(Join(name, "weight"), out, in)}
	XavierUniform(l.Weight, seed)
	if bias {
		l.Bias = tensor.NewParam(Join(name, "bias"), out)
	}
	return l
}

// Forward maps x (…, In) to (…, Out).
func (l *Linear) Forward(g *tensor.Graph, x *tensor.Tensor) *tensor.Tensor {
	if l.Int8 != nil {
		return g.LinearInt8(x, l.Int8, l.Bias)
	}
	return g.Linear(x, l.Weight, l.Bias)
}

// SetInt8 makes l compute with the int8 weight q (N = Out, K = In) and
// sets Weight to its dequantized values.
func (l *Linear) SetInt8(q *kernels.Int8Matrix) error {
	if q.N != l.Weight.Shape[0] || q.K != l.Weight.Cols() {
		return fmt.Errorf("nn: int8 weight (%d, %d) for %s of shape %v", q.N, q.K, l.Weight.Name, l.Weight.Shape)
	}
	l.Int8 = q
	copy(l.Weight.Data, q.Dequantize())
	return nil
}

// Params returns the weight and the bias if any.
func (l *Linear) Params() []*tensor.Tensor { return params(l.Weight, l.Bias) }

// Embedding maps token ids to vectors.
//
// The padding row (Pad ≥ 0) starts at zero. It also stays there in qkv's
// models without special treatment: padded positions are masked out of
// every attention and of the loss, and padded LSTM steps carry the state,
// so no gradient reaches the row.
type Embedding struct {
	Weight *tensor.Tensor // (V, D), "<name>.weight"
	Pad    int32          // padding id, or −1
}

// NewEmbedding returns an embedding of vocab ids in dim dimensions drawn
// from N(0, dim^−1/2), with row pad (if pad ≥ 0) set to 0.
func NewEmbedding(name string, vocab, dim int, pad int32, seed uint64) *Embedding {
	e := &Embedding{Weight: tensor.NewParam(Join(name, "weight"), vocab, dim), Pad: pad}
	Normal(e.Weight, 1/math.Sqrt(float64(dim)), seed)
	if pad >= 0 {
		clear(e.Weight.Data[int(pad)*dim : (int(pad)+1)*dim])
	}
	return e
}

// Forward looks up ids laid out as shape (e.g. B, T); the result is
// (shape…, D).
func (e *Embedding) Forward(g *tensor.Graph, ids []int32, shape ...int) *tensor.Tensor {
	return g.Embedding(e.Weight, ids, shape...)
}

// Params returns the table.
func (e *Embedding) Params() []*tensor.Tensor { return params(e.Weight) }

// LayerNorm is torch.nn.LayerNorm over the last axis, with gain and bias.
type LayerNorm struct {
	Weight, Bias *tensor.Tensor // (D), "<name>.weight", "<name>.bias"
	Eps          float32
}

// NewLayerNorm returns a layer norm over dim features (gain 1, bias 0).
func NewLayerNorm(name string, dim int, eps float32) *LayerNorm {
	l := &LayerNorm{Weight: tensor.NewParam(Join(name, "weight"), dim), Bias: tensor.NewParam(Join(name, "bias"), dim), Eps: eps}
	for i := range l.Weight.Data {
		l.Weight.Data[i] = 1
	}
	return l
}

// Forward normalizes x (…, D).
func (l *LayerNorm) Forward(g *tensor.Graph, x *tensor.Tensor) *tensor.Tensor {
	return g.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}

// Params returns the gain and the bias.
func (l *LayerNorm) Params() []*tensor.Tensor { return params(l.Weight, l.Bias) }

// Dropout zeroes activations with probability P while the graph trains.
type Dropout struct{ P float32 }

// Forward applies dropout (the identity when the graph does not train).
func (d Dropout) Forward(g *tensor.Graph, x *tensor.Tensor) *tensor.Tensor {
	return g.Dropout(x, d.P)
}

// Params returns nothing: dropout has no parameters.
func (Dropout) Params() []*tensor.Tensor { return nil }

// FeedForward is the Transformer's position-wise feed-forward network
// (Vaswani et al. 2017, §3.3): FFN(x) = max(0, x·W₁ + b₁)·W₂ + b₂, with
// dropout after the ReLU (as in tensor2tensor and torch.nn.Transformer).
// GELU (Hendrycks & Gimpel 2016, as in BERT) may replace the ReLU.
type FeedForward struct {
	Linear1 *Linear // d_model → d_ff, "<name>.linear1"
	Linear2 *Linear // d_ff → d_model, "<name>.linear2"
	Dropout Dropout
	GELU    bool // GELU instead of ReLU
}

// NewFeedForward returns an FFN with inner size dFF.
func NewFeedForward(name string, dModel, dFF int, dropout float32, seed uint64) *FeedForward {
	return &FeedForward{
		Linear1: NewLinear(Join(name, "linear1"), dModel, dFF, true, seed),
		Linear2: NewLinear(Join(name, "linear2"), dFF, dModel, true, seed),
		Dropout: Dropout{P: dropout},
	}
}

// Forward maps x (…, d_model) to (…, d_model).
func (f *FeedForward) Forward(g *tensor.Graph, x *tensor.Tensor) *tensor.Tensor {
	h := f.Linear1.Forward(g, x)
	if f.GELU {
		h = g.GELU(h)
	} else {
		h = g.ReLU(h)
	}
	return f.Linear2.Forward(g, f.Dropout.Forward(g, h))
}

// Params returns both layers' parameters.
func (f *FeedForward) Params() []*tensor.Tensor { return concatParams(f.Linear1, f.Linear2) }

// SinusoidalPositions is the Transformer's fixed positional encoding
// (Vaswani et al. 2017, §3.5):
//
//	PE(pos, 2i)   = sin(pos / 10000^(2i/d))
//	PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
//
// It has no parameters. Rows are computed once up to MaxLen and on demand
// beyond.
type SinusoidalPositions struct {
	Dim, MaxLen int
	table       []float32 // (MaxLen, Dim)
}

// NewSinusoidalPositions precomputes maxLen positions of dim dimensions.
func NewSinusoidalPositions(dim, maxLen int) *SinusoidalPositions {
	p := &SinusoidalPositions{Dim: dim, MaxLen: maxLen, table: make([]float32, maxLen*dim)}
	for pos := 0; pos < maxLen; pos++ {
		p.row(pos, p.table[pos*dim:(pos+1)*dim])
	}
	return p
}

// row writes PE(pos, ·) into dst (Dim).
func (p *SinusoidalPositions) row(pos int, dst []float32) {
	for i := 0; i+1 <= p.Dim; i += 2 {
		// div = exp(2i·(−ln 10000/d)) as in the paper's formula
		div := math.Exp(float64(i) * (-math.Log(10000) / float64(p.Dim)))
		dst[i] = float32(math.Sin(float64(pos) * div))
		if i+1 < p.Dim {
			dst[i+1] = float32(math.Cos(float64(pos) * div))
		}
	}
}

// Rows returns the encodings of positions offset … offset+n−1, (n, Dim),
// in dst (allocated if nil).
func (p *SinusoidalPositions) Rows(offset, n int, dst []float32) []float32 {
	if dst == nil {
		dst = make([]float32, n*p.Dim)
	}
	dst = dst[:n*p.Dim]
	for k := 0; k < n; k++ {
		pos := offset + k
		if pos < p.MaxLen {
			copy(dst[k*p.Dim:(k+1)*p.Dim], p.table[pos*p.Dim:])
		} else {
			p.row(pos, dst[k*p.Dim:(k+1)*p.Dim])
		}
	}
	return dst
}

// Forward adds the encodings of positions offset … offset+T−1 to
// x (B, T, Dim); offset is the number of positions already decoded when
// decoding step by step, 0 otherwise.
func (p *SinusoidalPositions) Forward(g *tensor.Graph, x *tensor.Tensor, offset int) *tensor.Tensor {
	if len(x.Shape) != 3 || x.Shape[2] != p.Dim {
		panic(fmt.Sprintf("nn.SinusoidalPositions: input %v is not (B, T, %d)", x.Shape, p.Dim))
	}
	T := x.Shape[1]
	pe := g.Zeros(T, p.Dim) // a constant from the graph's arena
	p.Rows(offset, T, pe.Data)
	return g.Add(x, pe)
}

// Params returns nothing: the encoding is fixed.
func (*SinusoidalPositions) Params() []*tensor.Tensor { return nil }
