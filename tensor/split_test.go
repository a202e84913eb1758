package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qkv-dev/qkv/kernels"
)

// splitModel is a Transformer-like step over tensors big enough for every
// split of parallel.go to be taken at 2 threads: embedding with repeated
// ids, scaling, layer norm, attention with padding, a causal mask and
// dropout, residual dropout, a Linear with a bias broadcast over 288 rows,
// ReLU, a bias added by Add, and the label-smoothed loss over 1000 classes
// with ignored targets.
const (
	splitB, splitT, splitD, splitH, splitV = 12, 24, 256, 4, 1000
)

type splitParams struct {
	emb, gamma, beta, wq, wk, wv, w1, b1, b2, w2, wOut, bOut *Tensor
}

func newSplitParams() *splitParams {
	r := rand.New(rand.NewPCG(5, 6))
	p := func(name string, scale float64, shape ...int) *Tensor {
		t := NewParam(name, shape...)
		for i := range t.Data {
			t.Data[i] = float32(r.NormFloat64() * scale)
		}
		return t
	}
	return &splitParams{
		emb: p("emb", 0.1, splitV, splitD), gamma: p("gamma", 1, splitD), beta: p("beta", 0.1, splitD),
		wq: p("wq", 0.06, splitD, splitD), wk: p("wk", 0.06, splitD, splitD), wv: p("wv", 0.06, splitD, splitD),
		w1: p("w1", 0.06, 2*splitD, splitD), b1: p("b1", 0.1, 2*splitD), b2: p("b2", 0.1, splitD), w2: p("w2", 0.06, splitD, 2*splitD),
		wOut: p("wOut", 0.06, splitV, splitD), bOut: p("bOut", 0.1, splitV),
	}
}

func (p *splitParams) all() []*Tensor {
	return []*Tensor{p.emb, p.gamma, p.beta, p.wq, p.wk, p.wv, p.w1, p.b1, p.b2, p.w2, p.wOut, p.bOut}
}

// step runs forward and backward on a fresh graph and returns the loss, the
// NLL and copies of the output and of every gradient.
func (p *splitParams) step(threads int) (loss float32, nll float64, vals [][]float32) {
	defer kernels.SetThreads(kernels.SetThreads(threads))
	for _, t := range p.all() {
		t.ZeroGrad()
	}
	n := splitB * splitT
	ids := make([]int32, n)
	targets := make([]int32, n)
	keyPad := make([]bool, n)
	for i := range ids {
		ids[i] = int32((i * 7919) % 50) // few distinct ids: rows repeat
		targets[i] = int32((i * 104729) % splitV)
		if i%splitT >= splitT-1-i/splitT%5 { // the last 1-5 positions of each row are padding
			keyPad[i] = true
			targets[i] = 0
		}
	}
	g := NewGraph(11)
	x := g.Scale(g.Embedding(p.emb, ids, splitB, splitT), 16)         // (B, T, D)
	h := g.LayerNorm(x, p.gamma, p.beta, 1e-5)                        // (B, T, D)
	flat := g.Reshape(h, n, splitD)                                   // (B·T, D)
	q := g.Reshape(g.Linear(flat, p.wq, nil), splitB, splitT, splitD) // (B, T, D)
	k := g.Reshape(g.Linear(flat, p.wk, nil), splitB, splitT, splitD)
	v := g.Reshape(g.Linear(flat, p.wv, nil), splitB, splitT, splitD)
	a := g.AttentionDropout(q, k, v, splitH, keyPad, true, 0.1) // (B, T, D)
	x = g.AddDropout(x, a, 0.1)                                 // (B, T, D)
	f := g.ReLU(g.Linear(g.Reshape(x, n, splitD), p.w1, p.b1))  // (B·T, 2D)
	f = g.Add(g.Reshape(f, 2*n, splitD), p.b2)                  // (2·B·T, D): b2 broadcast
	f = g.Linear(g.Reshape(f, n, 2*splitD), p.w2, nil)          // (B·T, D)
	y := g.Add(g.Reshape(x, n, splitD), f)                      // the same shapes
	logits := g.Linear(y, p.wOut, p.bOut)                       // (B·T, V)
	ce, nll := g.CrossEntropyNLL(logits, targets, 0, 0.1)
	g.Backward(ce)
	vals = append(vals, append([]float32(nil), logits.Data...))
	for _, t := range p.all() {
		vals = append(vals, append([]float32(nil), t.Grad...))
	}
	return ce.Item(), nll, vals
}

// TestTrainingStepSplitIsExact: a training step over tensors big enough to
// be split gives the same loss, logits and gradients, to the bit, on 1, 2
// and 3 threads; at 2 threads every split of this package is taken.
func TestTrainingStepSplitIsExact(t *testing.T) {
	n := splitB * splitT
	func() {
		defer kernels.SetThreads(kernels.SetThreads(2))
		for what, ok := range map[string]bool{
			"rows (B·T, D)":          parallelRows(n, splitD),
			"columns (B·T, D)":       parallelCols(n, splitD),
			"elements (B·T·D)":       parallelElems(n * splitD),
			"attention batch rows":   attnSplit(splitB, splitH, splitT, splitT, splitD/splitH),
			"loss rows (B·T, V)":     n*splitV >= 2*lossGrain,
			"loss backward (B·T, V)": n*splitV >= 2*elementwiseGrain,
		} {
			if !ok {
				t.Fatalf("the %s are not split at 2 threads: the test does not test the split", what)
			}
		}
	}()
	p := newSplitParams()
	loss1, nll1, vals1 := p.step(1)
	if math.IsNaN(float64(loss1)) || loss1 < 5 || loss1 > 10 { // ≈ ln 1000 = 6.9 at initialization
		t.Fatalf("loss %v: the model is not what the test means", loss1)
	}
	for _, threads := range []int{2, 3} {
		t.Run(fmt.Sprint("threads=", threads), func(t *testing.T) {
			loss, nll, vals := p.step(threads)
			if math.Float32bits(loss) != math.Float32bits(loss1) || nll != nll1 {
				t.Fatalf("loss %v (NLL %v), 1 thread %v (NLL %v)", loss, nll, loss1, nll1)
			}
			names := []string{"logits"}
			for _, q := range p.all() {
				names = append(names, q.Name+".grad")
			}
			for i := range vals {
				nonzero := 0
				for j, v := range vals[i] {
					if math.Float32bits(v) != math.Float32bits(vals1[i][j]) {
						t.Fatalf("%s[%d]: %v, 1 thread %v", names[i], j, v, vals1[i][j])
					}
					if v != 0 {
						nonzero++
					}
				}
				if nonzero == 0 {
					t.Fatalf("%s is all zeros: no gradient reached it", names[i])
				}
			}
		})
	}
}

// TestCopyMixSplitIsExact: CopyMix's rows, forward and backward, split over
// 2 and 3 threads give the bits of one thread — in training (gradients into
// logits, gate and attention) and in decoding (no gradients, a row map).
func TestCopyMixSplitIsExact(t *testing.T) {
	const B, T, S, V = 12, 24, 20, 1000
	N := B * T
	if N*V < 2*lossGrain || N*V < 2*elementwiseGrain {
		t.Fatal("CopyMix is not split at 2 threads at this size: the test does not test the split")
	}
	r := rand.New(rand.NewPCG(7, 8))
	param := func(name string, shape ...int) *Tensor {
		p := NewParam(name, shape...)
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64())
		}
		return p
	}
	logits, gate, scores := param("logits", N, V), param("gate", N, 1), param("scores", N, S)
	src := make([]int32, B*S)
	for i := range src {
		src[i] = int32(r.IntN(40)) // few words: sources repeat words
	}
	targets := make([]int32, N)
	for i := range targets {
		targets[i] = int32(r.IntN(60))
	}
	rowOf := make([]int, N)
	for n := range rowOf {
		rowOf[n] = n / T
	}
	run := func(threads int, grad bool) (out []float32, grads [][]float32) {
		defer kernels.SetThreads(kernels.SetThreads(threads))
		ps := []*Tensor{logits, gate, scores}
		for _, p := range ps {
			p.ZeroGrad()
		}
		g := NewGraph(3)
		g.SetNoGrad(!grad)
		// A copy distribution over the source with the last positions as padding (0).
		mask := make([]float32, N*S)
		for n := range N {
			for i := S - 1 - n%4; i < S; i++ {
				mask[n*S+i] = float32(math.Inf(-1))
			}
		}
		attn := g.Softmax(scores, g.Const(mask, N, S))
		lp := g.CopyMix(logits, gate, attn, src, rowOf)
		out = append([]float32(nil), lp.Data...)
		if grad {
			ce, _ := g.CrossEntropyNLL(lp, targets, -1, 0.1)
			g.Backward(ce)
			for _, p := range ps {
				grads = append(grads, append([]float32(nil), p.Grad...))
			}
		}
		return out, grads
	}
	for _, grad := range []bool{true, false} {
		out1, grads1 := run(1, grad)
		for _, threads := range []int{2, 3} {
			out, grads := run(threads, grad)
			for i := range out {
				if math.Float32bits(out[i]) != math.Float32bits(out1[i]) {
					t.Fatalf("grad %v, %d threads: log P[%d] = %v, 1 thread %v", grad, threads, i, out[i], out1[i])
				}
			}
			for k := range grads {
				nonzero := 0
				for i, v := range grads[k] {
					if math.Float32bits(v) != math.Float32bits(grads1[k][i]) {
						t.Fatalf("%d threads: gradient %d [%d] = %v, 1 thread %v", threads, k, i, v, grads1[k][i])
					}
					if v != 0 {
						nonzero++
					}
				}
				if nonzero == 0 {
					t.Fatalf("gradient %d is all zeros", k)
				}
			}
		}
	}
}
