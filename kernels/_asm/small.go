package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Kernels for products with few rows (m ≤ 4 at a time), such as a decoder
// step: they read A and B where they lie, without packing, since packing B
// would cost as much as the product.
func smallKernels() {
	for m := 1; m <= 4; m++ {
		smallN(m)
	}
	for m := 1; m <= 4; m++ {
		smallT(m, 4)
		smallT(m, 1)
	}
}

// rowAddr returns the address of row i (0..3) from base with a row stride
// held in s (bytes) and 3·s in s3.
func rowAddr(base, s, s3 Register, i, disp int) Mem {
	switch i {
	case 0:
		return Mem{Base: base, Disp: disp}
	case 1:
		return Mem{Base: base, Index: s, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: base, Index: s, Scale: 2, Disp: disp}
	}
	return Mem{Base: base, Index: s3, Scale: 1, Disp: disp}
}

// smallN emits sgemmSmallN<m>AVX512, C (m×n) = alpha·A·B + beta·C for B not
// transposed (k×n, row stride ldb), with A's element (i, p) at
// a[i*sai+p*sap] (so either transpose of A): 64 columns of C at a time in
// 4m zmm accumulators, each row of B loaded once for all m rows, the last
// strip through opmasks.
//
//	for i < m, j < n { c[i*ldc+j] = alpha*Σ_p a[i*sai+p*sap]*b[p*ldb+j] + beta*c[i*ldc+j] }
func smallN(m int) {
	name := fmt.Sprintf("sgemmSmallN%dAVX512", m)
	TEXT(name, NOSPLIT, "func(n, k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes c[i*ldc+j] = alpha·Σ_p a[i*sai+p*sap]·b[p*ldb+j] + beta·c[i*ldc+j]", name),
		fmt.Sprintf("for i < %d, j < n, reading c only when beta ≠ 0.", m))
	n := Load(Param("n"), GP64())
	sai := Load(Param("sai"), GP64())
	sap := Load(Param("sap"), GP64())
	ldb := Load(Param("ldb"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), sai)
	SHLQ(Imm(2), sap)
	SHLQ(Imm(2), ldb)
	SHLQ(Imm(2), ldc)
	sai3, ldc3 := GP64(), GP64()
	LEAQ(Mem{Base: sai, Index: sai, Scale: 2}, sai3)
	LEAQ(Mem{Base: ldc, Index: ldc, Scale: 2}, ldc3)
	alpha, beta := ZMM(), ZMM()
	VBROADCASTSS(NewParamAddr("alpha", 72), alpha)
	VBROADCASTSS(NewParamAddr("beta", 76), beta)

	pb0 := Load(Param("b"), GP64())
	pc0 := Load(Param("c"), GP64())
	// Accumulators are zeroed by copying this register: avo would take
	// "VPXORD r, r, r" for a read of r and keep every accumulator of both
	// strip loops live from the entry.
	zero := ZMM()
	VPXORD(zero, zero, zero)

	// strip emits one strip of nv vectors (16·nv columns) at pb0/pc0, with
	// opmasks km when masked.
	strip := func(label string, nv int, km []Op) {
		acc := make([][]VecVirtual, m)
		for i := range acc {
			acc[i] = make([]VecVirtual, nv)
			for v := range acc[i] {
				acc[i][v] = ZMM()
				VMOVAPS(zero, acc[i][v])
			}
		}
		pa := Load(Param("a"), GP64())
		pb := GP64()
		MOVQ(pb0, pb)
		k := Load(Param("k"), GP64())
		Label(label + "_k")
		// B rows are often 4 KiB apart, where the hardware prefetcher
		// stops: fetch 8 rows ahead.
		for v := 0; v < nv; v += 2 {
			PREFETCHT0(Mem{Base: pb, Index: ldb, Scale: 8, Disp: 64 * v})
		}
		bv := make([]VecVirtual, nv)
		for v := range bv {
			bv[v] = ZMM()
			if km != nil {
				VMOVUPS_Z(Mem{Base: pb, Disp: 64 * v}, km[v], bv[v])
			} else {
				VMOVUPS(Mem{Base: pb, Disp: 64 * v}, bv[v])
			}
		}
		for i := 0; i < m; i++ {
			t := ZMM()
			VBROADCASTSS(rowAddr(pa, sai, sai3, i, 0), t)
			for v := range bv {
				VFMADD231PS(bv[v], t, acc[i][v])
			}
		}
		ADDQ(sap, pa)
		ADDQ(ldb, pb)
		DECQ(k)
		JNZ(LabelRef(label + "_k"))

		store := func(m Mem, v int, r VecVirtual) {
			if km != nil {
				VMOVUPS(r, km[v], m)
			} else {
				VMOVUPS(r, m)
			}
		}
		bz := GP32()
		MOVL(NewParamAddr("beta", 76), bz)
		SHLL(Imm(1), bz) // zero flag: beta is ±0
		JZ(LabelRef(label + "_beta0"))
		for i := 0; i < m; i++ {
			for v := 0; v < nv; v++ {
				t := ZMM()
				if km != nil {
					VMOVUPS_Z(rowAddr(pc0, ldc, ldc3, i, 64*v), km[v], t)
				} else {
					VMOVUPS(rowAddr(pc0, ldc, ldc3, i, 64*v), t)
				}
				VMULPS(alpha, acc[i][v], acc[i][v])
				VFMADD231PS(t, beta, acc[i][v])
				store(rowAddr(pc0, ldc, ldc3, i, 64*v), v, acc[i][v])
			}
		}
		JMP(LabelRef(label + "_next"))
		Label(label + "_beta0")
		for i := 0; i < m; i++ {
			for v := 0; v < nv; v++ {
				VMULPS(alpha, acc[i][v], acc[i][v])
				store(rowAddr(pc0, ldc, ldc3, i, 64*v), v, acc[i][v])
			}
		}
		Label(label + "_next")
		ADDQ(U32(64*nv), pb0)
		ADDQ(U32(64*nv), pc0)
		SUBQ(U32(16*nv), n)
	}

	// Whole strips, as wide as the registers allow, then 64 columns at a
	// time through opmasks.
	wide := 8
	if m > 2 {
		wide = 4
	}
	Label(name + "_wide")
	CMPQ(n, U32(16*wide))
	JL(LabelRef(name + "_tail"))
	strip(name+"_w", wide, nil)
	JMP(LabelRef(name + "_wide"))

	// The rest (< 16·wide columns), 64 columns at a time through opmasks,
	// with only as many vectors as there are columns left.
	Label(name + "_tail")
	TESTQ(n, n)
	JLE(LabelRef(name + "_done"))
	for nv := 1; nv <= 4; nv++ {
		if nv < 4 {
			CMPQ(n, U32(16*nv))
			JLE(LabelRef(fmt.Sprintf("%s_t%d", name, nv)))
		} else {
			JMP(LabelRef(fmt.Sprintf("%s_t%d", name, nv)))
		}
	}
	for nv := 1; nv <= 4; nv++ {
		Label(fmt.Sprintf("%s_t%d", name, nv))
		ones, cols, bits := GP64(), GP64(), GP64()
		MOVQ(I64(-1), ones)
		MOVQ(U32(64), cols)
		CMPQ(n, cols)
		CMOVQLT(n, cols)
		BZHIQ(cols, ones, bits)
		km := make([]Op, nv)
		for v := range km {
			kk := K()
			KMOVW(bits.As32(), kk)
			if v < nv-1 {
				SHRQ(Imm(16), bits)
			}
			km[v] = kk
		}
		strip(fmt.Sprintf("%s_t%ds", name, nv), nv, km)
		JMP(LabelRef(name + "_tail"))
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// smallT emits sgemmSmallT<m>x<nj>AVX512, the m×nj block of C for B
// transposed (n×k, row stride ldb) and A not transposed: each element is a
// dot product along k, 16 values of k at a time in m·nj zmm accumulators
// (the last ones through an opmask), folded at the end.
//
//	for i < m, j < nj { c[i*ldc+j] = alpha*Σ_p a[i*lda+p]*b[j*ldb+p] + beta*c[i*ldc+j] }
func smallT(m, nj int) {
	name := fmt.Sprintf("sgemmSmallT%dx%dAVX512", m, nj)
	TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes c[i*ldc+j] = alpha·Σ_p a[i*lda+p]·b[j*ldb+p] + beta·c[i*ldc+j]", name),
		fmt.Sprintf("for i < %d, j < %d, reading c only when beta ≠ 0.", m, nj))
	k := Load(Param("k"), GP64())
	pa := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	pb := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(Imm(2), lda)
	SHLQ(Imm(2), ldb)
	lda3, ldb3 := GP64(), GP64()
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
	var acc [4][4]VecVirtual
	for i := 0; i < m; i++ {
		for j := 0; j < nj; j++ {
			acc[i][j] = ZMM()
			VPXORD(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	step := func(mask Op) {
		var av [4]VecVirtual
		for i := 0; i < m; i++ {
			av[i] = ZMM()
			if mask == nil {
				VMOVUPS(rowAddr(pa, lda, lda3, i, 0), av[i])
			} else {
				VMOVUPS_Z(rowAddr(pa, lda, lda3, i, 0), mask, av[i])
			}
		}
		for j := 0; j < nj; j++ {
			bv := ZMM()
			if mask == nil {
				VMOVUPS(rowAddr(pb, ldb, ldb3, j, 0), bv)
			} else {
				VMOVUPS_Z(rowAddr(pb, ldb, ldb3, j, 0), mask, bv)
			}
			for i := 0; i < m; i++ {
				VFMADD231PS(av[i], bv, acc[i][j])
			}
		}
	}
	Label(name + "_k16")
	CMPQ(k, Imm(16))
	JL(LabelRef(name + "_tail"))
	step(nil)
	ADDQ(Imm(64), pa)
	ADDQ(Imm(64), pb)
	SUBQ(Imm(16), k)
	JMP(LabelRef(name + "_k16"))
	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_fold"))
	ones, bits := GP64(), GP64()
	MOVQ(I64(-1), ones)
	BZHIQ(k, ones, bits)
	mask := K()
	KMOVW(bits.As32(), mask)
	step(mask)
	Label(name + "_fold")
	pc := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	alpha, beta := XMM(), XMM()
	VMOVSS(NewParamAddr("alpha", 56), alpha)
	VMOVSS(NewParamAddr("beta", 60), beta)
	betaZero := GP32()
	MOVL(NewParamAddr("beta", 60), betaZero)
	SHLL(Imm(1), betaZero)
	for i := 0; i < m; i++ {
		for j := 0; j < nj; j++ {
			x := avx512.hreduce(acc[i][j], VADDPS)
			VMULSS(alpha, x, x)
			m := Mem{Base: pc, Disp: 4 * j}
			skip := fmt.Sprintf("%s_b0_%d_%d", name, i, j)
			TESTL(betaZero, betaZero)
			JZ(LabelRef(skip))
			VFMADD231SS(m, beta, x)
			Label(skip)
			VMOVSS(x, m)
		}
		if i < m-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}
