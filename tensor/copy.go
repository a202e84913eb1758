package tensor

import (
	"fmt"
	"math"
	"sync"

	"github.com/qkv-dev/qkv/kernels"
)

// Copy attention: the pointer-generator's output distribution (See, Liu &
// Manning 2017, "Get To The Point: Summarization with Pointer-Generator
// Networks", eq. 8–9):
//
//	p_gen = σ(gate)
//	P(w)  = p_gen·P_vocab(w) + (1 − p_gen)·Σ_{i: x_i = w} a_i
//
// P_vocab = softmax(logits) generates from the vocabulary; a (a
// distribution over the source positions, usually the decoder's
// cross-attention) copies source token x_i. CopyMix returns log P, computed
// in log space: words absent from the source get log σ(gate) + log
// P_vocab(w) exactly, words in it logaddexp of that and log σ(−gate) +
// log Σ a_i, so nothing underflows to log 0 where P(w) > 0.

// CopyMix returns log P (N, V), the log-probabilities of the mixed
// distribution above, for logits (N, V), gate (N, 1) the score of p_gen
// before the sigmoid, and attn (N, S) the copy distribution of each row over
// S source positions (0 at padding). srcIDs (B, S) are the source tokens as
// ids of the output vocabulary, and rowOf (N) the source row each output
// row copies from (nil: row n copies from source row n, N = B). Training
// passes rowOf[b·T+t] = b; decoding passes each hypothesis's source.
//
// log P is itself a valid argument to CrossEntropy, whose log-softmax
// leaves it unchanged (its rows already normalize), so the label-smoothed
// loss of the mixture needs no separate op.
func (g *Graph) CopyMix(logits, gate, attn *Tensor, srcIDs []int32, rowOf []int) *Tensor {
	if len(logits.Shape) != 2 || len(attn.Shape) != 2 || attn.Shape[0] != logits.Shape[0] || len(gate.Data) != logits.Shape[0] {
		panic(fmt.Sprintf("tensor.CopyMix: want logits (N,V), gate (N,1), attn (N,S); got %v, %v, %v", logits.Shape, gate.Shape, attn.Shape))
	}
	N, V, S := logits.Shape[0], logits.Shape[1], attn.Shape[1]
	if S == 0 || len(srcIDs)%S != 0 {
		panic(fmt.Sprintf("tensor.CopyMix: %d source ids are not rows of S = %d", len(srcIDs), S))
	}
	B := len(srcIDs) / S
	if rowOf == nil && B != N {
		panic(fmt.Sprintf("tensor.CopyMix: %d source rows for %d output rows and no row map", B, N))
	}
	if rowOf != nil && len(rowOf) != N {
		panic(fmt.Sprintf("tensor.CopyMix: %d row indices for %d rows", len(rowOf), N))
	}
	for i, id := range srcIDs {
		if id < 0 || int(id) >= V {
			panic(fmt.Sprintf("tensor.CopyMix: source id %d at (%d, %d) outside the output vocabulary of %d", id, i/S, i%S, V))
		}
	}
	out := g.newTensor(g.anyNeedsGrad(logits, gate, attn), N, V)
	ids := srcIDs
	if out.needsGrad || rowOf != nil { // one row of ids per output row
		ids = g.ids.alloc(N * S)
		for n := range N {
			b := n
			if rowOf != nil {
				b = rowOf[n]
			}
			if b < 0 || b >= B {
				panic(fmt.Sprintf("tensor.CopyMix: row %d copies from source row %d of %d", n, b, B))
			}
			copy(ids[n*S:(n+1)*S], srcIDs[b*S:(b+1)*S])
		}
	}
	var lv []float32 // log P_vocab (N, V), kept for backward; nil: one row of scratch each
	if out.needsGrad {
		lv = g.floats.alloc(N * V)
	}
	rows := func(sc *copyScratch, lo, hi int) {
		copyMixRows(out.Data, lv, logits.Data, gate.Data, attn.Data, ids, V, S, sc, lo, hi)
	}
	if kernels.Threads() <= 1 || N*V < 2*lossGrain {
		sc := &copyScratch{lv: g.floats.alloc(V), mass: g.floats.alloc(V), tmp: g.floats.alloc(V), stamp: g.ids.alloc(V)}
		sc.reset()
		rows(sc, 0, N)
	} else { // rows are independent; each piece has its own scratch
		kernels.ParallelRange(N, max(1, lossGrain/V), func(lo, hi int) {
			sc := getCopyScratch(V)
			rows(sc, lo, hi)
			copyScratchPool.Put(sc)
		})
	}
	if out.needsGrad {
		out.saved = lv
		out.savedIDs = ids
	}
	g.record(out, copyMixBackward, logits, gate, attn)
	return out
}

// copyMixBackward differentiates out(w) = log P(w). With p = σ(gate),
// r(w) = p·P_vocab(w)/P(w) the share of P(w) that was generated (1 for
// words not in the source) and G = dout:
//
//	dlv(w)    = G(w)·r(w)                       (lv = log P_vocab)
//	dlogits  += dlv − P_vocab·Σ_w dlv(w)         (log-softmax)
//	dgate    += Σ_w G(w)·(r(w) − p)
//	dattn_i  += G(x_i)·(1 − p)/P(x_i)
//
// dattn_i is left 0 where attn_i is 0 (padding): every attention's
// backward multiplies it by attn_i, and (1 − p)/P(x_i) can be huge there.
func copyMixBackward(g *Graph, out *Tensor) {
	logits, gate, attn := out.in[0], out.in[1], out.in[2]
	N, V, S := logits.Shape[0], logits.Shape[1], attn.Shape[1]
	lv, ids := out.saved, out.savedIDs
	rows := func(sc *copyScratch, lo, hi int) {
		copyMixBackwardRows(out, logits, gate, attn, lv, ids, V, S, sc, lo, hi)
	}
	if kernels.Threads() <= 1 || N*V < 2*elementwiseGrain {
		sc := &copyScratch{tmp: g.floats.alloc(V), stamp: g.ids.alloc(V)}
		sc.reset()
		rows(sc, 0, N)
		return
	}
	kernels.ParallelRange(N, max(1, elementwiseGrain/V), func(lo, hi int) {
		sc := getCopyScratch(V)
		rows(sc, lo, hi)
		copyScratchPool.Put(sc)
	})
}

// copyScratch is one goroutine's scratch for rows of CopyMix: a row of
// log P_vocab (when the graph keeps none), the copy mass and exponentials
// of a row, and stamp (V), which marks the words of the row being done
// (stamp[w] = n) so that a row costs O(S) beyond its O(V) passes.
type copyScratch struct {
	lv, mass, tmp []float32
	stamp, uniq   []int32
}

func (sc *copyScratch) reset() {
	for w := range sc.stamp {
		sc.stamp[w] = -1
	}
}

// copyScratchPool keeps the parallel pieces' scratch between steps, so a
// split step allocates nothing once warm.
var copyScratchPool sync.Pool

func getCopyScratch(v int) *copyScratch {
	sc, _ := copyScratchPool.Get().(*copyScratch)
	if sc == nil || len(sc.stamp) != v {
		sc = &copyScratch{lv: make([]float32, v), mass: make([]float32, v), tmp: make([]float32, v), stamp: make([]int32, v)}
	}
	sc.reset()
	return sc
}

// copyMixRows computes rows lo..hi of CopyMix's output o (N, V) and, if lv
// is not nil, of log P_vocab lv (N, V); ids (N, S) are each row's source
// words.
func copyMixRows(o, lv, logits, gate, attn []float32, ids []int32, V, S int, sc *copyScratch, lo, hi int) {
	mass, stamp := sc.mass, sc.stamp
	for n := lo; n < hi; n++ {
		row := sc.lv
		if lv != nil {
			row = lv[n*V : (n+1)*V]
		}
		logSoftmaxRow(row, logits[n*V:(n+1)*V], sc.tmp)
		lg, lc := logSigmoid(gate[n]), logSigmoid(-gate[n]) // log p_gen, log(1 − p_gen)
		on := o[n*V : (n+1)*V]
		for w, l := range row {
			on[w] = lg + l
		}
		sc.uniq = sc.uniq[:0]
		for i, w := range ids[n*S : (n+1)*S] {
			if stamp[w] != int32(n) {
				stamp[w], mass[w] = int32(n), 0
				sc.uniq = append(sc.uniq, w)
			}
			mass[w] += attn[n*S+i]
		}
		for _, w := range sc.uniq {
			if mass[w] > 0 {
				on[w] = logAddExp(on[w], lc+float32(math.Log(float64(mass[w]))))
			}
		}
	}
}

// copyMixBackwardRows accumulates the gradients of rows lo..hi (see
// copyMixBackward), with sc.tmp for P_vocab of a row.
func copyMixBackwardRows(out, logits, gate, attn *Tensor, lv []float32, ids []int32, V, S int, sc *copyScratch, lo, hi int) {
	pv, stamp := sc.tmp, sc.stamp
	for n := lo; n < hi; n++ {
		G, o, l := out.Grad[n*V:(n+1)*V], out.Data[n*V:(n+1)*V], lv[n*V:(n+1)*V]
		p := sigmoid(gate.Data[n])
		lg, lc := logSigmoid(gate.Data[n]), logSigmoid(-gate.Data[n])
		var sumG float64
		for _, gw := range G {
			sumG += float64(gw)
		}
		sumDlv := sumG // Σ_w G(w)·r(w): as if r = 1 everywhere, source words corrected below
		row := ids[n*S : (n+1)*S]
		for _, w := range row {
			if stamp[w] == int32(n) {
				continue
			}
			stamp[w] = int32(n)
			r := math.Exp(float64(lg + l[w] - o[w]))
			sumDlv -= float64(G[w]) * (1 - r)
		}
		if logits.needsGrad {
			dz := logits.Grad[n*V : (n+1)*V]
			kernels.Exp(pv, l)
			kernels.Axpy(1, G, dz)
			kernels.Axpy(-float32(sumDlv), pv, dz)
			// Source words: dlv(w) is G(w)·r(w), not G(w).
			for _, w := range row {
				if stamp[w] != int32(n) {
					continue
				}
				stamp[w] = -1 - int32(n) // each word once
				r := math.Exp(float64(lg + l[w] - o[w]))
				dz[w] -= G[w] * float32(1-r)
			}
		}
		if gate.needsGrad {
			gate.Grad[n] += float32(sumDlv - float64(p)*sumG) // Σ G·r − p·Σ G
		}
		if attn.needsGrad {
			da := attn.Grad[n*S : (n+1)*S]
			for i, w := range row {
				if attn.Data[n*S+i] != 0 {
					da[i] += G[w] * float32(math.Exp(float64(lc-o[w])))
				}
			}
		}
	}
}

// logSoftmaxRow writes log_softmax(x) to dst, with tmp (len(x)) as
// scratch for the exponentials (the vector kernel, summed in float64).
func logSoftmaxRow(dst, x, tmp []float32) {
	m := kernels.Max(x)
	for i, v := range x {
		dst[i] = v - m
	}
	kernels.Exp(tmp, dst)
	var sum float64
	for _, e := range tmp {
		sum += float64(e)
	}
	lse := float32(math.Log(sum))
	for i := range dst {
		dst[i] -= lse
	}
}

// logSigmoid is log σ(x) = −log(1 + e^(−x)), without overflow for either sign.
func logSigmoid(x float32) float32 {
	if x >= 0 {
		return float32(-math.Log1p(math.Exp(-float64(x))))
	}
	return float32(float64(x) - math.Log1p(math.Exp(float64(x))))
}

// logAddExp is log(e^a + e^b).
func logAddExp(a, b float32) float32 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(float64(b), -1) {
		return a
	}
	return a + float32(math.Log1p(math.Exp(float64(b-a))))
}

// AttentionHeadMean returns the attention probabilities of att, an output
// of [Graph.Attention], averaged over its heads: (B, Tq, Tk). It is
// differentiable with respect to att's queries and keys (the weights, not
// the values: it reads the probabilities att saved, before any dropout),
// so a copy distribution taken from a Transformer's cross-attention trains
// the projections that made it.
func (g *Graph) AttentionHeadMean(att *Tensor) *Tensor {
	P := AttentionProbs(att)
	if P == nil {
		panic("tensor.AttentionHeadMean: the tensor is not an output of Attention")
	}
	B, Tq := att.Shape[0], att.Shape[1]
	H := att.ints[0]
	Tk := 0
	if B*H*Tq > 0 {
		Tk = len(P) / (B * H * Tq)
	}
	q, k := att.in[0], att.in[1] // set when att was recorded
	out := g.newTensor(att.needsGrad && g.anyNeedsGrad(q, k), B, Tq, Tk)
	clear(out.Data)
	inv := 1 / float32(H)
	for b := range B {
		for h := range H {
			axpy(inv, P[(b*H+h)*Tq*Tk:(b*H+h+1)*Tq*Tk], out.Data[b*Tq*Tk:(b+1)*Tq*Tk])
		}
	}
	if out.needsGrad {
		out.saved = P // the graph's memory, as att's: valid until Reset
		out.ints[0], out.ints[1] = H, Tk
		out.floats[0] = att.floats[0] // the scale 1/√Dh
	}
	g.record(out, attentionHeadMeanBackward, q, k)
	return out
}

// attentionHeadMeanBackward differentiates M = (1/H)·Σ_h P_h,
// P_h = softmax(S_h), S_h = scale·Q_h·K_hᵀ, per batch row:
//
//	dP_h  = dM/H
//	dS_h  = P_h ⊙ (dP_h − rowsum(P_h ⊙ dP_h))
//	dQ_h += scale·dS_h·K_h
//	dK_h += scale·dS_hᵀ·Q_h
func attentionHeadMeanBackward(g *Graph, out *Tensor) {
	q, k := out.in[0], out.in[1]
	P := out.saved
	B, Tq, D := q.Shape[0], q.Shape[1], q.Shape[2]
	H, Tk := out.ints[0], out.ints[1]
	dh := D / H
	scale := out.floats[0]
	if Tq == 0 || Tk == 0 {
		return
	}
	dS := g.floats.alloc(H * Tq * Tk)
	inv := 1 / float32(H)
	for b := range B {
		dM := out.Grad[b*Tq*Tk : (b+1)*Tq*Tk]
		for h := range H {
			for i := range Tq {
				p := P[((b*H+h)*Tq+i)*Tk:][:Tk]
				dm := dM[i*Tk : (i+1)*Tk]
				d := dS[(h*Tq+i)*Tk:][:Tk]
				var dot float32
				for j, pj := range p {
					dot += pj * dm[j] * inv
				}
				for j, pj := range p {
					d[j] = pj * (dm[j]*inv - dot)
				}
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
