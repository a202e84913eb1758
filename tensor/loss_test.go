package tensor_test

import (
	"math"
	"slices"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestCrossEntropyGradients(t *testing.T) {
	logits := gradcheck.Param("logits", 1, -3, 3, 5, 6)
	targets := []int32{2, 0, 5, 0, 1} // 0 is padding
	for _, eps := range []float32{0, 0.1} {
		gradcheck.Check(t, "cross_entropy", []*tensor.Tensor{logits}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.CrossEntropy(p[0], targets, 0, eps)
		}, gradcheck.Options{})
		gradcheck.Check(t, "cross_entropy_sum", []*tensor.Tensor{logits}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			out, _ := g.CrossEntropySum(p[0], targets, 0, eps)
			return out
		}, gradcheck.Options{})
	}
}

func TestCrossEntropyGolden(t *testing.T) {
	for _, name := range []string{"cross_entropy_smooth", "cross_entropy"} {
		c := golden.Load(t, name)
		targets := c.In(t, "targets").Int32()
		ignore, eps := int32(c.Attrs["ignore"]), float32(c.Attrs["smoothing"])
		checkGolden(t, name, []string{"logits"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			return g.CrossEntropy(p[0], targets, ignore, eps)
		})
	}
}

// The smoothed loss is the cross-entropy against the explicit target
// distribution q (1 − ε + ε/V on the target, ε/V elsewhere), and the sum
// variant is count × mean.
func TestCrossEntropyDefinition(t *testing.T) {
	const n, v, eps = 4, 5, 0.2
	logits := gradcheck.Param("logits", 2, -2, 2, n, v)
	targets := []int32{1, -1, 4, 0}
	var want float64
	for i, tg := range targets {
		if tg == -1 {
			continue
		}
		row := logits.Data[i*v : (i+1)*v]
		var z float64
		for _, x := range row {
			z += math.Exp(float64(x))
		}
		for j, x := range row {
			q := eps / v
			if int32(j) == tg {
				q += 1 - eps
			}
			want -= q * (float64(x) - math.Log(z))
		}
	}
	g := tensor.NewGraph(1)
	mean := g.CrossEntropy(logits, targets, -1, eps)
	sum, count := g.CrossEntropySum(logits, targets, -1, eps)
	if count != 3 {
		t.Errorf("count %d, want 3", count)
	}
	if got := float64(sum.Item()); math.Abs(got-want) > 1e-5*math.Abs(want) {
		t.Errorf("sum %v, want %v", got, want)
	}
	if got := float64(mean.Item()); math.Abs(got-want/3) > 1e-5*math.Abs(want) {
		t.Errorf("mean %v, want %v", got, want/3)
	}
}

// A batch of padding only gives a zero loss and zero gradient, not NaN.
func TestCrossEntropyAllIgnored(t *testing.T) {
	logits := gradcheck.Param("logits", 1, -1, 1, 3, 4)
	g := tensor.NewGraph(1)
	loss := g.CrossEntropy(logits, []int32{0, 0, 0}, 0, 0.1)
	if loss.Item() != 0 {
		t.Fatalf("loss %v, want 0", loss.Item())
	}
	g.Backward(loss)
	for i, v := range logits.Grad {
		if v != 0 {
			t.Fatalf("grad[%d] = %v, want 0", i, v)
		}
	}
}

func TestCrossEntropyBadTargetPanics(t *testing.T) {
	logits := tensor.NewParam("logits", 2, 3)
	defer func() {
		if recover() == nil {
			t.Error("target 3 with V = 3 did not panic")
		}
	}()
	tensor.NewGraph(1).CrossEntropy(logits, []int32{0, 3}, -100, 0)
}

// CrossEntropyNLL's second result is −log p(target) per counted row,
// whatever the smoothing: the smoothed loss of the same logits with ε = 0.
func TestCrossEntropyNLL(t *testing.T) {
	const n, v = 5, 7
	logits := gradcheck.Param("logits", 3, -3, 3, n, v)
	targets := []int32{3, 0, 6, 1, 0} // 0 is padding
	var want float64
	for i, tg := range targets {
		if tg == 0 {
			continue
		}
		row := logits.Data[i*v : (i+1)*v]
		var z float64
		for _, x := range row {
			z += math.Exp(float64(x))
		}
		want += math.Log(z) - float64(row[tg])
	}
	want /= 3
	for _, eps := range []float32{0, 0.1, 0.5} {
		g := tensor.NewGraph(1)
		loss, nll := g.CrossEntropyNLL(logits, targets, 0, eps)
		if math.Abs(nll-want) > 1e-6*want {
			t.Errorf("ε=%v: nll %v, want %v", eps, nll, want)
		}
		plain := g.CrossEntropy(logits, targets, 0, eps)
		if loss.Item() != plain.Item() {
			t.Errorf("ε=%v: loss %v, CrossEntropy gives %v", eps, loss.Item(), plain.Item())
		}
		if smoothed := float64(loss.Item()); eps > 0 && math.Abs(smoothed-want) < 1e-3 {
			t.Errorf("ε=%v: the smoothed loss %v equals the NLL %v", eps, smoothed, want)
		}
	}
}

func TestCrossEntropyDistillGolden(t *testing.T) {
	const name = "cross_entropy_distill"
	c := golden.Load(t, name)
	targets := c.In(t, "targets").Int32()
	soft := tensor.Soft{K: int(c.Attrs["k"]), IDs: c.In(t, "soft_ids").Int32(), P: c.In(t, "soft_p").Float32()}
	ignore, eps, w := int32(c.Attrs["ignore"]), float32(c.Attrs["smoothing"]), float32(c.Attrs["weight"])
	checkGolden(t, name, []string{"logits"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		out, _ := g.CrossEntropyDistillNLL(p[0], targets, ignore, eps, soft, w)
		return out
	})
}

// distillCase is a small batch with soft targets: row 1 is padding, and
// row 2 names symbol 2 twice (the probabilities of a repeated symbol add).
func distillCase() (targets []int32, soft tensor.Soft) {
	targets = []int32{2, 0, 5, 1, 3}
	soft = tensor.Soft{K: 3,
		IDs: []int32{2, 4, 0, 1, 1, 1, 2, 2, 5, 1, 3, 0, 3, 4, 5},
		P:   []float32{0.5, 0.3, 0.2, 1, 0, 0, 0.25, 0.25, 0.5, 0.6, 0.4, 0, 0.1, 0.1, 0.8},
	}
	return targets, soft
}

func TestCrossEntropyDistillGradients(t *testing.T) {
	logits := gradcheck.Param("logits", 4, -3, 3, 5, 6)
	targets, soft := distillCase()
	for _, c := range []struct{ eps, w float32 }{{0, 0.5}, {0.1, 0.3}, {0.1, 1}} {
		gradcheck.Check(t, "cross_entropy_distill", []*tensor.Tensor{logits}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
			out, _ := g.CrossEntropyDistillNLL(p[0], targets, 0, c.eps, soft, c.w)
			return out
		}, gradcheck.Options{})
	}
}

// The distillation loss is the cross-entropy against the explicit mixture
// (1 − λ)·[(1 − ε)·onehot + ε/V] + λ·q, and its NLL is the plain one's.
func TestCrossEntropyDistillDefinition(t *testing.T) {
	const n, v, eps, w = 5, 6, 0.1, 0.4
	logits := gradcheck.Param("logits", 5, -2, 2, n, v)
	targets, soft := distillCase()
	var want float64
	for i, tg := range targets {
		if tg == 0 {
			continue
		}
		q := make([]float64, v)
		for j := range q {
			q[j] = (1 - w) * eps / v
		}
		q[tg] += (1 - w) * (1 - eps)
		for k := i * soft.K; k < (i+1)*soft.K; k++ {
			q[soft.IDs[k]] += w * float64(soft.P[k])
		}
		row := logits.Data[i*v : (i+1)*v]
		var z float64
		for _, x := range row {
			z += math.Exp(float64(x))
		}
		for j, x := range row {
			want -= q[j] * (float64(x) - math.Log(z))
		}
	}
	want /= 4
	g := tensor.NewGraph(1)
	loss, nll := g.CrossEntropyDistillNLL(logits, targets, 0, eps, soft, w)
	if got := float64(loss.Item()); math.Abs(got-want) > 1e-5*math.Abs(want) {
		t.Errorf("loss %v, want %v", got, want)
	}
	_, plainNLL := g.CrossEntropyNLL(logits, targets, 0, eps)
	if nll != plainNLL {
		t.Errorf("nll %v, CrossEntropyNLL gives %v", nll, plainNLL)
	}
}

// With weight 0 the teacher is ignored: the same loss and gradient, bit for
// bit, as the plain loss; and the backward pass reads its own copy of the
// soft targets, so a caller may reuse its slices after the forward pass.
func TestCrossEntropyDistillWeightZeroAndCopies(t *testing.T) {
	targets, soft := distillCase()
	grad := func(distill bool, w float32) ([]float32, float32) {
		logits := gradcheck.Param("logits", 6, -3, 3, 5, 6)
		g := tensor.NewGraph(1)
		var loss *tensor.Tensor
		if distill {
			s := tensor.Soft{K: soft.K, IDs: slices.Clone(soft.IDs), P: slices.Clone(soft.P)}
			loss, _ = g.CrossEntropyDistillNLL(logits, targets, 0, 0.1, s, w)
			clear(s.IDs) // reused by the caller before the backward pass
			clear(s.P)
		} else {
			loss, _ = g.CrossEntropyNLL(logits, targets, 0, 0.1)
		}
		g.Backward(loss)
		return logits.Grad, loss.Item()
	}
	plain, plainLoss := grad(false, 0)
	zero, zeroLoss := grad(true, 0)
	if zeroLoss != plainLoss || !slices.Equal(zero, plain) {
		t.Errorf("weight 0: loss %v and gradient %v, the plain loss gives %v and %v", zeroLoss, zero, plainLoss, plain)
	}
	// Against a pass whose slices were left alone: the same gradient.
	kept := func() []float32 {
		logits := gradcheck.Param("logits", 6, -3, 3, 5, 6)
		g := tensor.NewGraph(1)
		loss, _ := g.CrossEntropyDistillNLL(logits, targets, 0, 0.1, soft, 0.7)
		g.Backward(loss)
		return logits.Grad
	}()
	if reused, _ := grad(true, 0.7); !slices.Equal(reused, kept) {
		t.Errorf("the gradient changed when the caller reused its soft-target slices: %v, want %v", reused, kept)
	}
	if slices.Equal(kept, plain) {
		t.Error("weight 0.7 gives the plain loss's gradient: the teacher was not used")
	}
}

func TestCrossEntropyDistillRefusesBadSoftTargets(t *testing.T) {
	targets, soft := distillCase()
	bad := map[string]tensor.Soft{
		"a row sums to 0.9":  {K: 3, IDs: soft.IDs, P: append([]float32{0.4}, soft.P[1:]...)},
		"an id out of range": {K: 3, IDs: append([]int32{6}, soft.IDs[1:]...), P: soft.P},
		"a negative p":       {K: 3, IDs: soft.IDs, P: append([]float32{-0.1, 0.9, 0.2}, soft.P[3:]...)},
		"too few":            {K: 3, IDs: soft.IDs[:12], P: soft.P[:12]},
		"K = 0":              {K: 0},
	}
	for what, s := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", what)
				}
			}()
			logits := gradcheck.Param("logits", 1, -1, 1, 5, 6)
			tensor.NewGraph(1).CrossEntropyDistillNLL(logits, targets, 0, 0.1, s, 0.5)
		}()
	}
	// Row 1 is padding: its soft targets are not read, whatever they hold.
	odd := tensor.Soft{K: 3, IDs: slices.Clone(soft.IDs), P: slices.Clone(soft.P)}
	odd.IDs[3], odd.P[3] = 99, -5
	logits := gradcheck.Param("logits", 1, -1, 1, 5, 6)
	tensor.NewGraph(1).CrossEntropyDistillNLL(logits, targets, 0, 0.1, odd, 0.5)
}
