//go:build !purego

package kernels

// bulk returns how many leading elements of an n-long vector the assembly of
// the selected implementation handles: a whole number of vectors, or 0 for
// the generic implementation.
func bulk(n int) int {
	switch cur.vec {
	case vecAVX512:
		return n &^ 15
	case vecAVX2:
		return n &^ 7
	}
	return 0
}

func axpy(alpha float32, x, y []float32) {
	if t := cur.simd; t != nil {
		t.axpy(alpha, x, y)
		return
	}
	n := bulk(len(x))
	if n > 0 {
		_ = y[n-1]
		if cur.vec == vecAVX512 {
			axpyAVX512(n, alpha, &x[0], &y[0])
		} else {
			axpyAVX2(n, alpha, &x[0], &y[0])
		}
	}
	axpyGeneric(alpha, x[n:], y[n:])
}

func scale(alpha float32, x []float32) {
	if t := cur.simd; t != nil {
		t.scale(alpha, x)
		return
	}
	n := bulk(len(x))
	if n > 0 {
		if cur.vec == vecAVX512 {
			scaleAVX512(n, alpha, &x[0])
		} else {
			scaleAVX2(n, alpha, &x[0])
		}
	}
	scaleGeneric(alpha, x[n:])
}

func add(dst, a, b []float32) {
	if t := cur.simd; t != nil {
		t.add(dst, a, b)
		return
	}
	n := bulk(len(dst))
	if n > 0 {
		_, _ = a[n-1], b[n-1]
		if cur.vec == vecAVX512 {
			addAVX512(n, &dst[0], &a[0], &b[0])
		} else {
			addAVX2(n, &dst[0], &a[0], &b[0])
		}
	}
	addGeneric(dst[n:], a[n:], b[n:])
}

func mul(dst, a, b []float32) {
	if t := cur.simd; t != nil {
		t.mul(dst, a, b)
		return
	}
	n := bulk(len(dst))
	if n > 0 {
		_, _ = a[n-1], b[n-1]
		if cur.vec == vecAVX512 {
			mulAVX512(n, &dst[0], &a[0], &b[0])
		} else {
			mulAVX2(n, &dst[0], &a[0], &b[0])
		}
	}
	mulGeneric(dst[n:], a[n:], b[n:])
}

func dot(x, y []float32) float32 {
	if t := cur.simd; t != nil {
		return t.dot(x, y)
	}
	n := bulk(len(x))
	var s float32
	if n > 0 {
		_ = y[n-1]
		if cur.vec == vecAVX512 {
			s = dotAVX512(n, &x[0], &y[0])
		} else {
			s = dotAVX2(n, &x[0], &y[0])
		}
	}
	return s + dotGeneric(x[n:], y[n:])
}

func sum(x []float32) float32 {
	if t := cur.simd; t != nil {
		return t.sum(x)
	}
	n := bulk(len(x))
	var s float32
	if n > 0 {
		if cur.vec == vecAVX512 {
			s = sumAVX512(n, &x[0])
		} else {
			s = sumAVX2(n, &x[0])
		}
	}
	return s + sumGeneric(x[n:])
}

func maxf(x []float32) float32 {
	if t := cur.simd; t != nil {
		return t.max(x)
	}
	n := bulk(len(x))
	m := maxGeneric(x[n:])
	if n > 0 {
		var mv float32
		if cur.vec == vecAVX512 {
			mv = maxAVX512(n, &x[0])
		} else {
			mv = maxAVX2(n, &x[0])
		}
		if mv > m {
			m = mv
		}
	}
	return m
}

func expShift(dst, x []float32, shift float32) float32 {
	if t := cur.simd; t != nil {
		return t.expShift(dst, x, shift)
	}
	n := bulk(len(dst))
	var s float32
	if n > 0 {
		_ = x[n-1]
		if cur.vec == vecAVX512 {
			s = expAVX512(n, &dst[0], &x[0], shift)
		} else {
			s = expAVX2(n, &dst[0], &x[0], shift)
		}
	}
	return s + expGeneric(dst[n:], x[n:], shift)
}

func tanh(dst, x []float32) {
	if t := cur.simd; t != nil {
		t.tanh(dst, x)
		return
	}
	n := bulk(len(dst))
	if n > 0 {
		_ = x[n-1]
		if cur.vec == vecAVX512 {
			tanhAVX512(n, &dst[0], &x[0])
		} else {
			tanhAVX2(n, &dst[0], &x[0])
		}
	}
	tanhGeneric(dst[n:], x[n:])
}

func sigmoid(dst, x []float32) {
	if t := cur.simd; t != nil {
		t.sigmoid(dst, x)
		return
	}
	n := bulk(len(dst))
	if n > 0 {
		_ = x[n-1]
		if cur.vec == vecAVX512 {
			sigmoidAVX512(n, &dst[0], &x[0])
		} else {
			sigmoidAVX2(n, &dst[0], &x[0])
		}
	}
	sigmoidGeneric(dst[n:], x[n:])
}

func sqDevSum(x []float32, mean float32) float32 {
	if t := cur.simd; t != nil {
		return t.sqDevSum(x, mean)
	}
	n := bulk(len(x))
	var s float32
	if n > 0 {
		if cur.vec == vecAVX512 {
			s = sqDevSumAVX512(n, &x[0], mean)
		} else {
			s = sqDevSumAVX2(n, &x[0], mean)
		}
	}
	return s + sqDevSumGeneric(x[n:], mean)
}

func lnForward(out, x, gamma, beta []float32, mean, rstd float32) {
	if t := cur.simd; t != nil {
		t.lnForward(out, x, gamma, beta, mean, rstd)
		return
	}
	n := bulk(len(out))
	if n > 0 {
		_, _, _ = x[n-1], gamma[n-1], beta[n-1]
		if cur.vec == vecAVX512 {
			lnForwardAVX512(n, &out[0], &x[0], &gamma[0], &beta[0], mean, rstd)
		} else {
			lnForwardAVX2(n, &out[0], &x[0], &gamma[0], &beta[0], mean, rstd)
		}
	}
	lnForwardGeneric(out[n:], x[n:], gamma[n:], beta[n:], mean, rstd)
}

func lnBackward1(dy, x, gamma, dgamma, dbeta []float32, mean, rstd float32) (sumD, sumDN float32) {
	if t := cur.simd; t != nil {
		return t.lnBackward1(dy, x, gamma, dgamma, dbeta, mean, rstd)
	}
	n := bulk(len(x))
	if n > 0 {
		_, _, _, _ = dy[n-1], gamma[n-1], dgamma[n-1], dbeta[n-1]
		if cur.vec == vecAVX512 {
			sumD, sumDN = lnBackward1AVX512(n, &dy[0], &x[0], &gamma[0], &dgamma[0], &dbeta[0], mean, rstd)
		} else {
			sumD, sumDN = lnBackward1AVX2(n, &dy[0], &x[0], &gamma[0], &dgamma[0], &dbeta[0], mean, rstd)
		}
	}
	d, dn := lnBackward1Generic(dy[n:], x[n:], gamma[n:], dgamma[n:], dbeta[n:], mean, rstd)
	return sumD + d, sumDN + dn
}

func lnBackward2(dx, dy, x, gamma []float32, mean, rstd, a, b float32) {
	if t := cur.simd; t != nil {
		t.lnBackward2(dx, dy, x, gamma, mean, rstd, a, b)
		return
	}
	n := bulk(len(dx))
	if n > 0 {
		_, _, _ = dy[n-1], x[n-1], gamma[n-1]
		if cur.vec == vecAVX512 {
			lnBackward2AVX512(n, &dx[0], &dy[0], &x[0], &gamma[0], mean, rstd, a, b)
		} else {
			lnBackward2AVX2(n, &dx[0], &dy[0], &x[0], &gamma[0], mean, rstd, a, b)
		}
	}
	lnBackward2Generic(dx[n:], dy[n:], x[n:], gamma[n:], mean, rstd, a, b)
}
