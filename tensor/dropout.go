package tensor

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/qkv-dev/qkv/kernels"
)

// Dropout zeroes each element of x with probability p and scales the kept
// ones by 1/(1 − p) (inverted dropout, Srivastava et al. 2014), so the
// expected value is unchanged and evaluation needs no rescaling. When the
// graph is not training, or p is 0, it returns x itself; p = 1 drops
// everything.
//
// The mask comes from a counter-based generator keyed by one draw from the
// graph's RNG (see dropoutMask), so a seed reproduces it, and backward
// recomputes it from the key instead of storing it.
func (g *Graph) Dropout(x *Tensor, p float32) *Tensor {
	if !g.dropoutActive(p) {
		return x
	}
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	d := g.newDropoutMask(p)
	d.apply(out.Data, nil, x.Data)
	d.store(out)
	g.record(out, dropoutBackward, x)
	return out
}

// dropoutBackward differentiates y = x·mask: dx += dy·mask.
func dropoutBackward(_ *Graph, out *Tensor) {
	if x := out.in[0]; x.needsGrad {
		loadDropoutMask(out).accumulate(x.Grad, out.Grad)
	}
}

// AddDropout returns x + Dropout(y, p), the residual connection of the
// Transformer (Vaswani et al. 2017, §5.4: dropout "to the output of each
// sub-layer, before it is added to the sub-layer input"), in one pass and
// one tensor. y has x's shape.
func (g *Graph) AddDropout(x, y *Tensor, p float32) *Tensor {
	if !slices.Equal(x.Shape, y.Shape) {
		panic(fmt.Sprintf("tensor.AddDropout: shapes %v and %v differ", x.Shape, y.Shape))
	}
	if !g.dropoutActive(p) {
		return g.Add(x, y)
	}
	out := g.newTensor(g.anyNeedsGrad(x, y), x.Shape...)
	d := g.newDropoutMask(p)
	d.apply(out.Data, x.Data, y.Data)
	d.store(out)
	g.record(out, addDropoutBackward, x, y)
	return out
}

// addDropoutBackward differentiates z = x + y·mask: dx += dz, dy += dz·mask.
func addDropoutBackward(_ *Graph, out *Tensor) {
	x, y := out.in[0], out.in[1]
	if x.needsGrad {
		axpy(1, out.Grad, x.Grad)
	}
	if y.needsGrad {
		loadDropoutMask(out).accumulate(y.Grad, out.Grad)
	}
}

func (g *Graph) dropoutActive(p float32) bool {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("tensor.Dropout: p = %v is not a probability", p))
	}
	return g.training && p != 0
}

// dropoutMask is a mask defined by a key: element i is dropped when the
// 16-bit draw u_i = bits 16(i mod 4)… of wyrand(key, ⌊i/4⌋) is below
// threshold = round(p·2¹⁶), else scaled by 1/(1 − p). Sixteen bits give p
// to within 2⁻¹⁷ and four elements per draw of the generator.
type dropoutMask struct {
	key       uint64
	threshold uint32
	scale     float32
}

func (g *Graph) newDropoutMask(p float32) dropoutMask {
	d := dropoutMask{key: g.rng.Uint64(), threshold: uint32(float64(p)*65536 + 0.5)}
	if p < 1 {
		d.scale = 1 / (1 - p)
	}
	return d
}

// store keeps the mask's definition on out for backward.
func (d dropoutMask) store(out *Tensor) {
	out.ints[0] = int(d.key >> 32)
	out.ints[1] = int(d.key & 0xffffffff)
	out.ints[2] = int(d.threshold)
	out.floats[0] = d.scale
}

func loadDropoutMask(out *Tensor) dropoutMask {
	return dropoutMask{key: uint64(out.ints[0])<<32 | uint64(out.ints[1]), threshold: uint32(out.ints[2]), scale: out.floats[0]}
}

// factors returns the mask's factors (0 or scale) for elements 4j … 4j+3,
// without branches: dropping is data-dependent and would mispredict.
func (d dropoutMask) factors(j int) (f0, f1, f2, f3 float32) {
	r := wyrand(d.key, uint64(j))
	s := math.Float32bits(d.scale)
	// keep(u) is all ones when u ≥ threshold, else 0 (u, threshold < 2¹⁷).
	keep := func(u uint64) uint32 { return ^uint32((int32(u&0xffff) - int32(d.threshold)) >> 31) }
	return math.Float32frombits(s & keep(r)), math.Float32frombits(s & keep(r>>16)),
		math.Float32frombits(s & keep(r>>32)), math.Float32frombits(s & keep(r>>48))
}

// apply writes dst = a + x·mask (a may be nil: dst = x·mask).
func (d dropoutMask) apply(dst, a, x []float32) {
	n := len(dst)
	x = x[:n]
	if a != nil {
		a = a[:n]
	}
	full := n &^ 3
	if full < 2*elementwiseGrain || kernels.Threads() <= 1 {
		d.applyGroups(dst, x, 0, full/4)
		if a != nil {
			kernels.Add(dst[:full], dst[:full], a[:full])
		}
	} else { // the closure only here: small steps allocate nothing
		// The residual is added piece by piece while the piece is in
		// cache; an addition rounds the same in any piece.
		kernels.ParallelRange(full/4, elementwiseGrain/4, func(lo, hi int) {
			d.applyGroups(dst, x, lo, hi)
			if a != nil {
				kernels.Add(dst[4*lo:4*hi], dst[4*lo:4*hi], a[4*lo:4*hi])
			}
		})
	}
	if full < n {
		var f [4]float32
		f[0], f[1], f[2], f[3] = d.factors(full / 4)
		for i := full; i < n; i++ {
			dst[i] = x[i] * f[i-full]
		}
		if a != nil {
			kernels.Add(dst[full:], dst[full:], a[full:])
		}
	}
}

// accumulate adds dy·mask to dx.
func (d dropoutMask) accumulate(dx, dy []float32) {
	n := len(dy)
	dx = dx[:n]
	full := n &^ 3
	if full < 2*elementwiseGrain {
		d.accumulateGroups(dx, dy, 0, full/4)
	} else {
		kernels.ParallelRange(full/4, elementwiseGrain/4, func(lo, hi int) { d.accumulateGroups(dx, dy, lo, hi) })
	}
	if full < n {
		var f [4]float32
		f[0], f[1], f[2], f[3] = d.factors(full / 4)
		for i := full; i < n; i++ {
			dx[i] += dy[i] * f[i-full]
		}
	}
}

// applyGroups writes dst = x·mask for the groups of four elements lo..hi.
func (d dropoutMask) applyGroups(dst, x []float32, lo, hi int) {
	for i := 4 * lo; i < 4*hi; i += 4 {
		f0, f1, f2, f3 := d.factors(i / 4)
		dst[i], dst[i+1], dst[i+2], dst[i+3] = x[i]*f0, x[i+1]*f1, x[i+2]*f2, x[i+3]*f3
	}
}

// accumulateGroups adds dy·mask to dx for the groups of four elements lo..hi.
func (d dropoutMask) accumulateGroups(dx, dy []float32, lo, hi int) {
	for i := 4 * lo; i < 4*hi; i += 4 {
		f0, f1, f2, f3 := d.factors(i / 4)
		dx[i] += dy[i] * f0
		dx[i+1] += dy[i+1] * f1
		dx[i+2] += dy[i+2] * f2
		dx[i+3] += dy[i+3] * f3
	}
}

// mulAt multiplies x[i] by the mask's factor of element offset+i, one draw
// of the generator per group of four elements.
func (d dropoutMask) mulAt(x []float32, offset int) {
	var f [4]float32
	group := -1
	for i := range x {
		idx := offset + i
		if idx/4 != group {
			group = idx / 4
			f[0], f[1], f[2], f[3] = d.factors(group)
		}
		x[i] *= f[idx%4]
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
