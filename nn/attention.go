package nn

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/tensor"
)

// AdditiveAttention is Bahdanau et al.'s (2014) alignment model:
// e_ij = vᵀ tanh(W·s_{i−1} + U·h_j), α_ij = softmax_j(e_ij),
// c_i = Σ_j α_ij h_j. U·h_j does not depend on the decoder step, so
// PrecomputeKeys computes it once per source sentence. As in the paper
// (and joeynmt), W, U and v have no biases.
type AdditiveAttention struct {
	Query *Linear        // W: decoder state → A, "<name>.query_proj"
	Key   *Linear        // U: annotation → A, "<name>.key_proj"
	V     *tensor.Tensor // v (A), "<name>.v"
}

// NewAdditiveAttention returns an additive attention from decoder states
// of queryDim and annotations of keyDim, with an alignment layer of attnDim.
func NewAdditiveAttention(name string, queryDim, keyDim, attnDim int, seed uint64) *AdditiveAttention {
	a := &AdditiveAttention{
		Query: NewLinear(Join(name, "query_proj"), queryDim, attnDim, false, seed),
		Key:   NewLinear(Join(name, "key_proj"), keyDim, attnDim, false, seed),
		V:     tensor.NewParam(Join(name, "v"), attnDim),
	}
	Uniform(a.V, 1/math.Sqrt(float64(attnDim)), seed)
	return a
}

// PrecomputeKeys returns U·h_j for the annotations (B, Tk, keyDim):
// (B, Tk, A), computed once per source and passed to every Forward.
func (a *AdditiveAttention) PrecomputeKeys(g *tensor.Graph, annotations *tensor.Tensor) *tensor.Tensor {
	return a.Key.Forward(g, annotations)
}

// Forward attends from the decoder state query (B, queryDim) over the
// precomputed keys (B, Tk, A); values (B, Tk, Dv) are the annotations.
// It returns the context (B, Dv) and the weights α (B, Tk) (0 at padding),
// which are also what qkv shows as the alignment.
func (a *AdditiveAttention) Forward(g *tensor.Graph, query, keys, values *tensor.Tensor, keyPad []bool) (context, weights *tensor.Tensor) {
	return g.AdditiveAttention(a.Query.Forward(g, query), keys, a.V, values, keyPad)
}

// ForwardShared is Forward for decoding, where query row r (a hypothesis)
// attends over batch row rowOf[r] of keys, values and keyPad, so a beam's
// hypotheses share their source (tensor.Graph.AdditiveAttentionShared).
func (a *AdditiveAttention) ForwardShared(g *tensor.Graph, query, keys, values *tensor.Tensor, keyPad []bool, rowOf []int) (context, weights *tensor.Tensor) {
	return g.AdditiveAttentionShared(a.Query.Forward(g, query), keys, a.V, values, keyPad, rowOf)
}

// Params returns W, U and v.
func (a *AdditiveAttention) Params() []*tensor.Tensor {
	return append(concatParams(a.Query, a.Key), a.V)
}

// MultiHeadAttention is the Transformer's multi-head attention (Vaswani et
// al. 2017, §3.2.2): MultiHead(Q, K, V) = Concat(head_1, …, head_h)·W^O,
// head_i = softmax(Q·W_i^Q (K·W_i^K)ᵀ/√d_k)·V·W_i^V, computed as
// torch.nn.MultiheadAttention does: one D×D projection each for Q, K and V
// whose output columns hold the heads side by side, the fused
// tensor.Graph.Attention, then the output projection.
type MultiHeadAttention struct {
	Q, K, V, Out *Linear // "<name>.q_proj", "k_proj", "v_proj", "out_proj"; (D, D) with bias
	Heads, Dim   int
	Dropout      float32 // on the attention probabilities while training, as torch's dropout argument

	qkv8 *fusedInt8 // Q, K and V's int8 weights side by side, built on first use
}

// fusedInt8 is the int8 weights (3D, D) and biases (3D) of Q, K and V.
type fusedInt8 struct {
	w    *kernels.Int8Matrix
	bias *tensor.Tensor
}

// ProjectQKV returns x's queries, keys and values, (…, D) each. With int8
// weights it is one product over Q, K and V side by side, so x is
// quantized once rather than three times; the results are the same.
func (m *MultiHeadAttention) ProjectQKV(g *tensor.Graph, x *tensor.Tensor) (q, k, v *tensor.Tensor) {
	if m.Q.Int8 == nil || m.K.Int8 == nil || m.V.Int8 == nil || m.Q.Bias == nil || m.K.Bias == nil || m.V.Bias == nil {
		return m.Q.Forward(g, x), m.K.Forward(g, x), m.V.Forward(g, x)
	}
	if m.qkv8 == nil {
		w, err := kernels.ConcatInt8(m.Q.Int8, m.K.Int8, m.V.Int8)
		if err != nil {
			panic(err) // the three are (D, D) by construction
		}
		b := append(append(append(make([]float32, 0, 3*m.Dim), m.Q.Bias.Data...), m.K.Bias.Data...), m.V.Bias.Data...)
		m.qkv8 = &fusedInt8{w: w, bias: tensor.FromData(b, 3*m.Dim)}
	}
	y := g.LinearInt8(x, m.qkv8.w, m.qkv8.bias) // (…, 3D)
	parts := g.SplitLast(y, 3)
	return parts[0], parts[1], parts[2]
}

// NewMultiHeadAttention returns multi-head attention over dim = d_model
// with heads heads (dim must be a multiple of heads).
func NewMultiHeadAttention(name string, dim, heads int, seed uint64) *MultiHeadAttention {
	if heads <= 0 || dim%heads != 0 {
		panic(fmt.Sprintf("nn.NewMultiHeadAttention: dimension %d is not a multiple of %d heads", dim, heads))
	}
	return &MultiHeadAttention{
		Q:     NewLinear(Join(name, "q_proj"), dim, dim, true, seed),
		K:     NewLinear(Join(name, "k_proj"), dim, dim, true, seed),
		V:     NewLinear(Join(name, "v_proj"), dim, dim, true, seed),
		Out:   NewLinear(Join(name, "out_proj"), dim, dim, true, seed),
		Heads: heads, Dim: dim,
	}
}

// Params returns the four projections' weights and biases.
func (m *MultiHeadAttention) Params() []*tensor.Tensor {
	return concatParams(m.Q, m.K, m.V, m.Out)
}

// KVCache holds projected keys and values, K and V (B, T, D): for
// cross-attention, the source's, computed once per source (ProjectKV); for
// decoder self-attention, every position decoded so far, one step appended
// at a time (Step). A zero KVCache is an empty one.
type KVCache struct {
	K, V *tensor.Tensor
}

// Len is the number of cached positions.
func (c *KVCache) Len() int {
	if c.K == nil {
		return 0
	}
	return c.K.Shape[1]
}

// Reorder keeps rows[i] of the batch at position i (beam search reorders
// and duplicates hypotheses this way); rows may repeat.
func (c *KVCache) Reorder(g *tensor.Graph, rows []int32) {
	if c.K == nil {
		return
	}
	T, D := c.K.Shape[1], c.K.Shape[2]
	c.K = g.Reshape(g.Embedding(g.Reshape(c.K, -1, T*D), rows), len(rows), T, D)
	c.V = g.Reshape(g.Embedding(g.Reshape(c.V, -1, T*D), rows), len(rows), T, D)
}

// ProjectKV projects a source src (B, Tk, D) to keys and values once, for
// cross-attention from every decoder step (or every decoder position).
func (m *MultiHeadAttention) ProjectKV(g *tensor.Graph, src *tensor.Tensor) *KVCache {
	return &KVCache{K: m.K.Forward(g, src), V: m.V.Forward(g, src)}
}

// Attend runs attention from query (B, Tq, D) over already projected keys
// and values; keyPad (B, Tk) marks padded keys (true), causal masks future
// positions (see tensor.Graph.Attention). It returns the output (B, Tq, D)
// and the probabilities (B, H, Tq, Tk), valid until the graph is reset.
func (m *MultiHeadAttention) Attend(g *tensor.Graph, query *tensor.Tensor, kv *KVCache, keyPad []bool, causal bool) (*tensor.Tensor, []float32) {
	q := m.Q.Forward(g, query)
	a := g.AttentionDropout(q, kv.K, kv.V, m.Heads, keyPad, causal, m.Dropout)
	return m.Out.Forward(g, a), tensor.AttentionProbs(a)
}

// Forward is attention from query (B, Tq, D) over src (B, Tk, D): self-
// attention when src is query, encoder-decoder attention when src is the
// encoder output. See Attend for keyPad, causal and the results.
func (m *MultiHeadAttention) Forward(g *tensor.Graph, query, src *tensor.Tensor, keyPad []bool, causal bool) (*tensor.Tensor, []float32) {
	if query == src && m.Q.Int8 != nil { // self-attention in int8: one product for Q, K and V
		q, k, v := m.ProjectQKV(g, query)
		a := g.AttentionDropout(q, k, v, m.Heads, keyPad, causal, m.Dropout)
		return m.Out.Forward(g, a), tensor.AttentionProbs(a)
	}
	return m.Attend(g, query, m.ProjectKV(g, src), keyPad, causal)
}

// ForwardMean is Forward over src (cross-attention, no causal mask), also
// returning the attention probabilities averaged over the heads, mean (B,
// Tq, Tk), as a tensor gradients flow through into the query and key
// projections (tensor.Graph.AttentionHeadMean): the copy distribution of
// copy attention.
func (m *MultiHeadAttention) ForwardMean(g *tensor.Graph, query, src *tensor.Tensor, keyPad []bool) (out *tensor.Tensor, probs []float32, mean *tensor.Tensor) {
	kv := m.ProjectKV(g, src)
	a := g.AttentionDropout(m.Q.Forward(g, query), kv.K, kv.V, m.Heads, keyPad, false, m.Dropout)
	return m.Out.Forward(g, a), tensor.AttentionProbs(a), g.AttentionHeadMean(a)
}

// Step is incremental causal self-attention: x (B, Tq, D) holds the newest
// Tq positions (usually 1); their keys and values are appended to cache,
// and each attends to every cached position up to itself. The result
// equals Forward over the whole prefix with causal set, at those
// positions. keyPad, if not nil, covers the whole cache after appending
// (B, cache.Len()).
func (m *MultiHeadAttention) Step(g *tensor.Graph, x *tensor.Tensor, cache *KVCache, keyPad []bool) (*tensor.Tensor, []float32) {
	k, v := m.K.Forward(g, x), m.V.Forward(g, x)
	if cache.K == nil {
		cache.K, cache.V = k, v
	} else {
		cache.K, cache.V = g.Concat(1, cache.K, k), g.Concat(1, cache.V, v)
	}
	return m.Attend(g, x, cache, keyPad, true)
}
