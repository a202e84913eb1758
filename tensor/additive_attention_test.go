package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestAdditiveAttentionMatchesReference(t *testing.T) {
	B, Tk, A, Dv := 2, 4, 3, 5
	q := gradcheck.Param("q", 1, -1, 1, B, A)
	k := gradcheck.Param("k", 2, -1, 1, B, Tk, A)
	v := gradcheck.Param("v", 3, -1, 1, A)
	vals := gradcheck.Param("vals", 4, -1, 1, B, Tk, Dv)
	pad := []bool{false, false, true, true, false, false, false, false}
	g := tensor.NewGraph(1)
	ctx, w := g.AdditiveAttention(q, k, v, vals, pad)
	for b := 0; b < B; b++ {
		e := make([]float64, Tk)
		var sum float64
		for j := 0; j < Tk; j++ {
			if pad[b*Tk+j] {
				continue
			}
			for a := 0; a < A; a++ {
				e[j] += float64(v.Data[a]) * math.Tanh(float64(q.Data[b*A+a]+k.Data[(b*Tk+j)*A+a]))
			}
			e[j] = math.Exp(e[j])
			sum += e[j]
		}
		for j := 0; j < Tk; j++ {
			if math.Abs(float64(w.Data[b*Tk+j])-e[j]/sum) > 1e-6 {
				t.Fatalf("weight[%d,%d] = %v, want %v", b, j, w.Data[b*Tk+j], e[j]/sum)
			}
		}
		for d := 0; d < Dv; d++ {
			var c float64
			for j := 0; j < Tk; j++ {
				c += e[j] / sum * float64(vals.Data[(b*Tk+j)*Dv+d])
			}
			if math.Abs(float64(ctx.Data[b*Dv+d])-c) > 1e-5 {
				t.Fatalf("context[%d,%d] = %v, want %v", b, d, ctx.Data[b*Dv+d], c)
			}
		}
	}
	// A fully padded row: zero weights and context, finite gradients.
	g = tensor.NewGraph(1)
	allPad := []bool{true, true, true, true, false, true, false, false}
	ctx, w = g.AdditiveAttention(q, k, v, vals, allPad)
	for i := 0; i < Tk; i++ {
		if w.Data[i] != 0 {
			t.Fatalf("fully padded row: weight %v", w.Data[i])
		}
	}
	g.Backward(g.Sum(ctx))
	for _, p := range []*tensor.Tensor{q, k, v, vals} {
		for _, d := range p.Grad {
			if math.IsNaN(float64(d)) {
				t.Fatalf("%s: NaN gradient", p.Name)
			}
		}
	}
}

func TestAdditiveAttentionGradients(t *testing.T) {
	B, Tk, A, Dv := 2, 4, 3, 2
	pad := []bool{false, false, false, true, false, false, false, false}
	q := gradcheck.Param("q", 1, -1, 1, B, A)
	k := gradcheck.Param("k", 2, -1, 1, B, Tk, A)
	v := gradcheck.Param("v", 3, -1, 1, A)
	vals := gradcheck.Param("vals", 4, -1, 1, B, Tk, Dv)
	ps := []*tensor.Tensor{q, k, v, vals}
	gradcheck.Check(t, "additive_context", ps, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		c, _ := g.AdditiveAttention(p[0], p[1], p[2], p[3], pad)
		return c
	}, gradcheck.Options{})
	gradcheck.Check(t, "additive_weights", ps[:3], func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.AdditiveAttentionWeights(p[0], p[1], p[2], pad)
	}, gradcheck.Options{})
}

func TestAdditiveAttentionGolden(t *testing.T) {
	checkFusedGolden(t, "additive_attention", []string{"query", "keys", "v", "values"}, func(g *tensor.Graph, c *golden.Case, p []*tensor.Tensor) map[string]*tensor.Tensor {
		ctx, w := g.AdditiveAttention(p[0], p[1], p[2], p[3], maskOf(c, t, "pad"))
		return map[string]*tensor.Tensor{"context": ctx, "weights": w}
	})
}

// TestAdditiveAttentionShared: query rows that share sources through rowOf
// get what AdditiveAttention gives on the sources copied row by row.
func TestAdditiveAttentionShared(t *testing.T) {
	B, Tk, A, Dv := 2, 4, 3, 5
	rowOf := []int{1, 0, 1, 1, 0} // five hypotheses over two sources
	R := len(rowOf)
	q := gradcheck.Param("q", 1, -1, 1, R, A)
	k := gradcheck.Param("k", 2, -1, 1, B, Tk, A)
	v := gradcheck.Param("v", 3, -1, 1, A)
	vals := gradcheck.Param("vals", 4, -1, 1, B, Tk, Dv)
	pad := []bool{false, false, true, true, false, false, false, false}
	// The copies: row r of each is batch row rowOf[r].
	kc := tensor.FromData(make([]float32, R*Tk*A), R, Tk, A)
	vc := tensor.FromData(make([]float32, R*Tk*Dv), R, Tk, Dv)
	padc := make([]bool, R*Tk)
	for r, b := range rowOf {
		copy(kc.Data[r*Tk*A:], k.Data[b*Tk*A:(b+1)*Tk*A])
		copy(vc.Data[r*Tk*Dv:], vals.Data[b*Tk*Dv:(b+1)*Tk*Dv])
		copy(padc[r*Tk:], pad[b*Tk:(b+1)*Tk])
	}
	g := tensor.NewGraph(1)
	g.SetNoGrad(true)
	wantCtx, wantW := g.AdditiveAttention(q, kc, v, vc, padc)
	ctx, w := g.AdditiveAttentionShared(q, k, v, vals, pad, rowOf)
	for i := range wantW.Data {
		if math.Abs(float64(w.Data[i]-wantW.Data[i])) > 1e-6 {
			t.Fatalf("weight %d: %v, want %v", i, w.Data[i], wantW.Data[i])
		}
	}
	for i := range wantCtx.Data {
		if math.Abs(float64(ctx.Data[i]-wantCtx.Data[i])) > 1e-5 {
			t.Fatalf("context %d: %v, want %v", i, ctx.Data[i], wantCtx.Data[i])
		}
	}
	// It is for decoding: inputs that need gradients are refused.
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for inputs that need gradients")
		}
	}()
	tensor.NewGraph(1).AdditiveAttentionShared(q, k, v, vals, pad, rowOf)
}
