package tensor

import "github.com/qkv-dev/qkv/kernels"

// Splitting elementwise and row-wise loops over the kernels' threads
// (kernels.ParallelRange). Every split here gives the same bits as the
// serial loop: an element is computed by the same operations whichever
// piece it falls in, and a sum over rows (a bias's gradient) is split by
// columns, each column still summed over the rows in order. Callers test
// parallelElems or parallelRows first and run the serial loop themselves
// otherwise, so that the closure handed to the split is only made, and
// allocated, when the loop is split.

// splitBlock aligns the pieces of splitElems and splitCols: the vector
// kernels run whole vectors over a prefix and a Go loop over the tail, which
// may round differently (an FMA or not), so a piece starts on a multiple of
// 64 elements, and every element stays on the side of that boundary it is
// on in one call over the whole slice.
const splitBlock = 64

// parallelElems reports whether a loop over n elements is worth splitting.
func parallelElems(n int) bool {
	return n >= 2*elementwiseGrain && kernels.Threads() > 1
}

// splitElems runs f over [0, n) in pieces that start on multiples of
// splitBlock.
func splitElems(n int, f func(lo, hi int)) {
	blocks := (n + splitBlock - 1) / splitBlock
	kernels.ParallelRange(blocks, elementwiseGrain/splitBlock, func(lo, hi int) {
		f(lo*splitBlock, min(hi*splitBlock, n))
	})
}

// parallelRows reports whether a loop over rows rows of d elements each is
// worth splitting by rows.
func parallelRows(rows, d int) bool {
	return rows >= 2 && rows*d >= 2*elementwiseGrain && kernels.Threads() > 1
}

// splitRows runs f over the rows [0, rows) in pieces of at least
// elementwiseGrain elements.
func splitRows(rows, d int, f func(lo, hi int)) {
	kernels.ParallelRange(rows, max(1, elementwiseGrain/max(d, 1)), f)
}

// parallelCols reports whether a sum over rows rows of d columns is worth
// splitting by columns: there must be at least two blocks of columns.
func parallelCols(rows, d int) bool {
	return d >= 2*splitBlock && rows*d >= 2*elementwiseGrain && kernels.Threads() > 1
}

// splitCols runs f over the columns [0, d) in pieces that start on
// multiples of splitBlock, each covering at least elementwiseGrain elements
// of the rows rows where it can.
func splitCols(rows, d int, f func(c0, c1 int)) {
	blocks := (d + splitBlock - 1) / splitBlock
	kernels.ParallelRange(blocks, max(1, elementwiseGrain/(rows*splitBlock)), func(lo, hi int) {
		f(lo*splitBlock, min(hi*splitBlock, d))
	})
}

// clearFloats sets s to zeros, split over the threads when it is large
// (gradients of whole activations, cleared when backward first reaches
// them).
func clearFloats(s []float32) {
	if !parallelElems(len(s)) {
		clear(s)
		return
	}
	splitElems(len(s), func(lo, hi int) { clear(s[lo:hi]) })
}

// addRowsInto adds the rows of x (rows, d) into y (d): y[j] += alpha·Σ_r
// x[r, j], the rows in order for each column (the gradient of a bias
// broadcast over rows).
func addRowsInto(alpha float32, x []float32, rows, d int, y []float32) {
	if !parallelCols(rows, d) {
		addRowsRange(alpha, x, rows, d, y, 0, d)
		return
	}
	splitCols(rows, d, func(c0, c1 int) { addRowsRange(alpha, x, rows, d, y, c0, c1) })
}

// addRowsRange is addRowsInto for the columns c0..c1.
func addRowsRange(alpha float32, x []float32, rows, d int, y []float32, c0, c1 int) {
	for r := 0; r < rows; r++ {
		kernels.Axpy(alpha, x[r*d+c0:r*d+c1], y[c0:c1])
	}
}
