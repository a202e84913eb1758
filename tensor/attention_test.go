package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

// attentionRef is multi-head attention written out with loops in float64,
// heads as contiguous column blocks; masked rows with no key give zeros.
func attentionRef(q, k, v []float32, B, Tq, Tk, D, H int, pad []bool, causal bool) []float64 {
	dh := D / H
	out := make([]float64, B*Tq*D)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 0; i < Tq; i++ {
				s := make([]float64, Tk)
				ok := make([]bool, Tk)
				mx := math.Inf(-1)
				for j := 0; j < Tk; j++ {
					ok[j] = (pad == nil || !pad[b*Tk+j]) && (!causal || j <= i+Tk-Tq)
					if !ok[j] {
						continue
					}
					for d := 0; d < dh; d++ {
						s[j] += float64(q[(b*Tq+i)*D+h*dh+d]) * float64(k[(b*Tk+j)*D+h*dh+d])
					}
					s[j] /= math.Sqrt(float64(dh))
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range s {
					if ok[j] {
						s[j] = math.Exp(s[j] - mx)
						sum += s[j]
					}
				}
				for j := range s {
					if !ok[j] {
						continue
					}
					for d := 0; d < dh; d++ {
						out[(b*Tq+i)*D+h*dh+d] += s[j] / sum * float64(v[(b*Tk+j)*D+h*dh+d])
					}
				}
			}
		}
	}
	return out
}

func TestAttentionMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name            string
		B, Tq, Tk, D, H int
		pad             bool
		causal          bool
	}{
		{"plain", 2, 3, 5, 8, 2, false, false},
		{"pad", 2, 4, 4, 6, 3, true, false},
		{"causal", 2, 4, 4, 8, 4, true, true},
		{"causal_offset", 2, 2, 5, 4, 1, false, true},
		{"causal_tq_gt_tk", 1, 4, 2, 4, 2, false, true},
	} {
		q := gradcheck.Param("q", 1, -1, 1, tc.B, tc.Tq, tc.D)
		k := gradcheck.Param("k", 2, -1, 1, tc.B, tc.Tk, tc.D)
		v := gradcheck.Param("v", 3, -1, 1, tc.B, tc.Tk, tc.D)
		var pad []bool
		if tc.pad {
			pad = make([]bool, tc.B*tc.Tk)
			pad[tc.Tk-1] = true // batch 0: last key padded
			pad[tc.Tk] = true   // batch 1: first key padded
		}
		g := tensor.NewGraph(1)
		out := g.Attention(q, k, v, tc.H, pad, tc.causal)
		want := attentionRef(q.Data, k.Data, v.Data, tc.B, tc.Tq, tc.Tk, tc.D, tc.H, pad, tc.causal)
		for i, w := range want {
			if d := math.Abs(float64(out.Data[i]) - w); d > 1e-5 {
				t.Fatalf("%s: out[%d] = %v, want %v", tc.name, i, out.Data[i], w)
			}
		}
		probs := tensor.AttentionProbs(out)
		if len(probs) != tc.B*tc.H*tc.Tq*tc.Tk {
			t.Fatalf("%s: %d probabilities", tc.name, len(probs))
		}
		for r := 0; r < tc.B*tc.H*tc.Tq; r++ {
			var s float64
			for _, p := range probs[r*tc.Tk : (r+1)*tc.Tk] {
				if p < 0 {
					t.Fatalf("%s: negative probability", tc.name)
				}
				s += float64(p)
			}
			i, b := r%tc.Tq, r/(tc.H*tc.Tq)
			empty := true
			for j := 0; j < tc.Tk; j++ {
				if (pad == nil || !pad[b*tc.Tk+j]) && (!tc.causal || j <= i+tc.Tk-tc.Tq) {
					empty = false
				}
			}
			if !empty && math.Abs(s-1) > 1e-5 || empty && s != 0 {
				t.Fatalf("%s: row %d sums to %v", tc.name, r, s)
			}
		}
	}
}

func TestAttentionGradients(t *testing.T) {
	pad := []bool{false, false, false, true, true, false, false, false}
	for _, causal := range []bool{false, true} {
		q := gradcheck.Param("q", 1, -1, 1, 2, 3, 4)
		k := gradcheck.Param("k", 2, -1, 1, 2, 4, 4)
		v := gradcheck.Param("v", 3, -1, 1, 2, 4, 4)
		gradcheck.Check(t, "attention", []*tensor.Tensor{q, k, v}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.Attention(p[0], p[1], p[2], 2, pad, causal)
		}, gradcheck.Options{})
	}
	// Self-attention with q, k and v the same tensor: gradients add up.
	x := gradcheck.Param("x", 4, -1, 1, 2, 3, 6)
	gradcheck.Check(t, "self_attention", []*tensor.Tensor{x}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Attention(p[0], p[0], p[0], 3, nil, true)
	}, gradcheck.Options{})
}

func TestAttentionFullyPaddedRowIsZero(t *testing.T) {
	q := gradcheck.Param("q", 1, -1, 1, 2, 2, 4)
	k := gradcheck.Param("k", 2, -1, 1, 2, 3, 4)
	v := gradcheck.Param("v", 3, -1, 1, 2, 3, 4)
	pad := []bool{true, true, true, false, false, true} // batch 0 has no key
	g := tensor.NewGraph(1)
	out := g.Attention(q, k, v, 2, pad, false)
	for i, x := range out.Data[:8] {
		if x != 0 {
			t.Fatalf("fully padded batch: out[%d] = %v", i, x)
		}
	}
	g.Backward(g.Sum(out))
	for _, p := range []*tensor.Tensor{q, k, v} {
		for i, d := range p.Grad {
			if math.IsNaN(float64(d)) || math.IsInf(float64(d), 0) {
				t.Fatalf("%s grad[%d] = %v", p.Name, i, d)
			}
		}
	}
	for i := 0; i < 8; i++ {
		if q.Grad[i] != 0 {
			t.Fatalf("fully padded batch: dq[%d] = %v", i, q.Grad[i])
		}
	}
}

// checkFusedGolden runs a fused op on a golden case's inputs, compares the
// named outputs with PyTorch (1e-5 relative) and, after seeding every
// output that has an upstream gradient "up_<name>" in the case, the
// gradients of the inputs (1e-4 relative).
func checkFusedGolden(t *testing.T, name string, inputs []string, f func(g *tensor.Graph, c *golden.Case, p []*tensor.Tensor) map[string]*tensor.Tensor) {
	t.Helper()
	c := golden.Load(t, name)
	ps := make([]*tensor.Tensor, len(inputs))
	for i, n := range inputs {
		ps[i] = param(t, c, n)
	}
	g := tensor.NewGraph(1)
	outs := f(g, c, ps)
	var seeded []*tensor.Tensor
	var ups [][]float32
	for key, want := range c.Outputs {
		out, ok := outs[key]
		if !ok {
			t.Fatalf("%s: no output %q", name, key)
		}
		golden.Close(t, name+" "+key, out.Data, want, 1e-5, 1e-6)
		up, ok := c.Inputs["up_"+key]
		if !ok {
			continue
		}
		seeded, ups = append(seeded, out), append(ups, up.Float32())
	}
	g.BackwardFromAll(seeded, ups)
	checkGrads(t, c, name, inputs, ps)
}

// maskOf turns a golden 0/1 array into a []bool (true where 1).
func maskOf(c *golden.Case, t *testing.T, name string) []bool {
	a := c.In(t, name)
	m := make([]bool, len(a.Data))
	for i, v := range a.Data {
		m[i] = v != 0
	}
	return m
}

func TestAttentionGolden(t *testing.T) {
	for _, name := range []string{"attention_pad", "attention_causal_offset"} {
		checkFusedGolden(t, name, []string{"q", "k", "v"}, func(g *tensor.Graph, c *golden.Case, p []*tensor.Tensor) map[string]*tensor.Tensor {
			out := g.Attention(p[0], p[1], p[2], int(c.Attrs["heads"]), maskOf(c, t, "pad"), c.Attrs["causal"] != 0)
			probs := tensor.FromData(tensor.AttentionProbs(out), c.Outputs["probs"].Shape...)
			return map[string]*tensor.Tensor{"out": out, "probs": probs}
		})
	}
}

// TestAttentionDropout checks dropout on the attention probabilities: the
// gradient with a fixed mask (finite differences), the identity when not
// training, and that AttentionProbs reports the probabilities before
// dropout.
func TestAttentionDropout(t *testing.T) {
	q := gradcheck.Param("q", 1, -1, 1, 2, 3, 4)
	k := gradcheck.Param("k", 2, -1, 1, 2, 5, 4)
	v := gradcheck.Param("v", 3, -1, 1, 2, 5, 4)
	pad := []bool{false, false, false, true, true, false, false, false, false, false}
	gradcheck.Check(t, "attention_dropout", []*tensor.Tensor{q, k, v}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.AttentionDropout(p[0], p[1], p[2], 2, pad, false, 0.3)
	}, gradcheck.Options{Seed: 4})

	g := tensor.NewGraph(4)
	plain := g.Attention(q, k, v, 2, pad, false)
	dropped := g.AttentionDropout(q, k, v, 2, pad, false, 0.3)
	if !equalFloats(tensor.AttentionProbs(plain), tensor.AttentionProbs(dropped)) {
		t.Error("AttentionProbs differs with dropout: it must report the probabilities before dropout")
	}
	if equalFloats(plain.Data, dropped.Data) {
		t.Error("dropout at p = 0.3 changed no output")
	}
	g.SetTraining(false)
	if eval := g.AttentionDropout(q, k, v, 2, pad, false, 0.3); !equalFloats(eval.Data, plain.Data) {
		t.Error("attention dropout is active while not training")
	}
}
