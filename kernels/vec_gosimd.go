//go:build goexperiment.simd && amd64

package kernels

import (
	"math"
	"simd/archsimd"
)

// The vector kernels of the gosimd implementations: the algorithms of the
// assembly (kernels/_asm/vec.go) written with 256-bit archsimd vectors, which
// every CPU with AVX-512 also has, over the longest prefix that is a whole
// number of vectors, and the Go twins over the rest. Vector values are made
// inside the functions, never at package level: package initialization must
// not run AVX2 instructions on a CPU without them.

var goSIMDVec = &vecTable{
	axpy:        axpyGoSIMD,
	scale:       scaleGoSIMD,
	add:         addGoSIMD,
	mul:         mulGoSIMD,
	dot:         dotGoSIMD,
	sum:         sumGoSIMD,
	max:         maxGoSIMD,
	expShift:    expShiftGoSIMD,
	tanh:        tanhGoSIMD,
	sigmoid:     sigmoidGoSIMD,
	sqDevSum:    sqDevSumGoSIMD,
	lnForward:   lnForwardGoSIMD,
	lnBackward1: lnBackward1GoSIMD,
	lnBackward2: lnBackward2GoSIMD,
}

type f8 = archsimd.Float32x8

func load8(s []float32) f8     { return archsimd.LoadFloat32x8((*[8]float32)(s[:8])) }
func store8(v f8, s []float32) { v.Store((*[8]float32)(s[:8])) }
func bcast8(f float32) f8      { return archsimd.BroadcastFloat32x8(f) }

// hsum8 adds the eight lanes of v pairwise.
func hsum8(v f8) float32 {
	var a [8]float32
	v.Store(&a)
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

func axpyGoSIMD(alpha float32, x, y []float32) {
	y = y[:len(x)]
	va := bcast8(alpha)
	for len(x) >= 8 && len(y) >= 8 {
		store8(va.MulAdd(load8(x), load8(y)), y)
		x, y = x[8:], y[8:]
	}
	axpyGeneric(alpha, x, y)
}

func scaleGoSIMD(alpha float32, x []float32) {
	va := bcast8(alpha)
	for len(x) >= 8 {
		store8(load8(x).Mul(va), x)
		x = x[8:]
	}
	scaleGeneric(alpha, x)
}

func addGoSIMD(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for len(dst) >= 8 && len(a) >= 8 && len(b) >= 8 {
		store8(load8(a).Add(load8(b)), dst)
		dst, a, b = dst[8:], a[8:], b[8:]
	}
	addGeneric(dst, a, b)
}

func mulGoSIMD(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for len(dst) >= 8 && len(a) >= 8 && len(b) >= 8 {
		store8(load8(a).Mul(load8(b)), dst)
		dst, a, b = dst[8:], a[8:], b[8:]
	}
	mulGeneric(dst, a, b)
}

// dotGoSIMD sums in two vector accumulators, then lane by lane.
func dotGoSIMD(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1 f8
	for len(x) >= 16 && len(y) >= 16 {
		s0 = load8(x).MulAdd(load8(y), s0)
		s1 = load8(x[8:]).MulAdd(load8(y[8:]), s1)
		x, y = x[16:], y[16:]
	}
	if len(x) >= 8 && len(y) >= 8 {
		s0 = load8(x).MulAdd(load8(y), s0)
		x, y = x[8:], y[8:]
	}
	return hsum8(s0.Add(s1)) + dotGeneric(x, y)
}

func sumGoSIMD(x []float32) float32 {
	var s0, s1 f8
	for len(x) >= 16 {
		s0 = s0.Add(load8(x))
		s1 = s1.Add(load8(x[8:]))
		x = x[16:]
	}
	if len(x) >= 8 {
		s0 = s0.Add(load8(x))
		x = x[8:]
	}
	return hsum8(s0.Add(s1)) + sumGeneric(x)
}

func maxGoSIMD(x []float32) float32 {
	m := float32(math.Inf(-1))
	if len(x) >= 8 {
		vm := bcast8(m)
		for len(x) >= 8 {
			vm = vm.Max(load8(x))
			x = x[8:]
		}
		var a [8]float32
		vm.Store(&a)
		for _, v := range a {
			m = max(m, v)
		}
	}
	return max(m, maxGeneric(x))
}

// exp8 is expf on eight lanes: clamp (NaN stays NaN), n = round(v·log2e),
// Cephes's split of ln2, the degree-5 polynomial, then 2ⁿ as two powers of
// two so that results overflow to +Inf and underflow to 0 correctly.
func exp8(v f8) f8 {
	x := v.Max(bcast8(expLo)).Min(bcast8(expHi))
	n := x.Mul(bcast8(log2e)).RoundToEven()
	r := n.MulAdd(bcast8(-expC1), x)
	r = n.MulAdd(bcast8(-expC2), r)
	y := bcast8(expP0).MulAdd(r, bcast8(expP1))
	y = y.MulAdd(r, bcast8(expP2))
	y = y.MulAdd(r, bcast8(expP3))
	y = y.MulAdd(r, bcast8(expP4))
	y = y.MulAdd(r, bcast8(expP5))
	y = y.MulAdd(r.Mul(r), r).Add(bcast8(1))
	ni := n.ConvertToInt32()
	h := ni.ShiftAllRight(1)
	l := ni.Sub(h)
	bias := archsimd.BroadcastInt32x8(127)
	y = y.Mul(h.Add(bias).ShiftAllLeft(23).AsFloat32x8())
	y = y.Mul(l.Add(bias).ShiftAllLeft(23).AsFloat32x8())
	return y.Merge(v, v.Equal(v)) // NaN lanes keep v
}

func expShiftGoSIMD(dst, x []float32, shift float32) float32 {
	x = x[:len(dst)]
	sh := bcast8(shift)
	var s f8
	for len(dst) >= 8 && len(x) >= 8 {
		e := exp8(load8(x).Sub(sh))
		store8(e, dst)
		s = s.Add(e)
		dst, x = dst[8:], x[8:]
	}
	return hsum8(s) + expGeneric(dst, x, shift)
}

// tanh8 is tanhf on eight lanes: x + x³·P(x²) where |x| < 0.625, else
// 1 - 2/(exp(2|x|)+1) with the sign of x.
func tanh8(v f8) f8 {
	bits := v.AsInt32x8()
	a := bits.And(archsimd.BroadcastInt32x8(math.MaxInt32)).AsFloat32x8()
	one := bcast8(1)
	t := one.Sub(bcast8(2).Div(exp8(a.Add(a)).Add(one)))
	t = t.AsInt32x8().Or(bits.And(archsimd.BroadcastInt32x8(math.MinInt32))).AsFloat32x8()
	z := v.Mul(v)
	p := bcast8(-5.70498872745e-3).MulAdd(z, bcast8(2.06390887954e-2))
	p = p.MulAdd(z, bcast8(-5.37397155531e-2))
	p = p.MulAdd(z, bcast8(1.33314422036e-1))
	p = p.MulAdd(z, bcast8(-3.33332819422e-1))
	p = p.MulAdd(v.Mul(z), v)
	return p.Merge(t, a.Less(bcast8(0.625)))
}

func tanhGoSIMD(dst, x []float32) {
	x = x[:len(dst)]
	for len(dst) >= 8 && len(x) >= 8 {
		store8(tanh8(load8(x)), dst)
		dst, x = dst[8:], x[8:]
	}
	tanhGeneric(dst, x)
}

// sigmoid8: e = exp(-|x|), 1/(1+e) where x ≥ 0, e/(1+e) where x < 0.
func sigmoid8(v f8) f8 {
	e := exp8(v.AsInt32x8().Or(archsimd.BroadcastInt32x8(math.MinInt32)).AsFloat32x8())
	q := bcast8(1).Div(e.Add(bcast8(1)))
	return e.Mul(q).Merge(q, v.Less(bcast8(0)))
}

func sigmoidGoSIMD(dst, x []float32) {
	x = x[:len(dst)]
	for len(dst) >= 8 && len(x) >= 8 {
		store8(sigmoid8(load8(x)), dst)
		dst, x = dst[8:], x[8:]
	}
	sigmoidGeneric(dst, x)
}

func sqDevSumGoSIMD(x []float32, mean float32) float32 {
	mu := bcast8(mean)
	var s0, s1 f8
	for len(x) >= 16 {
		d0 := load8(x).Sub(mu)
		d1 := load8(x[8:]).Sub(mu)
		s0 = d0.MulAdd(d0, s0)
		s1 = d1.MulAdd(d1, s1)
		x = x[16:]
	}
	if len(x) >= 8 {
		d := load8(x).Sub(mu)
		s0 = d.MulAdd(d, s0)
		x = x[8:]
	}
	return hsum8(s0.Add(s1)) + sqDevSumGeneric(x, mean)
}

func lnForwardGoSIMD(out, x, gamma, beta []float32, mean, rstd float32) {
	x, gamma, beta = x[:len(out)], gamma[:len(out)], beta[:len(out)]
	mu, rs := bcast8(mean), bcast8(rstd)
	for len(out) >= 8 && len(x) >= 8 && len(gamma) >= 8 && len(beta) >= 8 {
		store8(load8(x).Sub(mu).Mul(rs).MulAdd(load8(gamma), load8(beta)), out)
		out, x, gamma, beta = out[8:], x[8:], gamma[8:], beta[8:]
	}
	lnForwardGeneric(out, x, gamma, beta, mean, rstd)
}

func lnBackward1GoSIMD(dy, x, gamma, dgamma, dbeta []float32, mean, rstd float32) (sumD, sumDN float32) {
	n := len(x)
	dy, gamma, dgamma, dbeta = dy[:n], gamma[:n], dgamma[:n], dbeta[:n]
	mu, rs := bcast8(mean), bcast8(rstd)
	var sd, sdn f8
	for len(x) >= 8 && len(dy) >= 8 && len(gamma) >= 8 && len(dgamma) >= 8 && len(dbeta) >= 8 {
		vdy := load8(dy)
		norm := load8(x).Sub(mu).Mul(rs)
		d := load8(gamma).Mul(vdy)
		sd = sd.Add(d)
		sdn = d.MulAdd(norm, sdn)
		store8(norm.MulAdd(vdy, load8(dgamma)), dgamma)
		store8(load8(dbeta).Add(vdy), dbeta)
		dy, x, gamma, dgamma, dbeta = dy[8:], x[8:], gamma[8:], dgamma[8:], dbeta[8:]
	}
	d, dn := lnBackward1Generic(dy, x, gamma, dgamma, dbeta, mean, rstd)
	return hsum8(sd) + d, hsum8(sdn) + dn
}

func lnBackward2GoSIMD(dx, dy, x, gamma []float32, mean, rstd, a, b float32) {
	n := len(dx)
	dy, x, gamma = dy[:n], x[:n], gamma[:n]
	mu, rs, va, vb := bcast8(mean), bcast8(rstd), bcast8(a), bcast8(b)
	for len(dx) >= 8 && len(dy) >= 8 && len(x) >= 8 && len(gamma) >= 8 {
		norm := load8(x).Sub(mu).Mul(rs)
		g := load8(gamma).Mul(load8(dy)).Sub(va)
		store8(g.Sub(norm.Mul(vb)).Mul(rs), dx)
		dx, dy, x, gamma = dx[8:], dy[8:], x[8:], gamma[8:]
	}
	lnBackward2Generic(dx, dy, x, gamma, mean, rstd, a, b)
}
