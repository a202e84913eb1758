package tensor

import (
	"fmt"

	"github.com/qkv-dev/qkv/kernels"
)

// LinearInt8 is Linear with int8 weights, for inference: y = x·Wᵀ + b with
// W quantized per output channel and each row of x quantized as it comes
// (kernels.Int8Linear). It has no backward: the graph must not record
// gradients (SetNoGrad) and x must not need one.
func (g *Graph) LinearInt8(x *Tensor, w *kernels.Int8Matrix, bias *Tensor) *Tensor {
	if x.Cols() != w.K {
		panic(fmt.Sprintf("tensor.LinearInt8: input %v does not match int8 weight (%d, %d)", x.Shape, w.N, w.K))
	}
	if bias != nil && (len(bias.Shape) != 1 || bias.Shape[0] != w.N) {
		panic(fmt.Sprintf("tensor.LinearInt8: bias %v does not match int8 weight (%d, %d)", bias.Shape, w.N, w.K))
	}
	if x.needsGrad && !g.noGrad {
		panic("tensor.LinearInt8: int8 weights are for inference; the graph records gradients")
	}
	out := g.newTensor(false, g.shapeWithLast(x.Shape, w.N)...)
	var b []float32
	if bias != nil {
		b = bias.Data
	}
	kernels.Int8Linear(out.Data, x.Data, x.Rows(), w, b, &g.int8)
	return out
}

// SplitLast cuts x (…, n·D) into n tensors (…, D) along its last axis, for
// inference (no backward; see LinearInt8).
func (g *Graph) SplitLast(x *Tensor, n int) []*Tensor {
	cols := x.Cols()
	if n <= 0 || cols%n != 0 {
		panic(fmt.Sprintf("tensor.SplitLast: %v into %d parts", x.Shape, n))
	}
	if x.needsGrad && !g.noGrad {
		panic("tensor.SplitLast: inference only; the graph records gradients")
	}
	d, rows := cols/n, x.Rows()
	out := make([]*Tensor, n)
	for i := range out {
		t := g.newTensor(false, g.shapeWithLast(x.Shape, d)...)
		for r := 0; r < rows; r++ {
			copy(t.Data[r*d:(r+1)*d], x.Data[r*cols+i*d:r*cols+(i+1)*d])
		}
		out[i] = t
	}
	return out
}
