package optim

import (
	"fmt"
	"slices"

	"github.com/qkv-dev/qkv/tensor"
)

// SGDConfig holds SGD's hyper-parameters, used as given (zero means zero).
type SGDConfig struct {
	LR          float64 // learning rate
	Momentum    float64 // μ; 0 is plain SGD
	Dampening   float64 // τ: the new gradient enters the buffer scaled by 1−τ
	Nesterov    bool    // Nesterov momentum (needs Momentum > 0 and Dampening 0)
	WeightDecay float64 // L2, added to the gradient
}

// SGD is stochastic gradient descent with optional momentum, computing
// what torch.optim.SGD computes:
//
//	g ← ∇θ + λθ
//	b ← g on the first step, then μb + (1−τ)g
//	g ← g + μb (Nesterov) or b
//	θ ← θ − lr·g
type SGD struct {
	cfg    SGDConfig
	lr     float64
	step   int64
	params []*tensor.Tensor
	buf    []*tensor.Tensor // momentum buffers (nil without momentum)

	first  bool                // the step in progress is the first
	update func(i, lo, hi int) // s.updateRange, bound once
}

// NewSGD returns SGD over params, which need unique, non-empty names.
func NewSGD(params []*tensor.Tensor, cfg SGDConfig) (*SGD, error) {
	switch {
	case !(cfg.LR >= 0):
		return nil, fmt.Errorf("optim.SGD: invalid learning rate %v", cfg.LR)
	case !(cfg.Momentum >= 0):
		return nil, fmt.Errorf("optim.SGD: invalid Momentum %v", cfg.Momentum)
	case !(cfg.WeightDecay >= 0):
		return nil, fmt.Errorf("optim.SGD: invalid WeightDecay %v", cfg.WeightDecay)
	case cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0):
		return nil, fmt.Errorf("optim.SGD: Nesterov momentum needs Momentum > 0 and Dampening 0")
	}
	if err := checkParams("SGD", params); err != nil {
		return nil, err
	}
	s := &SGD{cfg: cfg, lr: cfg.LR, params: params}
	if cfg.Momentum != 0 {
		for _, p := range params {
			s.buf = append(s.buf, newBuffer(p, ".momentum_buffer"))
		}
	}
	return s, nil
}

// Config returns the hyper-parameters the optimizer was made with.
func (s *SGD) Config() SGDConfig { return s.cfg }

// LR is the learning rate of the next Step.
func (s *SGD) LR() float64 { return s.lr }

// SetLR sets the learning rate of the next Step.
func (s *SGD) SetLR(lr float64) { s.lr = lr }

// Steps is the number of updates made so far.
func (s *SGD) Steps() int64 { return s.step }

// Params is the parameter list.
func (s *SGD) Params() []*tensor.Tensor { return s.params }

// Step makes one update of every parameter that needs a gradient, split
// over the kernels' threads as Adam.Step is (same result bits). On one
// thread, or for small models, it allocates nothing.
func (s *SGD) Step() {
	s.first = s.step == 0
	s.step++
	if s.update == nil {
		s.update = s.updateRange // bound once: Step then allocates nothing serially
	}
	splitParams(s.params, s.update)
}

// updateRange updates elements lo..hi of parameter i (the range f of
// splitParams).
func (s *SGD) updateRange(i, lo, hi int) {
	p := s.params[i]
	if !p.NeedsGrad() || p.Grad == nil {
		return
	}
	var (
		negLR  = float32(-s.lr)
		wd     = float32(s.cfg.WeightDecay)
		mu     = float32(s.cfg.Momentum)
		omDamp = float32(1 - s.cfg.Dampening)
		nest   = s.cfg.Nesterov
		first  = s.first
	)
	theta, grad := p.Data[lo:hi], p.Grad[lo:hi]
	if s.buf == nil {
		for j := range theta {
			g := grad[j]
			if wd != 0 {
				g = fmadd(theta[j], wd, g)
			}
			theta[j] = fmadd(g, negLR, theta[j]) // param.add_(d_p, alpha=-lr)
		}
		return
	}
	b := s.buf[i].Data[lo:hi]
	for j := range theta {
		g := grad[j]
		if wd != 0 {
			g = fmadd(theta[j], wd, g) // d_p.add(param, alpha=weight_decay)
		}
		if first {
			b[j] = g // buf = clone(d_p)
		} else {
			b[j] = fmadd(g, omDamp, b[j]*mu) // buf.mul_(momentum).add_(d_p, alpha=1-dampening)
		}
		if nest {
			g = fmadd(b[j], mu, g) // d_p.add(buf, alpha=momentum)
		} else {
			g = b[j]
		}
		theta[j] = fmadd(g, negLR, theta[j])
	}
}

// State returns the momentum buffers "<param>.momentum_buffer" (none
// without momentum), sharing the optimizer's memory, and
// {"kind", "step", "lr", "momentum", "dampening", "nesterov", "weight_decay"}.
func (s *SGD) State() ([]*tensor.Tensor, map[string]any) {
	return slices.Clip(s.buf), map[string]any{
		"kind":         "SGD",
		"step":         s.step,
		"lr":           s.lr,
		"momentum":     s.cfg.Momentum,
		"dampening":    s.cfg.Dampening,
		"nesterov":     s.cfg.Nesterov,
		"weight_decay": s.cfg.WeightDecay,
	}
}

// LoadState restores the momentum buffers, the step count and the
// learning rate saved by State. On error nothing is changed.
func (s *SGD) LoadState(tensors []*tensor.Tensor, meta map[string]any) error {
	if err := metaKind("SGD", "SGD", meta); err != nil {
		return err
	}
	step, err := metaInt("SGD", meta, "step")
	if err != nil {
		return err
	}
	if step < 0 {
		return fmt.Errorf("optim.SGD.LoadState: negative step %d", step)
	}
	lr, err := metaFloat("SGD", meta, "lr")
	if err != nil {
		return err
	}
	if err := loadBuffers("SGD", s.buf, tensors); err != nil {
		return err
	}
	s.step, s.lr = step, lr
	return nil
}
