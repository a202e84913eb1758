package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestDropoutIdentity(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 3, 4)
	g := tensor.NewGraph(1)
	if g.Dropout(x, 0) != x {
		t.Error("p = 0 did not return its input")
	}
	g.SetTraining(false)
	if g.Dropout(x, 0.5) != x {
		t.Error("evaluation mode did not return its input")
	}
}

// checkDropoutConventions asserts that out and the gradient dx obey inverted
// dropout: every element is either dropped (0, no gradient) or kept (x/(1−p),
// gradient up/(1−p)). It returns the fraction dropped.
func checkDropoutConventions(t *testing.T, who string, x, out, up, dx []float32, p float32) float64 {
	t.Helper()
	scale := 1 / (1 - float64(p))
	dropped := 0
	for i := range x {
		if out[i] == 0 {
			dropped++
			if dx[i] != 0 {
				t.Fatalf("%s: dropped element %d has gradient %v", who, i, dx[i])
			}
			continue
		}
		if d := math.Abs(float64(out[i]) - float64(x[i])*scale); d > 1e-6 {
			t.Fatalf("%s: kept element %d is %v, want %v", who, i, out[i], float64(x[i])*scale)
		}
		if d := math.Abs(float64(dx[i]) - float64(up[i])*scale); d > 1e-5 {
			t.Fatalf("%s: kept element %d has gradient %v, want %v", who, i, dx[i], float64(up[i])*scale)
		}
	}
	return float64(dropped) / float64(len(x))
}

// PyTorch's mask cannot be reproduced; qkv must follow the conventions the
// PyTorch reference exhibits, on the same input.
func TestDropoutGolden(t *testing.T) {
	c := golden.Load(t, "dropout")
	p := float32(c.Attrs["p"])
	x, up := c.In(t, "x").Float32(), c.In(t, "up_out").Float32()
	checkDropoutConventions(t, "pytorch", x, c.Outputs["out"].Float32(), up, c.Grads["x"].Float32(), p)
	xp := param(t, c, "x")
	g := tensor.NewGraph(3)
	out := g.Dropout(xp, p)
	g.BackwardFrom(out, up)
	frac := checkDropoutConventions(t, "qkv", x, out.Data, up, xp.Grad, p)
	if frac == 0 || frac == 1 {
		t.Errorf("dropped fraction %v", frac)
	}
}

// Over many elements the dropped fraction is p within four standard
// deviations, and the mean is preserved.
func TestDropoutStatistics(t *testing.T) {
	const n = 20000
	for _, p := range []float32{0.1, 0.5, 0.9} {
		x := tensor.NewParam("x", n)
		for i := range x.Data {
			x.Data[i] = 1
		}
		g := tensor.NewGraph(uint64(p * 100))
		out := g.Dropout(x, p)
		up := make([]float32, n)
		for i := range up {
			up[i] = 1
		}
		g.BackwardFrom(out, up)
		frac := checkDropoutConventions(t, "stats", x.Data, out.Data, up, x.Grad, p)
		sigma := math.Sqrt(float64(p) * float64(1-p) / n)
		if math.Abs(frac-float64(p)) > 4*sigma {
			t.Errorf("p = %v: dropped %v", p, frac)
		}
	}
	g := tensor.NewGraph(1)
	out := g.Dropout(g.Const([]float32{1, 2, 3}, 3), 1)
	for _, v := range out.Data {
		if v != 0 {
			t.Errorf("p = 1 kept %v", out.Data)
		}
	}
}

// The mask is a function of the seed (and of the RNG state, which a
// checkpoint can restore).
func TestDropoutDeterminism(t *testing.T) {
	x := gradcheck.Param("x", 1, 1, 2, 64)
	mask := func(g *tensor.Graph) []float32 {
		return append([]float32(nil), g.Dropout(x, 0.5).Data...)
	}
	a, b, c := mask(tensor.NewGraph(7)), mask(tensor.NewGraph(7)), mask(tensor.NewGraph(8))
	if !equalFloats(a, b) {
		t.Error("the same seed gave different masks")
	}
	if equalFloats(a, c) {
		t.Error("different seeds gave the same mask")
	}
	g := tensor.NewGraph(7)
	state, err := g.RNGState()
	if err != nil {
		t.Fatal(err)
	}
	first, second := mask(g), mask(g)
	if equalFloats(first, second) {
		t.Error("consecutive masks are identical")
	}
	if err := g.SetRNGState(state); err != nil {
		t.Fatal(err)
	}
	if again := mask(g); !equalFloats(first, again) {
		t.Error("restoring the RNG state did not reproduce the mask")
	}
}

func TestDropoutGradients(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 4, 6)
	gradcheck.Check(t, "dropout", []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Dropout(p[0], 0.3)
	}, gradcheck.Options{Seed: 9})
}

func equalFloats(a, b []float32) bool {
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

// TestAddDropout checks the fused residual against its definition
// x + Dropout(y) (same RNG state, so the same mask), and its gradients
// against finite differences with the mask held fixed by the seed.
func TestAddDropout(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 3, 7)
	y := gradcheck.Param("y", 2, -1, 1, 3, 7)
	g1, g2 := tensor.NewGraph(5), tensor.NewGraph(5)
	fused := g1.AddDropout(x, y, 0.3)
	plain := g2.Add(x, g2.Dropout(y, 0.3))
	if !equalFloats(fused.Data, plain.Data) {
		t.Fatalf("AddDropout %v, Add(x, Dropout(y)) %v", fused.Data, plain.Data)
	}
	dropped := 0
	for i, v := range fused.Data {
		if v == x.Data[i] {
			dropped++
		}
	}
	if dropped == 0 || dropped == len(fused.Data) {
		t.Errorf("%d of %d elements dropped at p = 0.3", dropped, len(fused.Data))
	}
	gradcheck.Check(t, "add_dropout", []*tensor.Tensor{x, y}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.AddDropout(p[0], p[1], 0.3)
	}, gradcheck.Options{Seed: 11})
	// Evaluation: a plain sum.
	g := tensor.NewGraph(5)
	g.SetTraining(false)
	out := g.AddDropout(x, y, 0.3)
	for i := range out.Data {
		if out.Data[i] != x.Data[i]+y.Data[i] {
			t.Fatalf("evaluation: %g, want %g", out.Data[i], x.Data[i]+y.Data[i])
		}
	}
}
