package tensor

import (
	"fmt"
)

// MatMul returns op(a)·op(b) for matrices: a (M, K) or, when transA, (K, M);
// b (K, N) or, when transB, (N, K). The result is (M, N).
func (g *Graph) MatMul(a, b *Tensor, transA, transB bool) *Tensor {
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		panic(fmt.Sprintf("tensor.MatMul: want matrices, got %v and %v", a.Shape, b.Shape))
	}
	m, k := a.Shape[0], a.Shape[1]
	if transA {
		m, k = k, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(fmt.Sprintf("tensor.MatMul: inner dimensions differ: %v·%v (transA=%v transB=%v)", a.Shape, b.Shape, transA, transB))
	}
	out := g.newTensor(g.anyNeedsGrad(a, b), m, n)
	g.gemm(transA, transB, m, n, k, 1, a.Data, a.Shape[1], b.Data, b.Shape[1], 0, out.Data, n)
	out.ints = [4]int{m, n, k, boolInt(transA) | boolInt(transB)<<1}
	g.record(out, matMulBackward, a, b)
	return out
}

// matMulBackward differentiates C = op(A)·op(B):
// dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, written back through the transposes.
func matMulBackward(g *Graph, out *Tensor) {
	a, b := out.in[0], out.in[1]
	m, n, k := out.ints[0], out.ints[1], out.ints[2]
	transA, transB := out.ints[3]&1 != 0, out.ints[3]&2 != 0
	lda, ldb := a.Shape[1], b.Shape[1]
	if a.needsGrad {
		if transA { // A is (K, M): dA = op(B)·dCᵀ
			g.gemm(transB, true, k, m, n, 1, b.Data, ldb, out.Grad, n, 1, a.Grad, lda)
		} else { // A is (M, K): dA = dC·op(B)ᵀ
			g.gemm(false, !transB, m, k, n, 1, out.Grad, n, b.Data, ldb, 1, a.Grad, lda)
		}
	}
	if b.needsGrad {
		if transB { // B is (N, K): dB = dCᵀ·op(A)
			g.gemm(true, transA, n, k, m, 1, out.Grad, n, a.Data, lda, 1, b.Grad, ldb)
		} else { // B is (K, N): dB = op(A)ᵀ·dC
			g.gemm(!transA, false, k, n, m, 1, a.Data, lda, out.Grad, n, 1, b.Grad, ldb)
		}
	}
}

// BatchedMatMul returns op(a_i)·op(b_i) for every i of the leading axis:
// a (B, M, K) or (B, K, M); b (B, K, N) or (B, N, K); the result is (B, M, N).
func (g *Graph) BatchedMatMul(a, b *Tensor, transA, transB bool) *Tensor {
	if len(a.Shape) != 3 || len(b.Shape) != 3 || a.Shape[0] != b.Shape[0] {
		panic(fmt.Sprintf("tensor.BatchedMatMul: want (B,·,·) pairs, got %v and %v", a.Shape, b.Shape))
	}
	batch := a.Shape[0]
	m, k := a.Shape[1], a.Shape[2]
	if transA {
		m, k = k, m
	}
	kb, n := b.Shape[1], b.Shape[2]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(fmt.Sprintf("tensor.BatchedMatMul: inner dimensions differ: %v·%v", a.Shape, b.Shape))
	}
	out := g.newTensor(g.anyNeedsGrad(a, b), batch, m, n)
	lda, ldb := a.Shape[2], b.Shape[2]
	g.gemmStrided(transA, transB, m, n, k, 1, a.Data, lda, m*k, b.Data, ldb, k*n, 0, out.Data, n, m*n, batch)
	out.ints = [4]int{m, n, k, boolInt(transA) | boolInt(transB)<<1}
	g.record(out, batchedMatMulBackward, a, b)
	return out
}

// batchedMatMulBackward is matMulBackward for each matrix of the batch.
func batchedMatMulBackward(g *Graph, out *Tensor) {
	a, b := out.in[0], out.in[1]
	batch := a.Shape[0]
	m, n, k := out.ints[0], out.ints[1], out.ints[2]
	transA, transB := out.ints[3]&1 != 0, out.ints[3]&2 != 0
	lda, ldb := a.Shape[2], b.Shape[2]
	sa, sb, sc := m*k, k*n, m*n
	if a.needsGrad {
		if transA {
			g.gemmStrided(transB, true, k, m, n, 1, b.Data, ldb, sb, out.Grad, n, sc, 1, a.Grad, lda, sa, batch)
		} else {
			g.gemmStrided(false, !transB, m, k, n, 1, out.Grad, n, sc, b.Data, ldb, sb, 1, a.Grad, lda, sa, batch)
		}
	}
	if b.needsGrad {
		if transB {
			g.gemmStrided(true, transA, n, k, m, 1, out.Grad, n, sc, a.Data, lda, sa, 1, b.Grad, ldb, sb, batch)
		} else {
			g.gemmStrided(!transA, false, k, n, m, 1, a.Data, lda, sa, out.Grad, n, sc, 1, b.Grad, ldb, sb, batch)
		}
	}
}

// Linear returns x·Wᵀ + bias, the affine map of torch.nn.Linear:
// x (…, In), w (Out, In), bias (Out) or nil; the result is (…, Out).
func (g *Graph) Linear(x, w, bias *Tensor) *Tensor {
	in, outDim := w.Shape[1], w.Shape[0]
	if x.Cols() != in {
		panic(fmt.Sprintf("tensor.Linear: input %v does not match weight %v", x.Shape, w.Shape))
	}
	if bias != nil && (len(bias.Shape) != 1 || bias.Shape[0] != outDim) {
		panic(fmt.Sprintf("tensor.Linear: bias %v does not match weight %v", bias.Shape, w.Shape))
	}
	rows := x.Rows()
	shape := g.shapeWithLast(x.Shape, outDim)
	out := g.newTensor(g.anyNeedsGrad(x, w, bias), shape...)
	beta := float32(0)
	if bias != nil {
		if parallelRows(rows, outDim) {
			splitRows(rows, outDim, func(lo, hi int) { copyRows(out.Data, bias.Data, lo, hi) })
		} else {
			copyRows(out.Data, bias.Data, 0, rows)
		}
		beta = 1
	}
	g.gemm(false, true, rows, outDim, in, 1, x.Data, in, w.Data, in, beta, out.Data, outDim)
	g.record(out, linearBackward, x, w, bias)
	return out
}

// linearBackward differentiates y = x·Wᵀ + b:
// dx = dy·W, dW += dyᵀ·x, db += Σ_rows dy.
func linearBackward(g *Graph, out *Tensor) {
	x, w, bias := out.in[0], out.in[1], out.in[2]
	in, outDim := w.Shape[1], w.Shape[0]
	rows := x.Rows()
	if x.needsGrad {
		g.gemm(false, false, rows, in, outDim, 1, out.Grad, outDim, w.Data, in, 1, x.Grad, in)
	}
	if w.needsGrad {
		g.gemm(true, false, outDim, in, rows, 1, out.Grad, outDim, x.Data, in, 1, w.Grad, in)
	}
	if bias != nil && bias.needsGrad {
		addRowsInto(1, out.Grad, rows, outDim, bias.Grad)
	}
}

// copyRows copies row (D) into the rows lo..hi of dst (…, D).
func copyRows(dst, row []float32, lo, hi int) {
	d := len(row)
	for r := lo; r < hi; r++ {
		copy(dst[r*d:(r+1)*d], row)
	}
}

// shapeWithLast returns shape with its last axis replaced by last; the
// result is only valid until the next call (it is copied by newTensor).
func (g *Graph) shapeWithLast(shape []int, last int) []int {
	s := append(g.shapeTmp[:0], shape...)
	s[len(s)-1] = last
	g.shapeTmp = s
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
