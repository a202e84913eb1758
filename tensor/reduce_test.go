package tensor_test

import (
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestReduceGradients(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 3, 4)
	gradcheck.Check(t, "sum", []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Sum(p[0])
	}, gradcheck.Options{})
	gradcheck.Check(t, "mean", []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Mean(p[0])
	}, gradcheck.Options{})
}

func TestReduceGolden(t *testing.T) {
	checkGolden(t, "sum", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Sum(p[0])
	})
	checkGolden(t, "mean", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Mean(p[0])
	})
}
