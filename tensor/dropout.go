package tensor

import (
	"fmt"
	"math/bits"
)

// Dropout zeroes each element of x with probability p and scales the kept
// ones by 1/(1 − p) (inverted dropout, Srivastava et al. 2014), so the
// expected value is unchanged and evaluation needs no rescaling. When the
// graph is not training, or p is 0, it returns x itself. The mask is drawn
// from a counter-based stream keyed by one draw from the graph's RNG (see
// dropoutKeep), so a given seed reproduces it; p = 1 drops everything.
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
	key := g.rng.Uint64()
	// Keep an element when its 32-bit uniform draw u satisfies u ≥ p·2³².
	threshold := uint64(float64(p) * (1 << 32))
	for i := 0; i < len(mask); i += 2 {
		r := wyrand(key, uint64(i))
		mask[i] = keepScale(r&0xffffffff, threshold, scale)
		if i+1 < len(mask) {
			mask[i+1] = keepScale(r>>32, threshold, scale)
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

// wyrand returns 64 random bits for counter i of the stream key (Wang Yi's
// wyrand mixer): a counter-based generator, so any element's draw can be
// computed on its own and one RNG draw per operation keys the whole mask.
func wyrand(key, i uint64) uint64 {
	s := key + (i+1)*0xa0761d6478bd642f
	hi, lo := bits.Mul64(s, s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// keepScale is scale when the 32-bit draw u is at least threshold, else 0.
func keepScale(u, threshold uint64, scale float32) float32 {
	if u >= threshold {
		return scale
	}
	return 0
}
