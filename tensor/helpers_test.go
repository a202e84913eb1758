package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/tensor"
)

// Helpers shared by the package's golden tests: forward values are compared
// with PyTorch to 1e-5 relative, gradients to 1e-4 relative.

// param loads a golden input as a parameter.
func param(t *testing.T, c *golden.Case, name string) *tensor.Tensor {
	t.Helper()
	a := c.In(t, name)
	p := tensor.NewParam(name, a.Shape...)
	copy(p.Data, a.Float32())
	return p
}

// checkGolden runs out = f(inputs), back-propagates the case's upstream
// gradient and compares the output and every input gradient with PyTorch.
func checkGolden(t *testing.T, name string, inputs []string, f func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor) {
	t.Helper()
	c := golden.Load(t, name)
	ps := make([]*tensor.Tensor, len(inputs))
	for i, n := range inputs {
		ps[i] = param(t, c, n)
	}
	g := tensor.NewGraph(1)
	out := f(g, ps)
	if want := c.Outputs["out"].Shape; !equalInts(out.Shape, want) {
		t.Fatalf("%s: output shape %v, want %v", name, out.Shape, want)
	}
	golden.Close(t, name+" out", out.Data, c.Outputs["out"], 1e-5, 1e-6)
	g.BackwardFrom(out, c.In(t, "up_out").Float32())
	checkGrads(t, c, name, inputs, ps)
}

// checkGoldenMulti is checkGolden for an op with several outputs, named
// out0, out1, … in the case: the loss Σ_k Σ out_k·up_out_k is built with
// Mul and Sum (themselves golden-tested) and back-propagated once.
func checkGoldenMulti(t *testing.T, name string, inputs []string, f func(g *tensor.Graph, p []*tensor.Tensor) []*tensor.Tensor) {
	t.Helper()
	c := golden.Load(t, name)
	ps := make([]*tensor.Tensor, len(inputs))
	for i, n := range inputs {
		ps[i] = param(t, c, n)
	}
	g := tensor.NewGraph(1)
	outs := f(g, ps)
	if len(outs) != len(c.Outputs) {
		t.Fatalf("%s: %d outputs, want %d", name, len(outs), len(c.Outputs))
	}
	var loss *tensor.Tensor
	for k, out := range outs {
		key := "out" + string(rune('0'+k))
		want := c.Outputs[key]
		if !equalInts(out.Shape, want.Shape) {
			t.Fatalf("%s: %s shape %v, want %v", name, key, out.Shape, want.Shape)
		}
		golden.Close(t, name+" "+key, out.Data, want, 1e-5, 1e-6)
		up := c.In(t, "up_"+key)
		term := g.Sum(g.Mul(out, g.Const(up.Float32(), up.Shape...)))
		if loss == nil {
			loss = term
		} else {
			loss = g.Add(loss, term)
		}
	}
	g.Backward(loss)
	checkGrads(t, c, name, inputs, ps)
}

func checkGrads(t *testing.T, c *golden.Case, name string, inputs []string, ps []*tensor.Tensor) {
	t.Helper()
	for i, n := range inputs {
		if want, ok := c.Grads[n]; ok {
			golden.Close(t, name+" d"+n, ps[i].Grad, want, 1e-4, 1e-6)
		}
	}
}

// keepToMask turns a golden 0/1 keep array into an additive 0/−Inf mask.
func keepToMask(keep golden.Array) *tensor.Tensor {
	m := make([]float32, len(keep.Data))
	for i, k := range keep.Data {
		if k == 0 {
			m[i] = float32(math.Inf(-1))
		}
	}
	return tensor.FromData(m, keep.Shape...)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
