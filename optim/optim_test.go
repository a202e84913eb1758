package optim

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/tensor"
)

func TestNoamSchedule(t *testing.T) {
	// The paper's base model: d_model 512, 4000 warm-up steps.
	s := NoamSchedule{Factor: 1, DModel: 512, Warmup: 4000}
	peak := math.Pow(512*4000, -0.5)
	if got := s.LR(4000); math.Abs(got-peak) > 1e-15 {
		t.Errorf("LR(warmup) = %g, want the peak %g", got, peak)
	}
	if math.Abs(peak-6.988e-4) > 1e-6 {
		t.Errorf("paper's peak rate %g, want ≈ 7.0e-4", peak)
	}
	// Linear warm-up: proportional to the step.
	if got, want := s.LR(1000), s.LR(1)*1000; math.Abs(got-want) > 1e-12*want {
		t.Errorf("LR(1000) = %g, want 1000·LR(1) = %g", got, want)
	}
	// Inverse square root decay: four times the steps, half the rate.
	if got, want := s.LR(16000), s.LR(4000)/2; math.Abs(got-want) > 1e-12*want {
		t.Errorf("LR(16000) = %g, want LR(4000)/2 = %g", got, want)
	}
	for step := int64(1); step < 12000; step++ {
		rising := step < 4000
		if d := s.LR(step+1) - s.LR(step); (d > 0) != rising {
			t.Fatalf("at step %d the rate goes the wrong way (Δ %g)", step, d)
		}
	}
	if s.LR(0) != s.LR(1) {
		t.Error("step 0 should count as step 1")
	}
	if got := (NoamSchedule{Factor: 2, DModel: 4}).LR(9); math.Abs(got-2*0.5/3) > 1e-15 {
		t.Errorf("no warm-up: LR(9) = %g, want 1/3", got)
	}
}

func TestInverseSqrtSchedule(t *testing.T) {
	s := InverseSqrtSchedule{Peak: 5e-4, Warmup: 4000, Init: 1e-7}
	if s.LR(0) != 1e-7 {
		t.Errorf("LR(0) = %g, want Init", s.LR(0))
	}
	if s.LR(4000) != 5e-4 {
		t.Errorf("LR(warmup) = %g, want Peak", s.LR(4000))
	}
	if got, want := s.LR(2000), (1e-7+5e-4)/2; math.Abs(got-want) > 1e-15 {
		t.Errorf("halfway through warm-up: %g, want %g", got, want)
	}
	if got, want := s.LR(16000), 2.5e-4; math.Abs(got-want) > 1e-15 {
		t.Errorf("LR(4·warmup) = %g, want Peak/2", got)
	}
	// Continuous at the end of warm-up.
	if d := math.Abs(s.LR(3999) - s.LR(4000)); d > 2*(5e-4-1e-7)/4000 {
		t.Errorf("jump of %g at the end of warm-up", d)
	}
	if ConstantSchedule(0.3).LR(99) != 0.3 {
		t.Error("ConstantSchedule")
	}
}

func TestCosineSchedule(t *testing.T) {
	s := CosineSchedule{Peak: 2e-3, Warmup: 1000, Total: 11000, Min: 1e-5}
	cases := []struct {
		step int64
		want float64
	}{
		{0, 0}, {500, 1e-3}, {1000, 2e-3}, // warm-up, then the peak
		{6000, 1e-5 + (2e-3-1e-5)/2}, // half way down: the mean of Peak and Min
		{11000, 1e-5}, {50000, 1e-5}, // Min at Total and after
		{3500, 1e-5 + (2e-3-1e-5)*0.5*(1+math.Sqrt2/2)}, // a quarter of the way: cos(π/4)
	}
	for _, c := range cases {
		if got := s.LR(c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("LR(%d) = %g, want %g", c.step, got, c.want)
		}
	}
	// It only falls after the peak, and never jumps.
	prev := s.LR(1000)
	for step := int64(1001); step <= 11001; step++ {
		lr := s.LR(step)
		if lr > prev || prev-lr > (2e-3-1e-5)*math.Pi/2/10000+1e-15 {
			t.Fatalf("LR(%d) = %g after %g", step, lr, prev)
		}
		prev = lr
	}
	if got := (CosineSchedule{Peak: 1, Total: 4}).LR(2); math.Abs(got-0.5) > 1e-15 {
		t.Errorf("no warm-up: LR(2) of 4 = %g, want 0.5", got)
	}
}

// makeParams returns named parameters with values and gradients drawn
// from a seeded generator.
func makeParams(seed uint64) []*tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	ps := []*tensor.Tensor{tensor.NewParam("enc.w", 8, 5), tensor.NewParam("enc.b", 5), tensor.NewParam("dec.w", 3, 2, 4)}
	for _, p := range ps {
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64())
		}
	}
	return ps
}

// setGrads fills the gradients with values that depend on the step and
// the parameters, like a real loss would.
func setGrads(ps []*tensor.Tensor, step int) {
	for k, p := range ps {
		for i := range p.Grad {
			p.Grad[i] = float32(math.Sin(float64(step*31+k*7+i)))*0.5 + 0.1*p.Data[i]
		}
	}
}

func newOpts(t *testing.T, ps []*tensor.Tensor) map[string]Optimizer {
	t.Helper()
	adam, err := NewAdam(ps, PaperAdam())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultAdam()
	cfg.WeightDecay = 0.01
	adamw, err := NewAdamW(ps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sgd, err := NewSGD(ps, SGDConfig{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Optimizer{"adam": adam, "adamw": adamw, "sgd": sgd}
}

// TestResumeExact saves weights and optimizer state with package
// checkpoint in the middle of a run, restores them into new objects, and
// checks that the resumed run ends bit for bit where the uninterrupted
// one does.
func TestResumeExact(t *testing.T) {
	const total, at = 12, 5
	sched := NoamSchedule{Factor: 1, DModel: 16, Warmup: 4}
	for _, name := range []string{"adam", "adamw", "sgd"} {
		t.Run(name, func(t *testing.T) {
			run := func(ps []*tensor.Tensor, opt Optimizer, from, to int) {
				for step := from; step <= to; step++ {
					if name != "sgd" {
						opt.SetLR(sched.LR(int64(step)))
					}
					setGrads(ps, step)
					ClipGradNorm(ps, 2)
					opt.Step()
					ZeroGrad(ps)
				}
			}
			ref := makeParams(3)
			run(ref, newOpts(t, ref)[name], 1, total)

			ps := makeParams(3)
			opt := newOpts(t, ps)[name]
			run(ps, opt, 1, at)
			dir := t.TempDir()
			state, meta := opt.State()
			if err := checkpoint.Save(filepath.Join(dir, "ckpt.safetensors"), append(append([]*tensor.Tensor{}, ps...), state...), nil); err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.SaveJSON(filepath.Join(dir, "optim.json"), meta); err != nil {
				t.Fatal(err)
			}

			ps2 := makeParams(99) // other values: everything must come from the files
			opt2 := newOpts(t, ps2)[name]
			state2, _ := opt2.State()
			if err := checkpoint.Load(filepath.Join(dir, "ckpt.safetensors"), append(append([]*tensor.Tensor{}, ps2...), state2...)); err != nil {
				t.Fatal(err)
			}
			var meta2 map[string]any
			if err := checkpoint.LoadJSON(filepath.Join(dir, "optim.json"), &meta2); err != nil {
				t.Fatal(err)
			}
			if err := opt2.LoadState(state2, meta2); err != nil {
				t.Fatal(err)
			}
			if opt2.Steps() != at || opt2.LR() != opt.LR() {
				t.Fatalf("restored step %d lr %g, want %d %g", opt2.Steps(), opt2.LR(), at, opt.LR())
			}
			run(ps2, opt2, at+1, total)
			for i := range ref {
				for j := range ref[i].Data {
					if math.Float32bits(ps2[i].Data[j]) != math.Float32bits(ref[i].Data[j]) {
						t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", ref[i].Name, j, ps2[i].Data[j], ref[i].Data[j])
					}
				}
			}
		})
	}
}

func TestStateNames(t *testing.T) {
	ps := makeParams(1)
	opts := newOpts(t, ps)
	st, meta := opts["adam"].State()
	var names []string
	for _, s := range st {
		names = append(names, s.Name)
	}
	want := "enc.w.exp_avg enc.w.exp_avg_sq enc.b.exp_avg enc.b.exp_avg_sq dec.w.exp_avg dec.w.exp_avg_sq"
	if strings.Join(names, " ") != want {
		t.Errorf("Adam state names %v", names)
	}
	if meta["kind"] != "Adam" || meta["step"] != int64(0) {
		t.Errorf("Adam meta %v", meta)
	}
	if len(st[4].Shape) != 3 || st[4].Shape[1] != 2 {
		t.Errorf("state shape %v, want the parameter's", st[4].Shape)
	}
	st, meta = opts["sgd"].State()
	if len(st) != 3 || st[1].Name != "enc.b.momentum_buffer" || meta["kind"] != "SGD" {
		t.Errorf("SGD state %v %v", st, meta)
	}
	if _, meta := opts["adamw"].State(); meta["kind"] != "AdamW" {
		t.Errorf("AdamW kind %v", meta["kind"])
	}
}

func TestLoadStateErrors(t *testing.T) {
	ps := makeParams(1)
	adam := newOpts(t, ps)["adam"]
	setGrads(ps, 1)
	adam.Step()
	good, meta := adam.State()
	before := good[0].Data[0]
	copyState := func() []*tensor.Tensor {
		out := make([]*tensor.Tensor, len(good))
		for i, s := range good {
			out[i] = tensor.FromData(append([]float32(nil), s.Data...), s.Shape...)
			out[i].Name = s.Name
			out[i].Data[0] = 12345 // would show if a failed load copied anything
		}
		return out
	}
	withMeta := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range meta {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	wrongShape := copyState()
	wrongShape[2] = tensor.FromData(make([]float32, 5), 5, 1)
	wrongShape[2].Name = "enc.b.exp_avg"
	extra := append(copyState(), tensor.FromData([]float32{1}, 1))
	extra[len(extra)-1].Name = "enc.z.exp_avg"
	cases := []struct {
		name    string
		tensors []*tensor.Tensor
		meta    map[string]any
		want    string
	}{
		{"missing", copyState()[1:], meta, `missing state tensor "enc.w.exp_avg"`},
		{"shape", wrongShape, meta, `"enc.b.exp_avg" has shape [5 1], want [5]`},
		{"extra", extra, meta, `unexpected state tensor "enc.z.exp_avg"`},
		{"kind", copyState(), withMeta("kind", "SGD"), `state is for a "SGD" optimizer`},
		{"no kind", copyState(), withMeta("kind", nil), `no "kind"`},
		{"no step", copyState(), withMeta("step", nil), `no "step"`},
		{"fractional step", copyState(), withMeta("step", 2.5), "not an integer"},
		{"negative step", copyState(), withMeta("step", -1), "negative step"},
		{"string lr", copyState(), withMeta("lr", "fast"), `"lr" has type string`},
	}
	for _, c := range cases {
		err := adam.LoadState(c.tensors, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if good[0].Data[0] != before || adam.Steps() != 1 {
			t.Fatalf("%s: a failed LoadState changed the optimizer", c.name)
		}
	}
	// A JSON round trip turns the step into a float64; that is accepted.
	if err := adam.LoadState(copyState(), withMeta("step", float64(7))); err != nil || adam.Steps() != 7 {
		t.Errorf("float64 step: err %v, steps %d", err, adam.Steps())
	}
}

func TestConstructorErrors(t *testing.T) {
	a, b := tensor.NewParam("a", 2), tensor.NewParam("a", 3)
	if _, err := NewAdam([]*tensor.Tensor{a, b}, DefaultAdam()); err == nil || !strings.Contains(err.Error(), `two parameters are named "a"`) {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := NewSGD([]*tensor.Tensor{tensor.NewParam("", 1)}, SGDConfig{LR: 1}); err == nil || !strings.Contains(err.Error(), "no name") {
		t.Errorf("empty name: %v", err)
	}
	bad := DefaultAdam()
	bad.Beta2 = 1
	if _, err := NewAdamW([]*tensor.Tensor{a}, bad); err == nil || !strings.Contains(err.Error(), "Beta2") {
		t.Errorf("β₂ = 1: %v", err)
	}
	bad = DefaultAdam()
	bad.LR = math.NaN()
	if _, err := NewAdam([]*tensor.Tensor{a}, bad); err == nil {
		t.Error("NaN learning rate accepted")
	}
	if _, err := NewSGD([]*tensor.Tensor{a}, SGDConfig{LR: 1, Nesterov: true}); err == nil || !strings.Contains(err.Error(), "Nesterov") {
		t.Errorf("Nesterov without momentum: %v", err)
	}
}

// TestAdamFirstStep checks the property that makes Adam scale-free (Kingma
// & Ba 2015, §2.1): after bias correction the first update is lr·sign(g)
// for any gradient scale well above ε.
func TestAdamFirstStep(t *testing.T) {
	for _, scale := range []float32{1e-3, 1, 1e4} {
		p := tensor.NewParam("p", 4)
		copy(p.Grad, []float32{scale, -scale, 3 * scale, -0.5 * scale})
		cfg := DefaultAdam()
		cfg.LR = 0.01
		opt, _ := NewAdam([]*tensor.Tensor{p}, cfg)
		opt.Step()
		for i, g := range p.Grad {
			want := -0.01 * float64(sign(g))
			// |Δθ| = lr·|g|/(|g| + ε) up to rounding.
			if tol := 0.01 * (1e-8/math.Abs(float64(g)) + 1e-6); math.Abs(float64(p.Data[i])-want) > tol {
				t.Errorf("scale %g: θ[%d] = %g, want %g", scale, i, p.Data[i], want)
			}
		}
	}
}

func sign(x float32) float32 {
	if x < 0 {
		return -1
	}
	return 1
}

// TestAdamWDecouples: with zero gradients AdamW shrinks the parameters by
// exactly (1 − lr·λ) per step and Adam's L2 decay does something else
// (it goes through the normalized moments).
func TestAdamWDecouples(t *testing.T) {
	cfg := DefaultAdam()
	cfg.LR, cfg.WeightDecay = 0.1, 0.5
	p := tensor.NewParam("p", 3)
	copy(p.Data, []float32{1, -2, 4})
	opt, _ := NewAdamW([]*tensor.Tensor{p}, cfg)
	for range 3 {
		opt.Step()
	}
	f := float32(1 - 0.1*0.5)
	for i, x0 := range []float32{1, -2, 4} {
		want := x0 * f * f * f
		if math.Abs(float64(p.Data[i]-want)) > 1e-6 {
			t.Errorf("AdamW θ[%d] = %g, want %g", i, p.Data[i], want)
		}
	}
	q := tensor.NewParam("q", 3)
	copy(q.Data, []float32{1, -2, 4})
	l2, _ := NewAdam([]*tensor.Tensor{q}, cfg)
	l2.Step()
	// L2 through Adam: the first step is lr·sign(λθ), whatever |θ| is.
	for i, x0 := range []float32{1, -2, 4} {
		if want := x0 - 0.1*sign(x0); math.Abs(float64(q.Data[i]-want)) > 1e-6 {
			t.Errorf("Adam L2 θ[%d] = %g, want %g", i, q.Data[i], want)
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	ps := makeParams(5)
	setGrads(ps, 3)
	orig := make([][]float32, len(ps))
	for i, p := range ps {
		orig[i] = append([]float32(nil), p.Grad...)
	}
	norm0 := GradNorm(ps)
	if got := ClipGradNorm(ps, norm0*2); got != norm0 {
		t.Errorf("returned %g, want the norm %g", got, norm0)
	}
	for i, p := range ps {
		for j := range p.Grad {
			if p.Grad[j] != orig[i][j] {
				t.Fatal("clipping changed gradients already below the threshold")
			}
		}
	}
	if got := ClipGradNorm(ps, 1); got != norm0 {
		t.Errorf("returned %g, want the norm before clipping %g", got, norm0)
	}
	if n := GradNorm(ps); math.Abs(n-1) > 1e-5 {
		t.Errorf("norm after clipping to 1 is %g", n)
	}
	// Same direction: every element scaled by the same factor.
	c := float64(ps[0].Grad[0]) / float64(orig[0][0])
	for i, p := range ps {
		for j := range p.Grad {
			if math.Abs(float64(p.Grad[j])-c*float64(orig[i][j])) > 1e-6 {
				t.Fatalf("%s[%d] not scaled by the common factor", p.Name, j)
			}
		}
	}
	ps[1].Grad[2] = float32(math.NaN())
	saved := ps[0].Grad[0]
	if n := ClipGradNorm(ps, 1); !math.IsNaN(n) || ps[0].Grad[0] != saved {
		t.Errorf("NaN gradient: norm %g, gradients changed %v", n, ps[0].Grad[0] != saved)
	}
}

func TestFrozenParamsSkipped(t *testing.T) {
	ps := makeParams(2)
	ps[1].SetRequiresGrad(false)
	frozen := append([]float32(nil), ps[1].Data...)
	for name, opt := range newOpts(t, ps) {
		setGrads(ps, 1)
		opt.Step()
		for i, v := range ps[1].Data {
			if v != frozen[i] {
				t.Fatalf("%s updated a frozen parameter", name)
			}
		}
	}
}

// TestStepAllocatesNothing: Step, ClipGradNorm and ZeroGrad run in a
// training loop and must not produce garbage.
func TestStepAllocatesNothing(t *testing.T) {
	ps := makeParams(4)
	setGrads(ps, 1)
	for name, opt := range newOpts(t, ps) {
		if a := testing.AllocsPerRun(20, opt.Step); a != 0 {
			t.Errorf("%s.Step allocates %v times", name, a)
		}
	}
	if a := testing.AllocsPerRun(20, func() { ClipGradNorm(ps, 0.5); ZeroGrad(ps) }); a != 0 {
		t.Errorf("ClipGradNorm+ZeroGrad allocate %v times", a)
	}
}

func BenchmarkAdamStep(b *testing.B) {
	p := tensor.NewParam("w", 1024, 1024)
	for i := range p.Grad {
		p.Grad[i] = float32(i%17) - 8
	}
	opt, _ := NewAdamW([]*tensor.Tensor{p}, DefaultAdam())
	b.SetBytes(int64(4 * 4 * len(p.Data))) // reads and writes θ, g, m, v
	for b.Loop() {
		opt.Step()
	}
}
