package tensor

import (
	"math"

	"github.com/qkv-dev/qkv/kernels"
)

// Elementwise nonlinearities. Tanh, Sigmoid and ReLU differentiate through
// their output, so their backward passes need nothing saved; GELU reads its
// input.

// Tanh returns tanh(x) elementwise.
func (g *Graph) Tanh(x *Tensor) *Tensor {
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	kernels.Tanh(out.Data, x.Data)
	g.record(out, tanhBackward, x)
	return out
}

// tanhBackward differentiates y = tanh(x): dx += dy·(1 − y²).
func tanhBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	for i, y := range out.Data {
		x.Grad[i] += out.Grad[i] * (1 - y*y)
	}
}

// Sigmoid returns σ(x) = 1/(1 + e^−x) elementwise.
func (g *Graph) Sigmoid(x *Tensor) *Tensor {
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	kernels.Sigmoid(out.Data, x.Data) // e/(1+e) for x < 0: no overflow
	g.record(out, sigmoidBackward, x)
	return out
}

// sigmoid is 1/(1 + e^−x) for one value, written so that neither branch
// overflows (lstm.go uses it for its gates).
func sigmoid(x float32) float32 {
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1 + e))
}

// sigmoidBackward differentiates y = σ(x): dx += dy·y·(1 − y).
func sigmoidBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	for i, y := range out.Data {
		x.Grad[i] += out.Grad[i] * y * (1 - y)
	}
}

// ReLU returns max(x, 0) elementwise.
func (g *Graph) ReLU(x *Tensor) *Tensor {
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	if n := len(x.Data); n < 2*elementwiseGrain {
		reluForward(out.Data, x.Data)
	} else { // the closure only here: small steps allocate nothing
		kernels.ParallelRange(n, elementwiseGrain, func(lo, hi int) { reluForward(out.Data[lo:hi], x.Data[lo:hi]) })
	}
	g.record(out, reluBackward, x)
	return out
}

// reluBackward differentiates y = max(x, 0): dx += dy where y > 0 (the
// subgradient at 0 is 0, as in PyTorch).
func reluBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	// Branch-free: half the signs are random, so a branch mispredicts.
	// y is never −0 (the forward writes +0), so int32(bits(y)) > 0 ⇔ y > 0,
	// and −int32(bits) >> 31 is all ones exactly then.
	dx, dy, y := x.Grad[:len(out.Data)], out.Grad[:len(out.Data)], out.Data
	if n := len(y); n < 2*elementwiseGrain {
		reluBackwardRange(dx, dy, y)
	} else {
		kernels.ParallelRange(n, elementwiseGrain, func(lo, hi int) { reluBackwardRange(dx[lo:hi], dy[lo:hi], y[lo:hi]) })
	}
}

func reluForward(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = max(v, 0)
	}
}

func reluBackwardRange(dx, dy, y []float32) {
	dx, dy = dx[:len(y)], dy[:len(y)]
	for i, v := range y {
		keep := uint32(-int32(math.Float32bits(v)) >> 31)
		dx[i] += math.Float32frombits(math.Float32bits(dy[i]) & keep)
	}
}

// GELU returns x·Φ(x) elementwise, Φ the standard normal distribution
// function, in the exact erf form (PyTorch's default, approximate='none'):
// GELU(x) = x/2·(1 + erf(x/√2)).
func (g *Graph) GELU(x *Tensor) *Tensor {
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	for i, v := range x.Data {
		xv := float64(v)
		out.Data[i] = float32(0.5 * xv * (1 + math.Erf(xv/math.Sqrt2)))
	}
	g.record(out, geluBackward, x)
	return out
}

// geluBackward differentiates y = x·Φ(x): dx += dy·(Φ(x) + x·φ(x)), with
// φ(x) = e^(−x²/2)/√(2π).
func geluBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	for i, v := range x.Data {
		xv := float64(v)
		cdf := 0.5 * (1 + math.Erf(xv/math.Sqrt2))
		pdf := invSqrt2Pi * math.Exp(-0.5*xv*xv)
		x.Grad[i] += out.Grad[i] * float32(cdf+xv*pdf)
	}
}
