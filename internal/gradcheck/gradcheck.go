// Package gradcheck compares the gradients that reverse-mode differentiation
// computes with central finite differences, for tests.
//
// The engine works in float32, so differences are taken with a step of
// 1e-2 relative to each input: truncation error is O(h²)·f‴ ≈ 1e-4 for the
// smooth functions tested, and float32 rounding of a loss of order 1 gives
// about 6e-8/h ≈ 1e-5. The loss Σ out·R (R a fixed random projection) is
// accumulated in float64 so summation adds no further error. A gradient
// passes when |analytic − numeric| ≤ Atol + Rtol·|numeric|; the defaults,
// Atol 2e-3 and Rtol 2e-2, sit an order of magnitude above those errors and
// an order below what a wrong derivative (a missing term, a sign, a factor
// of two) produces.
package gradcheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qkv-dev/qkv/tensor"
)

// Options tune a check; the zero value means the defaults above.
type Options struct {
	Step       float64 // finite-difference step, relative to max(1, |x|)
	Atol, Rtol float64
	Seed       uint64 // graph seed, the same for every evaluation (dropout masks repeat)
	// Precision of the analytic (backward) pass; the numeric differences
	// are always taken in FP32, since a bf16 forward pass is piecewise
	// constant at the scale of the step.
	Precision tensor.Precision
}

// Forward builds the function under test on g from the given parameters.
type Forward func(g *tensor.Graph, params []*tensor.Tensor) *tensor.Tensor

// Check compares analytic and numeric gradients of Σ f(params)·R for every
// element of every parameter and reports mismatches through t.
func Check(t testing.TB, name string, params []*tensor.Tensor, f Forward, opt Options) {
	t.Helper()
	if opt.Step == 0 {
		opt.Step = 1e-2
	}
	if opt.Atol == 0 {
		opt.Atol = 2e-3
	}
	if opt.Rtol == 0 {
		opt.Rtol = 2e-2
	}
	// Analytic gradient.
	for _, p := range params {
		p.ZeroGrad()
	}
	g := tensor.NewGraph(opt.Seed)
	g.SetPrecision(opt.Precision)
	out := f(g, params)
	rng := rand.New(rand.NewPCG(7, 11))
	proj := make([]float32, out.Len())
	for i := range proj {
		proj[i] = float32(rng.NormFloat64())
	}
	g.BackwardFrom(out, proj)
	analytic := make([][]float32, len(params))
	for i, p := range params {
		analytic[i] = append([]float32(nil), p.Grad...)
	}
	loss := func() float64 {
		g := tensor.NewGraph(opt.Seed)
		g.SetNoGrad(true)
		out := f(g, params)
		var s float64
		for i, v := range out.Data {
			s += float64(v) * float64(proj[i])
		}
		return s
	}
	// differences returns the central, forward and backward difference
	// quotients with step h = Step·max(1, |x|).
	differences := func(p *tensor.Tensor, i int) (central, forward, backward float64) {
		orig := p.Data[i]
		h := float32(opt.Step * math.Max(1, math.Abs(float64(orig))))
		mid := loss()
		p.Data[i] = orig + h
		up := loss()
		p.Data[i] = orig - h
		down := loss()
		p.Data[i] = orig
		// The steps actually taken are what float32 could represent.
		hu, hd := float64(orig+h)-float64(orig), float64(orig)-float64(orig-h)
		return (up - down) / (hu + hd), (up - mid) / hu, (mid - down) / hd
	}
	close := func(a, b float64) bool { return math.Abs(a-b) <= opt.Atol+opt.Rtol*math.Abs(b) }
	bad, kinks, total := 0, 0, 0
	for pi, p := range params {
		for i := range p.Data {
			total++
			numeric, fwd, bwd := differences(p, i)
			got := float64(analytic[pi][i])
			if close(got, numeric) && !math.IsNaN(got) {
				continue
			}
			// A ReLU (or a max) whose input crosses zero within the step
			// makes one side's quotient meaningless: the two one-sided
			// quotients then disagree, and the analytic gradient must match
			// the side without the kink. Such points are counted, and only
			// a few of them may occur.
			if !close(fwd, bwd) && (close(got, fwd) || close(got, bwd)) {
				kinks++
				continue
			}
			if bad < 10 {
				t.Errorf("%s: d/d%s[%d]: analytic %.6g, numeric %.6g (one-sided %.6g, %.6g)", name, label(p, pi), i, got, numeric, fwd, bwd)
			}
			bad++
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d mismatching gradient elements in all", name, bad)
	}
	if kinks*50 > total {
		t.Errorf("%s: %d of %d elements sit on a kink: too many to trust the check", name, kinks, total)
	}
}

func label(p *tensor.Tensor, i int) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprintf("param%d", i)
}

// Param returns a parameter filled with uniform values in [lo, hi).
func Param(name string, seed uint64, lo, hi float32, shape ...int) *tensor.Tensor {
	p := tensor.NewParam(name, shape...)
	rng := rand.New(rand.NewPCG(seed, 3))
	for i := range p.Data {
		p.Data[i] = lo + (hi-lo)*rng.Float32()
	}
	return p
}
