package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestLayerNormGradients(t *testing.T) {
	x := gradcheck.Param("x", 1, -2, 2, 2, 3, 6)
	gamma := gradcheck.Param("gamma", 2, 0.5, 1.5, 6)
	beta := gradcheck.Param("beta", 3, -1, 1, 6)
	gradcheck.Check(t, "layernorm", []*tensor.Tensor{x, gamma, beta}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LayerNorm(p[0], p[1], p[2], 1e-5)
	}, gradcheck.Options{})
	// A frozen gamma (no gradient) takes the scalar path.
	frozen := tensor.FromData(append([]float32(nil), gamma.Data...), 6)
	gradcheck.Check(t, "layernorm_frozen_gamma", []*tensor.Tensor{x, beta}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LayerNorm(p[0], frozen, p[1], 1e-5)
	}, gradcheck.Options{})
	gradcheck.Check(t, "layernorm_plain", []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LayerNorm(p[0], nil, nil, 1e-5)
	}, gradcheck.Options{})
}

func TestLayerNormGolden(t *testing.T) {
	checkGolden(t, "layernorm", []string{"x", "gamma", "beta"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LayerNorm(p[0], p[1], p[2], 1e-5)
	})
	checkGolden(t, "layernorm_plain", []string{"x"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LayerNorm(p[0], nil, nil, 1e-3)
	})
}

// Without affine parameters every row has mean 0 and variance 1/(1+eps/var).
func TestLayerNormNormalizes(t *testing.T) {
	g := tensor.NewGraph(1)
	x := gradcheck.Param("x", 4, 10, 20, 5, 8) // far from zero mean
	y := g.LayerNorm(x, nil, nil, 1e-6)
	for r := 0; r < 5; r++ {
		var s, ss float64
		for _, v := range y.Data[r*8 : (r+1)*8] {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		if mean, v := s/8, ss/8; math.Abs(mean) > 1e-5 || math.Abs(v-1) > 1e-4 {
			t.Errorf("row %d: mean %v variance %v", r, mean, v)
		}
	}
}
