package tensor

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/kernels"
)

// LayerNorm normalizes each row of x over its last axis and applies the
// elementwise affine map of torch.nn.LayerNorm (Ba, Kiros & Hinton 2016):
// y = (x − mean)·rstd·gamma + beta, rstd = 1/√(var + eps), var the biased
// variance. x (…, D); gamma, beta (D), either may be nil (no scale, no
// shift). The forward saves each row's mean and rstd for the backward pass,
// as llm.c does.
func (g *Graph) LayerNorm(x, gamma, beta *Tensor, eps float32) *Tensor {
	d := x.Cols()
	for _, p := range [2]*Tensor{gamma, beta} {
		if p != nil && (len(p.Shape) != 1 || p.Shape[0] != d) {
			panic(fmt.Sprintf("tensor.LayerNorm: parameter %v does not match input %v", p.Shape, x.Shape))
		}
	}
	out := g.newTensor(g.anyNeedsGrad(x, gamma, beta), x.Shape...)
	rows := x.Rows()
	var stats []float32 // (rows, 2): mean, rstd
	if out.needsGrad {
		stats = g.floats.alloc(2 * rows)
		out.saved = stats
	}
	if parallelRows(rows, d) {
		splitRows(rows, d, func(lo, hi int) { layerNormRows(out.Data, stats, x.Data, gamma, beta, eps, d, lo, hi) })
	} else {
		layerNormRows(out.Data, stats, x.Data, gamma, beta, eps, d, 0, rows)
	}
	g.record(out, layerNormBackward, x, gamma, beta)
	return out
}

// layerNormRows normalizes the rows lo..hi of x (rows, D) into out, saving
// each row's mean and rstd in stats (rows, 2) unless stats is nil.
func layerNormRows(out, stats, x []float32, gamma, beta *Tensor, eps float32, d, lo, hi int) {
	for r := lo; r < hi; r++ {
		xr, y := x[r*d:(r+1)*d], out[r*d:(r+1)*d]
		if gamma != nil && beta != nil {
			m, s := kernels.LayerNorm(y, xr, gamma.Data, beta.Data, eps)
			if stats != nil {
				stats[2*r], stats[2*r+1] = m, s
			}
			continue
		}
		var sum float64
		for _, v := range xr {
			sum += float64(v)
		}
		mean := sum / float64(d)
		var ss float64
		for _, v := range xr {
			c := float64(v) - mean
			ss += c * c
		}
		rstd := 1 / math.Sqrt(ss/float64(d)+float64(eps))
		m, s := float32(mean), float32(rstd)
		for j, v := range xr {
			n := (v - m) * s
			if gamma != nil {
				n *= gamma.Data[j]
			}
			if beta != nil {
				n += beta.Data[j]
			}
			y[j] = n
		}
		if stats != nil {
			stats[2*r], stats[2*r+1] = m, s
		}
	}
}

// layerNormBackward differentiates y = n·gamma + beta, n = (x − mean)·rstd:
// dbeta += Σ_rows dy, dgamma += Σ_rows dy·n, and with dn = dy·gamma,
// dx += rstd·(dn − mean_j(dn) − n·mean_j(dn·n)).
func layerNormBackward(g *Graph, out *Tensor) {
	x, gamma, beta := out.in[0], out.in[1], out.in[2]
	d := out.Cols()
	stats := out.saved
	if gamma != nil && beta != nil && x.needsGrad && gamma.needsGrad && beta.needsGrad {
		// The usual case, vectorized: the kernel overwrites dx, so it
		// writes to scratch that is then added into x's gradient.
		rows := out.Rows()
		if !parallelCols(rows, d) {
			tmp := g.Scratch(d)
			for r := 0; r < rows; r++ {
				row := out.Grad[r*d : (r+1)*d]
				kernels.LayerNormBackward(tmp, gamma.Grad, beta.Grad, row, x.Data[r*d:(r+1)*d], stats[2*r], stats[2*r+1], gamma.Data)
				axpy(1, tmp, x.Grad[r*d:(r+1)*d])
			}
			return
		}
		// Split, with the serial loop's bits: dx row by row, each piece
		// with its own throw-away dgamma and dbeta (the row's sums come
		// out of the whole row as above); then dgamma and dbeta by columns
		// in pieces that start on multiples of 64 (so whole vectors but
		// the row's own tail, as above), each column adding up the rows
		// in order.
		splitRows(rows, d, func(lo, hi int) {
			tmp := make([]float32, 3*d) // dx, dgamma, dbeta
			for r := lo; r < hi; r++ {
				row := out.Grad[r*d : (r+1)*d]
				kernels.LayerNormBackward(tmp[:d], tmp[d:2*d], tmp[2*d:], row, x.Data[r*d:(r+1)*d], stats[2*r], stats[2*r+1], gamma.Data)
				kernels.Axpy(1, tmp[:d], x.Grad[r*d:(r+1)*d])
			}
		})
		splitCols(rows, d, func(c0, c1 int) {
			for r := 0; r < rows; r++ {
				o := r * d
				kernels.LayerNormParamGrad(gamma.Grad[c0:c1], beta.Grad[c0:c1], out.Grad[o+c0:o+c1], x.Data[o+c0:o+c1], stats[2*r], stats[2*r+1])
			}
		})
		return
	}
	for r := 0; r < out.Rows(); r++ {
		xr, dy := x.Data[r*d:(r+1)*d], out.Grad[r*d:(r+1)*d]
		mean, rstd := stats[2*r], stats[2*r+1]
		var dnMean, dnNMean float32
		for j, v := range xr {
			n := (v - mean) * rstd
			dn := dy[j]
			if gamma != nil {
				dn *= gamma.Data[j]
				if gamma.needsGrad {
					gamma.Grad[j] += dy[j] * n
				}
			}
			if beta != nil && beta.needsGrad {
				beta.Grad[j] += dy[j]
			}
			dnMean += dn
			dnNMean += dn * n
		}
		if !x.needsGrad {
			continue
		}
		dnMean /= float32(d)
		dnNMean /= float32(d)
		dx := x.Grad[r*d : (r+1)*d]
		for j, v := range xr {
			n := (v - mean) * rstd
			dn := dy[j]
			if gamma != nil {
				dn *= gamma.Data[j]
			}
			dx[j] += rstd * (dn - dnMean - n*dnNMean)
		}
	}
}
