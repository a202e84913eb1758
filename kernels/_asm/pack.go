package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func packKernels() {
	packTranspose("packRows12AVX512", 12)
	packTranspose("packRows32AVX512", 32)
}

// packTranspose emits the transposing pack of a GEMM panel: it reads rows
// rows of src (row r at src[r*ld:]) and writes, for each of the n16·16
// columns p, the rows values of that column contiguously:
//
//	for p := 0; p < 16*n16; p++ {
//		for r := 0; r < rows; r++ { dst[p*rows+r] = src[r*ld+p] }
//	}
//
// Four rows at a time are loaded 16 columns wide and turned into 4×4 blocks
// with two rounds of unpacks; each 128-bit lane then is 4 consecutive output
// values of one column.
func packTranspose(name string, rows int) {
	if rows%4 != 0 {
		panic("rows must be a multiple of 4")
	}
	TEXT(name, NOSPLIT, "func(n16 int, src *float32, ld int, dst *float32, groups int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s packs the first 4·groups of %d rows of src (stride ld) by 16·n16 columns into dst", name, rows),
		fmt.Sprintf("as dst[p*%d+r] = src[r*ld+p], and zeros for the other rows.", rows))
	n := Load(Param("n16"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	groups := Load(Param("groups"), GP64())
	SHLQ(Imm(2), ld)
	zero := X12
	VPXORD(Z12, Z12, Z12)
	ld3 := GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	ld4 := GP64()
	MOVQ(ld, ld4)
	SHLQ(Imm(2), ld4)
	row := GP64()
	z := []VecPhysical{Z0, Z1, Z2, Z3}
	t := []VecPhysical{Z4, Z5, Z6, Z7}
	s := []VecPhysical{Z8, Z9, Z10, Z11}
	x := []VecPhysical{X8, X9, X10, X11}
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	MOVQ(src, row)
	for g := 0; g < rows/4; g++ {
		zl := fmt.Sprintf("%s_zero%d", name, g)
		nl := fmt.Sprintf("%s_next%d", name, g)
		CMPQ(groups, Imm(uint64(g)))
		JLE(LabelRef(zl))
		VMOVUPS(Mem{Base: row}, z[0])
		VMOVUPS(Mem{Base: row, Index: ld, Scale: 1}, z[1])
		VMOVUPS(Mem{Base: row, Index: ld, Scale: 2}, z[2])
		VMOVUPS(Mem{Base: row, Index: ld3, Scale: 1}, z[3])
		if g < rows/4-1 {
			ADDQ(ld4, row)
		}
		VUNPCKLPS(z[1], z[0], t[0]) // r0c0 r1c0 r0c1 r1c1 per lane
		VUNPCKHPS(z[1], z[0], t[1]) // r0c2 r1c2 r0c3 r1c3
		VUNPCKLPS(z[3], z[2], t[2])
		VUNPCKHPS(z[3], z[2], t[3])
		VUNPCKLPD(t[2], t[0], s[0]) // column 4L+0 of rows 0..3 in lane L
		VUNPCKHPD(t[2], t[0], s[1]) // column 4L+1
		VUNPCKLPD(t[3], t[1], s[2]) // column 4L+2
		VUNPCKHPD(t[3], t[1], s[3]) // column 4L+3
		for q := 0; q < 4; q++ {
			for l := 0; l < 4; l++ {
				p := 4*l + q
				m := Mem{Base: dst, Disp: (p*rows + 4*g) * 4}
				if l == 0 {
					VMOVUPS(x[q], m)
				} else {
					VEXTRACTF32X4(Imm(uint64(l)), s[q], m)
				}
			}
		}
		JMP(LabelRef(nl))
		Label(zl)
		for p := 0; p < 16; p++ {
			VMOVUPS(zero, Mem{Base: dst, Disp: (p*rows + 4*g) * 4})
		}
		Label(nl)
	}
	ADDQ(Imm(64), src)
	ADDQ(U32(16*rows*4), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func packCopyKernels() {
	packCopy("packCopy12AVX512", 12)
	packCopy("packCopy32AVX512", 32)
}

// packCopy emits the non-transposing pack of a GEMM panel: k rows of width
// contiguous values each, from src with stride ld to dst with stride width:
//
//	for p := 0; p < k; p++ {
//		copy(dst[p*width:(p+1)*width], src[p*ld:p*ld+width])
//	}
//
// A width that is not a multiple of 16 uses masked loads and stores, which
// touch no memory outside the mask.
func packCopy(name string, width int) {
	TEXT(name, NOSPLIT, "func(k int, src *float32, ld int, dst *float32, cols int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s copies k rows of cols ≤ %d values from src (stride ld) to dst (stride %d),", name, width, width),
		"padding each row of dst with zeros to the full width.")
	k := Load(Param("k"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	cols := Load(Param("cols"), GP64())
	SHLQ(Imm(2), ld)
	nvec := (width + 15) / 16
	// Load masks: lane j of vector v is loaded when 16v+j < cols.
	one, bits := GP64(), GP64()
	MOVQ(U32(1), one)
	SHLXQ(cols, one, bits)
	DECQ(bits)
	var lm []Op
	for v := 0; v < nvec; v++ {
		kv := K()
		KMOVW(bits.As32(), kv)
		if v < nvec-1 {
			SHRQ(Imm(16), bits)
		}
		lm = append(lm, kv)
	}
	// Store mask of the last vector when width is not a multiple of 16.
	var sm Op
	if width%16 != 0 {
		t := GP32()
		MOVL(U32((1<<(width%16))-1), t)
		sm = K()
		KMOVW(t, sm)
	}
	const unroll = 4
	regs := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11}
	row := func(u int, s Register) {
		for v := 0; v < nvec; v++ {
			r := regs[(u*nvec+v)%len(regs)]
			VMOVUPS_Z(Mem{Base: s, Disp: 64 * v}, lm[v], r)
			m := Mem{Base: dst, Disp: (u*width + 16*v) * 4}
			if v == nvec-1 && sm != nil {
				VMOVUPS(r, sm, m)
			} else {
				VMOVUPS(r, m)
			}
		}
	}
	s2 := GP64()
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
	ADDQ(U32(unroll*width*4), dst)
	SUBQ(Imm(unroll), k)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_loop1")
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	row(0, src)
	ADDQ(ld, src)
	ADDQ(U32(width*4), dst)
	DECQ(k)
	JMP(LabelRef(name + "_loop1"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
