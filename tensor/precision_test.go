package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/tensor"
)

func TestParsePrecision(t *testing.T) {
	for s, want := range map[string]tensor.Precision{"": tensor.FP32, "fp32": tensor.FP32, "bf16": tensor.BF16} {
		if got, err := tensor.ParsePrecision(s); err != nil || got != want {
			t.Errorf("ParsePrecision(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"fp16", "BF16", "float32", " bf16"} {
		if _, err := tensor.ParsePrecision(s); err == nil {
			t.Errorf("ParsePrecision(%q) accepted", s)
		}
	}
	if tensor.BF16.String() != "bf16" || tensor.FP32.String() != "fp32" {
		t.Errorf("String: %v %v", tensor.BF16, tensor.FP32)
	}
}

// bf16Ops are the operations that run matrix products, each as a function
// of its parameters, with the parameters' shapes.
var bf16Ops = []struct {
	name   string
	shapes [][]int
	plain  int // index of the parameter that is only added (a bias), or -1
	f      gradcheck.Forward
}{
	{"matmul_nn", [][]int{{3, 9}, {9, 5}}, -1, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor { return g.MatMul(p[0], p[1], false, false) }},
	{"matmul_tt", [][]int{{9, 3}, {5, 9}}, -1, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor { return g.MatMul(p[0], p[1], true, true) }},
	{"bmm_nt", [][]int{{2, 3, 9}, {2, 5, 9}}, -1, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.BatchedMatMul(p[0], p[1], false, true)
	}},
	{"bmm_tn", [][]int{{2, 9, 3}, {2, 9, 5}}, -1, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.BatchedMatMul(p[0], p[1], true, false)
	}},
	{"linear", [][]int{{2, 3, 9}, {5, 9}, {5}}, 2, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor { return g.Linear(p[0], p[1], p[2]) }},
	{"attention", [][]int{{2, 3, 8}, {2, 4, 8}, {2, 4, 8}}, -1, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Attention(p[0], p[1], p[2], 2, nil, false)
	}},
	{"lstm_gates", [][]int{{2, 3, 16}, {2, 4}, {16, 4}}, 0, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.LSTMGates(p[0], 1, p[1], p[2])
	}},
}

func bf16Params(shapes [][]int) []*tensor.Tensor {
	ps := make([]*tensor.Tensor, len(shapes))
	for i, s := range shapes {
		ps[i] = gradcheck.Param(string(rune('a'+i)), uint64(10+i), -1, 1, s...)
	}
	return ps
}

// valuesAndGrads runs f at precision p and returns its output and the
// gradients of Σ out·proj (proj fixed).
func valuesAndGrads(p tensor.Precision, ps []*tensor.Tensor, f gradcheck.Forward) (out []float32, grads [][]float32) {
	for _, q := range ps {
		q.ZeroGrad()
	}
	g := tensor.NewGraph(1)
	g.SetPrecision(p)
	o := f(g, ps)
	proj := make([]float32, o.Len())
	for i := range proj {
		proj[i] = float32(math.Sin(float64(3*i + 1)))
	}
	out = append([]float32(nil), o.Data...)
	g.BackwardFrom(o, proj)
	for _, q := range ps {
		grads = append(grads, append([]float32(nil), q.Grad...))
	}
	return out, grads
}

// TestBF16RoutesEveryMatrixProduct shows that in BF16 the forward and the
// backward products of every op run in bfloat16: the forward equals the
// FP32 forward on operands rounded to bfloat16 beforehand (to float32
// summation error), and values and gradients differ from FP32 ones by
// about bfloat16's rounding, not by nothing.
func TestBF16RoutesEveryMatrixProduct(t *testing.T) {
	for _, op := range bf16Ops {
		ps := bf16Params(op.shapes)
		out32, g32 := valuesAndGrads(tensor.FP32, ps, op.f)
		out16, g16 := valuesAndGrads(tensor.BF16, ps, op.f)
		// The same op in FP32 on pre-rounded parameters.
		rounded := bf16Params(op.shapes)
		for qi, q := range rounded {
			if qi == op.plain {
				continue
			}
			for i, v := range q.Data {
				q.Data[i] = kernels.BF16Round(v)
			}
		}
		outR, _ := valuesAndGrads(tensor.FP32, rounded, op.f)
		maxDiff := func(a, b []float32) (d float64) {
			for i := range a {
				d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
			}
			return d
		}
		if op.name != "attention" { // attention also rounds P, not a parameter
			if d := maxDiff(out16, outR); d > 1e-5 {
				t.Errorf("%s: BF16 forward differs from FP32 on rounded operands by %g", op.name, d)
			}
		}
		if d := maxDiff(out16, out32); d == 0 || d > 0.05 {
			t.Errorf("%s: BF16 forward differs from FP32 by %g, want bfloat16 rounding (0 < d ≤ 0.05)", op.name, d)
		}
		for i := range g32 {
			if i == op.plain {
				continue // the gradient of a bias is a sum of dY, no product
			}
			if d := maxDiff(g16[i], g32[i]); d == 0 || d > 0.1 {
				t.Errorf("%s: BF16 gradient of parameter %d differs from FP32 by %g, want bfloat16 rounding (0 < d ≤ 0.1)", op.name, i, d)
			}
		}
	}
}

// TestBF16Gradients checks the BF16 backward pass against finite differences
// of the exact (FP32) function, at bfloat16's tolerance: each gradient
// element here is a sum of at most 16 products of terms of order 1, each
// product off by at most 2⁻⁷ (two roundings of 2⁻⁸), so about 2⁻⁷·4 = 0.03
// at worst on random data (√16 of them) — Atol 3e-2 and Rtol 3e-2, where
// FP32 uses 2e-3 and 2e-2. A wrong derivative (a sign, a missing term, a
// factor of two) is off by the gradient's own size, order 1.
func TestBF16Gradients(t *testing.T) {
	for _, op := range bf16Ops {
		gradcheck.Check(t, "bf16_"+op.name, bf16Params(op.shapes), op.f, gradcheck.Options{Precision: tensor.BF16, Atol: 3e-2, Rtol: 3e-2})
	}
}

// TestElementwiseSplitIsExact runs dropout and ReLU, forward and backward,
// on tensors big enough to be split over goroutines, with 1 and 2 threads:
// the values and gradients are the same bits.
func TestElementwiseSplitIsExact(t *testing.T) {
	run := func(threads int) ([]float32, []float32) {
		defer kernels.SetThreads(kernels.SetThreads(threads))
		x := gradcheck.Param("x", 5, -1, 1, 3, 50000)
		g := tensor.NewGraph(7)
		y := g.Dropout(g.ReLU(x), 0.3)
		proj := make([]float32, y.Len())
		for i := range proj {
			proj[i] = float32(i%7) - 3
		}
		g.BackwardFrom(y, proj)
		return append([]float32(nil), y.Data...), append([]float32(nil), x.Grad...)
	}
	y1, g1 := run(1)
	y2, g2 := run(2)
	kept := 0
	for i := range y1 {
		if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) || math.Float32bits(g1[i]) != math.Float32bits(g2[i]) {
			t.Fatalf("element %d: 1 thread gives %v (grad %v), 2 threads %v (grad %v)", i, y1[i], g1[i], y2[i], g2[i])
		}
		if y1[i] != 0 {
			kept++
		}
	}
	if kept < len(y1)/4 || kept > len(y1)/2 { // ReLU keeps half, dropout 70% of that
		t.Fatalf("%d of %d elements nonzero", kept, len(y1))
	}
}
