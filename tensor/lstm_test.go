package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func sig(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestLSTMCellMatchesFormula(t *testing.T) {
	B, H := 3, 4
	gates := gradcheck.Param("gates", 1, -2, 2, B, 4*H)
	hp := gradcheck.Param("h", 2, -1, 1, B, H)
	cp := gradcheck.Param("c", 3, -1, 1, B, H)
	pad := []bool{false, true, false}
	g := tensor.NewGraph(1)
	h, c := g.LSTMCell(gates, hp, cp, pad)
	for b := 0; b < B; b++ {
		for j := 0; j < H; j++ {
			a := gates.Data[b*4*H:]
			wc := sig(float64(a[H+j]))*float64(cp.Data[b*H+j]) + sig(float64(a[j]))*math.Tanh(float64(a[2*H+j]))
			wh := sig(float64(a[3*H+j])) * math.Tanh(wc)
			if pad[b] {
				wc, wh = float64(cp.Data[b*H+j]), float64(hp.Data[b*H+j])
			}
			if math.Abs(float64(c.Data[b*H+j])-wc) > 1e-6 || math.Abs(float64(h.Data[b*H+j])-wh) > 1e-6 {
				t.Fatalf("row %d col %d: h, c = %v, %v; want %v, %v", b, j, h.Data[b*H+j], c.Data[b*H+j], wh, wc)
			}
		}
	}
}

func TestLSTMCellGradients(t *testing.T) {
	B, H := 3, 2
	for _, pad := range [][]bool{nil, {false, true, false}} {
		gates := gradcheck.Param("gates", 1, -2, 2, B, 4*H)
		hp := gradcheck.Param("h", 2, -1, 1, B, H)
		cp := gradcheck.Param("c", 3, -1, 1, B, H)
		// Both outputs feed the loss: h directly, c through a second cell
		// (so dc reaches the first cell from downstream, as in a sequence).
		gradcheck.Check(t, "lstm_cell", []*tensor.Tensor{gates, hp, cp}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			h, c := g.LSTMCell(p[0], p[1], p[2], pad)
			h2, c2 := g.LSTMCell(p[0], h, c, nil)
			return g.Concat(1, h, c, h2, c2)
		}, gradcheck.Options{})
	}
	// nil initial states.
	gates := gradcheck.Param("gates", 4, -2, 2, B, 4*H)
	gradcheck.Check(t, "lstm_cell_zero_state", []*tensor.Tensor{gates}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		h, c := g.LSTMCell(p[0], nil, nil, []bool{false, false, true})
		return g.Concat(1, h, c)
	}, gradcheck.Options{})
}

func TestLSTMGatesAndStackStepsGradients(t *testing.T) {
	B, T, H := 2, 3, 2
	xproj := gradcheck.Param("xproj", 1, -1, 1, B, T, 4*H)
	whh := gradcheck.Param("whh", 2, -1, 1, 4*H, H)
	lengths := []int{3, 2}
	// A whole bidirectional recurrence built from the three ops.
	gradcheck.Check(t, "lstm_sequence", []*tensor.Tensor{xproj, whh}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		fwd := make([]*tensor.Tensor, T)
		bwd := make([]*tensor.Tensor, T)
		var h, c *tensor.Tensor
		for t := 0; t < T; t++ {
			pad := []bool{t >= lengths[0], t >= lengths[1]}
			h, c = g.LSTMCell(g.LSTMGates(p[0], t, h, p[1]), h, c, pad)
			fwd[t] = h
		}
		h, c = nil, nil
		for t := T - 1; t >= 0; t-- {
			pad := []bool{t >= lengths[0], t >= lengths[1]}
			h, c = g.LSTMCell(g.LSTMGates(p[0], t, h, p[1]), h, c, pad)
			bwd[t] = h
		}
		_ = c
		return g.StackSteps([][]*tensor.Tensor{fwd, bwd}, lengths)
	}, gradcheck.Options{})
}

func TestStackStepsZeroesPadding(t *testing.T) {
	g := tensor.NewGraph(1)
	a := g.Const([]float32{1, 2, 3, 4}, 2, 2)
	b := g.Const([]float32{5, 6, 7, 8}, 2, 2)
	out := g.StackSteps([][]*tensor.Tensor{{a, b}}, []int{2, 1})
	want := []float32{1, 2, 5, 6, 3, 4, 0, 0}
	for i, w := range want {
		if out.Data[i] != w {
			t.Fatalf("out = %v, want %v", out.Data, want)
		}
	}
}

func TestLSTMCellGolden(t *testing.T) {
	checkFusedGolden(t, "lstm_cell", []string{"gates", "h", "c"}, func(g *tensor.Graph, c *golden.Case, p []*tensor.Tensor) map[string]*tensor.Tensor {
		h, cc := g.LSTMCell(p[0], p[1], p[2], maskOf(c, t, "pad"))
		return map[string]*tensor.Tensor{"h": h, "c": cc}
	})
}
