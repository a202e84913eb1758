package tensor

import (
	"fmt"
	"math"
	"slices"

	"github.com/qkv-dev/qkv/kernels"
)

// Scaled dot-product attention, multi-head, fused (Vaswani et al. 2017,
// §3.2.1–3.2.2):
//
//	Attention(Q, K, V) = softmax(QKᵀ/√d_k)·V
//	MultiHead(Q, K, V) = Concat(head_1, …, head_h), head_i = Attention(Q_i, K_i, V_i)
//
// Head i owns the contiguous columns [i·Dh, (i+1)·Dh) of the model dimension
// D = h·Dh, so a head's Q_i is the strided matrix at column i·Dh with leading
// dimension D: the GEMMs read and write the heads in place and no permuted
// copy of Q, K, V or the output is ever made (the output's head columns are
// already "Concat"ed). The probabilities (B, H, Tq, Tk) are saved: backward
// needs them, and they are what qkv shows users (AttentionProbs).

// attentionTag marks a tensor produced by Attention (a pointer in an
// interface does not allocate).
var attentionTag = new(int)

// attentionDropTag marks one produced with dropout: its saved buffer holds
// P and then Dropout(P).
var attentionDropTag = new(int)

// Attention returns multi-head scaled dot-product attention:
// q (B, Tq, D), k (B, Tk, D), v (B, Tk, D) with D = heads·Dh; the result is
// (B, Tq, D), head h in columns [h·Dh, (h+1)·Dh).
//
// keyPad (B, Tk), or nil, marks padded keys (true = padding) that no query
// attends to. With causal, query i attends to keys j ≤ i + Tk − Tq only: for
// Tq = Tk that is the usual j ≤ i, and for incremental decoding (Tq new
// queries after Tk − Tq cached keys) each query sees the cache and itself.
// A query with no key left to attend to gets zero weights and a zero output
// (PyTorch gives NaN).
func (g *Graph) Attention(q, k, v *Tensor, heads int, keyPad []bool, causal bool) *Tensor {
	return g.AttentionDropout(q, k, v, heads, keyPad, causal, 0)
}

// AttentionDropout is Attention with dropout on the attention
// probabilities while the graph trains, as torch.nn.MultiheadAttention
// applies it: O = Dropout(P)·V. AttentionProbs still reports P itself.
func (g *Graph) AttentionDropout(q, k, v *Tensor, heads int, keyPad []bool, causal bool, p float32) *Tensor {
	if len(q.Shape) != 3 || len(k.Shape) != 3 || !slices.Equal(k.Shape, v.Shape) ||
		q.Shape[0] != k.Shape[0] || q.Shape[2] != k.Shape[2] {
		panic(fmt.Sprintf("tensor.Attention: want q (B,Tq,D), k and v (B,Tk,D); got %v, %v, %v", q.Shape, k.Shape, v.Shape))
	}
	B, Tq, D, Tk := q.Shape[0], q.Shape[1], q.Shape[2], k.Shape[1]
	if heads <= 0 || D%heads != 0 {
		panic(fmt.Sprintf("tensor.Attention: model dimension %d is not a multiple of %d heads", D, heads))
	}
	if keyPad != nil && len(keyPad) != B*Tk {
		panic(fmt.Sprintf("tensor.Attention: keyPad has %d entries, want B·Tk = %d", len(keyPad), B*Tk))
	}
	H, dh := heads, D/heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	out := g.newTensor(g.anyNeedsGrad(q, k, v), B, Tq, D)
	n := B * H * Tq * Tk
	drop := g.dropoutActive(p) && n > 0
	var saved []float32 // P (B, H, Tq, Tk), then Dropout(P) when dropping
	if drop {
		saved = g.floats.alloc(2 * n)
	} else {
		saved = g.floats.alloc(n)
	}
	probs, used := saved[:n], saved[:n] // used: the probabilities that weigh V
	if Tk == 0 || Tq == 0 {
		clear(out.Data)
	} else {
		split := attnSplit(B, H, Tq, Tk, dh)
		if split {
			splitBatch(B, H, Tq, Tk, dh, func(lo, hi int) { g.attnScores(probs, q, k, H, Tk, keyPad, causal, scale, lo, hi) })
		} else {
			g.attnScores(probs, q, k, H, Tk, keyPad, causal, scale, 0, B)
		}
		if drop {
			d := g.newDropoutMask(p)
			used = saved[n:]
			d.apply(used, nil, probs)
			out.ints[1], out.ints[2], out.ints[3] = int(d.key>>32), int(d.key&0xffffffff), int(d.threshold)
			out.floats[1] = d.scale
		}
		if split {
			splitBatch(B, H, Tq, Tk, dh, func(lo, hi int) { g.attnWeigh(out.Data, used, v, H, Tq, lo, hi) })
		} else {
			g.attnWeigh(out.Data, used, v, H, Tq, 0, B)
		}
	}
	out.saved = saved
	out.aux = attentionTag
	if drop {
		out.aux = attentionDropTag
	}
	out.ints[0] = H
	out.floats[0] = scale
	g.record(out, attentionBackward, q, k, v)
	return out
}

// attnSplitFlops is kernels' smallest product worth splitting (its
// parallelMinFlops): attention is split by batch rows when one row's
// per-head products, which kernels would then run on one goroutine, are
// smaller than this, and the batch has at least twice as much.
const attnSplitFlops = 64 * 64 * 64

// attnSplit reports whether attention over B batch rows with H heads of
// Tq×Tk scores of width dh is split by batch rows (splitBatch): each row
// is independent, and writes only its own rows of the outputs and of the
// gradients of q, k and v, so the split gives the same bits.
func attnSplit(B, H, Tq, Tk, dh int) bool {
	per := H * Tq * Tk * dh
	return B >= 2 && kernels.Threads() > 1 && per < attnSplitFlops && B*per >= 2*attnSplitFlops
}

// splitBatch runs f over the batch rows [0, B) in pieces of at least
// attnSplitFlops of products.
func splitBatch(B, H, Tq, Tk, dh int, f func(lo, hi int)) {
	kernels.ParallelRange(B, max(1, attnSplitFlops/max(H*Tq*Tk*dh, 1)), f)
}

// attnScores computes the probabilities (B, H, Tq, Tk) of batch rows lo..hi
// into probs: S_bh = Q_bh·K_bhᵀ·scale for every head, then the masked
// softmax.
func (g *Graph) attnScores(probs []float32, q, k *Tensor, H, Tk int, keyPad []bool, causal bool, scale float32, lo, hi int) {
	Tq, D := q.Shape[1], q.Shape[2]
	dh := D / H
	for b := lo; b < hi; b++ {
		// S_bh = Q_bh·K_bhᵀ/√Dh for every head: (Tq, Dh)·(Dh, Tk) → (Tq, Tk)
		g.gemmStrided(false, true, Tq, Tk, dh, scale,
			q.Data[b*Tq*D:], D, dh, k.Data[b*Tk*D:], D, dh, 0, probs[b*H*Tq*Tk:], Tk, Tq*Tk, H)
		var pad []bool
		if keyPad != nil {
			pad = keyPad[b*Tk : (b+1)*Tk]
		}
		attnMaskedSoftmax(probs[b*H*Tq*Tk:(b+1)*H*Tq*Tk], 1, H, Tq, Tk, pad, causal)
	}
}

// attnWeigh computes the output rows lo..hi of out (B, Tq, D): O_bh =
// P′_bh·V_bh, written into head h's columns.
func (g *Graph) attnWeigh(out, used []float32, v *Tensor, H, Tq, lo, hi int) {
	Tk, D := v.Shape[1], v.Shape[2]
	dh := D / H
	for b := lo; b < hi; b++ {
		// O_bh = P_bh·V_bh: (Tq, Tk)·(Tk, Dh) → (Tq, Dh), written into head h's columns
		g.gemmStrided(false, false, Tq, dh, Tk, 1,
			used[b*H*Tq*Tk:], Tk, Tq*Tk, v.Data[b*Tk*D:], D, dh, 0, out[b*Tq*D:], D, dh, H)
	}
}

// attentionBackward differentiates O = P′·V, P′ = Dropout(P) (P′ = P
// without dropout), P = softmax(S), S = scale·Q·Kᵀ per (batch, head):
//
//	dV += P′ᵀ·dO
//	dP  = (dO·Vᵀ) ⊙ mask
//	dS  = P ⊙ (dP − rowsum(P ⊙ dP))   (masked entries have P = 0, so dS = 0)
//	dQ += scale·dS·K
//	dK += scale·dSᵀ·Q
func attentionBackward(g *Graph, out *Tensor) {
	q, k := out.in[0], out.in[1]
	B, Tq, D, Tk := q.Shape[0], q.Shape[1], q.Shape[2], k.Shape[1]
	H := out.ints[0]
	dh := D / H
	n := B * H * Tq * Tk
	P, used := out.saved[:n], out.saved[:n]
	var mask dropoutMask
	drop := out.aux == attentionDropTag
	if drop {
		used = out.saved[n:]
		mask = dropoutMask{key: uint64(out.ints[1])<<32 | uint64(out.ints[2]), threshold: uint32(out.ints[3]), scale: out.floats[1]}
	}
	if Tk == 0 || Tq == 0 {
		return
	}
	if !attnSplit(B, H, Tq, Tk, dh) {
		var dS []float32
		if q.needsGrad || k.needsGrad {
			dS = g.floats.alloc(H * Tq * Tk)
		}
		g.attnBackwardRows(out, dS, P, used, drop, mask, 0, B)
		return
	}
	// Each batch row takes its own part of one dS (B, H, Tq, Tk).
	var dS []float32
	if q.needsGrad || k.needsGrad {
		dS = g.floats.alloc(n)
	}
	splitBatch(B, H, Tq, Tk, dh, func(lo, hi int) {
		var ds []float32
		if dS != nil {
			ds = dS[lo*H*Tq*Tk:]
		}
		g.attnBackwardRows(out, ds, P, used, drop, mask, lo, hi)
	})
}

// attnBackwardRows is attentionBackward for the batch rows lo..hi, with dS
// (H, Tq, Tk) as scratch (nil when neither q nor k needs a gradient).
func (g *Graph) attnBackwardRows(out *Tensor, dS, P, used []float32, drop bool, mask dropoutMask, lo, hi int) {
	q, k, v := out.in[0], out.in[1], out.in[2]
	Tq, D, Tk := q.Shape[1], q.Shape[2], k.Shape[1]
	H := out.ints[0]
	dh := D / H
	scale := out.floats[0]
	for b := lo; b < hi; b++ {
		Pb := P[b*H*Tq*Tk:]
		dO := out.Grad[b*Tq*D:]
		if v.needsGrad { // dV_bh += P′_bhᵀ·dO_bh: (Tk, Tq)·(Tq, Dh)
			g.gemmStrided(true, false, Tk, dh, Tq, 1, used[b*H*Tq*Tk:], Tk, Tq*Tk, dO, D, dh, 1, v.Grad[b*Tk*D:], D, dh, H)
		}
		if dS == nil {
			continue
		}
		// dP_bh = dO_bh·V_bhᵀ: (Tq, Dh)·(Dh, Tk)
		g.gemmStrided(false, true, Tq, Tk, dh, 1, dO, D, dh, v.Data[b*Tk*D:], D, dh, 0, dS, Tk, Tq*Tk, H)
		if drop {
			mask.mulAt(dS[:H*Tq*Tk], b*H*Tq*Tk)
		}
		for r := 0; r < H*Tq; r++ {
			p, d := Pb[r*Tk:(r+1)*Tk], dS[r*Tk:(r+1)*Tk]
			var dot float32
			for j, pj := range p {
				dot += pj * d[j]
			}
			for j, pj := range p {
				d[j] = pj * (d[j] - dot)
			}
		}
		if q.needsGrad { // dQ_bh += scale·dS_bh·K_bh: (Tq, Tk)·(Tk, Dh)
			g.gemmStrided(false, false, Tq, dh, Tk, scale, dS, Tk, Tq*Tk, k.Data[b*Tk*D:], D, dh, 1, q.Grad[b*Tq*D:], D, dh, H)
		}
		if k.needsGrad { // dK_bh += scale·dS_bhᵀ·Q_bh: (Tk, Tq)·(Tq, Dh)
			g.gemmStrided(true, false, Tk, dh, Tq, scale, dS, Tk, Tq*Tk, q.Data[b*Tq*D:], D, dh, 1, k.Grad[b*Tk*D:], D, dh, H)
		}
	}
}

// attnMaskedSoftmax turns the scores s (B, H, Tq, Tk) into probabilities in
// place: keys that are padding, or in the future of a causal query, get 0;
// the rest a softmax shifted by the row maximum; rows with no key get 0.
func attnMaskedSoftmax(s []float32, B, H, Tq, Tk int, keyPad []bool, causal bool) {
	off := Tk - Tq
	for b := 0; b < B; b++ {
		var pad []bool
		if keyPad != nil {
			pad = keyPad[b*Tk : (b+1)*Tk]
		}
		for h := 0; h < H; h++ {
			for i := 0; i < Tq; i++ {
				row := s[((b*H+h)*Tq+i)*Tk:][:Tk]
				lim := Tk
				if causal {
					lim = min(max(i+off+1, 0), Tk)
				}
				attnSoftmaxRow(row[:lim], pad)
				clear(row[lim:])
			}
		}
	}
}

// attnSoftmaxRow is a softmax over row in place, skipping positions where
// pad is true (they become 0; pad may be nil or longer than row). A row
// with no unpadded position becomes all zeros.
func attnSoftmaxRow(row []float32, pad []bool) {
	if pad != nil {
		open := false
		for j := range row {
			if pad[j] {
				row[j] = float32(math.Inf(-1))
			} else {
				open = true
			}
		}
		if !open {
			clear(row)
			return
		}
	}
	kernels.Softmax(row) // -Inf (padding) becomes 0
}

// AttentionProbs returns the attention probabilities (B, H, Tq, Tk) that
// Attention computed for out, row-major, or nil if out did not come from
// Attention. The slice belongs to the graph: copy it before Reset.
func AttentionProbs(out *Tensor) []float32 {
	switch {
	case out == nil:
		return nil
	case out.aux == attentionTag:
		return out.saved
	case out.aux == attentionDropTag:
		return out.saved[:len(out.saved)/2]
	}
	return nil
}
