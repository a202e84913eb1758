package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

var negInf = float32(math.Inf(-1))

// causalMask returns the additive (t, t) mask that hides future positions.
func causalMask(t int) *tensor.Tensor {
	m := make([]float32, t*t)
	for i := 0; i < t; i++ {
		for j := i + 1; j < t; j++ {
			m[i*t+j] = negInf
		}
	}
	return tensor.FromData(m, t, t)
}

func TestSoftmaxGradients(t *testing.T) {
	x := gradcheck.Param("x", 1, -3, 3, 2, 2, 4, 4)
	ps := []*tensor.Tensor{x}
	gradcheck.Check(t, "softmax", ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Softmax(p[0], nil)
	}, gradcheck.Options{})
	// A causal (Tq, Tk) mask broadcast over (B, H, Tq, Tk) scores.
	gradcheck.Check(t, "softmax_causal", ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Softmax(p[0], causalMask(4))
	}, gradcheck.Options{})
	gradcheck.Check(t, "log_softmax", ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LogSoftmax(p[0], nil)
	}, gradcheck.Options{})
	// Log-softmax is −Inf at masked positions; check the rest.
	pad := tensor.FromData([]float32{0, 0, 0, negInf}, 4)
	gradcheck.Check(t, "log_softmax_padding", ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Slice(g.LogSoftmax(p[0], pad), -1, 0, 3)
	}, gradcheck.Options{})
}

func TestSoftmaxGolden(t *testing.T) {
	checkGolden(t, "softmax", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Softmax(p[0], nil)
	})
	checkGolden(t, "log_softmax", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LogSoftmax(p[0], nil)
	})
	// softmax_mask: a (3, 5) mask with a fully masked row on (2, 3, 5).
	c := golden.Load(t, "softmax_mask")
	mask := keepToMask(c.In(t, "keep"))
	checkGolden(t, "softmax_mask", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Softmax(p[0], mask)
	})
}

// The reference for masked log-softmax has 0 where qkv (and PyTorch) give
// −Inf; compare everything else, and the gradient everywhere.
func TestLogSoftmaxMaskGolden(t *testing.T) {
	c := golden.Load(t, "log_softmax_mask")
	x := param(t, c, "x")
	mask := keepToMask(c.In(t, "keep"))
	g := tensor.NewGraph(1)
	out := g.LogSoftmax(x, mask)
	got := append([]float32(nil), out.Data...)
	infs := 0
	for i, v := range got {
		if math.IsInf(float64(v), -1) {
			if mask.Data[i] == 0 {
				t.Fatalf("out[%d] = -Inf at an unmasked position", i)
			}
			got[i] = 0
			infs++
		}
	}
	if infs == 0 {
		t.Fatal("no -Inf at masked positions")
	}
	golden.Close(t, "log_softmax_mask out", got, c.Outputs["out"], 1e-5, 1e-6)
	g.BackwardFrom(out, c.In(t, "up_out").Float32())
	golden.Close(t, "log_softmax_mask dx", x.Grad, c.Grads["x"], 1e-4, 1e-6)
}

// A fully masked row gives zeros and passes zero gradient, never NaN.
func TestSoftmaxFullyMaskedRow(t *testing.T) {
	mask := tensor.FromData([]float32{0, negInf, negInf, negInf, negInf, negInf}, 2, 3)
	for name, f := range map[string]func(g *tensor.Graph, x, m *tensor.Tensor) *tensor.Tensor{
		"softmax": (*tensor.Graph).Softmax, "log_softmax": (*tensor.Graph).LogSoftmax,
	} {
		x := gradcheck.Param("x", 1, -1, 1, 2, 2, 3)
		g := tensor.NewGraph(1)
		out := f(g, x, mask)
		g.BackwardFrom(out, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
		for b := 0; b < 2; b++ {
			row := out.Data[b*6+3 : b*6+6]
			for _, v := range row {
				if v != 0 {
					t.Errorf("%s: fully masked row %v, want zeros", name, row)
				}
			}
			for i, v := range x.Grad[b*6 : b*6+6] {
				if v != 0 || math.IsNaN(float64(v)) {
					t.Errorf("%s: gradient %v at %d, want 0 (one live position or fully masked)", name, v, i)
				}
			}
			if name == "softmax" && out.Data[b*6] != 1 {
				t.Errorf("softmax of a single live position = %v, want 1", out.Data[b*6])
			}
		}
	}
}

// Max subtraction: huge scores neither overflow nor lose the distribution.
func TestSoftmaxLargeScores(t *testing.T) {
	g := tensor.NewGraph(1)
	y := g.Softmax(g.Const([]float32{1000, 1000, 999}, 3), nil)
	ly := g.LogSoftmax(g.Const([]float32{1000, 1000, 999}, 3), nil)
	e := math.Exp(-1)
	want := []float64{1 / (2 + e), 1 / (2 + e), e / (2 + e)}
	for i, w := range want {
		if math.Abs(float64(y.Data[i])-w) > 1e-6 || math.Abs(float64(ly.Data[i])-math.Log(w)) > 1e-5 {
			t.Fatalf("softmax %v log %v, want %v", y.Data, ly.Data, want)
		}
	}
}

func TestSoftmaxBadMaskPanics(t *testing.T) {
	g := tensor.NewGraph(1)
	defer func() {
		if recover() == nil {
			t.Error("a (4) mask on (2, 3) scores did not panic")
		}
	}()
	g.Softmax(g.Zeros(2, 3), g.Zeros(4))
}
