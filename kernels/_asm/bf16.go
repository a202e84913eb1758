package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The bfloat16 kernels: the VDPBF16PS microkernel and the packers that
// convert float32 operands to bfloat16 pairs (VCVTNE2PS2BF16: round to
// nearest even, subnormals to zero) as they lay out the panels.
//
// Neither instruction is known to avo v0.5.0 or to Go's assembler, so they
// are emitted as bytes (EVEX, register operands only); evexRRR gives the
// encoding, checked against GNU as in the comment below.
func bf16Kernels() {
	microKernel("bgemmKernel12x32AVX512BF16", 12, 2, 16, zmm, 4, false, true)
	microKernel("bgemmKernel12x32EdgeAVX512BF16", 12, 2, 16, zmm, 4, true, true)
	bf16Constants()
	packPairsBF16("packPairs12BF16", 12)
	packPairsBF16("packPairs32BF16", 32)
	packTransposeBF16("packRows12BF16", 12)
	packTransposeBF16("packRows32BF16", 32)
}

// evexRRR returns the EVEX.512 encoding of a three-register AVX-512
// instruction dst ← op(src1, src2), src1 in EVEX.vvvv and src2 in ModRM.rm,
// with no masking: pp is the implied prefix (0 none, 1 66, 2 F3, 3 F2), mmm
// the opcode map (1 0F, 2 0F38, 3 0F3A). Checked with GNU as / objdump:
//
//	vdpbf16ps %zmm3,%zmm25,%zmm17       62 e2 36 40 52 cb
//	vdpbf16ps %zmm30,%zmm2,%zmm9        62 12 6e 48 52 ce
//	vcvtne2ps2bf16 %zmm3,%zmm25,%zmm17  62 e2 37 40 72 cb
//	vcvtne2ps2bf16 %zmm13,%zmm14,%zmm0  62 d2 0f 48 72 c5
func evexRRR(pp, mmm, opcode byte, dst, src1, src2 int) []byte {
	inv := func(x, bit int) byte { return byte(^(x >> bit) & 1) }
	p0 := inv(dst, 3)<<7 | inv(src2, 4)<<6 | inv(src2, 3)<<5 | inv(dst, 4)<<4 | mmm
	p1 := byte(^src1&0xf)<<3 | 1<<2 | pp // W0
	p2 := byte(2)<<5 | inv(src1, 4)<<3   // L'L = 512 bits, no mask
	modrm := byte(0xc0) | byte(dst&7)<<3 | byte(src2&7)
	return []byte{0x62, p0, p1, p2, opcode, modrm}
}

func emitBytes(mnemonic string, bs []byte) {
	Comment(mnemonic)
	for _, b := range bs {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(b)}})
	}
}

func zidx(r VecPhysical) int { return int(r.PhysicalIndex()) }

// vdpbf16ps emits VDPBF16PS src2, src1, acc (Go operand order): for each
// float32 lane, acc += src1.hi·src2.hi, then acc += src1.lo·src2.lo, where
// lo and hi are the two bfloat16 halves of the lane.
func vdpbf16ps(acc, src1, src2 VecPhysical) {
	emitBytes(fmt.Sprintf("VDPBF16PS %s, %s, %s", src2.Asm(), src1.Asm(), acc.Asm()),
		evexRRR(2, 2, 0x52, zidx(acc), zidx(src1), zidx(src2)))
}

// vcvtne2ps2bf16 emits VCVTNE2PS2BF16 lo, hi, dst (Go operand order): the
// 32 words of dst are the 16 floats of lo, then the 16 of hi, rounded to
// bfloat16.
func vcvtne2ps2bf16(lo, hi, dst VecPhysical) {
	emitBytes(fmt.Sprintf("VCVTNE2PS2BF16 %s, %s, %s", lo.Asm(), hi.Asm(), dst.Asm()),
		evexRRR(3, 2, 0x72, zidx(dst), zidx(hi), zidx(lo)))
}

// Word permutations that interleave two rows of bfloat16 into pairs:
// ilvLo and ilvHi take the words of table 1 (row 2p) and table 2 (row
// 2p+1) of VPERMI2W, ilv16 the two halves of one register.
func bf16Constants() {
	table := func(name string, f func(j int) int) {
		GLOBL(name, RODATA|NOPTR)
		for j := 0; j < 32; j++ {
			DATA(2*j, U16(f(j)))
		}
	}
	table("bf16_ilvlo", func(j int) int { return j/2 + 32*(j%2) })
	table("bf16_ilvhi", func(j int) int { return 16 + j/2 + 32*(j%2) })
	table("bf16_ilv16", func(j int) int { return j/2 + 16*(j%2) })
}

// packPairsBF16 emits the pack that pairs consecutive rows of src: for n
// pairs of rows, cols ≤ width values each, it writes width words-pairs per
// pair, zero-padded:
//
//	for q := 0; q < n; q++ {
//		for j := 0; j < width; j++ {
//			lo, hi := bf16(src[2q*ld+j]), bf16(src[(2q+1)*ld+j])  // 0 for j ≥ cols
//			dst[q*width+j] = lo | hi<<16
//		}
//	}
func packPairsBF16(name string, width int) {
	TEXT(name, NOSPLIT, "func(n int, src *float32, ld int, dst *float32, cols int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s converts n pairs of rows of cols ≤ %d floats of src (stride ld) to bfloat16", name, width),
		fmt.Sprintf("and interleaves them: dst[q*%d+j] = bf16(src[2q*ld+j]) | bf16(src[(2q+1)*ld+j])<<16, zero past cols.", width))
	n := Load(Param("n"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	dst := Load(Param("dst"), GP64())
	cols := Load(Param("cols"), GP64())
	SHLQ(Imm(2), ld)
	one, bits := GP64(), GP64()
	MOVQ(U32(1), one)
	SHLXQ(cols, one, bits)
	DECQ(bits)
	lm0 := K()
	KMOVW(bits.As32(), lm0)
	row1 := GP64()
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	if width == 32 {
		lm1 := K()
		SHRQ(Imm(16), bits)
		KMOVW(bits.As32(), lm1)
		VMOVDQU16(NewDataAddr(NewStaticSymbol("bf16_ilvlo"), 0), Z30)
		VMOVDQU16(NewDataAddr(NewStaticSymbol("bf16_ilvhi"), 0), Z31)
		Label(name + "_loop")
		LEAQ(Mem{Base: src, Index: ld, Scale: 1}, row1)
		VMOVUPS_Z(Mem{Base: src}, lm0, Z0)
		VMOVUPS_Z(Mem{Base: src, Disp: 64}, lm1, Z1)
		VMOVUPS_Z(Mem{Base: row1}, lm0, Z2)
		VMOVUPS_Z(Mem{Base: row1, Disp: 64}, lm1, Z3)
		vcvtne2ps2bf16(Z0, Z1, Z4) // row 2q, 32 words
		vcvtne2ps2bf16(Z2, Z3, Z5) // row 2q+1
		VMOVDQA64(Z30, Z6)
		VPERMI2W(Z5, Z4, Z6)
		VMOVDQA64(Z31, Z7)
		VPERMI2W(Z5, Z4, Z7)
		VMOVDQU32(Z6, Mem{Base: dst})
		VMOVDQU32(Z7, Mem{Base: dst, Disp: 64})
		LEAQ(Mem{Base: row1, Index: ld, Scale: 1}, src)
		ADDQ(U32(width*4), dst)
		DECQ(n)
		JNZ(LabelRef(name + "_loop"))
	} else {
		if width > 16 {
			panic("width must be 32 or at most 16")
		}
		t := GP32()
		MOVL(U32((1<<width)-1), t)
		sm := K()
		KMOVW(t, sm)
		VMOVDQU16(NewDataAddr(NewStaticSymbol("bf16_ilv16"), 0), Z30)
		Label(name + "_loop")
		LEAQ(Mem{Base: src, Index: ld, Scale: 1}, row1)
		VMOVUPS_Z(Mem{Base: src}, lm0, Z0)
		VMOVUPS_Z(Mem{Base: row1}, lm0, Z2)
		vcvtne2ps2bf16(Z0, Z2, Z4) // rows 2q and 2q+1, 16 words each
		VPERMW(Z4, Z30, Z6)
		VMOVDQU32(Z6, sm, Mem{Base: dst})
		LEAQ(Mem{Base: row1, Index: ld, Scale: 1}, src)
		ADDQ(U32(width*4), dst)
		DECQ(n)
		JNZ(LabelRef(name + "_loop"))
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packTransposeBF16 is packTranspose for bfloat16 pairs: it reads rows rows
// of src (row r at src[r*ld:]), 32 floats of each at a time, converts them
// to 16 pairs, and writes, for each pair p, the rows pairs of that column
// contiguously:
//
//	for p := 0; p < 16*n32; p++ {
//		for r := 0; r < rows; r++ {
//			dst[p*rows+r] = bf16(src[r*ld+2p]) | bf16(src[r*ld+2p+1])<<16  // 0 for r ≥ 4·groups
//		}
//	}
func packTransposeBF16(name string, rows int) {
	if rows%4 != 0 {
		panic("rows must be a multiple of 4")
	}
	TEXT(name, NOSPLIT, "func(n32 int, src *float32, ld int, dst *float32, groups int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s packs the first 4·groups of %d rows of src (stride ld) by 32·n32 columns into dst", name, rows),
		fmt.Sprintf("as bfloat16 pairs, dst[p*%d+r] = bf16(src[r*ld+2p]) | bf16(src[r*ld+2p+1])<<16, and zeros for the other rows.", rows))
	n := Load(Param("n32"), GP64())
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
	lo := []VecPhysical{Z13, Z15, Z17, Z19}
	hi := []VecPhysical{Z14, Z16, Z18, Z20}
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	MOVQ(src, row)
	for g := 0; g < rows/4; g++ {
		zl := fmt.Sprintf("%s_zero%d", name, g)
		nl := fmt.Sprintf("%s_next%d", name, g)
		CMPQ(groups, Imm(uint64(g)))
		JLE(LabelRef(zl))
		for r := 0; r < 4; r++ {
			var m Mem
			switch r {
			case 0:
				m = Mem{Base: row}
			case 1:
				m = Mem{Base: row, Index: ld, Scale: 1}
			case 2:
				m = Mem{Base: row, Index: ld, Scale: 2}
			case 3:
				m = Mem{Base: row, Index: ld3, Scale: 1}
			}
			VMOVUPS(m, lo[r])
			m.Disp = 64
			VMOVUPS(m, hi[r])
			vcvtne2ps2bf16(lo[r], hi[r], z[r]) // 16 pairs of row r
		}
		if g < rows/4-1 {
			ADDQ(ld4, row)
		}
		VUNPCKLPS(z[1], z[0], t[0]) // r0p0 r1p0 r0p1 r1p1 per lane
		VUNPCKHPS(z[1], z[0], t[1]) // r0p2 r1p2 r0p3 r1p3
		VUNPCKLPS(z[3], z[2], t[2])
		VUNPCKHPS(z[3], z[2], t[3])
		VUNPCKLPD(t[2], t[0], s[0]) // pair 4L+0 of rows 0..3 in lane L
		VUNPCKHPD(t[2], t[0], s[1]) // pair 4L+1
		VUNPCKLPD(t[3], t[1], s[2]) // pair 4L+2
		VUNPCKHPD(t[3], t[1], s[3]) // pair 4L+3
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
	ADDQ(Imm(128), src)
	ADDQ(U32(16*rows*4), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
