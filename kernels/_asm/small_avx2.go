package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The AVX2 twins of small.go and pack.go. AVX2 has 16 ymm registers of 8
// lanes and no opmasks: tiles are smaller, all registers are named
// (physical) so that each tile's budget is visible, and partial vectors go
// through VMASKMOVPS with a lane mask read from avx2LaneMask (masked-out
// lanes are neither read nor written, nor can they fault).

// avx2LaneMask holds eight -1s then eight 0s: the 8 int32 lanes at byte
// offset 32-4r select the first r lanes (0 ≤ r ≤ 8).
var avx2LaneMask Mem

func avx2MaskTable() {
	avx2LaneMask = GLOBL("avx2LaneMask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}
}

// laneMask loads into mask the lane mask for the first r lanes (r a
// register holding 0..8).
func laneMask(r Register, mask VecPhysical) {
	p, t := GP64(), GP64()
	LEAQ(avx2LaneMask.Offset(32), p)
	MOVQ(r, t)
	SHLQ(Imm(2), t)
	SUBQ(t, p)
	VMOVUPS(Mem{Base: p}, mask)
}

// Tile widths of the AVX2 few-row kernels, indexed by m-1, chosen so that
// the accumulators plus the vectors they need fit the 16 ymm registers:
// smallNWideAVX2 vectors (8 columns each) of C per strip, and
// smallTWidthAVX2 columns of C per dot-product block.
var (
	smallNWideAVX2  = [4]int{8, 4, 3, 3}
	smallTWidthAVX2 = [4]int{8, 6, 3, 2}
)

func smallKernelsAVX2() {
	avx2MaskTable()
	for m := 1; m <= 4; m++ {
		smallNAVX2(m)
	}
	for m := 1; m <= 4; m++ {
		smallTAVX2(m, smallTWidthAVX2[m-1])
		smallTAVX2(m, 1)
	}
}

// smallNAVX2 emits sgemmSmallN<m>AVX2, smallN's AVX2 twin: C (m×n) =
// alpha·A·B + beta·C for B not transposed (k×n, row stride ldb), with A's
// element (i, p) at a[i*sai+p*sap]. Strips of smallNWideAVX2[m-1] vectors
// hold m×nv accumulators; each row of B is loaded once for all m rows (for
// m = 1 it is a memory operand of the FMA). The columns left are one strip
// of fewer whole vectors, then one masked vector.
//
//	for i < m, j < n { c[i*ldc+j] = alpha*Σ_p a[i*sai+p*sap]*b[p*ldb+j] + beta*c[i*ldc+j] }
func smallNAVX2(m int) {
	name := fmt.Sprintf("sgemmSmallN%dAVX2", m)
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
	pb0 := Load(Param("b"), GP64())
	pc0 := Load(Param("c"), GP64())
	bInReg := m > 1

	// strip emits one strip of nv vectors at pb0/pc0; masked (nv = 1) reads
	// and writes only the lanes of the mask in Y15.
	strip := func(label string, nv int, masked bool) {
		next := 0
		reg := func() VecPhysical { r := ymm(next); next++; return r }
		acc := make([][]VecPhysical, m)
		for i := range acc {
			acc[i] = make([]VecPhysical, nv)
			for v := range acc[i] {
				acc[i][v] = reg()
				VXORPS(acc[i][v], acc[i][v], acc[i][v])
			}
		}
		bv := make([]VecPhysical, nv)
		if bInReg || masked {
			for v := range bv {
				bv[v] = reg()
			}
		}
		t := reg()
		mask := Y15
		if masked && next > 15 {
			panic("no register for the mask")
		}
		if next > 16 {
			panic(fmt.Sprintf("%s: strip of %d vectors needs %d registers", name, nv, next))
		}
		pa := Load(Param("a"), GP64())
		pb := GP64()
		MOVQ(pb0, pb)
		k := Load(Param("k"), GP64())
		Label(label + "_k")
		// Fetch B 8 rows ahead, as smallN does.
		for v := 0; v < nv; v += 2 {
			PREFETCHT0(Mem{Base: pb, Index: ldb, Scale: 8, Disp: 32 * v})
		}
		bop := func(v int) Op {
			if bv[v] != nil {
				return bv[v]
			}
			return Mem{Base: pb, Disp: 32 * v}
		}
		for v := range bv {
			if masked {
				VMASKMOVPS(Mem{Base: pb, Disp: 32 * v}, mask, bv[v])
			} else if bInReg {
				VMOVUPS(Mem{Base: pb, Disp: 32 * v}, bv[v])
			}
		}
		for i := 0; i < m; i++ {
			VBROADCASTSS(rowAddr(pa, sai, sai3, i, 0), t)
			for v := 0; v < nv; v++ {
				VFMADD231PS(bop(v), t, acc[i][v])
			}
		}
		ADDQ(sap, pa)
		ADDQ(ldb, pb)
		DECQ(k)
		JNZ(LabelRef(label + "_k"))

		// alpha, beta and a scratch vector take the registers of B and
		// of the broadcast, free now.
		alpha, beta, tmp := ymm(m*nv), ymm(m*nv+1), ymm(m*nv+2)
		VBROADCASTSS(NewParamAddr("alpha", 72), alpha)
		VBROADCASTSS(NewParamAddr("beta", 76), beta)
		store := func(mem Mem, r VecPhysical) {
			if masked {
				VMASKMOVPS(r, mask, mem)
			} else {
				VMOVUPS(r, mem)
			}
		}
		bz := GP32()
		MOVL(NewParamAddr("beta", 76), bz)
		SHLL(Imm(1), bz) // zero flag: beta is ±0
		JZ(LabelRef(label + "_beta0"))
		for i := 0; i < m; i++ {
			for v := 0; v < nv; v++ {
				mem := rowAddr(pc0, ldc, ldc3, i, 32*v)
				VMULPS(alpha, acc[i][v], acc[i][v])
				if masked {
					VMASKMOVPS(mem, mask, tmp)
					VFMADD231PS(tmp, beta, acc[i][v])
				} else {
					VFMADD231PS(mem, beta, acc[i][v])
				}
				store(mem, acc[i][v])
			}
		}
		JMP(LabelRef(label + "_next"))
		Label(label + "_beta0")
		for i := 0; i < m; i++ {
			for v := 0; v < nv; v++ {
				VMULPS(alpha, acc[i][v], acc[i][v])
				store(rowAddr(pc0, ldc, ldc3, i, 32*v), acc[i][v])
			}
		}
		Label(label + "_next")
		ADDQ(U32(32*nv), pb0)
		ADDQ(U32(32*nv), pc0)
		SUBQ(U32(8*nv), n)
	}

	wide := smallNWideAVX2[m-1]
	Label(name + "_wide")
	CMPQ(n, U32(8*wide))
	JL(LabelRef(name + "_tail"))
	strip(name+"_w", wide, false)
	JMP(LabelRef(name + "_wide"))

	// The rest (< 8·wide columns): the whole vectors in one strip, then
	// the last n%8 columns through the lane mask.
	Label(name + "_tail")
	for nv := wide - 1; nv >= 1; nv-- {
		CMPQ(n, U32(8*nv))
		JGE(LabelRef(fmt.Sprintf("%s_t%d", name, nv)))
	}
	JMP(LabelRef(name + "_last"))
	for nv := wide - 1; nv >= 1; nv-- {
		Label(fmt.Sprintf("%s_t%d", name, nv))
		strip(fmt.Sprintf("%s_t%ds", name, nv), nv, false)
		JMP(LabelRef(name + "_last"))
	}
	Label(name + "_last")
	TESTQ(n, n)
	JLE(LabelRef(name + "_done"))
	laneMask(n, Y15)
	strip(name+"_m", 1, true)
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// smallTAVX2 emits sgemmSmallT<m>x<nj>AVX2, smallT's AVX2 twin: the m×nj
// block of C for B transposed (n×k, row stride ldb) and A not transposed,
// each element a dot product along k, 8 values of k at a time in m·nj ymm
// accumulators (the last ones through the lane mask), folded at the end.
//
//	for i < m, j < nj { c[i*ldc+j] = alpha*Σ_p a[i*lda+p]*b[j*ldb+p] + beta*c[i*ldc+j] }
func smallTAVX2(m, nj int) {
	name := fmt.Sprintf("sgemmSmallT%dx%dAVX2", m, nj)
	TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes c[i*ldc+j] = alpha·Σ_p a[i*lda+p]·b[j*ldb+p] + beta·c[i*ldc+j]", name),
		fmt.Sprintf("for i < %d, j < %d, reading c only when beta ≠ 0.", m, nj))
	// Registers: m·nj accumulators, m rows of A, one row of B, the mask.
	if m*nj+m+2 > 16 {
		panic(name + ": too many registers")
	}
	acc := func(i, j int) VecPhysical { return ymm(i*nj + j) }
	av := func(i int) VecPhysical { return ymm(m*nj + i) }
	bv := ymm(m*nj + m)
	mask := ymm(m*nj + m + 1)

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
	// Rows 4..7 of B from a second base.
	var pb4 Register
	if nj > 4 {
		pb4 = GP64()
		LEAQ(Mem{Base: pb, Index: ldb, Scale: 4}, pb4)
	}
	brow := func(j int) Mem {
		if j < 4 {
			return rowAddr(pb, ldb, ldb3, j, 0)
		}
		return rowAddr(pb4, ldb, ldb3, j-4, 0)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < nj; j++ {
			VXORPS(acc(i, j), acc(i, j), acc(i, j))
		}
	}
	step := func(masked bool) {
		for i := 0; i < m; i++ {
			if masked {
				VMASKMOVPS(rowAddr(pa, lda, lda3, i, 0), mask, av(i))
			} else {
				VMOVUPS(rowAddr(pa, lda, lda3, i, 0), av(i))
			}
		}
		for j := 0; j < nj; j++ {
			if masked {
				VMASKMOVPS(brow(j), mask, bv)
			} else {
				VMOVUPS(brow(j), bv)
			}
			for i := 0; i < m; i++ {
				VFMADD231PS(av(i), bv, acc(i, j))
			}
		}
	}
	Label(name + "_k8")
	CMPQ(k, Imm(8))
	JL(LabelRef(name + "_tail"))
	step(false)
	ADDQ(Imm(32), pa)
	ADDQ(Imm(32), pb)
	if pb4 != nil {
		ADDQ(Imm(32), pb4)
	}
	SUBQ(Imm(8), k)
	JMP(LabelRef(name + "_k8"))
	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_fold"))
	laneMask(k, mask)
	step(true)

	Label(name + "_fold")
	pc := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	alpha, beta, t := av(0).AsX(), bv.AsX(), mask.AsX()
	VMOVSS(NewParamAddr("alpha", 56), alpha)
	VMOVSS(NewParamAddr("beta", 60), beta)
	betaZero := GP32()
	MOVL(NewParamAddr("beta", 60), betaZero)
	SHLL(Imm(1), betaZero)
	for i := 0; i < m; i++ {
		for j := 0; j < nj; j++ {
			y := acc(i, j)
			x := y.AsX()
			VEXTRACTF128(Imm(1), y, t)
			VADDPS(t, x, x)
			VMOVHLPS(x, t, t)
			VADDPS(t, x, x)
			VMOVSHDUP(x, t)
			VADDSS(t, x, x)
			VMULSS(alpha, x, x)
			mem := Mem{Base: pc, Disp: 4 * j}
			skip := fmt.Sprintf("%s_b0_%d_%d", name, i, j)
			TESTL(betaZero, betaZero)
			JZ(LabelRef(skip))
			VFMADD231SS(mem, beta, x)
			Label(skip)
			VMOVSS(x, mem)
		}
		if i < m-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}

func packKernelsAVX2() {
	packRowsAVX2("packRows16AVX2", 16)
	packRowsAVX2("packRows6AVX2", 6)
	packCopy16AVX2()
	packCopy6AVX2()
}

// packRowsAVX2 emits the transposing pack of a GEMM panel of rows rows (16
// or 6), 8 columns at a time:
//
//	for p := 0; p < 8*n8; p++ {
//		for r := 0; r < rows; r++ { dst[p*rows+r] = src[r*ld+p] }
//	}
//
// Four rows at a time are loaded 8 columns wide and turned into 4×4 blocks
// with two rounds of unpacks (each 128-bit lane is then 4 consecutive output
// values of one column); for rows = 6 the last two rows are interleaved
// pairwise and stored 64 bits at a time. With rows = 16 only the first
// 4·groups rows are read, the others are written as zeros; rows = 6 packs
// whole panels only (groups is ignored).
func packRowsAVX2(name string, rows int) {
	TEXT(name, NOSPLIT, "func(n8 int, src *float32, ld int, dst *float32, groups int)")
	Pragma("noescape")
	if rows == 6 {
		Doc(fmt.Sprintf("%s packs 6 rows of src (stride ld) by 8·n8 columns into dst", name),
			"as dst[p*6+r] = src[r*ld+p]; groups is not used.")
	} else {
		Doc(fmt.Sprintf("%s packs the first 4·groups of %d rows of src (stride ld) by 8·n8 columns into dst", name, rows),
			fmt.Sprintf("as dst[p*%d+r] = src[r*ld+p], and zeros for the other rows.", rows))
	}
	n := Load(Param("n8"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	var groups Register
	if rows == 16 {
		groups = Load(Param("groups"), GP64())
	}
	SHLQ(Imm(2), ld)
	zero := X12
	VXORPS(Y12, Y12, Y12)
	ld3 := GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	ld4 := GP64()
	MOVQ(ld, ld4)
	SHLQ(Imm(2), ld4)
	row := GP64()
	z := []VecPhysical{Y0, Y1, Y2, Y3}
	t := []VecPhysical{Y4, Y5, Y6, Y7}
	s := []VecPhysical{Y8, Y9, Y10, Y11}
	x := []VecPhysical{X8, X9, X10, X11}
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	MOVQ(src, row)
	for g := 0; g < rows/4; g++ {
		zl := fmt.Sprintf("%s_zero%d", name, g)
		nl := fmt.Sprintf("%s_next%d", name, g)
		if groups != nil {
			CMPQ(groups, Imm(uint64(g)))
			JLE(LabelRef(zl))
		}
		VMOVUPS(Mem{Base: row}, z[0])
		VMOVUPS(Mem{Base: row, Index: ld, Scale: 1}, z[1])
		VMOVUPS(Mem{Base: row, Index: ld, Scale: 2}, z[2])
		VMOVUPS(Mem{Base: row, Index: ld3, Scale: 1}, z[3])
		ADDQ(ld4, row)
		VUNPCKLPS(z[1], z[0], t[0]) // r0c0 r1c0 r0c1 r1c1 per lane
		VUNPCKHPS(z[1], z[0], t[1]) // r0c2 r1c2 r0c3 r1c3
		VUNPCKLPS(z[3], z[2], t[2])
		VUNPCKHPS(z[3], z[2], t[3])
		VUNPCKLPD(t[2], t[0], s[0]) // column 4L+0 of rows 0..3 in lane L
		VUNPCKHPD(t[2], t[0], s[1]) // column 4L+1
		VUNPCKLPD(t[3], t[1], s[2]) // column 4L+2
		VUNPCKHPD(t[3], t[1], s[3]) // column 4L+3
		for q := 0; q < 4; q++ {
			VMOVUPS(x[q], Mem{Base: dst, Disp: (q*rows + 4*g) * 4})
			VEXTRACTF128(Imm(1), s[q], Mem{Base: dst, Disp: ((4+q)*rows + 4*g) * 4})
		}
		if groups != nil {
			JMP(LabelRef(nl))
			Label(zl)
			for p := 0; p < 8; p++ {
				VMOVUPS(zero, Mem{Base: dst, Disp: (p*rows + 4*g) * 4})
			}
			Label(nl)
		}
	}
	if rows%4 == 2 {
		// Rows 4 and 5: (r4, r5) pairs of columns 0,1,4,5 in t0, of
		// 2,3,6,7 in t1, one 64-bit store per column.
		r := rows - 2
		VMOVUPS(Mem{Base: row}, z[0])
		VMOVUPS(Mem{Base: row, Index: ld, Scale: 1}, z[1])
		VUNPCKLPS(z[1], z[0], t[0])
		VUNPCKHPS(z[1], z[0], t[1])
		VEXTRACTF128(Imm(1), t[0], x[0])
		VEXTRACTF128(Imm(1), t[1], x[1])
		col := func(p int) Mem { return Mem{Base: dst, Disp: (p*rows + r) * 4} }
		VMOVLPS(t[0].AsX(), col(0))
		VMOVHPS(t[0].AsX(), col(1))
		VMOVLPS(t[1].AsX(), col(2))
		VMOVHPS(t[1].AsX(), col(3))
		VMOVLPS(x[0], col(4))
		VMOVHPS(x[0], col(5))
		VMOVLPS(x[1], col(6))
		VMOVHPS(x[1], col(7))
	} else if rows%4 != 0 {
		panic("rows must be 4g or 4g+2")
	}
	ADDQ(Imm(32), src)
	ADDQ(U32(8*rows*4), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packCopy16AVX2 emits the copying pack of a 16-column B panel:
//
//	for p := 0; p < k; p++ {
//		copy(dst[p*16:p*16+cols], src[p*ld:p*ld+cols]); clear(dst[p*16+cols:(p+1)*16])
//	}
//
// A partial panel (cols < 16) is loaded through lane masks, which read
// nothing outside them and zero the other lanes.
func packCopy16AVX2() {
	name := "packCopy16AVX2"
	TEXT(name, NOSPLIT, "func(k int, src *float32, ld int, dst *float32, cols int)")
	Pragma("noescape")
	Doc(name+" copies k rows of cols ≤ 16 values from src (stride ld) to dst (stride 16),",
		"padding each row of dst with zeros to the full width.")
	k := Load(Param("k"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	cols := Load(Param("cols"), GP64())
	SHLQ(Imm(2), ld)
	regs := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7}
	s2 := GP64()
	body := func(label string, masked bool) {
		const unroll = 4
		row := func(u int, s Register) {
			for v := 0; v < 2; v++ {
				r := regs[(2*u+v)%len(regs)]
				if masked {
					VMASKMOVPS(Mem{Base: s, Disp: 32 * v}, []VecPhysical{Y14, Y15}[v], r)
				} else {
					VMOVUPS(Mem{Base: s, Disp: 32 * v}, r)
				}
				VMOVUPS(r, Mem{Base: dst, Disp: (u*16 + 8*v) * 4})
			}
		}
		Label(label + "_loop4")
		CMPQ(k, Imm(unroll))
		JL(LabelRef(label + "_loop1"))
		MOVQ(src, s2)
		for u := 0; u < unroll; u++ {
			row(u, s2)
			if u < unroll-1 {
				ADDQ(ld, s2)
			}
		}
		LEAQ(Mem{Base: s2, Index: ld, Scale: 1}, src)
		ADDQ(U32(unroll*16*4), dst)
		SUBQ(Imm(unroll), k)
		JMP(LabelRef(label + "_loop4"))
		Label(label + "_loop1")
		TESTQ(k, k)
		JZ(LabelRef(name + "_done"))
		row(0, src)
		ADDQ(ld, src)
		ADDQ(U32(16*4), dst)
		DECQ(k)
		JMP(LabelRef(label + "_loop1"))
	}
	CMPQ(cols, Imm(16))
	JL(LabelRef(name + "_partial"))
	body(name+"_full", false)
	Label(name + "_partial")
	// Lane masks: min(cols, 8) lanes of the first vector, the rest of the second.
	c0, c1, eight := GP64(), GP64(), GP64()
	MOVQ(U32(8), eight)
	MOVQ(cols, c0)
	CMPQ(c0, eight)
	CMOVQGT(eight, c0)
	MOVQ(cols, c1)
	SUBQ(c0, c1)
	laneMask(c0, Y14)
	laneMask(c1, Y15)
	body(name+"_part", true)
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packCopy6AVX2 emits the copying pack of a whole 6-row A panel (A
// transposed): k rows of 6 contiguous values, 4 and then 2 at a time:
//
//	for p := 0; p < k; p++ { copy(dst[p*6:(p+1)*6], src[p*ld:p*ld+6]) }
func packCopy6AVX2() {
	name := "packCopy6AVX2"
	TEXT(name, NOSPLIT, "func(k int, src *float32, ld int, dst *float32)")
	Pragma("noescape")
	Doc(name + " copies k rows of 6 values from src (stride ld) to dst (stride 6).")
	k := Load(Param("k"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	SHLQ(Imm(2), ld)
	s2 := GP64()
	const unroll = 4
	row := func(u int, s Register) {
		lo, hi := []VecPhysical{X0, X2, X4, X6}[u], []VecPhysical{X1, X3, X5, X7}[u]
		VMOVUPS(Mem{Base: s}, lo)
		VMOVSD(Mem{Base: s, Disp: 16}, hi)
		VMOVUPS(lo, Mem{Base: dst, Disp: u * 24})
		VMOVSD(hi, Mem{Base: dst, Disp: u*24 + 16})
	}
	Label(name + "_loop4")
	CMPQ(k, Imm(unroll))
	JL(LabelRef(name + "_loop1"))
	MOVQ(src, s2)
	for u := 0; u < unroll; u++ {
		row(u, s2)
		if u < unroll-1 {
			ADDQ(ld, s2)
		}
	}
	LEAQ(Mem{Base: s2, Index: ld, Scale: 1}, src)
	ADDQ(U32(unroll*24), dst)
	SUBQ(Imm(unroll), k)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_loop1")
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	row(0, src)
	ADDQ(ld, src)
	ADDQ(U32(24), dst)
	DECQ(k)
	JMP(LabelRef(name + "_loop1"))
	Label(name + "_done")
	RET()
}
