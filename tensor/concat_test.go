package tensor_test

import (
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestConcatSliceGradients(t *testing.T) {
	a := gradcheck.Param("a", 1, -1, 1, 2, 3, 2)
	b := gradcheck.Param("b", 2, -1, 1, 2, 3, 1)
	c := gradcheck.Param("c", 3, -1, 1, 2, 3, 3)
	d := gradcheck.Param("d", 4, -1, 1, 2, 3, 2)
	e := gradcheck.Param("e", 5, -1, 1, 2, 3, 1)
	// Five inputs: more than a tape entry holds inline.
	gradcheck.Check(t, "concat5", []*tensor.Tensor{a, b, c, d, e}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Concat(-1, p...)
	}, gradcheck.Options{})
	x := gradcheck.Param("x", 6, -1, 1, 2, 5, 3)
	y := gradcheck.Param("y", 7, -1, 1, 2, 2, 3)
	gradcheck.Check(t, "concat_axis1", []*tensor.Tensor{x, y}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Concat(1, p[0], p[1])
	}, gradcheck.Options{})
	for axis := -3; axis < 3; axis++ {
		gradcheck.Check(t, "slice", []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			n := p[0].Dim(axis)
			return g.Slice(p[0], axis, 1, n)
		}, gradcheck.Options{})
	}
	// Split pieces recombined with different weights, so a piece landing in
	// the wrong place shows in the gradient.
	gradcheck.Check(t, "split", []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		parts := g.Split(p[0], 1, 1, 3, 1)
		return g.Concat(1, g.Scale(parts[2], 3), parts[0], g.Scale(parts[1], -2))
	}, gradcheck.Options{})
}

func TestConcatSliceGolden(t *testing.T) {
	checkGolden(t, "concat_axis1", []string{"a", "b", "c"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Concat(1, p...)
	})
	checkGolden(t, "concat_last4", []string{"a", "b", "c", "d"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Concat(-1, p...)
	})
	checkGolden(t, "slice_axis1", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Slice(p[0], 1, 1, 4)
	})
	checkGolden(t, "slice_last", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Slice(p[0], -1, 2, 5)
	})
	checkGoldenMulti(t, "split", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) []*tensor.Tensor {
		return g.Split(p[0], -1, 2, 3, 1)
	})
}

func TestConcatSplitRoundTrip(t *testing.T) {
	g := tensor.NewGraph(1)
	x := gradcheck.Param("x", 1, -1, 1, 3, 4, 5)
	for axis := 0; axis < 3; axis++ {
		n := x.Shape[axis]
		parts := g.Split(x, axis, 1, n-1)
		y := g.Concat(axis, parts...)
		if !equalInts(y.Shape, x.Shape) {
			t.Fatalf("axis %d: shape %v, want %v", axis, y.Shape, x.Shape)
		}
		for i := range x.Data {
			if y.Data[i] != x.Data[i] {
				t.Fatalf("axis %d: element %d is %v, want %v", axis, i, y.Data[i], x.Data[i])
			}
		}
	}
}

func TestSliceOutOfRangePanics(t *testing.T) {
	g := tensor.NewGraph(1)
	x := g.Zeros(2, 3)
	for _, r := range [][3]int{{1, 2, 4}, {1, -1, 2}, {1, 2, 1}, {2, 0, 1}, {-3, 0, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Slice(axis %d, %d:%d) did not panic", r[0], r[1], r[2])
				}
			}()
			g.Slice(x, r[0], r[1], r[2])
		}()
	}
}
