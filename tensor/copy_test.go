package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

// copyMixRef is the pointer-generator's log P written out in float64:
// log(σ(g)·softmax(z)(w) + (1 − σ(g))·Σ_{i: x_i = w} a_i).
func copyMixRef(z, gate, a []float32, ids []int32, rowOf []int, N, V, S int) []float64 {
	out := make([]float64, N*V)
	for n := range N {
		var m, sum float64 = math.Inf(-1), 0
		for _, v := range z[n*V : (n+1)*V] {
			m = math.Max(m, float64(v))
		}
		for _, v := range z[n*V : (n+1)*V] {
			sum += math.Exp(float64(v) - m)
		}
		p := 1 / (1 + math.Exp(-float64(gate[n])))
		mix := make([]float64, V)
		for w := range V {
			mix[w] = p * math.Exp(float64(z[n*V+w])-m) / sum
		}
		for i := range S {
			mix[ids[rowOf[n]*S+i]] += (1 - p) * float64(a[n*S+i])
		}
		for w := range V {
			out[n*V+w] = math.Log(mix[w])
		}
	}
	return out
}

// TestCopyMixMatchesReference checks the forward against the float64
// formula, with repeated source ids, padding, a gate saturated both ways,
// and a row map (several output rows per source).
func TestCopyMixMatchesReference(t *testing.T) {
	N, V, S := 5, 7, 4
	z := gradcheck.Param("z", 1, -3, 3, N, V)
	gate := tensor.FromData([]float32{0.3, -2, 40, -40, 1}, N, 1)
	a := []float32{0.5, 0.2, 0.3, 0, 0.1, 0.1, 0.4, 0.4, 1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25, 0.7, 0.3, 0, 0}
	ids := []int32{3, 5, 3, 0, 6, 6, 1, 2}
	rowOf := []int{0, 1, 0, 1, 0}
	g := tensor.NewGraph(1)
	out := g.CopyMix(z, gate, tensor.FromData(a, N, S), ids, rowOf)
	want := copyMixRef(z.Data, gate.Data, a, ids, rowOf, N, V, S)
	for i, w := range want {
		got := float64(out.Data[i])
		if math.IsInf(w, -1) {
			t.Fatalf("reference log P[%d] is −Inf: the test data should not underflow", i)
		}
		if math.Abs(got-w) > 1e-5*max(1, math.Abs(w)) {
			t.Errorf("log P[%d, %d] = %g, want %g", i/V, i%V, got, w)
		}
	}
	// Each row is a distribution.
	for n := range N {
		var s float64
		for _, l := range out.Data[n*V : (n+1)*V] {
			s += math.Exp(float64(l))
		}
		if math.Abs(s-1) > 1e-5 {
			t.Errorf("row %d sums to %g", n, s)
		}
	}
	// A gate of −40 leaves almost only the copy distribution: a word
	// outside the source is near log σ(−40) ≈ −40 + log P_vocab, not −Inf.
	if l := out.Data[3*V+4]; math.IsInf(float64(l), 0) || l > -35 {
		t.Errorf("row 3 (copy only), word 4 not in the source: log P = %g, want about −40 + log P_vocab", l)
	}
}

// TestCopyMixGradients checks the backward against finite differences,
// with every input free (attention weights not normalized, so their
// gradient is tested on its own).
func TestCopyMixGradients(t *testing.T) {
	N, V, S := 4, 6, 3
	z := gradcheck.Param("logits", 1, -2, 2, N, V)
	gate := gradcheck.Param("gate", 2, -2, 2, N, 1)
	a := gradcheck.Param("attn", 3, 0.05, 0.6, N, S)
	ids := []int32{1, 4, 1, 5, 2, 0}
	rowOf := []int{0, 0, 1, 1}
	gradcheck.Check(t, "copy_mix", []*tensor.Tensor{z, gate, a}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.CopyMix(p[0], p[1], p[2], ids, rowOf)
	}, gradcheck.Options{})
}

// TestCopyMixGolden compares values and gradients with PyTorch
// (internal/golden/gen_copy.py): logits, gate, and the copy attention as a
// masked softmax of free scores, all with gradients.
func TestCopyMixGolden(t *testing.T) {
	c := golden.Load(t, "copy_mix")
	src := c.In(t, "src").Int32()
	var rowOf []int
	for _, r := range c.In(t, "row_of").Int32() {
		rowOf = append(rowOf, int(r))
	}
	mask := keepToMask(c.In(t, "keep"))
	checkGolden(t, "copy_mix", []string{"logits", "gate", "scores"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.CopyMix(p[0], p[1], g.Softmax(p[2], mask), src, rowOf)
	})
}

// TestCopyMixCrossEntropy checks that CrossEntropy of log P is the
// label-smoothed NLL of the mixture itself (its log-softmax leaves log P
// unchanged), which is what training relies on.
func TestCopyMixCrossEntropy(t *testing.T) {
	N, V, S := 3, 5, 2
	z := gradcheck.Param("z", 4, -2, 2, N, V)
	gate := gradcheck.Param("gate", 5, -1, 1, N, 1)
	a := []float32{0.6, 0.4, 1, 0, 0.5, 0.5}
	ids := []int32{2, 3, 4, 0, 1, 1}
	targets := []int32{2, 4, 1}
	const eps = 0.1
	g := tensor.NewGraph(1)
	lp := g.CopyMix(z, gate, tensor.FromData(a, N, S), ids, nil)
	loss, nll := g.CrossEntropyNLL(lp, targets, -1, eps)
	var want, wantNLL float64
	for n, tg := range targets {
		row := lp.Data[n*V : (n+1)*V]
		var smooth float64
		for _, l := range row {
			smooth -= float64(l)
		}
		want += (1-eps)*-float64(row[tg]) + eps/float64(V)*smooth
		wantNLL -= float64(row[tg])
	}
	want /= float64(N)
	wantNLL /= float64(N)
	if math.Abs(float64(loss.Data[0])-want) > 1e-5 || math.Abs(nll-wantNLL) > 1e-5 {
		t.Errorf("cross-entropy of log P: loss %g, nll %g; want %g, %g", loss.Data[0], nll, want, wantNLL)
	}
}

// TestAttentionHeadMean checks the head average against AttentionProbs,
// its gradients against finite differences through a masked attention,
// and against PyTorch.
func TestAttentionHeadMean(t *testing.T) {
	B, Tq, Tk, D, H := 2, 3, 4, 8, 4
	q := gradcheck.Param("q", 1, -1, 1, B, Tq, D)
	k := gradcheck.Param("k", 2, -1, 1, B, Tk, D)
	v := gradcheck.Param("v", 3, -1, 1, B, Tk, D)
	pad := []bool{false, false, false, false, false, true, false, true}
	g := tensor.NewGraph(1)
	att := g.Attention(q, k, v, H, pad, false)
	m := g.AttentionHeadMean(att)
	P := tensor.AttentionProbs(att)
	for b := range B {
		for i := range Tq {
			var sum float32
			for j := range Tk {
				var want float32
				for h := range H {
					want += P[((b*H+h)*Tq+i)*Tk+j] / float32(H)
				}
				got := m.Data[(b*Tq+i)*Tk+j]
				sum += got
				if math.Abs(float64(got-want)) > 1e-6 {
					t.Errorf("mean[%d,%d,%d] = %g, want %g", b, i, j, got, want)
				}
				if pad[b*Tk+j] && got != 0 {
					t.Errorf("mean[%d,%d,%d] = %g at a padded key", b, i, j, got)
				}
			}
			if math.Abs(float64(sum)-1) > 1e-5 {
				t.Errorf("row (%d, %d) sums to %g", b, i, sum)
			}
		}
	}
	gradcheck.Check(t, "attention_head_mean", []*tensor.Tensor{q, k}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.AttentionHeadMean(g.Attention(p[0], p[1], v, H, pad, false))
	}, gradcheck.Options{})

	c := golden.Load(t, "attention_head_mean")
	gpad := maskOf(c, t, "pad")
	heads := int(c.Attrs["heads"])
	checkGolden(t, "attention_head_mean", []string{"q", "k"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		vv := g.Zeros(p[1].Shape...)
		return g.AttentionHeadMean(g.Attention(p[0], p[1], vv, heads, gpad, false))
	})
}
