package tensor

import "github.com/qkv-dev/qkv/kernels"

// axpy computes y += alpha·x over the first len(x) elements of y. It is the
// one place the package calls for this loop, now the vectorized kernels.Axpy.
func axpy(alpha float32, x, y []float32) {
	kernels.Axpy(alpha, x, y[:len(x)])
}
