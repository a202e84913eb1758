package optim

import "math"

// Schedule gives the learning rate of each update. Steps are counted from
// 1: LR(1) is the rate of the first update.
type Schedule interface {
	LR(step int64) float64
}

// NoamSchedule is the Transformer paper's schedule (Vaswani et al. 2017,
// §5.3): lr = Factor · DModel^−0.5 · min(step^−0.5, step · Warmup^−1.5),
// rising linearly for Warmup steps, then decaying as step^−0.5. Its peak,
// at step = Warmup, is Factor · (DModel·Warmup)^−0.5. The paper uses
// Factor 1 and Warmup 4000. Steps below 1 count as 1; Warmup ≤ 0 means no
// warm-up.
type NoamSchedule struct {
	Factor float64
	DModel int
	Warmup int
}

// LR returns the rate of update number step.
func (s NoamSchedule) LR(step int64) float64 {
	t := float64(max(step, 1))
	r := math.Pow(t, -0.5)
	if s.Warmup > 0 {
		r = min(r, t*math.Pow(float64(s.Warmup), -1.5))
	}
	return s.Factor * math.Pow(float64(s.DModel), -0.5) * r
}

// InverseSqrtSchedule is fairseq's inverse_sqrt schedule: the rate rises
// linearly from Init to Peak over Warmup steps, then decays as
// Peak · √(Warmup/step):
//
//	lr = Init + step·(Peak − Init)/Warmup   for step < Warmup
//	lr = Peak · √(Warmup/step)              for step ≥ Warmup
//
// fairseq evaluates this formula with the number of updates already made
// and uses the result for the next update; here LR(step) is the rate of
// update number step (from 1), so the first update has a rate above Init.
// Warmup ≤ 0 counts as 1.
type InverseSqrtSchedule struct {
	Peak   float64
	Warmup int
	Init   float64
}

// LR returns the rate of update number step.
func (s InverseSqrtSchedule) LR(step int64) float64 {
	w := float64(max(s.Warmup, 1))
	t := float64(max(step, 0))
	if t < w {
		return s.Init + t*(s.Peak-s.Init)/w
	}
	return s.Peak * math.Sqrt(w/t)
}

// CosineSchedule is fairseq's cosine schedule without restarts (Loshchilov
// & Hutter 2017, "SGDR"): the rate rises linearly from 0 to Peak over Warmup
// steps, then follows half a cosine from Peak down to Min at step Total,
// and stays at Min after it:
//
//	lr = Peak · step/Warmup                                    for step < Warmup
//	lr = Min + (Peak − Min) · ½ · (1 + cos(π · (step − Warmup)/(Total − Warmup)))
//	                                                           for Warmup ≤ step ≤ Total
//	lr = Min                                                   for step > Total
//
// Unlike the inverse square root it ends near zero at a known step, which
// anneals the weights by the end of a run of known length: what a
// step-budgeted run (--max-steps) wants. Total ≤ Warmup decays at once.
type CosineSchedule struct {
	Peak   float64
	Warmup int
	Total  int64
	Min    float64
}

// LR returns the rate of update number step.
func (s CosineSchedule) LR(step int64) float64 {
	t := max(step, 0)
	w := int64(max(s.Warmup, 0))
	if t < w {
		return s.Peak * float64(t) / float64(w)
	}
	if t >= s.Total {
		return s.Min
	}
	frac := float64(t-w) / float64(s.Total-w)
	return s.Min + (s.Peak-s.Min)*0.5*(1+math.Cos(math.Pi*frac))
}

// ConstantSchedule is a fixed learning rate.
type ConstantSchedule float64

// LR returns the constant rate.
func (s ConstantSchedule) LR(int64) float64 { return float64(s) }

var (
	_ Schedule  = NoamSchedule{}
	_ Schedule  = InverseSqrtSchedule{}
	_ Schedule  = CosineSchedule{}
	_ Schedule  = ConstantSchedule(0)
	_ Optimizer = (*Adam)(nil)
	_ Optimizer = (*SGD)(nil)
)
