package tensor

import (
	"fmt"

	"github.com/qkv-dev/qkv/kernels"
)

// Embedding looks up rows of w (V, D) for ids laid out as shape (e.g. B, T;
// an empty shape means (len(ids))); the result is (shape…, D). The ids are
// copied, so the caller may reuse its slice. An id outside [0, V) panics.
// The backward pass adds into the rows that occur only: its cost is
// len(ids)·D, whatever V is.
func (g *Graph) Embedding(w *Tensor, ids []int32, shape ...int) *Tensor {
	if len(w.Shape) != 2 {
		panic(fmt.Sprintf("tensor.Embedding: weight %v is not (V, D)", w.Shape))
	}
	v, d := w.Shape[0], w.Shape[1]
	s := g.shapeTmp[:0]
	if len(shape) == 0 {
		s = append(s, len(ids))
	} else {
		s = append(s, shape...)
	}
	if numel(s) != len(ids) {
		panic(fmt.Sprintf("tensor.Embedding: %d ids for shape %v", len(ids), copyInts(shape)))
	}
	s = append(s, d)
	g.shapeTmp = s
	out := g.newTensor(g.anyNeedsGrad(w), s...)
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("tensor.Embedding: id %d at position %d out of range for vocabulary size V=%d", id, i, v))
		}
	}
	if parallelRows(len(ids), d) {
		splitRows(len(ids), d, func(lo, hi int) { gatherRows(out.Data, w.Data, ids, d, lo, hi) })
	} else {
		gatherRows(out.Data, w.Data, ids, d, 0, len(ids))
	}
	if out.needsGrad {
		out.savedIDs = g.scratchIDs(ids)
	}
	g.record(out, embeddingBackward, w)
	return out
}

// embeddingBackward differentiates y[i, :] = w[ids[i], :]:
// dw[ids[i], :] += dy[i, :] for every position i (repeated ids add up).
func embeddingBackward(_ *Graph, out *Tensor) {
	w := out.in[0]
	if !w.needsGrad {
		return
	}
	d, ids := w.Shape[1], out.savedIDs
	// Repeated ids add into the same row, so the positions are split by
	// columns, not rows: each column still adds them up in order.
	if parallelCols(len(ids), d) {
		splitCols(len(ids), d, func(c0, c1 int) { scatterAdd(w.Grad, out.Grad, ids, d, c0, c1) })
	} else {
		scatterAdd(w.Grad, out.Grad, ids, d, 0, d)
	}
}

// gatherRows copies row ids[i] of w (V, D) to row i of dst (len(ids), D)
// for the positions i in lo..hi.
func gatherRows(dst, w []float32, ids []int32, d, lo, hi int) {
	for i := lo; i < hi; i++ {
		id := int(ids[i])
		copy(dst[i*d:(i+1)*d], w[id*d:(id+1)*d])
	}
}

// scatterAdd adds columns c0..c1 of row i of dy (len(ids), D) into row
// ids[i] of dw (V, D), for every position i in order.
func scatterAdd(dw, dy []float32, ids []int32, d, c0, c1 int) {
	for i, id := range ids {
		kernels.Axpy(1, dy[i*d+c0:i*d+c1], dw[int(id)*d+c0:int(id)*d+c1])
	}
}
