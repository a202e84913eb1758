package tensor_test

import (
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestMatMulGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ta, tb bool
	}{{"nn", false, false}, {"tn", true, false}, {"nt", false, true}, {"tt", true, true}} {
		ashape, bshape := []int{3, 4}, []int{4, 5}
		if tc.ta {
			ashape = []int{4, 3}
		}
		if tc.tb {
			bshape = []int{5, 4}
		}
		a := gradcheck.Param("a", 1, -1, 1, ashape...)
		b := gradcheck.Param("b", 2, -1, 1, bshape...)
		gradcheck.Check(t, "matmul_"+tc.name, []*tensor.Tensor{a, b}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.MatMul(p[0], p[1], tc.ta, tc.tb)
		}, gradcheck.Options{})
	}
}

func TestBatchedMatMulGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ta, tb bool
	}{{"nn", false, false}, {"tn", true, false}, {"nt", false, true}, {"tt", true, true}} {
		ashape, bshape := []int{2, 3, 4}, []int{2, 4, 5}
		if tc.ta {
			ashape = []int{2, 4, 3}
		}
		if tc.tb {
			bshape = []int{2, 5, 4}
		}
		a := gradcheck.Param("a", 3, -1, 1, ashape...)
		b := gradcheck.Param("b", 4, -1, 1, bshape...)
		gradcheck.Check(t, "bmm_"+tc.name, []*tensor.Tensor{a, b}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.BatchedMatMul(p[0], p[1], tc.ta, tc.tb)
		}, gradcheck.Options{})
	}
}

func TestLinearGradients(t *testing.T) {
	x := gradcheck.Param("x", 5, -1, 1, 2, 3, 4)
	w := gradcheck.Param("w", 6, -1, 1, 5, 4)
	b := gradcheck.Param("b", 7, -1, 1, 5)
	gradcheck.Check(t, "linear", []*tensor.Tensor{x, w, b}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Linear(p[0], p[1], p[2])
	}, gradcheck.Options{})
}

func TestMatMulGolden(t *testing.T) {
	checkGolden(t, "matmul", []string{"a", "b"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.MatMul(p[0], p[1], false, false)
	})
	checkGolden(t, "matmul_ta_tb", []string{"a", "b"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.MatMul(p[0], p[1], true, true)
	})
	checkGolden(t, "bmm", []string{"a", "b"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.BatchedMatMul(p[0], p[1], false, true)
	})
	checkGolden(t, "linear", []string{"x", "w", "b"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Linear(p[0], p[1], p[2])
	})
}
