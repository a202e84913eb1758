package tensor

import (
	"fmt"
	"slices"

	"github.com/qkv-dev/qkv/kernels"
)

// Elementwise arithmetic with suffix broadcasting: the second operand b has
// a's shape, or a shape equal to a suffix of a's shape, and is then repeated
// over a's leading axes — a bias (D) added to (B, T, D), positional
// encodings (T, D) added to (B, T, D). Because a is contiguous and row-major,
// element i of a meets element i mod len(b) of b, and b's gradient is the
// sum of the upstream gradient over the len(a)/len(b) repeated blocks.

// checkSuffix panics unless b's shape equals a suffix of a's shape.
func checkSuffix(op string, a, b []int) {
	if !isSuffix(a, b) {
		panic(fmt.Sprintf("tensor.%s: shape %v is not a suffix of %v", op, b, a))
	}
}

// isSuffix reports whether b equals the last len(b) axes of a.
func isSuffix(a, b []int) bool {
	if len(b) > len(a) {
		return false
	}
	return slices.Equal(a[len(a)-len(b):], b)
}

// Add returns a + b: a (…, S…), b (S…) broadcast over a's leading axes.
func (g *Graph) Add(a, b *Tensor) *Tensor {
	checkSuffix("Add", a.Shape, b.Shape)
	out := g.newTensor(g.anyNeedsGrad(a, b), a.Shape...)
	n, m := len(a.Data), len(b.Data)
	switch {
	case m == n && parallelElems(n):
		splitElems(n, func(lo, hi int) { kernels.Add(out.Data[lo:hi], a.Data[lo:hi], b.Data[lo:hi]) })
	case m > 0 && m < n && parallelRows(n/m, m):
		splitRows(n/m, m, func(lo, hi int) { addRows(out.Data, a.Data, b.Data, lo*m, hi*m) })
	default:
		addRows(out.Data, a.Data, b.Data, 0, n)
	}
	g.record(out, addBackward, a, b)
	return out
}

// addRows sets dst[i] = a[i] + b[i mod m] for i in lo..hi, lo and hi
// multiples of m = len(b).
func addRows(dst, a, b []float32, lo, hi int) {
	m := len(b)
	for r := lo; r < hi; r += m {
		kernels.Add(dst[r:r+m], a[r:r+m], b)
	}
}

// addBackward differentiates y[i] = a[i] + b[i mod m]:
// da[i] += dy[i], db[j] += Σ_{i ≡ j mod m} dy[i].
func addBackward(_ *Graph, out *Tensor) {
	a, b := out.in[0], out.in[1]
	if a.needsGrad {
		axpy(1, out.Grad, a.Grad)
	}
	if b.needsGrad {
		m := len(b.Data)
		addRowsInto(1, out.Grad, len(out.Grad)/max(m, 1), m, b.Grad)
	}
}

// AddScaled returns a + s·b, with b broadcast as in [Graph.Add]: the update
// of a residual branch or an interpolation without a separate Scale.
func (g *Graph) AddScaled(a, b *Tensor, s float32) *Tensor {
	checkSuffix("AddScaled", a.Shape, b.Shape)
	out := g.newTensor(g.anyNeedsGrad(a, b), a.Shape...)
	m := len(b.Data)
	for r := 0; r < len(a.Data); r += m {
		y := out.Data[r : r+m]
		copy(y, a.Data[r:r+m])
		kernels.Axpy(s, b.Data, y)
	}
	out.floats[0] = s
	g.record(out, addScaledBackward, a, b)
	return out
}

// addScaledBackward differentiates y[i] = a[i] + s·b[i mod m]:
// da[i] += dy[i], db[j] += s·Σ_{i ≡ j mod m} dy[i].
func addScaledBackward(_ *Graph, out *Tensor) {
	a, b := out.in[0], out.in[1]
	s := out.floats[0]
	if a.needsGrad {
		axpy(1, out.Grad, a.Grad)
	}
	if b.needsGrad {
		m := len(b.Data)
		addRowsInto(s, out.Grad, len(out.Grad)/max(m, 1), m, b.Grad)
	}
}

// Mul returns the elementwise product a ⊙ b: a (…, S…), b (S…) broadcast
// over a's leading axes.
func (g *Graph) Mul(a, b *Tensor) *Tensor {
	checkSuffix("Mul", a.Shape, b.Shape)
	out := g.newTensor(g.anyNeedsGrad(a, b), a.Shape...)
	m := len(b.Data)
	for r := 0; r < len(a.Data); r += m {
		kernels.Mul(out.Data[r:r+m], a.Data[r:r+m], b.Data)
	}
	g.record(out, mulBackward, a, b)
	return out
}

// mulBackward differentiates y[i] = a[i]·b[i mod m]:
// da[i] += dy[i]·b[i mod m], db[j] += Σ_{i ≡ j mod m} dy[i]·a[i].
func mulBackward(_ *Graph, out *Tensor) {
	a, b := out.in[0], out.in[1]
	m := len(b.Data)
	for r := 0; r < len(out.Grad); r += m {
		dy := out.Grad[r : r+m]
		if a.needsGrad {
			da := a.Grad[r : r+m]
			for j, v := range b.Data {
				da[j] += dy[j] * v
			}
		}
		if b.needsGrad {
			x := a.Data[r : r+m]
			for j := range b.Grad {
				b.Grad[j] += dy[j] * x[j]
			}
		}
	}
}

// Scale returns s·a.
func (g *Graph) Scale(a *Tensor, s float32) *Tensor {
	out := g.newTensor(g.anyNeedsGrad(a), a.Shape...)
	if n := len(a.Data); parallelElems(n) {
		splitElems(n, func(lo, hi int) { copy(out.Data[lo:hi], a.Data[lo:hi]); kernels.Scale(s, out.Data[lo:hi]) })
	} else {
		copy(out.Data, a.Data)
		kernels.Scale(s, out.Data)
	}
	out.floats[0] = s
	g.record(out, scaleBackward, a)
	return out
}

// scaleBackward differentiates y = s·a: da += s·dy.
func scaleBackward(_ *Graph, out *Tensor) {
	if a := out.in[0]; a.needsGrad {
		axpy(out.floats[0], out.Grad, a.Grad)
	}
}
