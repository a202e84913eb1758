package tensor

import "fmt"

// Dropout zeroes each element of x with probability p and scales the kept
// ones by 1/(1 − p) (inverted dropout, Srivastava et al. 2014), so the
// expected value is unchanged and evaluation needs no rescaling. When the
// graph is not training, or p is 0, it returns x itself. The mask is drawn
// from the graph's RNG, one uniform number per element in order, so a given
// seed reproduces it; p = 1 drops everything.
func (g *Graph) Dropout(x *Tensor, p float32) *Tensor {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("tensor.Dropout: p = %v is not a probability", p))
	}
	if !g.training || p == 0 {
		return x
	}
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	var scale float32
	if p < 1 {
		scale = 1 / (1 - p)
	}
	// The mask holds 0 or 1/(1 − p) per element; it is kept when backward
	// needs it, otherwise written straight into the output.
	mask := out.Data
	if out.needsGrad {
		mask = g.floats.alloc(len(x.Data))
		out.saved = mask
	}
	rng := g.rng
	for i := range mask {
		if rng.Float32() < p {
			mask[i] = 0
		} else {
			mask[i] = scale
		}
	}
	for i, v := range x.Data {
		out.Data[i] = v * mask[i]
	}
	g.record(out, dropoutBackward, x)
	return out
}

// dropoutBackward differentiates y = x·mask (mask ∈ {0, 1/(1 − p)}):
// dx += dy·mask.
func dropoutBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	for i, m := range out.saved {
		x.Grad[i] += out.Grad[i] * m
	}
}
