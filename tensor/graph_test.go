package tensor_test

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

// miniModel is a toy Transformer-like block that exercises most ops: an
// embedding with learned positions, a residual feed-forward branch with
// GELU and dropout, layer norm, causal self-attention scores, concat and
// slice, and a label-smoothed cross-entropy with padding.
type miniModel struct {
	emb, pos, w1, b1, gamma, beta, wOut *tensor.Tensor
	mask                                *tensor.Tensor
	ids, targets                        []int32
}

func newMiniModel() *miniModel {
	const v, d = 11, 8
	return &miniModel{
		emb:     gradcheck.Param("emb", 1, -1, 1, v, d),
		pos:     gradcheck.Param("pos", 2, -1, 1, 3, d),
		w1:      gradcheck.Param("w1", 3, -0.5, 0.5, d, d),
		b1:      gradcheck.Param("b1", 4, -0.1, 0.1, d),
		gamma:   gradcheck.Param("gamma", 5, 0.9, 1.1, d),
		beta:    gradcheck.Param("beta", 6, -0.1, 0.1, d),
		wOut:    gradcheck.Param("wOut", 7, -0.5, 0.5, v, d),
		mask:    causalMask(3),
		ids:     []int32{3, 5, 7, 2, 9, 0},
		targets: []int32{5, 7, 1, 9, 0, 0},
	}
}

func (m *miniModel) params() []*tensor.Tensor {
	return []*tensor.Tensor{m.emb, m.pos, m.w1, m.b1, m.gamma, m.beta, m.wOut}
}

// loss builds the forward pass for a (2, 3) batch; without attention the
// context is h itself, and no batched matrix product is used.
func (m *miniModel) loss(g *tensor.Graph, attention bool) *tensor.Tensor {
	x := g.Add(g.Embedding(m.emb, m.ids, 2, 3), m.pos) // (2, 3, 8)
	h := g.Dropout(g.GELU(g.Linear(x, m.w1, m.b1)), 0.1)
	h = g.LayerNorm(g.AddScaled(x, h, 0.5), m.gamma, m.beta, 1e-5)
	ctx := g.Softmax(h, nil)
	if attention {
		att := g.Softmax(g.Scale(g.BatchedMatMul(h, h, false, true), 0.35), m.mask) // (2, 3, 3)
		ctx = g.BatchedMatMul(att, h, false, false)                                 // (2, 3, 8)
	}
	both := g.Concat(-1, ctx, g.Tanh(h), g.Sigmoid(x), g.ReLU(x)) // (2, 3, 32)
	y := g.Mul(g.Slice(both, -1, 0, 8), g.Slice(both, 2, 8, 16))
	logits := g.Linear(g.Reshape(y, -1, 8), m.wOut, nil) // (6, 11)
	ce := g.CrossEntropy(logits, m.targets, 0, 0.1)
	return g.Add(ce, g.Scale(g.Mean(g.LogSoftmax(logits, nil)), -1e-3))
}

// After the first step has sized the arenas, a training step — forward,
// backward, reset — allocates nothing.
func TestTrainingStepDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	t.Run("elementwise+linear", func(t *testing.T) { checkNoAllocs(t, false) })
	t.Run("with batched matmul", func(t *testing.T) { checkNoAllocs(t, true) })
}

func checkNoAllocs(t *testing.T, attention bool) {
	m := newMiniModel()
	g := tensor.NewGraph(1)
	step := func() {
		loss := m.loss(g, attention)
		g.Backward(loss)
		for _, p := range m.params() {
			p.ZeroGrad()
		}
		g.Reset()
	}
	step()
	bytes := g.ArenaBytes()
	if bytes == 0 {
		t.Fatal("the arena did not grow after the first step")
	}
	if allocs := testing.AllocsPerRun(20, step); allocs != 0 {
		t.Errorf("a training step makes %v allocations, want 0", allocs)
	}
	if g.ArenaBytes() != bytes {
		t.Errorf("arena grew from %d to %d bytes on identical steps", bytes, g.ArenaBytes())
	}
}

// The mini model's gradient is right end to end, which also checks that
// the ops compose (views, broadcasts, several uses of one tensor).
func TestMiniModelGradients(t *testing.T) {
	m := newMiniModel()
	gradcheck.Check(t, "mini", m.params(), func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return m.loss(g, true)
	}, gradcheck.Options{Seed: 3})
}

// Reset recycles memory without changing results: with dropout off, every
// step computes the same loss and gradients.
func TestResetRepeatsSteps(t *testing.T) {
	m := newMiniModel()
	g := tensor.NewGraph(1)
	g.SetTraining(false)
	var firstLoss float32
	var firstGrads [][]float32
	for step := 0; step < 3; step++ {
		for _, p := range m.params() {
			p.ZeroGrad()
		}
		loss := m.loss(g, true)
		g.Backward(loss)
		if step == 0 {
			firstLoss = loss.Item()
			for _, p := range m.params() {
				firstGrads = append(firstGrads, append([]float32(nil), p.Grad...))
			}
		} else {
			if loss.Item() != firstLoss {
				t.Errorf("step %d: loss %v, want %v", step, loss.Item(), firstLoss)
			}
			for i, p := range m.params() {
				if !equalFloats(p.Grad, firstGrads[i]) {
					t.Errorf("step %d: gradient of %s changed", step, p.Name)
				}
			}
		}
		g.Reset()
	}
	if math.IsNaN(float64(firstLoss)) || firstLoss <= 0 {
		t.Errorf("loss %v", firstLoss)
	}
}

// Backward accumulates into parameters: two backward passes give twice
// the gradient, as gradient accumulation needs.
func TestBackwardAccumulates(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 2, 3)
	g := tensor.NewGraph(1)
	g.Backward(g.Sum(g.Mul(x, x)))
	g.Reset()
	g.Backward(g.Sum(g.Mul(x, x)))
	for i, v := range x.Data {
		if want := 4 * v; math.Abs(float64(x.Grad[i]-want)) > 1e-6 {
			t.Fatalf("grad[%d] = %v, want %v", i, x.Grad[i], want)
		}
	}
}

// A reshape is a view: it shares data and gradient with its source, and
// gradients reach the source through it.
func TestReshapeView(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 2, 3, 4)
	g := tensor.NewGraph(1)
	v := g.Reshape(x, -1, 4)
	if !equalInts(v.Shape, []int{6, 4}) {
		t.Fatalf("shape %v, want [6 4]", v.Shape)
	}
	if &v.Data[0] != &x.Data[0] || &v.Grad[0] != &x.Grad[0] || !v.NeedsGrad() {
		t.Fatal("the reshape does not share data and gradient")
	}
	c := make([]float32, 24)
	for i := range c {
		c[i] = float32(i)
	}
	g.Backward(g.Sum(g.Mul(v, g.Const(c, 6, 4))))
	if !equalFloats(x.Grad, c) {
		t.Errorf("gradient through the view %v, want %v", x.Grad, c)
	}
	defer func() {
		if recover() == nil {
			t.Error("a reshape that changes the size did not panic")
		}
	}()
	g.Reshape(x, 5, -1)
}

// BackwardFrom seeds an output with an upstream gradient: the result is the
// gradient of Σ out·seed.
func TestBackwardFrom(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 2, 3)
	g := tensor.NewGraph(1)
	out := g.Scale(x, 3)
	seed := []float32{1, -2, 3, -4, 5, -6}
	g.BackwardFrom(out, seed)
	for i, s := range seed {
		if x.Grad[i] != 3*s {
			t.Fatalf("grad %v, want 3·%v", x.Grad, seed)
		}
	}
	for _, f := range []func(){
		func() { g.BackwardFrom(out, seed[:5]) },                  // wrong length
		func() { g.BackwardFrom(g.Zeros(2), []float32{1, 1}) },    // constant
		func() { g.Backward(out) },                                // not a scalar
		func() { g.Backward(g.Sum(g.Const([]float32{1, 2}, 2))) }, // constant loss
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("misuse of Backward/BackwardFrom did not panic")
				}
			}()
			f()
		}()
	}
}

// With recording off, no op keeps a gradient.
func TestNoGrad(t *testing.T) {
	m := newMiniModel()
	g := tensor.NewGraph(1)
	g.SetNoGrad(true)
	loss := m.loss(g, true)
	if loss.NeedsGrad() || loss.Grad != nil {
		t.Error("the loss needs a gradient with recording off")
	}
}

// TestTrimGivesBackALargePass: a graph that served a large pass and then
// only small ones shrinks, on Trim, to what the small ones used (and the
// small passes then allocate nothing); right after the large pass, or when
// the saving is small, Trim keeps the arena as it is.
func TestTrimGivesBackALargePass(t *testing.T) {
	const large, small = 8 << 20, 1 << 16 // float32: 32 MB and 256 KB
	g := tensor.NewGraph(0)
	g.Scratch(large)
	g.Reset() // grows the arena to the large pass
	g.Scratch(large)
	g.Trim()
	if got := g.ArenaBytes(); got < 4*large {
		t.Fatalf("after a large pass, Trim left %d bytes, want the %d it used", got, 4*large)
	}
	g.Scratch(small)
	g.Reset()
	g.Scratch(small)
	g.Trim()
	if got := g.ArenaBytes(); got < 4*small || got > 2*4*small {
		t.Fatalf("after small passes, Trim left %d bytes, want what they used, %d (at most twice)", got, 4*small)
	}
	if a := testing.AllocsPerRun(10, func() { g.Scratch(small); g.Reset() }); a != 0 {
		t.Errorf("a small pass after Trim allocates %v times, want 0", a)
	}
	// 2 MB is not worth a collection: kept.
	g2 := tensor.NewGraph(0)
	g2.Scratch(1 << 19)
	g2.Reset()
	g2.Scratch(16)
	g2.Trim()
	if got := g2.ArenaBytes(); got != 4<<19 {
		t.Errorf("Trim of a 2 MB arena left %d bytes, want it kept (%d)", got, 4<<19)
	}
}
