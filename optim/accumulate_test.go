package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qkv-dev/qkv/tensor"
)

// leastSquares is a tiny linear regression: rows of X (n×in) map to rows
// of Y (n×out) through W (out×in) and b (out).
type leastSquares struct {
	n, in, out int
	x, y       []float32
}

func newLeastSquares(seed uint64) *leastSquares {
	r := rand.New(rand.NewPCG(seed, 2))
	ls := &leastSquares{n: 12, in: 3, out: 2}
	trueW := []float64{0.5, -1, 2, 1.5, 0.25, -0.75}
	trueB := []float64{0.3, -0.2}
	ls.x = make([]float32, ls.n*ls.in)
	ls.y = make([]float32, ls.n*ls.out)
	for i := range ls.x {
		ls.x[i] = float32(r.NormFloat64())
	}
	for row := 0; row < ls.n; row++ {
		for o := 0; o < ls.out; o++ {
			s := trueB[o]
			for k := 0; k < ls.in; k++ {
				s += trueW[o*ls.in+k] * float64(ls.x[row*ls.in+k])
			}
			ls.y[row*ls.out+o] = float32(s + 0.01*r.NormFloat64())
		}
	}
	return ls
}

// backward adds to the gradients of w and b the gradient of
// scale · ½·mean((x·Wᵀ + b − y)²) over rows [lo, hi), built with the
// graph's ops, and returns the unscaled loss.
func (ls *leastSquares) backward(g *tensor.Graph, w, b *tensor.Tensor, lo, hi int, scale float32) float32 {
	defer g.Reset()
	x := g.Const(ls.x[lo*ls.in:hi*ls.in], hi-lo, ls.in)
	y := g.Const(ls.y[lo*ls.out:hi*ls.out], hi-lo, ls.out)
	pred := g.Linear(x, w, b)        // (rows, out)
	diff := g.AddScaled(pred, y, -1) // ŷ − y
	loss := g.Scale(g.Mean(g.Mul(diff, diff)), 0.5)
	g.Backward(g.Scale(loss, scale))
	return loss.Item()
}

func lsParams() (w, b *tensor.Tensor) {
	w, b = tensor.NewParam("w", 2, 3), tensor.NewParam("b", 2)
	copy(w.Data, []float32{0.1, 0.2, -0.1, 0, 0.3, 0.05})
	copy(b.Data, []float32{-0.1, 0.1})
	return w, b
}

// TestGradientAccumulation: backward over k micro-batches, each mean loss
// scaled by 1/k, then one Step, equals one step on the whole batch.
func TestGradientAccumulation(t *testing.T) {
	ls := newLeastSquares(1)
	g := tensor.NewGraph(1)

	// The whole batch at once.
	wFull, bFull := lsParams()
	full := []*tensor.Tensor{wFull, bFull}
	ls.backward(g, wFull, bFull, 0, ls.n, 1)

	// The reference gradient, by hand in float64: dL/dW = Σ_r (ŷ_r − y_r) x_rᵀ / (n·out).
	wantW := make([]float64, 6)
	wantB := make([]float64, 2)
	for r := 0; r < ls.n; r++ {
		for o := 0; o < ls.out; o++ {
			pred := float64(bFull.Data[o])
			for k := 0; k < ls.in; k++ {
				pred += float64(wFull.Data[o*ls.in+k]) * float64(ls.x[r*ls.in+k])
			}
			d := (pred - float64(ls.y[r*ls.out+o])) / float64(ls.n*ls.out)
			wantB[o] += d
			for k := 0; k < ls.in; k++ {
				wantW[o*ls.in+k] += d * float64(ls.x[r*ls.in+k])
			}
		}
	}
	for i, w := range wantW {
		if math.Abs(float64(wFull.Grad[i])-w) > 1e-6*(1+math.Abs(w)) {
			t.Fatalf("full-batch dW[%d] = %g, want %g", i, wFull.Grad[i], w)
		}
	}
	for i, w := range wantB {
		if math.Abs(float64(bFull.Grad[i])-w) > 1e-6*(1+math.Abs(w)) {
			t.Fatalf("full-batch db[%d] = %g, want %g", i, bFull.Grad[i], w)
		}
	}

	for _, k := range []int{2, 3, 4, 6} {
		w, b := lsParams()
		acc := []*tensor.Tensor{w, b}
		micro := ls.n / k
		for i := 0; i < k; i++ {
			ls.backward(g, w, b, i*micro, (i+1)*micro, 1/float32(k))
		}
		for i, p := range acc {
			for j := range p.Grad {
				if d := math.Abs(float64(p.Grad[j] - full[i].Grad[j])); d > 1e-6 {
					t.Fatalf("k=%d: accumulated %s grad[%d] = %g, whole batch %g", k, p.Name, j, p.Grad[j], full[i].Grad[j])
				}
			}
		}
		// One step on each: the same parameters.
		cfg := DefaultAdam()
		cfg.LR = 0.1
		o1, _ := NewAdam(acc, cfg)
		wf, bf := lsParams()
		copy(wf.Grad, wFull.Grad)
		copy(bf.Grad, bFull.Grad)
		o2, _ := NewAdam([]*tensor.Tensor{wf, bf}, cfg)
		o1.Step()
		o2.Step()
		for i, p := range acc {
			q := []*tensor.Tensor{wf, bf}[i]
			for j := range p.Data {
				if d := math.Abs(float64(p.Data[j] - q.Data[j])); d > 1e-6*(1+math.Abs(float64(q.Data[j]))) {
					t.Fatalf("k=%d: after the step %s[%d] = %g, whole batch %g", k, p.Name, j, p.Data[j], q.Data[j])
				}
			}
		}
	}

	// Without the 1/k scaling the gradient is k times too large: the
	// scaling is what makes accumulation exact.
	w, b := lsParams()
	for i := 0; i < 3; i++ {
		ls.backward(g, w, b, i*4, (i+1)*4, 1)
	}
	if r := float64(w.Grad[0] / wFull.Grad[0]); math.Abs(r-3) > 1e-5 {
		t.Errorf("unscaled accumulation gives %g× the gradient, want 3×", r)
	}
}

// TestAccumulatedTrainingLearns trains the regression with Adam, four
// micro-batches per step, and recovers the true weights.
func TestAccumulatedTrainingLearns(t *testing.T) {
	ls := newLeastSquares(2)
	g := tensor.NewGraph(1)
	w, b := lsParams()
	ps := []*tensor.Tensor{w, b}
	cfg := DefaultAdam()
	cfg.LR = 0.05
	opt, err := NewAdam(ps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const k = 4
	var first, last float32
	for step := 1; step <= 400; step++ {
		var loss float32
		for i := 0; i < k; i++ {
			loss += ls.backward(g, w, b, i*3, (i+1)*3, 1.0/k) / k
		}
		if step == 1 {
			first = loss
		}
		last = loss
		ClipGradNorm(ps, 5)
		opt.Step()
		ZeroGrad(ps)
	}
	if !(last < 1e-3 && last < first/100) {
		t.Errorf("loss %g → %g: did not learn", first, last)
	}
	want := []float32{0.5, -1, 2, 1.5, 0.25, -0.75}
	for i, v := range want {
		if math.Abs(float64(w.Data[i]-v)) > 0.05 {
			t.Errorf("W[%d] = %g, want ≈ %g", i, w.Data[i], v)
		}
	}
}
