package tensor

// axpy computes y += alpha·x. It is the one place the package calls for
// this loop, so it can move to the vectorized kernels.Axpy in one edit.
func axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
