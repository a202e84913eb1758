//go:build purego || !amd64

package kernels

// Without assembly the vector kernels are the Go twins, or, for the gosimd
// implementations (GOEXPERIMENT=simd), their Go-SIMD versions.

func axpy(alpha float32, x, y []float32) {
	if t := cur.simd; t != nil {
		t.axpy(alpha, x, y)
		return
	}
	axpyGeneric(alpha, x, y)
}

func scale(alpha float32, x []float32) {
	if t := cur.simd; t != nil {
		t.scale(alpha, x)
		return
	}
	scaleGeneric(alpha, x)
}

func add(dst, a, b []float32) {
	if t := cur.simd; t != nil {
		t.add(dst, a, b)
		return
	}
	addGeneric(dst, a, b)
}

func mul(dst, a, b []float32) {
	if t := cur.simd; t != nil {
		t.mul(dst, a, b)
		return
	}
	mulGeneric(dst, a, b)
}

func dot(x, y []float32) float32 {
	if t := cur.simd; t != nil {
		return t.dot(x, y)
	}
	return dotGeneric(x, y)
}

func sum(x []float32) float32 {
	if t := cur.simd; t != nil {
		return t.sum(x)
	}
	return sumGeneric(x)
}

func maxf(x []float32) float32 {
	if t := cur.simd; t != nil {
		return t.max(x)
	}
	return maxGeneric(x)
}

func expShift(dst, x []float32, s float32) float32 {
	if t := cur.simd; t != nil {
		return t.expShift(dst, x, s)
	}
	return expGeneric(dst, x, s)
}

func tanh(dst, x []float32) {
	if t := cur.simd; t != nil {
		t.tanh(dst, x)
		return
	}
	tanhGeneric(dst, x)
}

func sigmoid(dst, x []float32) {
	if t := cur.simd; t != nil {
		t.sigmoid(dst, x)
		return
	}
	sigmoidGeneric(dst, x)
}

func sqDevSum(x []float32, mean float32) float32 {
	if t := cur.simd; t != nil {
		return t.sqDevSum(x, mean)
	}
	return sqDevSumGeneric(x, mean)
}

func lnForward(out, x, gamma, beta []float32, mean, rstd float32) {
	if t := cur.simd; t != nil {
		t.lnForward(out, x, gamma, beta, mean, rstd)
		return
	}
	lnForwardGeneric(out, x, gamma, beta, mean, rstd)
}

func lnBackward1(dy, x, gamma, dgamma, dbeta []float32, mean, rstd float32) (float32, float32) {
	if t := cur.simd; t != nil {
		return t.lnBackward1(dy, x, gamma, dgamma, dbeta, mean, rstd)
	}
	return lnBackward1Generic(dy, x, gamma, dgamma, dbeta, mean, rstd)
}

func lnBackward2(dx, dy, x, gamma []float32, mean, rstd, a, b float32) {
	if t := cur.simd; t != nil {
		t.lnBackward2(dx, dy, x, gamma, mean, rstd, a, b)
		return
	}
	lnBackward2Generic(dx, dy, x, gamma, mean, rstd, a, b)
}
