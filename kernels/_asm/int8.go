package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The int8 kernels: the 4×16 microkernel of u7 activations by s8 weights
// with AVX2 (VPMADDUBSW multiplies bytes and adds pairs to int16, exact
// since 2·127·127 < 32768; VPMADDWD by ones adds the pairs of those to
// int32), and the row quantizer.
func int8Kernels() {
	int8Kernel4x16AVX2()
	int8Constants()
	quantizeRowAVX2()
}

func int8Constants() {
	GLOBL("int8_ones16", RODATA|NOPTR)
	for j := 0; j < 16; j++ {
		DATA(2*j, U16(1))
	}
	// The dword order VPACKSSDW and VPACKUSWB leave 32 bytes in, undone
	// by VPERMD.
	GLOBL("int8_perm", RODATA|NOPTR)
	for j, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
		DATA(4*j, U32(v))
	}
}

// int8Kernel4x16AVX2 emits the microkernel: per group g of 4 bytes along k,
// the 16 channels' 4 weights are two ymm (8 int32 lanes of 4 bytes each),
// and row i's 4 activations are broadcast to every lane.
//
//	for i < 4, j < 16 { c[i*ldc+j] = Σ_{p<4kg} a[i*lda+p]·b[(p/4*16+j)*4+p%4] }
func int8Kernel4x16AVX2() {
	TEXT("int8Kernel4x16AVX2", NOSPLIT, "func(kg int, a *uint8, lda int, b *int8, c *int32, ldc int)")
	Pragma("noescape")
	Doc("int8Kernel4x16AVX2 computes the 4×16 tile c[i*ldc+j] = Σ_{p<4kg} a[i*lda+p]·b[(p/4*16+j)*4+p%4]",
		"of u8 activations a (≤ 127, so that VPMADDUBSW cannot saturate) and packed s8 weights b.")
	kg := Load(Param("kg"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	b := Load(Param("b"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	lda3 := GP64()
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	var acc [4][2]VecVirtual
	for i := range acc {
		for h := range acc[i] {
			acc[i][h] = YMM()
			VPXOR(acc[i][h], acc[i][h], acc[i][h])
		}
	}
	ones := YMM()
	VMOVDQU(NewDataAddr(NewStaticSymbol("int8_ones16"), 0), ones)
	b0, b1, t, p0, p1 := YMM(), YMM(), YMM(), YMM(), YMM()
	rowAt := func(i int) Mem {
		switch i {
		case 0:
			return Mem{Base: a}
		case 1:
			return Mem{Base: a, Index: lda, Scale: 1}
		case 2:
			return Mem{Base: a, Index: lda, Scale: 2}
		}
		return Mem{Base: a, Index: lda3, Scale: 1}
	}
	Label("int8k_loop")
	VMOVDQU(Mem{Base: b}, b0)
	VMOVDQU(Mem{Base: b, Disp: 32}, b1)
	for i := 0; i < 4; i++ {
		VPBROADCASTD(rowAt(i), t)
		VPMADDUBSW(b0, t, p0)
		VPMADDUBSW(b1, t, p1)
		VPMADDWD(ones, p0, p0)
		VPMADDWD(ones, p1, p1)
		VPADDD(p0, acc[i][0], acc[i][0])
		VPADDD(p1, acc[i][1], acc[i][1])
	}
	ADDQ(Imm(4), a)
	ADDQ(Imm(64), b)
	DECQ(kg)
	JNZ(LabelRef("int8k_loop"))
	for i := 0; i < 4; i++ {
		VMOVDQU(acc[i][0], Mem{Base: c})
		VMOVDQU(acc[i][1], Mem{Base: c, Disp: 32})
		if i < 3 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// quantizeRowAVX2 emits q[p] = clamp(roundToEven(x[p]·inv) + z, 0, 127)
// for n floats, 32 at a time, the last n%32 in Go: VCVTPS2DQ rounds to
// nearest even (VROUNDPS, then VCVTPS2DQ of an integer, exact); the packs
// saturate: VPACKUSWB clamps below at 0, VPMINUB with 127 above.
func quantizeRowAVX2() {
	TEXT("quantizeRowAVX2", NOSPLIT, "func(n int, x *float32, inv, z float32, q *uint8)")
	Pragma("noescape")
	Doc("quantizeRowAVX2 writes q[p] = clamp(roundToEven(x[p]·inv) + z, 0, 127) for p < n, n a multiple of 32.")
	n := Load(Param("n"), GP64())
	x := Load(Param("x"), GP64())
	q := Load(Param("q"), GP64())
	inv, z, lim := YMM(), YMM(), YMM()
	VBROADCASTSS(NewParamAddr("inv", 16), inv)
	VBROADCASTSS(NewParamAddr("z", 20), z)
	tmp := GP32()
	MOVL(U32(0x7f7f7f7f), tmp)
	MOVD(tmp, lim.AsX())
	VPBROADCASTD(lim.AsX(), lim)
	var v [4]VecVirtual
	for i := range v {
		v[i] = YMM()
	}
	perm := YMM()
	VMOVDQU(NewDataAddr(NewStaticSymbol("int8_perm"), 0), perm)
	SHRQ(Imm(5), n)
	JZ(LabelRef("qrow_done"))
	Label("qrow_loop")
	for i := 0; i < 4; i++ {
		VMULPS(Mem{Base: x, Disp: 32 * i}, inv, v[i])
		VROUNDPS(Imm(0), v[i], v[i]) // to nearest even, before the zero point is added
		VADDPS(z, v[i], v[i])
		VCVTPS2DQ(v[i], v[i])
	}
	// int32 → int16 (saturating) per 128-bit lane, then → u8: the lanes
	// end up interleaved; int8_perm puts the 8 dwords back in order.
	VPACKSSDW(v[1], v[0], v[0])
	VPACKSSDW(v[3], v[2], v[2])
	VPACKUSWB(v[2], v[0], v[0])
	VPERMD(v[0], perm, v[0])
	VPMINUB(lim, v[0], v[0])
	VMOVDQU(v[0], Mem{Base: q})
	ADDQ(Imm(128), x)
	ADDQ(Imm(32), q)
	DECQ(n)
	JNZ(LabelRef("qrow_loop"))
	Label("qrow_done")
	VZEROUPPER()
	RET()
}
