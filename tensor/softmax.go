package tensor

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/kernels"
)

// Softmax and log-softmax along the last axis, with an optional additive
// mask.
//
// The mask is nil or a constant whose shape equals x's shape or a suffix of
// it ending in the last axis, broadcast over x's leading axes: a padding mask
// (B, 1, 1, Tk) reshaped, or a causal mask (Tq, Tk) on scores
// (B, H, Tq, Tk). Its entries are 0 (keep) or −Inf (drop); the scores used
// are x + mask. Rows are shifted by their maximum before exponentiation.
//
// A fully masked row (every score −Inf) has no softmax; PyTorch gives NaN.
// Here such a row produces zeros — softmax weights of 0 and log-softmax
// values of 0 — and passes zero gradient back, so a padded query row in
// attention contributes nothing instead of poisoning the batch with NaN.
// In a partly masked row, log-softmax is −Inf at the masked positions (as in
// PyTorch); those outputs do not depend on x, so no gradient flows through
// them.

// checkMask panics unless mask is nil or a suffix-shaped mask for x.
func checkMask(op string, x, mask *Tensor) {
	if mask == nil {
		return
	}
	if len(mask.Shape) == 0 || !isSuffix(x.Shape, mask.Shape) {
		panic(fmt.Sprintf("tensor.%s: mask %v is not a suffix of %v", op, mask.Shape, x.Shape))
	}
}

// maskedRow writes the scores x + mask of one row into dst and returns their
// maximum (−Inf when the row is fully masked).
func maskedRow(dst, x, mask []float32) float32 {
	m := float32(math.Inf(-1))
	for j, v := range x {
		if mask != nil {
			v += mask[j]
		}
		dst[j] = v
		m = max(m, v)
	}
	return m
}

// rowMask returns row r's slice of the broadcast mask (nil for no mask).
func rowMask(mask *Tensor, r, d int) []float32 {
	if mask == nil {
		return nil
	}
	o := (r * d) % len(mask.Data)
	return mask.Data[o : o+d]
}

// Softmax returns softmax(x + mask) along the last axis: x (…, D), mask nil
// or a suffix of x's shape; the result has x's shape.
func (g *Graph) Softmax(x, mask *Tensor) *Tensor {
	checkMask("Softmax", x, mask)
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	d := x.Cols()
	for r := 0; r < x.Rows(); r++ {
		y := out.Data[r*d : (r+1)*d]
		m := maskedRow(y, x.Data[r*d:(r+1)*d], rowMask(mask, r, d))
		if math.IsInf(float64(m), -1) {
			clear(y)
			continue
		}
		kernels.Softmax(y) // max-subtracted; masked (−Inf) scores become 0
	}
	g.record(out, softmaxBackward, x)
	return out
}

// softmaxBackward differentiates y = softmax(x + mask) row by row:
// dx_j += y_j·(dy_j − Σ_k dy_k·y_k). Masked positions and fully masked rows
// have y = 0 and so receive nothing.
func softmaxBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	d := out.Cols()
	for r := 0; r < out.Rows(); r++ {
		y, dy, dx := out.Data[r*d:(r+1)*d], out.Grad[r*d:(r+1)*d], x.Grad[r*d:(r+1)*d]
		dot := kernels.Dot(y, dy)
		for j, v := range y {
			dx[j] += v * (dy[j] - dot)
		}
	}
}

// LogSoftmax returns log softmax(x + mask) along the last axis: x (…, D),
// mask nil or a suffix of x's shape; the result has x's shape.
func (g *Graph) LogSoftmax(x, mask *Tensor) *Tensor {
	checkMask("LogSoftmax", x, mask)
	out := g.newTensor(g.anyNeedsGrad(x), x.Shape...)
	d := x.Cols()
	for r := 0; r < x.Rows(); r++ {
		y := out.Data[r*d : (r+1)*d]
		m := maskedRow(y, x.Data[r*d:(r+1)*d], rowMask(mask, r, d))
		if math.IsInf(float64(m), -1) {
			clear(y)
			continue
		}
		var sum float64
		for _, v := range y {
			sum += math.Exp(float64(v - m))
		}
		lse := m + float32(math.Log(sum))
		for j := range y {
			y[j] -= lse
		}
	}
	g.record(out, logSoftmaxBackward, x)
	return out
}

// logSoftmaxBackward differentiates y = x + mask − logsumexp(x + mask) row
// by row: dx_j += dy_j − e^(y_j)·Σ_k dy_k, the sum over the positions that
// depend on x (y_k > −Inf). Masked positions get nothing; a fully masked
// row (all zeros in the forward) gets nothing either.
func logSoftmaxBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	d := out.Cols()
	negInf := float32(math.Inf(-1))
	for r := 0; r < out.Rows(); r++ {
		y, dy, dx := out.Data[r*d:(r+1)*d], out.Grad[r*d:(r+1)*d], x.Grad[r*d:(r+1)*d]
		var sum float32
		masked := true
		for j, v := range y {
			if v != negInf {
				sum += dy[j]
			}
			if v != 0 {
				masked = false
			}
		}
		if masked {
			// Either fully masked, or D = 1 where log-softmax is the constant 0.
			continue
		}
		for j, v := range y {
			if v != negInf {
				dx[j] += dy[j] - float32(math.Exp(float64(v)))*sum
			}
		}
	}
}
