package tensor_test

import (
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestActivationGradients(t *testing.T) {
	x := gradcheck.Param("x", 1, -3, 3, 4, 5)
	// ReLU is not differentiable at 0: keep the inputs away from the kink
	// by more than the finite-difference step.
	for i, v := range x.Data {
		if v > -0.1 && v < 0.1 {
			x.Data[i] = 0.5
		}
	}
	for _, tc := range []struct {
		name string
		f    func(g *tensor.Graph, x *tensor.Tensor) *tensor.Tensor
	}{
		{"tanh", (*tensor.Graph).Tanh},
		{"sigmoid", (*tensor.Graph).Sigmoid},
		{"relu", (*tensor.Graph).ReLU},
		{"gelu", (*tensor.Graph).GELU},
	} {
		gradcheck.Check(t, tc.name, []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return tc.f(g, p[0])
		}, gradcheck.Options{})
	}
}

func TestActivationGolden(t *testing.T) {
	for name, f := range map[string]func(g *tensor.Graph, x *tensor.Tensor) *tensor.Tensor{
		"tanh": (*tensor.Graph).Tanh, "sigmoid": (*tensor.Graph).Sigmoid,
		"relu": (*tensor.Graph).ReLU, "gelu": (*tensor.Graph).GELU,
	} {
		checkGolden(t, name, []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return f(g, p[0])
		})
	}
}

// Sigmoid stays finite and exact at the extremes, where a naive 1/(1+e^−x)
// in float32 would overflow.
func TestSigmoidExtremes(t *testing.T) {
	g := tensor.NewGraph(1)
	y := g.Sigmoid(g.Const([]float32{-200, -100, 0, 100, 200}, 5))
	if v := y.Data[1]; !(v >= 0 && v < 1e-30) {
		t.Errorf("sigmoid(-100) = %v", v)
	}
	y.Data[1] = 0
	want := []float32{0, 0, 0.5, 1, 1}
	for i, v := range want {
		if y.Data[i] != v {
			t.Errorf("sigmoid %v, want %v", y.Data, want)
			break
		}
	}
}
