package tensor_test

import (
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestElementwiseGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bshape []int
	}{{"same", []int{2, 3, 4}}, {"suffix2", []int{3, 4}}, {"bias", []int{4}}, {"scalar", []int{}}} {
		a := gradcheck.Param("a", 1, -1, 1, 2, 3, 4)
		b := gradcheck.Param("b", 2, -1, 1, tc.bshape...)
		ps := []*tensor.Tensor{a, b}
		gradcheck.Check(t, "add_"+tc.name, ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.Add(p[0], p[1])
		}, gradcheck.Options{})
		gradcheck.Check(t, "mul_"+tc.name, ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.Mul(p[0], p[1])
		}, gradcheck.Options{})
		gradcheck.Check(t, "add_scaled_"+tc.name, ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.AddScaled(p[0], p[1], -0.6)
		}, gradcheck.Options{})
	}
	a := gradcheck.Param("a", 3, -1, 1, 3, 5)
	gradcheck.Check(t, "scale", []*tensor.Tensor{a}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Scale(p[0], 2.5)
	}, gradcheck.Options{})
	// The same tensor on both sides: both contributions must add up.
	gradcheck.Check(t, "mul_self", []*tensor.Tensor{a}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Mul(p[0], p[0])
	}, gradcheck.Options{})
}

func TestElementwiseGolden(t *testing.T) {
	add := func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor { return g.Add(p[0], p[1]) }
	mul := func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor { return g.Mul(p[0], p[1]) }
	ab := []string{"a", "b"}
	checkGolden(t, "add", ab, add)
	checkGolden(t, "add_bcast", ab, add)
	checkGolden(t, "add_bias", ab, add)
	checkGolden(t, "mul", ab, mul)
	checkGolden(t, "mul_bcast", ab, mul)
	checkGolden(t, "add_scaled", ab, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.AddScaled(p[0], p[1], 0.3)
	})
	checkGolden(t, "scale", []string{"a"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Scale(p[0], -1.7)
	})
}

func TestElementwiseShapeMismatchPanics(t *testing.T) {
	g := tensor.NewGraph(1)
	a := g.Zeros(2, 3, 4)
	for _, b := range []*tensor.Tensor{g.Zeros(2, 4), g.Zeros(3), g.Zeros(1, 2, 3, 4)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Add(%v, %v) did not panic", a.Shape, b.Shape)
				}
			}()
			g.Add(a, b)
		}()
	}
}
