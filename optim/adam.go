package optim

import (
	"fmt"
	"math"
	"slices"

	"github.com/qkv-dev/qkv/tensor"
)

// AdamConfig holds Adam's hyper-parameters. Every field is used as given
// (zero means zero); start from DefaultAdam or PaperAdam.
type AdamConfig struct {
	LR          float64 // learning rate α (a schedule usually overrides it per step)
	Beta1       float64 // decay of the first moment, in [0, 1)
	Beta2       float64 // decay of the second moment, in [0, 1)
	Eps         float64 // ε, added to √v̂
	WeightDecay float64 // λ: L2 for NewAdam, decoupled for NewAdamW
}

// DefaultAdam is torch.optim.Adam's default: lr 1e-3, β = (0.9, 0.999),
// ε = 1e-8, no weight decay.
func DefaultAdam() AdamConfig {
	return AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// PaperAdam is the Transformer paper's setting (Vaswani et al. 2017, §5.3):
// β₁ = 0.9, β₂ = 0.98, ε = 1e-9, with the learning rate from NoamSchedule.
func PaperAdam() AdamConfig {
	return AdamConfig{Beta1: 0.9, Beta2: 0.98, Eps: 1e-9}
}

// Adam is Adam (Kingma & Ba 2015) or, when made by NewAdamW, AdamW
// (Loshchilov & Hutter 2019), computing exactly what torch.optim.Adam and
// torch.optim.AdamW compute, in float32 like them. For step t:
//
//	g ← ∇θ (+ λθ for Adam's L2 decay)
//	θ ← θ·(1 − lr·λ)                  (AdamW only)
//	m ← β₁m + (1−β₁)g
//	v ← β₂v + (1−β₂)g²
//	θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
//
// Each line of Step rounds where PyTorch's CPU kernels round (the moment
// updates are fused multiply-adds there, and here), so on amd64 the
// results agree with PyTorch bit for bit.
type Adam struct {
	cfg       AdamConfig
	decoupled bool
	lr        float64
	step      int64
	params    []*tensor.Tensor
	m, v      []*tensor.Tensor // exp_avg, exp_avg_sq, one per parameter
	state     []*tensor.Tensor // m and v interleaved, as State returns them

	scalars adamScalars         // of the step in progress, for updateRange
	update  func(i, lo, hi int) // a.updateRange, bound once
}

// NewAdam returns Adam over params with L2 weight decay (the decay is added
// to the gradient, as in torch.optim.Adam). Parameters need unique,
// non-empty names: the optimizer state is saved under them.
func NewAdam(params []*tensor.Tensor, cfg AdamConfig) (*Adam, error) {
	return newAdam("Adam", params, cfg, false)
}

// NewAdamW returns AdamW over params: weight decay decoupled from the
// gradient (torch.optim.AdamW; note that PyTorch's default λ is 0.01 while
// here the config's value, possibly zero, is used).
func NewAdamW(params []*tensor.Tensor, cfg AdamConfig) (*Adam, error) {
	return newAdam("AdamW", params, cfg, true)
}

func newAdam(kind string, params []*tensor.Tensor, cfg AdamConfig, decoupled bool) (*Adam, error) {
	switch {
	case !(cfg.LR >= 0):
		return nil, fmt.Errorf("optim.%s: invalid learning rate %v", kind, cfg.LR)
	case !(cfg.Beta1 >= 0 && cfg.Beta1 < 1):
		return nil, fmt.Errorf("optim.%s: invalid Beta1 %v, want 0 ≤ β₁ < 1", kind, cfg.Beta1)
	case !(cfg.Beta2 >= 0 && cfg.Beta2 < 1):
		return nil, fmt.Errorf("optim.%s: invalid Beta2 %v, want 0 ≤ β₂ < 1", kind, cfg.Beta2)
	case !(cfg.Eps >= 0):
		return nil, fmt.Errorf("optim.%s: invalid Eps %v", kind, cfg.Eps)
	case !(cfg.WeightDecay >= 0):
		return nil, fmt.Errorf("optim.%s: invalid WeightDecay %v", kind, cfg.WeightDecay)
	}
	if err := checkParams(kind, params); err != nil {
		return nil, err
	}
	a := &Adam{cfg: cfg, decoupled: decoupled, lr: cfg.LR, params: params}
	for _, p := range params {
		m, v := newBuffer(p, ".exp_avg"), newBuffer(p, ".exp_avg_sq")
		a.m = append(a.m, m)
		a.v = append(a.v, v)
		a.state = append(a.state, m, v)
	}
	return a, nil
}

func (a *Adam) kind() string {
	if a.decoupled {
		return "AdamW"
	}
	return "Adam"
}

// Config returns the hyper-parameters the optimizer was made with.
func (a *Adam) Config() AdamConfig { return a.cfg }

// LR is the learning rate of the next Step.
func (a *Adam) LR() float64 { return a.lr }

// SetLR sets the learning rate of the next Step.
func (a *Adam) SetLR(lr float64) { a.lr = lr }

// Steps is the number of updates made so far (t after the last Step).
func (a *Adam) Steps() int64 { return a.step }

// Params is the parameter list.
func (a *Adam) Params() []*tensor.Tensor { return a.params }

// Step makes one Adam (or AdamW) update of every parameter that needs a
// gradient. Every element is updated on its own, so the parameters are
// split over the kernels' threads (splitParams) with the same result bits
// as on one thread. On one thread, or for small models, it allocates
// nothing.
func (a *Adam) Step() {
	a.step++
	t := float64(a.step)
	lr, wd := a.lr, a.cfg.WeightDecay
	bc1 := 1 - math.Pow(a.cfg.Beta1, t)
	bc2 := 1 - math.Pow(a.cfg.Beta2, t)
	// The scalars are computed in float64 and rounded once to float32, as
	// PyTorch does when it passes Python floats to its float32 kernels.
	c := adamScalars{
		b1:      float32(a.cfg.Beta1),
		omb1:    float32(1 - a.cfg.Beta1),
		b2:      float32(a.cfg.Beta2),
		omb2:    float32(1 - a.cfg.Beta2),
		negStep: float32(-(lr / bc1)),
		bc2Sqrt: float32(math.Sqrt(bc2)),
		eps:     float32(a.cfg.Eps),
		decay:   1,
	}
	if wd != 0 {
		if a.decoupled {
			c.decay = float32(1 - lr*wd)
		} else {
			c.l2 = float32(wd)
		}
	}
	a.scalars = c
	if a.update == nil {
		a.update = a.updateRange // bound once: Step then allocates nothing serially
	}
	splitParams(a.params, a.update)
}

// adamScalars are the float32 constants of one Adam step.
type adamScalars struct {
	b1, omb1, b2, omb2 float32
	negStep, bc2Sqrt   float32
	eps, l2, decay     float32
}

// updateRange updates elements lo..hi of parameter i with a.scalars (the
// range f of splitParams).
func (a *Adam) updateRange(i, lo, hi int) {
	p := a.params[i]
	if !p.NeedsGrad() || p.Grad == nil {
		return
	}
	adamUpdate(p.Data[lo:hi], p.Grad[lo:hi], a.m[i].Data[lo:hi], a.v[i].Data[lo:hi], &a.scalars)
}

// adamUpdate makes the Adam update of theta, its gradient grad and its
// moments m and v (all the same length), element by element.
func adamUpdate(theta, grad, m, v []float32, c *adamScalars) {
	b1, omb1, b2, omb2 := c.b1, c.omb1, c.b2, c.omb2
	negStep, bc2Sqrt, eps, l2, decay := c.negStep, c.bc2Sqrt, c.eps, c.l2, c.decay
	m = m[:len(theta)]
	v = v[:len(theta)]
	grad = grad[:len(theta)]
	for j := range theta {
		g := grad[j]
		if l2 != 0 {
			g = fmadd(theta[j], l2, g) // grad.add(param, alpha=weight_decay)
		}
		if decay != 1 {
			theta[j] *= decay // param.mul_(1 - lr*weight_decay)
		}
		mj := fmadd(g, omb1, m[j]*b1)   // exp_avg.mul_(beta1).add_(grad, alpha=1-beta1)
		vj := fmadd(omb2*g, g, v[j]*b2) // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
		m[j], v[j] = mj, vj
		denom := float32(math.Sqrt(float64(vj)))/bc2Sqrt + eps // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
		theta[j] += negStep * mj / denom                       // param.addcdiv_(exp_avg, denom, value=-step_size)
	}
}

// State returns the moment tensors "<param>.exp_avg" and
// "<param>.exp_avg_sq" (sharing the optimizer's memory, so loading a
// checkpoint into them restores the moments in place) and
// {"kind", "step", "lr", "beta1", "beta2", "eps", "weight_decay"}.
func (a *Adam) State() ([]*tensor.Tensor, map[string]any) {
	return slices.Clip(a.state), map[string]any{
		"kind":         a.kind(),
		"step":         a.step,
		"lr":           a.lr,
		"beta1":        a.cfg.Beta1,
		"beta2":        a.cfg.Beta2,
		"eps":          a.cfg.Eps,
		"weight_decay": a.cfg.WeightDecay,
	}
}

// LoadState restores the moments, the step count and the learning rate
// saved by State. On error nothing is changed.
func (a *Adam) LoadState(tensors []*tensor.Tensor, meta map[string]any) error {
	kind := a.kind()
	if err := metaKind(kind, kind, meta); err != nil {
		return err
	}
	step, err := metaInt(kind, meta, "step")
	if err != nil {
		return err
	}
	if step < 0 {
		return fmt.Errorf("optim.%s.LoadState: negative step %d", kind, step)
	}
	lr, err := metaFloat(kind, meta, "lr")
	if err != nil {
		return err
	}
	if err := loadBuffers(kind, a.state, tensors); err != nil {
		return err
	}
	a.step, a.lr = step, lr
	return nil
}
