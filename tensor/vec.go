package tensor

import "github.com/qkv-dev/qkv/kernels"

// axpy computes y += alpha·x over the first len(x) elements of y. It is the
// one place the package calls for this loop, now the vectorized kernels.Axpy,
// split over the threads for long vectors (whole activations' gradients).
func axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if !parallelElems(len(x)) {
		kernels.Axpy(alpha, x, y)
		return
	}
	splitElems(len(x), func(lo, hi int) { kernels.Axpy(alpha, x[lo:hi], y[lo:hi]) })
}
