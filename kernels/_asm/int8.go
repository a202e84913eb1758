package main

import (
	"fmt"

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
	int8Kernel4x16VNNI()
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

// vpdpbusd emits VPDPBUSD w, a, acc (Go operand order; AVX512_VNNI, zmm):
// for each int32 lane, acc += Σ_{b<4} u8(a.byte b)·s8(w.byte b). Unknown
// to avo v0.5.0, so emitted as bytes (evexRRR). Checked with Go's
// assembler (go tool asm, objdump):
//
//	VPDPBUSD Z3, Z25, Z17   62 e2 35 40 50 cb
//	VPDPBUSD Z30, Z2, Z9    62 12 6d 48 50 ce
func vpdpbusd(acc, a, w VecPhysical) {
	emitBytes(fmt.Sprintf("VPDPBUSD %s, %s, %s", w.Asm(), a.Asm(), acc.Asm()),
		evexRRR(1, 2, 0x50, zidx(acc), zidx(a), zidx(w)))
}

// int8Kernel4x16VNNI emits the AVX-512 VNNI microkernel: a group of 4
// bytes along k for 16 channels is one zmm, each row's 4 activations are
// broadcast, and VPDPBUSD adds the four products of every lane into an
// int32 accumulator; even and odd groups go to separate accumulators (8
// independent chains) that are added at the end.
//
//	for i < 4, j < 16 { c[i*ldc+j] = Σ_{p<4kg} a[i*lda+p]·b[(p/4*16+j)*4+p%4] }
func int8Kernel4x16VNNI() {
	TEXT("int8Kernel4x16VNNI", NOSPLIT, "func(kg int, a *uint8, lda int, b *int8, c *int32, ldc int)")
	Pragma("noescape")
	Doc("int8Kernel4x16VNNI computes the 4×16 tile c[i*ldc+j] = Σ_{p<4kg} a[i*lda+p]·b[(p/4*16+j)*4+p%4]",
		"of u8 activations a and packed s8 weights b with VPDPBUSD.")
	kg := Load(Param("kg"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	b := Load(Param("b"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	lda3 := GP64()
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	rowAt := func(i, disp int) Mem {
		switch i {
		case 0:
			return Mem{Base: a, Disp: disp}
		case 1:
			return Mem{Base: a, Index: lda, Scale: 1, Disp: disp}
		case 2:
			return Mem{Base: a, Index: lda, Scale: 2, Disp: disp}
		}
		return Mem{Base: a, Index: lda3, Scale: 1, Disp: disp}
	}
	// Z0-Z7 accumulators (row i, parity h: Z[2i+h]), Z8-Z9 weights, Z10-Z17 broadcasts.
	accOf := func(i, h int) VecPhysical { return zmm(2*i + h) }
	for i := 0; i < 8; i++ {
		VPXORD(zmm(i), zmm(i), zmm(i))
	}
	Comment("Pairs of groups while two remain, then the last odd one.")
	pairs := GP64()
	MOVQ(kg, pairs)
	SHRQ(Imm(1), pairs)
	JZ(LabelRef("vnni_tail"))
	Label("vnni_loop")
	VMOVDQU32(Mem{Base: b}, zmm(8))
	VMOVDQU32(Mem{Base: b, Disp: 64}, zmm(9))
	for i := 0; i < 4; i++ {
		VPBROADCASTD(rowAt(i, 0), zmm(10+2*i))
		VPBROADCASTD(rowAt(i, 4), zmm(11+2*i))
	}
	for i := 0; i < 4; i++ {
		vpdpbusd(accOf(i, 0), zmm(10+2*i), zmm(8))
		vpdpbusd(accOf(i, 1), zmm(11+2*i), zmm(9))
	}
	ADDQ(Imm(8), a)
	ADDQ(Imm(128), b)
	DECQ(pairs)
	JNZ(LabelRef("vnni_loop"))
	Label("vnni_tail")
	TESTQ(U32(1), kg)
	JZ(LabelRef("vnni_store"))
	VMOVDQU32(Mem{Base: b}, zmm(8))
	for i := 0; i < 4; i++ {
		VPBROADCASTD(rowAt(i, 0), zmm(10+2*i))
		vpdpbusd(accOf(i, 0), zmm(10+2*i), zmm(8))
	}
	Label("vnni_store")
	for i := 0; i < 4; i++ {
		VPADDD(accOf(i, 1), accOf(i, 0), accOf(i, 0))
		VMOVDQU32(accOf(i, 0), Mem{Base: c})
		if i < 3 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}
