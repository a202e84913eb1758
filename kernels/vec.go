package kernels

import "math"

// Vector kernels. Each public function checks lengths, then runs the
// assembly of the selected implementation over the longest prefix that is a
// whole number of vectors and its pure-Go twin, named …Generic, over the
// rest (or over everything under the purego tag). The twin's doc comment is
// the reference loop, which the assembly shares. None of them allocates.

// vecTable is a set of vector kernels written with the vector types of Go's
// SIMD experiment (vec_gosimd.go), which the gosimd implementations select;
// each takes whole slices, vectors and tail.
type vecTable struct {
	axpy        func(alpha float32, x, y []float32)
	scale       func(alpha float32, x []float32)
	add, mul    func(dst, a, b []float32)
	dot         func(x, y []float32) float32
	sum, max    func(x []float32) float32
	expShift    func(dst, x []float32, shift float32) float32
	tanh        func(dst, x []float32)
	sigmoid     func(dst, x []float32)
	sqDevSum    func(x []float32, mean float32) float32
	lnForward   func(out, x, gamma, beta []float32, mean, rstd float32)
	lnBackward1 func(dy, x, gamma, dgamma, dbeta []float32, mean, rstd float32) (sumD, sumDN float32)
	lnBackward2 func(dx, dy, x, gamma []float32, mean, rstd, a, b float32)
}

func checkLen(what string, n int, xs ...[]float32) {
	for _, x := range xs {
		if len(x) != n {
			panic("kernels: " + what + ": slices of different lengths")
		}
	}
}

// Axpy adds alpha·x to y: y[i] += alpha*x[i]. x and y have the same length.
func Axpy(alpha float32, x, y []float32) {
	checkLen("Axpy", len(x), y)
	axpy(alpha, x, y)
}

// axpyGeneric is
//
//	for i := range x { y[i] += alpha * x[i] }
func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale multiplies x by alpha in place: x[i] *= alpha.
func Scale(alpha float32, x []float32) { scale(alpha, x) }

// scaleGeneric is
//
//	for i := range x { x[i] *= alpha }
func scaleGeneric(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Add sets dst[i] = a[i] + b[i]; the three have the same length (dst may be a or b).
func Add(dst, a, b []float32) {
	checkLen("Add", len(dst), a, b)
	add(dst, a, b)
}

// addGeneric is
//
//	for i := range dst { dst[i] = a[i] + b[i] }
func addGeneric(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

// Mul sets dst[i] = a[i] * b[i]; the three have the same length (dst may be a or b).
func Mul(dst, a, b []float32) {
	checkLen("Mul", len(dst), a, b)
	mul(dst, a, b)
}

// mulGeneric is
//
//	for i := range dst { dst[i] = a[i] * b[i] }
func mulGeneric(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

// Dot returns Σ x[i]·y[i] (summed in an order that depends on the
// implementation); x and y have the same length.
func Dot(x, y []float32) float32 {
	checkLen("Dot", len(x), y)
	return dot(x, y)
}

// dotGeneric is
//
//	var s float32
//	for i := range x { s += x[i] * y[i] }
//	return s
func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// Sum returns Σ x[i] (summed in an order that depends on the implementation).
func Sum(x []float32) float32 { return sum(x) }

// sumGeneric is
//
//	var s float32
//	for i := range x { s += x[i] }
//	return s
func sumGeneric(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

// Max returns the largest element of x, and -Inf for an empty x. The result
// is unspecified when x holds a NaN.
func Max(x []float32) float32 { return maxf(x) }

// maxGeneric is
//
//	m := float32(math.Inf(-1))
//	for i := range x { if x[i] > m { m = x[i] } }
//	return m
func maxGeneric(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// Exp sets dst[i] = exp(x[i]) to within 2 ulp for normal results; -Inf and
// inputs below -104 give 0, inputs above 88.73 give +Inf, NaN stays NaN. dst
// may be x.
func Exp(dst, x []float32) {
	checkLen("Exp", len(dst), x)
	expShift(dst, x, 0)
}

// Softmax replaces the row x with softmax(x): x[i] = exp(x[i]-m) / Σ_j
// exp(x[j]-m), m = max(x). -Inf entries (masked positions) become 0; a row
// that is all -Inf becomes NaN.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := Max(x)
	s := expShift(x, x, m)
	scale(1/s, x)
}

// expGeneric is
//
//	var s float32
//	for i := range x { dst[i] = expf(x[i] - shift); s += dst[i] }
//	return s
func expGeneric(dst, x []float32, shift float32) float32 {
	x = x[:len(dst)]
	var s float32
	for i, v := range x {
		e := expf(v - shift)
		dst[i] = e
		s += e
	}
	return s
}

// Cephes expf constants, shared with the assembly (kernels/_asm/vec.go).
const (
	expLo = -104.0
	expHi = 89.0
	log2e = 1.44269504088896341
	expC1 = 0.693359375
	expC2 = -2.12194440e-4
	expP0 = 1.9875691500e-4
	expP1 = 1.3981999507e-3
	expP2 = 8.3334519073e-3
	expP3 = 4.1665795894e-2
	expP4 = 1.6666665459e-1
	expP5 = 5.0000001201e-1
)

// expf is the scalar algorithm of the exp kernels: clamp to [-104, 89] (NaN
// stays NaN), v = n·ln2 + r with n = round(v·log2e) and ln2 split in two
// parts (Cephes), exp(r) by a degree-5 polynomial, then times 2ⁿ applied as
// two powers of two so that results overflow to +Inf and underflow to 0 as
// they should.
func expf(v float32) float32 {
	if v != v {
		return v
	}
	v = min(max(v, expLo), expHi)
	n := float32(math.RoundToEven(float64(v * log2e)))
	r := v - n*expC1
	r -= n * expC2
	y := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	y = y*(r*r) + r + 1
	ni := int32(n)
	h := ni >> 1
	l := ni - h
	y *= math.Float32frombits(uint32(h+127) << 23)
	return y * math.Float32frombits(uint32(l+127)<<23)
}

// Tanh sets dst[i] = tanh(x[i]) (within a few ulp); dst may be x.
func Tanh(dst, x []float32) {
	checkLen("Tanh", len(dst), x)
	tanh(dst, x)
}

// tanhGeneric is
//
//	for i := range x { dst[i] = tanhf(x[i]) }
func tanhGeneric(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = tanhf(v)
	}
}

// tanhf is the scalar algorithm of the tanh kernels: for |x| < 0.625 the
// Cephes odd polynomial x + x³·P(x²), else ±(1 - 2/(exp(2|x|)+1)).
func tanhf(x float32) float32 {
	a := float32(math.Abs(float64(x)))
	if a < 0.625 {
		z := x * x
		p := ((((-5.70498872745e-3*z+2.06390887954e-2)*z-5.37397155531e-2)*z+1.33314422036e-1)*z - 3.33332819422e-1)
		return p*(x*z) + x
	}
	t := 1 - 2/(expf(a+a)+1)
	return float32(math.Copysign(float64(t), float64(x)))
}

// Sigmoid sets dst[i] = 1/(1+exp(-x[i])) (within a few ulp, also where the
// result is tiny: for x < 0 it is computed as e/(1+e), e = exp(x)); dst may
// be x.
func Sigmoid(dst, x []float32) {
	checkLen("Sigmoid", len(dst), x)
	sigmoid(dst, x)
}

// sigmoidGeneric is
//
//	for i := range x {
//		e := expf(-|x[i]|)
//		dst[i] = 1 / (1 + e)
//		if x[i] < 0 { dst[i] *= e }
//	}
func sigmoidGeneric(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		e := expf(-float32(math.Abs(float64(v))))
		s := 1 / (1 + e)
		if v < 0 {
			s *= e
		}
		dst[i] = s
	}
}

// LayerNorm normalizes one row: with mean = Σx/n and rstd = 1/√(Σ(x-mean)²/n
// + eps), it sets out[i] = (x[i]-mean)·rstd·gamma[i] + beta[i] and returns
// mean and rstd, which LayerNormBackward needs. All slices have the same
// length n > 0; out may be x.
func LayerNorm(out, x, gamma, beta []float32, eps float32) (mean, rstd float32) {
	n := len(x)
	checkLen("LayerNorm", n, out, gamma, beta)
	if n == 0 {
		return 0, 0
	}
	mean = sum(x) / float32(n)
	v := sqDevSum(x, mean) / float32(n)
	rstd = float32(1 / math.Sqrt(float64(v+eps)))
	lnForward(out, x, gamma, beta, mean, rstd)
	return mean, rstd
}

// sqDevSumGeneric is
//
//	var s float32
//	for i := range x { d := x[i] - mean; s += d * d }
//	return s
func sqDevSumGeneric(x []float32, mean float32) float32 {
	var s float32
	for _, v := range x {
		d := v - mean
		s += d * d
	}
	return s
}

// lnForwardGeneric is
//
//	for i := range x { out[i] = (x[i]-mean)*rstd*gamma[i] + beta[i] }
func lnForwardGeneric(out, x, gamma, beta []float32, mean, rstd float32) {
	x, gamma, beta = x[:len(out)], gamma[:len(out)], beta[:len(out)]
	for i, v := range x {
		out[i] = (v-mean)*rstd*gamma[i] + beta[i]
	}
}

// LayerNormBackward differentiates LayerNorm for one row. From dy (the
// gradient of out), x, gamma and the mean and rstd that LayerNorm returned,
// with norm = (x-mean)·rstd and d = gamma·dy, it
//
//	sets        dx[i] = (d[i] - mean(d) - norm[i]·mean(d·norm)) · rstd
//	adds to     dgamma[i] += norm[i]·dy[i]
//	adds to     dbeta[i]  += dy[i]
//
// dx is overwritten, not accumulated; all slices have the same length.
func LayerNormBackward(dx, dgamma, dbeta, dy, x []float32, mean, rstd float32, gamma []float32) {
	n := len(x)
	checkLen("LayerNormBackward", n, dx, dgamma, dbeta, dy, gamma)
	if n == 0 {
		return
	}
	sd, sdn := lnBackward1(dy, x, gamma, dgamma, dbeta, mean, rstd)
	lnBackward2(dx, dy, x, gamma, mean, rstd, sd/float32(n), sdn/float32(n))
}

// LayerNormParamGrad adds one row's share of the gradients of LayerNorm's
// gamma and beta, and nothing else: with norm = (x-mean)·rstd,
//
//	dgamma[i] += norm[i]·dy[i]
//	dbeta[i]  += dy[i]
//
// with the same bits as LayerNormBackward's, on any slice of a row that
// starts on a multiple of 64 (so that the vector body and the Go tail fall
// where they fall on the whole row): a caller that splits the columns of
// many rows over goroutines adds each column's rows in order, as one
// goroutine calling LayerNormBackward row by row does. All slices have the
// same length.
func LayerNormParamGrad(dgamma, dbeta, dy, x []float32, mean, rstd float32) {
	n := len(x)
	checkLen("LayerNormParamGrad", n, dgamma, dbeta, dy)
	if n == 0 {
		return
	}
	lnBackward1(dy, x, dy, dgamma, dbeta, mean, rstd) // gamma only enters the sums, dropped
}

// lnBackward1Generic is
//
//	for i := range n {
//		norm := (x[i] - mean) * rstd
//		d := gamma[i] * dy[i]
//		sumD += d
//		sumDN += d * norm
//		dgamma[i] += norm * dy[i]
//		dbeta[i] += dy[i]
//	}
func lnBackward1Generic(dy, x, gamma, dgamma, dbeta []float32, mean, rstd float32) (sumD, sumDN float32) {
	n := len(x)
	dy, gamma, dgamma, dbeta = dy[:n], gamma[:n], dgamma[:n], dbeta[:n]
	for i := range n {
		norm := (x[i] - mean) * rstd
		d := gamma[i] * dy[i]
		sumD += d
		sumDN += d * norm
		dgamma[i] += norm * dy[i]
		dbeta[i] += dy[i]
	}
	return sumD, sumDN
}

// lnBackward2Generic is
//
//	for i := range n { dx[i] = (gamma[i]*dy[i] - a - (x[i]-mean)*rstd*b) * rstd }
func lnBackward2Generic(dx, dy, x, gamma []float32, mean, rstd, a, b float32) {
	n := len(dx)
	dy, x, gamma = dy[:n], x[:n], gamma[:n]
	for i := range n {
		dx[i] = (gamma[i]*dy[i] - a - (x[i]-mean)*rstd*b) * rstd
	}
}
