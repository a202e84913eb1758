package tensor

import (
	"fmt"
	"github.com/qkv-dev/qkv/kernels"
)

// Additive attention, fused (Bahdanau, Cho & Bengio 2014, §3.1 and
// appendix A.1.2):
//
//	e_j = vᵀ tanh(W·s + U·h_j)     α = softmax_j(e)     c = Σ_j α_j h_j
//
// U·h_j does not depend on the decoder step, so a layer computes the keys
// U·h_j once per source sentence and every decoder step passes only its
// query W·s. The op saves tanh(W·s + U·h_j) (B, Tk, A) for backward.

// AdditiveAttentionWeights returns the attention weights α (B, Tk):
// query (B, A) = W·s, keys (B, Tk, A) = U·h_j, v (A); keyPad (B, Tk), or
// nil, marks padded source positions (true), which get weight 0. A row with
// no unpadded key gets all zeros.
func (g *Graph) AdditiveAttentionWeights(query, keys, v *Tensor, keyPad []bool) *Tensor {
	if len(query.Shape) != 2 || len(keys.Shape) != 3 || len(v.Shape) != 1 ||
		keys.Shape[0] != query.Shape[0] || keys.Shape[2] != query.Shape[1] || v.Shape[0] != query.Shape[1] {
		panic(fmt.Sprintf("tensor.AdditiveAttentionWeights: want query (B,A), keys (B,Tk,A), v (A); got %v, %v, %v", query.Shape, keys.Shape, v.Shape))
	}
	B, Tk, A := keys.Shape[0], keys.Shape[1], keys.Shape[2]
	if keyPad != nil && len(keyPad) != B*Tk {
		panic(fmt.Sprintf("tensor.AdditiveAttentionWeights: keyPad has %d entries, want B·Tk = %d", len(keyPad), B*Tk))
	}
	out := g.newTensor(g.anyNeedsGrad(query, keys, v), B, Tk)
	// tanh(W·s + U·h_j), 0 where padded: kept for backward, else one row of scratch
	var th []float32
	if out.needsGrad {
		th = g.floats.alloc(B * Tk * A)
	} else {
		th = g.floats.alloc(A)
	}
	for b := 0; b < B; b++ {
		var pad []bool
		if keyPad != nil {
			pad = keyPad[b*Tk : (b+1)*Tk]
		}
		rowTh := th
		if out.needsGrad {
			rowTh = th[b*Tk*A : (b+1)*Tk*A]
		}
		additiveWeightsRow(out.Data[b*Tk:(b+1)*Tk], query.Data[b*A:(b+1)*A], keys.Data[b*Tk*A:(b+1)*Tk*A], v.Data, pad, rowTh)
	}
	if out.needsGrad {
		out.saved = th
	}
	g.record(out, additiveAttentionWeightsBackward, query, keys, v)
	return out
}

// additiveWeightsRow sets w (Tk) to one query's weights α_j = softmax_j(vᵀ
// tanh(q + k_j)) over keys (Tk, A), 0 where pad (nil for none) is set. th
// receives tanh(q + k_j), zeros where padded: all Tk rows when it holds
// Tk·A values (kept for backward), else it is one row of scratch.
func additiveWeightsRow(w, q, keys, v []float32, pad []bool, th []float32) {
	A := len(q)
	keep := len(th) == len(keys)
	for j := range w {
		t := th[:A]
		if keep {
			t = th[j*A : (j+1)*A]
		}
		if pad != nil && pad[j] {
			clear(t)
			w[j] = 0
			continue
		}
		kernels.Add(t, q, keys[j*A:(j+1)*A])
		kernels.Tanh(t, t)
		w[j] = kernels.Dot(v, t)
	}
	attnSoftmaxRow(w, pad)
}

// additiveAttentionWeightsBackward differentiates α = softmax(e),
// e_j = Σ_a v_a t_ja, t_ja = tanh(q_a + k_ja):
//
//	de_j  = α_j (dα_j − Σ_i α_i dα_i)     (0 where padded: α_j = 0)
//	dv_a += Σ_j de_j t_ja
//	du_ja = de_j v_a (1 − t_ja²);  dk_ja += du_ja;  dq_a += Σ_j du_ja
func additiveAttentionWeightsBackward(_ *Graph, out *Tensor) {
	query, keys, v := out.in[0], out.in[1], out.in[2]
	B, Tk, A := keys.Shape[0], keys.Shape[1], keys.Shape[2]
	th := out.saved
	for b := 0; b < B; b++ {
		w, dw := out.Data[b*Tk:(b+1)*Tk], out.Grad[b*Tk:(b+1)*Tk]
		var dot float32
		for j, wj := range w {
			dot += wj * dw[j]
		}
		for j, wj := range w {
			de := wj * (dw[j] - dot)
			if de == 0 {
				continue
			}
			t := th[(b*Tk+j)*A : (b*Tk+j+1)*A]
			if v.needsGrad {
				axpy(de, t, v.Grad)
			}
			if !query.needsGrad && !keys.needsGrad {
				continue
			}
			for a, x := range t {
				du := de * v.Data[a] * (1 - x*x)
				if keys.needsGrad {
					keys.Grad[(b*Tk+j)*A+a] += du
				}
				if query.needsGrad {
					query.Grad[b*A+a] += du
				}
			}
		}
	}
}

// AdditiveAttention returns the context c (B, Dv) = Σ_j α_j values_j and
// the weights α (B, Tk) of AdditiveAttentionWeights; values (B, Tk, Dv) are
// the annotations h_j.
func (g *Graph) AdditiveAttention(query, keys, v, values *Tensor, keyPad []bool) (context, weights *Tensor) {
	B, Tk := keys.Shape[0], keys.Shape[1]
	if len(values.Shape) != 3 || values.Shape[0] != B || values.Shape[1] != Tk {
		panic(fmt.Sprintf("tensor.AdditiveAttention: values %v are not (%d, %d, Dv)", values.Shape, B, Tk))
	}
	weights = g.AdditiveAttentionWeights(query, keys, v, keyPad)
	// c_b = α_b·values_b: (1, Tk)·(Tk, Dv)
	c := g.BatchedMatMul(g.Reshape(weights, B, 1, Tk), values, false, false)
	return g.Reshape(c, B, values.Shape[2]), weights
}

// AdditiveAttentionShared is AdditiveAttention for decoding, where several
// query rows (a beam's hypotheses) attend over the same source: query row r
// (R, A) attends over keys (B, Tk, A), values (B, Tk, Dv) and keyPad
// (B·Tk, or nil) at batch row rowOf[r], so the sources are never copied per
// hypothesis. It returns the context (R, Dv) and the weights (R, Tk). It
// records no gradient and panics if an input needs one: training uses
// AdditiveAttention.
func (g *Graph) AdditiveAttentionShared(query, keys, v, values *Tensor, keyPad []bool, rowOf []int) (context, weights *Tensor) {
	if g.anyNeedsGrad(query, keys, v, values) {
		panic("tensor.AdditiveAttentionShared: an input needs a gradient (it is for decoding)")
	}
	if len(query.Shape) != 2 || len(keys.Shape) != 3 || len(v.Shape) != 1 || len(values.Shape) != 3 ||
		keys.Shape[2] != query.Shape[1] || v.Shape[0] != query.Shape[1] ||
		values.Shape[0] != keys.Shape[0] || values.Shape[1] != keys.Shape[1] {
		panic(fmt.Sprintf("tensor.AdditiveAttentionShared: want query (R,A), keys (B,Tk,A), v (A), values (B,Tk,Dv); got %v, %v, %v, %v", query.Shape, keys.Shape, v.Shape, values.Shape))
	}
	R, A := query.Shape[0], query.Shape[1]
	B, Tk, Dv := keys.Shape[0], keys.Shape[1], values.Shape[2]
	if len(rowOf) != R {
		panic(fmt.Sprintf("tensor.AdditiveAttentionShared: %d row indices for %d query rows", len(rowOf), R))
	}
	if keyPad != nil && len(keyPad) != B*Tk {
		panic(fmt.Sprintf("tensor.AdditiveAttentionShared: keyPad has %d entries, want B·Tk = %d", len(keyPad), B*Tk))
	}
	weights = g.newTensor(false, R, Tk)
	context = g.newTensor(false, R, Dv)
	clear(context.Data)
	t := g.floats.alloc(A)
	for r, b := range rowOf {
		if b < 0 || b >= B {
			panic(fmt.Sprintf("tensor.AdditiveAttentionShared: row %d maps to batch row %d of %d", r, b, B))
		}
		qr := query.Data[r*A : (r+1)*A]
		w := weights.Data[r*Tk : (r+1)*Tk]
		var pad []bool
		if keyPad != nil {
			pad = keyPad[b*Tk : (b+1)*Tk]
		}
		additiveWeightsRow(w, qr, keys.Data[b*Tk*A:(b+1)*Tk*A], v.Data, pad, t)
		c := context.Data[r*Dv : (r+1)*Dv]
		for j, wj := range w {
			if wj != 0 {
				kernels.Axpy(wj, values.Data[(b*Tk+j)*Dv:(b*Tk+j+1)*Dv], c)
			}
		}
	}
	return context, weights
}
