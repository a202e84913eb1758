package tensor

// Sum returns the sum of every element of x as a scalar (shape ()),
// accumulated in float64.
func (g *Graph) Sum(x *Tensor) *Tensor {
	out := g.newTensor(g.anyNeedsGrad(x))
	var s float64
	for _, v := range x.Data {
		s += float64(v)
	}
	out.Data[0] = float32(s)
	out.floats[0] = 1
	g.record(out, sumBackward, x)
	return out
}

// Mean returns the mean of every element of x as a scalar (shape ()).
// The mean of an empty tensor is NaN, as in PyTorch.
func (g *Graph) Mean(x *Tensor) *Tensor {
	out := g.newTensor(g.anyNeedsGrad(x))
	var s float64
	for _, v := range x.Data {
		s += float64(v)
	}
	n := float64(len(x.Data))
	out.Data[0] = float32(s / n)
	out.floats[0] = float32(1 / n)
	g.record(out, sumBackward, x)
	return out
}

// sumBackward differentiates y = c·Σ_i x_i (c = 1 for Sum, 1/n for Mean):
// dx_i += c·dy.
func sumBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	d := out.floats[0] * out.Grad[0]
	for i := range x.Grad {
		x.Grad[i] += d
	}
}
