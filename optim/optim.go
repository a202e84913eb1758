package optim

import (
	"fmt"
	"math"
	"slices"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/tensor"
)

// Optimizer updates a fixed list of parameters from their gradients.
type Optimizer interface {
	// Step applies one update with the current learning rate, reading each
	// parameter's Grad. It does not clear the gradients (see ZeroGrad).
	Step()
	// LR is the learning rate the next Step uses; SetLR changes it (a
	// schedule calls SetLR before every Step).
	LR() float64
	SetLR(lr float64)
	// Steps is the number of updates made so far (restored by LoadState).
	Steps() int64
	// Params is the parameter list the optimizer was made with.
	Params() []*tensor.Tensor
	// State returns the optimizer's per-parameter buffers as named tensors
	// that share its memory, and its scalar state (kind, step count,
	// learning rate, hyper-parameters). See the package documentation.
	State() ([]*tensor.Tensor, map[string]any)
	// LoadState restores what State returned: every expected tensor must
	// be present with the right shape, none may be extra, and the kind must
	// match. The hyper-parameters in meta are informational; the ones the
	// optimizer was made with stay.
	LoadState(tensors []*tensor.Tensor, meta map[string]any) error
}

// ZeroGrad clears every parameter's gradient, split over the kernels'
// threads as splitParams splits the parameters.
func ZeroGrad(params []*tensor.Tensor) {
	if !parallelParams(params) { // no closure: the serial path allocates nothing
		for _, p := range params {
			clear(p.Grad)
		}
		return
	}
	splitParams(params, func(i, lo, hi int) {
		if g := params[i].Grad; g != nil {
			clear(g[lo:hi])
		}
	})
}

// paramGrain is the fewest parameter elements an optimizer hands a
// goroutine: an Adam update costs a few nanoseconds an element, and waking
// a helper tens of microseconds under KVM.
const paramGrain = 1 << 15

// parallelParams reports whether splitParams splits params over goroutines:
// with more than one thread, when they hold at least 2·paramGrain elements.
func parallelParams(params []*tensor.Tensor) bool {
	if kernels.Threads() <= 1 {
		return false
	}
	n := 0
	for _, p := range params {
		n += len(p.Data)
		if n >= 2*paramGrain {
			return true
		}
	}
	return false
}

// splitParams calls f(i, lo, hi) for ranges lo..hi of the elements of
// params[i] that together cover every element of every parameter once. The
// elements of all the parameters, end to end, are cut into contiguous
// pieces of at least paramGrain (kernels.ParallelRange), so a piece may take
// the end of one parameter and the start of the next; small models run
// f(i, 0, len) for each parameter in order on the caller. f must touch only
// its range (elementwise updates), so the result does not depend on the
// split.
func splitParams(params []*tensor.Tensor, f func(i, lo, hi int)) {
	if !parallelParams(params) {
		for i, p := range params {
			f(i, 0, len(p.Data))
		}
		return
	}
	n := 0
	for _, p := range params {
		n += len(p.Data)
	}
	kernels.ParallelRange(n, paramGrain, func(lo, hi int) {
		off := 0 // of params[i]'s first element in the concatenation
		for i, p := range params {
			end := off + len(p.Data)
			if end > lo && off < hi {
				f(i, max(lo, off)-off, min(hi, end)-off)
			}
			if end >= hi {
				return
			}
			off = end
		}
	})
}

// GradNorm is the global L2 norm of the gradients of params, √(Σ g²) over
// every element of every parameter that has a gradient, summed in float64.
func GradNorm(params []*tensor.Tensor) float64 {
	var ss float64
	for _, p := range params {
		for _, g := range p.Grad {
			ss += float64(g) * float64(g)
		}
	}
	return math.Sqrt(ss)
}

// ClipGradNorm rescales the gradients of params in place so that their
// global L2 norm is at most maxNorm, and returns the norm before clipping
// (Pascanu et al. 2013). Like torch.nn.utils.clip_grad_norm_, the scale is
// maxNorm/(norm + 1e-6) and is applied only when it is below 1.
//
// If the norm is NaN or infinite the gradients are left unchanged and the
// non-finite norm is returned; the caller should skip that update
// (PyTorch would multiply every gradient by NaN instead).
func ClipGradNorm(params []*tensor.Tensor, maxNorm float64) float64 {
	norm := GradNorm(params)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef < 1 {
		c := float32(coef)
		for _, p := range params {
			for i := range p.Grad {
				p.Grad[i] *= c
			}
		}
	}
	return norm
}

// checkParams verifies that every parameter has a unique non-empty name
// (State names its buffers after them) and a gradient buffer.
func checkParams(kind string, params []*tensor.Tensor) error {
	seen := make(map[string]bool, len(params))
	for i, p := range params {
		if p == nil {
			return fmt.Errorf("optim.%s: parameter %d is nil", kind, i)
		}
		if p.Name == "" {
			return fmt.Errorf("optim.%s: parameter %d (shape %v) has no name", kind, i, p.Shape)
		}
		if seen[p.Name] {
			return fmt.Errorf("optim.%s: two parameters are named %q", kind, p.Name)
		}
		seen[p.Name] = true
		if len(p.Grad) != len(p.Data) {
			return fmt.Errorf("optim.%s: parameter %q has %d gradient values for %d values", kind, p.Name, len(p.Grad), len(p.Data))
		}
	}
	return nil
}

// newBuffer allocates a zeroed buffer shaped like p, named p.Name+suffix.
func newBuffer(p *tensor.Tensor, suffix string) *tensor.Tensor {
	t := tensor.FromData(make([]float32, len(p.Data)), p.Shape...)
	t.Name = p.Name + suffix
	return t
}

// loadBuffers copies tensors into bufs by name, checking that the sets of
// names agree and that the shapes match. Nothing is modified on error.
func loadBuffers(kind string, bufs []*tensor.Tensor, tensors []*tensor.Tensor) error {
	byName := make(map[string]*tensor.Tensor, len(tensors))
	for _, t := range tensors {
		if _, dup := byName[t.Name]; dup {
			return fmt.Errorf("optim.%s.LoadState: tensor %q given twice", kind, t.Name)
		}
		byName[t.Name] = t
	}
	for _, b := range bufs {
		t, ok := byName[b.Name]
		if !ok {
			return fmt.Errorf("optim.%s.LoadState: missing state tensor %q", kind, b.Name)
		}
		if !slices.Equal(t.Shape, b.Shape) || len(t.Data) != len(b.Data) {
			return fmt.Errorf("optim.%s.LoadState: state tensor %q has shape %v, want %v", kind, b.Name, t.Shape, b.Shape)
		}
		delete(byName, b.Name)
	}
	for _, t := range tensors {
		if _, left := byName[t.Name]; left {
			return fmt.Errorf("optim.%s.LoadState: unexpected state tensor %q (no parameter of this optimizer has that name)", kind, t.Name)
		}
	}
	for _, b := range bufs {
		for _, t := range tensors {
			if t.Name == b.Name {
				copy(b.Data, t.Data) // a no-op when t is b (loaded in place)
				break
			}
		}
	}
	return nil
}

// metaKind checks meta["kind"] against want.
func metaKind(kind, want string, meta map[string]any) error {
	got, ok := meta["kind"].(string)
	if !ok {
		return fmt.Errorf("optim.%s.LoadState: state has no \"kind\"", kind)
	}
	if got != want {
		return fmt.Errorf("optim.%s.LoadState: state is for a %q optimizer, not %q", kind, got, want)
	}
	return nil
}

// metaInt reads an integer that may have come back from JSON as float64.
func metaInt(kind string, meta map[string]any, key string) (int64, error) {
	switch v := meta[key].(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), nil
		}
		return 0, fmt.Errorf("optim.%s.LoadState: %q = %v is not an integer", kind, key, v)
	case interface{ Int64() (int64, error) }: // json.Number
		n, err := v.Int64()
		if err != nil {
			return 0, fmt.Errorf("optim.%s.LoadState: %q: %v", kind, key, err)
		}
		return n, nil
	case nil:
		return 0, fmt.Errorf("optim.%s.LoadState: state has no %q", kind, key)
	default:
		return 0, fmt.Errorf("optim.%s.LoadState: %q has type %T, want a number", kind, key, v)
	}
}

// metaFloat reads a float (or an integer) from meta.
func metaFloat(kind string, meta map[string]any, key string) (float64, error) {
	switch v := meta[key].(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case interface{ Float64() (float64, error) }: // json.Number
		return v.Float64()
	case nil:
		return 0, fmt.Errorf("optim.%s.LoadState: state has no %q", kind, key)
	default:
		return 0, fmt.Errorf("optim.%s.LoadState: %q has type %T, want a number", kind, key, v)
	}
}

// fmadd returns a·b + c rounded once to float32, as PyTorch's vectorized
// add with alpha (vec::fmadd) computes it. The product of two float32 is
// exact in float64, so only the sum is rounded (twice, which differs from
// a true single rounding only on exact float32 ties of the float64 sum).
func fmadd(a, b, c float32) float32 {
	return float32(float64(a)*float64(b) + float64(c))
}
