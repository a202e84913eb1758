package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is one vector width: 16 lanes (AVX-512, zmm) or 8 lanes (AVX2, ymm).
type isa struct {
	w      int
	suffix string
}

var (
	avx512 = isa{16, "AVX512"}
	avx2   = isa{8, "AVX2"}
)

func (s isa) vec() VecVirtual {
	if s.w == 16 {
		return ZMM()
	}
	return YMM()
}

func (s isa) bytes() int { return 4 * s.w }

// consts holds 64-byte read-only vectors of one float32 (or int32) value,
// usable as full-width memory operands by both widths.
var consts = map[string]Mem{}

func vconst(name string, bits uint32) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL("vconst_"+name, RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(bits))
	}
	consts[name] = m
	return m
}

func fconst(name string, v float32) Mem { return vconst(name, math.Float32bits(v)) }

// ld returns a full-width operand holding the constant at m: m itself for
// AVX2, and a register broadcast from its first element for AVX-512, since
// Go's assembler aligns data to 32 bytes only and a 64-byte load across a
// cache line costs double.
func (s isa) ld(m Mem) Op {
	if s.w == 8 {
		return m
	}
	r := s.vec()
	VBROADCASTSS(m, r)
	return r
}

func (s isa) and(a, b, dst Op) {
	if s.w == 16 {
		VPANDD(a, b, dst)
	} else {
		VANDPS(a, b, dst)
	}
}

func (s isa) or(a, b, dst Op) {
	if s.w == 16 {
		VPORD(a, b, dst)
	} else {
		VORPS(a, b, dst)
	}
}

func (s isa) zero(r Op) {
	if s.w == 16 {
		VPXORD(r, r, r)
	} else {
		VXORPS(r, r, r)
	}
}

// lessBlend sets dst = (a < lim) ? x : y, lanewise.
func (s isa) lessBlend(a VecVirtual, lim Op, x, y, dst VecVirtual) {
	if s.w == 16 {
		k := K()
		VCMPPS(Imm(1), lim, a, k) // k = a < lim
		VBLENDMPS(x, y, k, dst)
		return
	}
	mask := s.vec()
	VCMPPS(Imm(1), lim, a, mask)
	VBLENDVPS(mask, x, y, dst)
}

// hreduce folds the lanes of v into its lowest with op (VADDPS or VMAXPS)
// and returns that XMM view.
func (s isa) hreduce(v VecVirtual, op func(...Op)) Register {
	y := v.AsY()
	if s.w == 16 {
		t := YMM()
		VEXTRACTF64X4(Imm(1), v, t)
		op(t, y, y)
	}
	x := v.AsX()
	t := XMM()
	if s.w == 16 {
		VEXTRACTF32X4(Imm(1), y, t) // EVEX: also for X16–X31
	} else {
		VEXTRACTF128(Imm(1), y, t)
	}
	op(t, x, x)
	VMOVHLPS(x, t, t)
	op(t, x, x)
	VMOVSHDUP(x, t)
	op(t, x, x)
	return x
}

func (s isa) text(name, sig string, doc ...string) string {
	full := name + s.suffix
	TEXT(full, NOSPLIT, sig)
	Pragma("noescape")
	lines := []string{fmt.Sprintf("%s is %s over the first n elements, n a multiple of %d, with %s:", full, name+"Generic", s.w, s.suffix)}
	Doc(append(lines, doc...)...)
	return full
}

// loop emits the main loop of an elementwise kernel: body(u, o) handles the
// vector at byte offset o from the pointers, u counting vectors within one
// unrolled step. Four vectors a step (two for AVX2, which has half the
// registers) give the out-of-order core independent work; a one-vector loop
// does the rest.
func (s isa) loop(name string, n Register, ptrs []Register, body func(u, o int)) {
	unroll := 4
	if s.w == 8 {
		unroll = 2
	}
	Label(name + "_loopU")
	CMPQ(n, U32(unroll*s.w))
	JL(LabelRef(name + "_loop"))
	for u := 0; u < unroll; u++ {
		body(u, u*s.bytes())
	}
	for _, p := range ptrs {
		ADDQ(U32(unroll*s.bytes()), p)
	}
	SUBQ(U32(unroll*s.w), n)
	JMP(LabelRef(name + "_loopU"))
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	body(0, 0)
	for _, p := range ptrs {
		ADDQ(U32(s.bytes()), p)
	}
	SUBQ(U32(s.w), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
}

func vecKernels() {
	for _, s := range []isa{avx512, avx2} {
		s.axpy()
		s.scale()
		s.binary("add", VADDPS, "dst[i] = a[i] + b[i]")
		s.binary("mul", VMULPS, "dst[i] = a[i] * b[i]")
		s.dot()
		s.sum()
		s.max()
		s.exp()
		s.tanh()
		s.sigmoid()
		s.sqDevSum()
		s.lnForward()
		s.lnBackward1()
		s.lnBackward2()
	}
}

func (s isa) axpy() {
	name := s.text("axpy", "func(n int, alpha float32, x, y *float32)", "", "\tfor i := range n { y[i] += alpha * x[i] }")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	al := s.vec()
	VBROADCASTSS(NewParamAddr("alpha", 8), al)
	v := s.vec()
	s.loop(name, n, []Register{x, y}, func(u, o int) {
		VMOVUPS(Mem{Base: y, Disp: o}, v)
		VFMADD231PS(Mem{Base: x, Disp: o}, al, v)
		VMOVUPS(v, Mem{Base: y, Disp: o})
	})
	VZEROUPPER()
	RET()
}

func (s isa) scale() {
	name := s.text("scale", "func(n int, alpha float32, x *float32)", "", "\tfor i := range n { x[i] *= alpha }")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	al := s.vec()
	VBROADCASTSS(NewParamAddr("alpha", 8), al)
	v := s.vec()
	s.loop(name, n, []Register{x}, func(u, o int) {
		VMULPS(Mem{Base: x, Disp: o}, al, v)
		VMOVUPS(v, Mem{Base: x, Disp: o})
	})
	VZEROUPPER()
	RET()
}

func (s isa) binary(op string, inst func(...Op), ref string) {
	name := s.text(op, "func(n int, dst, a, b *float32)", "", "\tfor i := range n { "+ref+" }")
	n := Load(Param("n"), GP64())
	d := Load(Param("dst"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	v := s.vec()
	s.loop(name, n, []Register{d, a, b}, func(u, o int) {
		VMOVUPS(Mem{Base: a, Disp: o}, v)
		inst(Mem{Base: b, Disp: o}, v, v)
		VMOVUPS(v, Mem{Base: d, Disp: o})
	})
	VZEROUPPER()
	RET()
}

// reduce4 emits a reduction with four accumulators over 4w elements at a
// time, then one over w at a time, and folds them into acc[0].
func (s isa) reduce4(name string, n Register, ptrs []Register, acc [4]VecVirtual, step func(u int, acc VecVirtual), fold func(...Op)) {
	Label(name + "_loop4")
	CMPQ(n, U32(4*s.w))
	JL(LabelRef(name + "_loop1"))
	for u := 0; u < 4; u++ {
		step(u, acc[u])
	}
	for _, p := range ptrs {
		ADDQ(U32(4*s.bytes()), p)
	}
	SUBQ(U32(4*s.w), n)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_loop1")
	TESTQ(n, n)
	JZ(LabelRef(name + "_fold"))
	step(0, acc[0])
	for _, p := range ptrs {
		ADDQ(U32(s.bytes()), p)
	}
	SUBQ(U32(s.w), n)
	JMP(LabelRef(name + "_loop1"))
	Label(name + "_fold")
	fold(acc[1], acc[0], acc[0])
	fold(acc[3], acc[2], acc[2])
	fold(acc[2], acc[0], acc[0])
}

func (s isa) acc4(zero bool) [4]VecVirtual {
	var acc [4]VecVirtual
	for i := range acc {
		acc[i] = s.vec()
		if zero {
			s.zero(acc[i])
		}
	}
	return acc
}

func (s isa) dot() {
	name := s.text("dot", "func(n int, x, y *float32) float32", "", "\tvar s float32", "\tfor i := range n { s += x[i] * y[i] }", "\treturn s", "", "(summed in a different order)")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	acc := s.acc4(true)
	s.reduce4(name, n, []Register{x, y}, acc, func(u int, a VecVirtual) {
		v := s.vec()
		VMOVUPS(Mem{Base: x, Disp: u * s.bytes()}, v)
		VFMADD231PS(Mem{Base: y, Disp: u * s.bytes()}, v, a)
	}, VADDPS)
	Store(s.hreduce(acc[0], VADDPS), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func (s isa) sum() {
	name := s.text("sum", "func(n int, x *float32) float32", "", "\tvar s float32", "\tfor i := range n { s += x[i] }", "\treturn s", "", "(summed in a different order)")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	acc := s.acc4(true)
	s.reduce4(name, n, []Register{x}, acc, func(u int, a VecVirtual) {
		VADDPS(Mem{Base: x, Disp: u * s.bytes()}, a, a)
	}, VADDPS)
	Store(s.hreduce(acc[0], VADDPS), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func (s isa) max() {
	name := s.text("max", "func(n int, x *float32) float32", "(n > 0)", "", "\tm := x[0]", "\tfor i := range n { m = max(m, x[i]) }", "\treturn m")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	acc := s.acc4(false)
	for i := range acc {
		VMOVUPS(Mem{Base: x}, acc[i])
	}
	s.reduce4(name, n, []Register{x}, acc, func(u int, a VecVirtual) {
		VMAXPS(Mem{Base: x, Disp: u * s.bytes()}, a, a)
	}, VMAXPS)
	Store(s.hreduce(acc[0], VMAXPS), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// Cephes expf constants.
const (
	expLo    = -104.0
	expHi    = 89.0
	log2e    = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
	tanhLim  = 0.625
	expMagic = 12582912.0 // 1.5·2²³
)

// expInPlace replaces v with exp(v), the algorithm of expf: clamp to
// [-104, 89] (NaN stays NaN), v = n·ln2 + r with n = round(v·log2e), a degree-5
// polynomial for exp(r), then times 2ⁿ: by VSCALEFPS with AVX-512, else as
// two powers of two, so that results near the ends of the range overflow to
// +Inf and underflow to 0 correctly.
func (s isa) expInPlace(v VecVirtual) {
	t := s.vec()
	VMOVUPS(s.ld(fconst("expLo", expLo)), t)
	VMAXPS(v, t, v) // NaN in v propagates: the second source is returned
	VMOVUPS(s.ld(fconst("expHi", expHi)), t)
	VMINPS(v, t, v)
	// n = round(v·log2e) by the 1.5·2²³ trick: adding it leaves n in the
	// low mantissa bits of t (round to nearest even), subtracting it gives n
	// as a float.
	t2 := s.vec()
	VMOVUPS(s.ld(fconst("magic", expMagic)), t2)
	VFMADD231PS(s.ld(fconst("log2e", log2e)), v, t2)
	nf := s.vec()
	VSUBPS(s.ld(fconst("magic", expMagic)), t2, nf)
	VFNMADD231PS(s.ld(fconst("expC1", expC1)), nf, v) // v -= n·C1
	VFNMADD231PS(s.ld(fconst("expC2", expC2)), nf, v) // v -= n·C2
	y := s.vec()
	VMOVUPS(s.ld(fconst("expP0", expP0)), y)
	VFMADD213PS(s.ld(fconst("expP1", expP1)), v, y)
	VFMADD213PS(s.ld(fconst("expP2", expP2)), v, y)
	VFMADD213PS(s.ld(fconst("expP3", expP3)), v, y)
	VFMADD213PS(s.ld(fconst("expP4", expP4)), v, y)
	VFMADD213PS(s.ld(fconst("expP5", expP5)), v, y)
	z := s.vec()
	VMULPS(v, v, z)
	VFMADD213PS(v, z, y) // y = y·r² + r
	VADDPS(s.ld(fconst("one", 1)), y, y)
	if s.w == 16 {
		VSCALEFPS(nf, y, v) // y·2ⁿ, overflowing to +Inf and underflowing to 0 as it should
		return
	}
	ni := s.vec()
	VPSUBD(s.ld(vconst("magic", math.Float32bits(expMagic))), t2, ni) // n as an integer
	h := s.vec()
	VPSRAD(Imm(1), ni, h)
	VPSUBD(h, ni, ni)
	bias := s.ld(vconst("bias127", 127))
	VPADDD(bias, h, h)
	VPADDD(bias, ni, ni)
	VPSLLD(Imm(23), h, h)
	VPSLLD(Imm(23), ni, ni)
	VMULPS(h, y, y)
	VMULPS(ni, y, v)
}

func (s isa) exp() {
	name := s.text("exp", "func(n int, dst, x *float32, shift float32) float32", "", "\tvar s float32", "\tfor i := range n { dst[i] = expf(x[i] - shift); s += dst[i] }", "\treturn s")
	n := Load(Param("n"), GP64())
	d := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())
	sh := s.vec()
	VBROADCASTSS(NewParamAddr("shift", 24), sh)
	acc := s.vec()
	s.zero(acc)
	v := s.vec()
	s.loop(name, n, []Register{d, x}, func(u, o int) {
		VMOVUPS(Mem{Base: x, Disp: o}, v)
		VSUBPS(sh, v, v)
		s.expInPlace(v)
		VMOVUPS(v, Mem{Base: d, Disp: o})
		VADDPS(v, acc, acc)
	})
	Store(s.hreduce(acc, VADDPS), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func (s isa) tanh() {
	name := s.text("tanh", "func(n int, dst, x *float32)", "", "\tfor i := range n { dst[i] = tanhf(x[i]) }")
	n := Load(Param("n"), GP64())
	d := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())
	s.loop(name, n, []Register{d, x}, func(u, o int) {
		v := s.vec()
		VMOVUPS(Mem{Base: x, Disp: o}, v)
		a := s.vec()
		s.and(s.ld(vconst("absMask", 0x7fffffff)), v, a)
		// Large |x|: 1 - 2/(exp(2|x|)+1), with the sign of x.
		e := s.vec()
		VADDPS(a, a, e)
		s.expInPlace(e)
		VADDPS(s.ld(fconst("one", 1)), e, e)
		t := s.vec()
		VMOVUPS(s.ld(fconst("two", 2)), t)
		VDIVPS(e, t, t)
		one := s.vec()
		VMOVUPS(s.ld(fconst("one", 1)), one)
		VSUBPS(t, one, t)
		sg := s.vec()
		s.and(s.ld(vconst("signMask", 0x80000000)), v, sg)
		s.or(sg, t, t)
		// Small |x|: x + x·z·P(z), z = x².
		z := s.vec()
		VMULPS(v, v, z)
		p := s.vec()
		VMOVUPS(s.ld(fconst("tanhP0", -5.70498872745e-3)), p)
		VFMADD213PS(s.ld(fconst("tanhP1", 2.06390887954e-2)), z, p)
		VFMADD213PS(s.ld(fconst("tanhP2", -5.37397155531e-2)), z, p)
		VFMADD213PS(s.ld(fconst("tanhP3", 1.33314422036e-1)), z, p)
		VFMADD213PS(s.ld(fconst("tanhP4", -3.33332819422e-1)), z, p)
		VMULPS(v, z, z)
		VFMADD213PS(v, z, p) // p = p·x·z + x
		s.lessBlend(a, s.ld(fconst("tanhLim", tanhLim)), p, t, v)
		VMOVUPS(v, Mem{Base: d, Disp: o})
	})
	VZEROUPPER()
	RET()
}

func (s isa) sigmoid() {
	name := s.text("sigmoid", "func(n int, dst, x *float32)", "", "\tfor i := range n {", "\t\te := expf(-|x[i]|)", "\t\tdst[i] = 1 / (1 + e)", "\t\tif x[i] < 0 { dst[i] *= e }", "\t}")
	n := Load(Param("n"), GP64())
	d := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())
	s.loop(name, n, []Register{d, x}, func(u, o int) {
		v := s.vec()
		VMOVUPS(Mem{Base: x, Disp: o}, v)
		e := s.vec()
		s.or(s.ld(vconst("signMask", 0x80000000)), v, e) // -|x|
		s.expInPlace(e)
		r := s.vec()
		VADDPS(s.ld(fconst("one", 1)), e, r)
		q := s.vec()
		VMOVUPS(s.ld(fconst("one", 1)), q)
		VDIVPS(r, q, q) // 1/(1+e)
		VMULPS(q, e, e) // e/(1+e)
		s.lessBlend(v, s.ld(fconst("zero", 0)), e, q, v)
		VMOVUPS(v, Mem{Base: d, Disp: o})
	})
	VZEROUPPER()
	RET()
}

func (s isa) sqDevSum() {
	name := s.text("sqDevSum", "func(n int, x *float32, mean float32) float32", "", "\tvar s float32", "\tfor i := range n { d := x[i] - mean; s += d * d }", "\treturn s", "", "(summed in a different order)")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	mu := s.vec()
	VBROADCASTSS(NewParamAddr("mean", 16), mu)
	acc := s.acc4(true)
	s.reduce4(name, n, []Register{x}, acc, func(u int, a VecVirtual) {
		v := s.vec()
		VMOVUPS(Mem{Base: x, Disp: u * s.bytes()}, v)
		VSUBPS(mu, v, v)
		VFMADD231PS(v, v, a)
	}, VADDPS)
	Store(s.hreduce(acc[0], VADDPS), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func (s isa) lnForward() {
	name := s.text("lnForward", "func(n int, out, x, gamma, beta *float32, mean, rstd float32)", "", "\tfor i := range n { out[i] = (x[i]-mean)*rstd*gamma[i] + beta[i] }")
	n := Load(Param("n"), GP64())
	out := Load(Param("out"), GP64())
	x := Load(Param("x"), GP64())
	g := Load(Param("gamma"), GP64())
	b := Load(Param("beta"), GP64())
	mu, rs := s.vec(), s.vec()
	VBROADCASTSS(NewParamAddr("mean", 40), mu)
	VBROADCASTSS(NewParamAddr("rstd", 44), rs)
	s.loop(name, n, []Register{out, x, g, b}, func(u, o int) {
		v := s.vec()
		VMOVUPS(Mem{Base: x, Disp: o}, v)
		VSUBPS(mu, v, v)
		VMULPS(rs, v, v)
		VMULPS(Mem{Base: g, Disp: o}, v, v)
		VADDPS(Mem{Base: b, Disp: o}, v, v)
		VMOVUPS(v, Mem{Base: out, Disp: o})
	})
	VZEROUPPER()
	RET()
}

func (s isa) lnBackward1() {
	name := s.text("lnBackward1", "func(n int, dy, x, gamma, dgamma, dbeta *float32, mean, rstd float32) (sumD, sumDN float32)",
		"", "\tfor i := range n {", "\t\tnorm := (x[i] - mean) * rstd", "\t\td := gamma[i] * dy[i]",
		"\t\tsumD += d", "\t\tsumDN += d * norm", "\t\tdgamma[i] += norm * dy[i]", "\t\tdbeta[i] += dy[i]", "\t}", "", "(summed in a different order)")
	n := Load(Param("n"), GP64())
	dy := Load(Param("dy"), GP64())
	x := Load(Param("x"), GP64())
	g := Load(Param("gamma"), GP64())
	dg := Load(Param("dgamma"), GP64())
	db := Load(Param("dbeta"), GP64())
	mu, rs := s.vec(), s.vec()
	VBROADCASTSS(NewParamAddr("mean", 48), mu)
	VBROADCASTSS(NewParamAddr("rstd", 52), rs)
	sd, sdn := s.vec(), s.vec()
	s.zero(sd)
	s.zero(sdn)
	s.loop(name, n, []Register{dy, x, g, dg, db}, func(u, o int) {
		nv := s.vec()
		VMOVUPS(Mem{Base: x, Disp: o}, nv)
		VSUBPS(mu, nv, nv)
		VMULPS(rs, nv, nv)
		dv := s.vec()
		VMOVUPS(Mem{Base: dy, Disp: o}, dv)
		t := s.vec()
		VMOVUPS(Mem{Base: db, Disp: o}, t)
		VADDPS(dv, t, t)
		VMOVUPS(t, Mem{Base: db, Disp: o})
		VMOVUPS(Mem{Base: dg, Disp: o}, t)
		VFMADD231PS(nv, dv, t)
		VMOVUPS(t, Mem{Base: dg, Disp: o})
		VMULPS(Mem{Base: g, Disp: o}, dv, dv)
		VADDPS(dv, sd, sd)
		VFMADD231PS(nv, dv, sdn)
	})
	Store(s.hreduce(sd, VADDPS), ReturnIndex(0))
	Store(s.hreduce(sdn, VADDPS), ReturnIndex(1))
	VZEROUPPER()
	RET()
}

func (s isa) lnBackward2() {
	name := s.text("lnBackward2", "func(n int, dx, dy, x, gamma *float32, mean, rstd, a, b float32)", "",
		"\tfor i := range n { dx[i] = (gamma[i]*dy[i] - a - (x[i]-mean)*rstd*b) * rstd }")
	n := Load(Param("n"), GP64())
	dx := Load(Param("dx"), GP64())
	dy := Load(Param("dy"), GP64())
	x := Load(Param("x"), GP64())
	g := Load(Param("gamma"), GP64())
	mu, rs, av, bv := s.vec(), s.vec(), s.vec(), s.vec()
	VBROADCASTSS(NewParamAddr("mean", 40), mu)
	VBROADCASTSS(NewParamAddr("rstd", 44), rs)
	VBROADCASTSS(NewParamAddr("a", 48), av)
	VBROADCASTSS(NewParamAddr("b", 52), bv)
	s.loop(name, n, []Register{dx, dy, x, g}, func(u, o int) {
		nv := s.vec()
		VMOVUPS(Mem{Base: x, Disp: o}, nv)
		VSUBPS(mu, nv, nv)
		VMULPS(rs, nv, nv)
		d := s.vec()
		VMOVUPS(Mem{Base: dy, Disp: o}, d)
		VMULPS(Mem{Base: g, Disp: o}, d, d)
		VSUBPS(av, d, d)
		VFNMADD231PS(bv, nv, d)
		VMULPS(rs, d, d)
		VMOVUPS(d, Mem{Base: dx, Disp: o})
	})
	VZEROUPPER()
	RET()
}
