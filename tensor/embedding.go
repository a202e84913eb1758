package tensor

import "fmt"

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
		copy(out.Data[i*d:(i+1)*d], w.Data[int(id)*d:(int(id)+1)*d])
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
	d := w.Shape[1]
	for i, id := range out.savedIDs {
		axpy(1, out.Grad[i*d:(i+1)*d], w.Grad[int(id)*d:(int(id)+1)*d])
	}
}
