package tensor_test

import (
	"math"
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
