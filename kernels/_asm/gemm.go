package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	kernelSig     = "func(k int, a, b, c *float32, ldc int, alpha, beta float32)"
	edgeKernelSig = "func(k int, a, b, c *float32, ldc int, alpha, beta float32, rows, cols int)"
)

func gemmKernels() {
	microKernel("sgemmKernel12x32AVX512", 12, 2, 16, zmm, 4, false, false)
	microKernel("sgemmKernel12x32EdgeAVX512", 12, 2, 16, zmm, 4, true, false)
	microKernel("sgemmKernel6x16AVX2", 6, 2, 8, ymm, 4, false, false)
}

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}
func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// microKernel emits the register-blocked GEMM microkernel for an mr×(nv·w)
// tile, w float32 lanes per vector register: mr·nv accumulators, nv registers
// for the row of the B panel, and the rest for broadcasts of A, which are
// reused by the nv FMAs of their row. The k loop is unrolled by unroll.
//
//	for p := 0; p < k; p++ {
//		for i := 0; i < mr; i++ {
//			for j := 0; j < nr; j++ { acc[i][j] += a[p*mr+i] * b[p*nr+j] }
//		}
//	}
//	c[i*ldc+j] = alpha*acc[i][j] + beta*c[i*ldc+j]   // c not read when beta == 0
//
// With edge (AVX-512 only), only the top-left rows×cols of the tile are
// read and written, through opmasks: edge tiles need no scratch copy.
//
// With bf16 (AVX-512 BF16), each element of a and b is a pair of bfloat16
// (the lower 16 bits hold k index 2p, the upper 2p+1), k counts pairs, and
// VDPBF16PS replaces the FMA: acc += a.hi·b.hi, then acc += a.lo·b.lo, each
// rounded to float32 (see bf16.go).
func microKernel(name string, mr, nv, w int, vr func(int) VecPhysical, unroll int, edge, bf16 bool) {
	nr := nv * w
	if edge {
		TEXT(name, NOSPLIT, edgeKernelSig)
	} else {
		TEXT(name, NOSPLIT, kernelSig)
	}
	Pragma("noescape")
	pairNote := "from packed panels a (k×mr) and b (k×nr)"
	if bf16 {
		pairNote = "from packed panels a (k×mr) and b (k×nr) of bfloat16 pairs (k counts pairs; · is VDPBF16PS's pair product)"
	}
	if edge {
		Doc(fmt.Sprintf("%s computes rows×cols (≤ %d×%d) of the tile c[i*ldc+j] = alpha·Σ_p a[p*%d+i]·b[p*%d+j] + beta·c[i*ldc+j]", name, mr, nr, mr, nr),
			pairNote+"; c is not read when beta is 0, nor touched outside rows×cols.")
	} else {
		Doc(fmt.Sprintf("%s computes the %d×%d tile c[i*ldc+j] = alpha·Σ_p a[p*%d+i]·b[p*%d+j] + beta·c[i*ldc+j]", name, mr, nr, mr, nr),
			pairNote+"; c is not read when beta is 0.")
	}
	nacc := mr * nv
	acc := func(i, j int) VecPhysical { return vr(i*nv + j) }
	bv := func(j int) VecPhysical { return vr(nacc + j) }
	nfree := 32
	if w == 8 {
		nfree = 16
	}
	nbc := nfree - nacc - nv // broadcast registers
	if nbc < 1 {
		panic("no register left for broadcasts")
	}
	bc := func(i int) VecPhysical { return vr(nacc + nv + i%nbc) }

	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)

	Comment("Zero the accumulators; prefetch the C tile.")
	for i := 0; i < nacc; i++ {
		if w == 16 {
			VPXORD(vr(i), vr(i), vr(i))
		} else {
			VXORPS(vr(i), vr(i), vr(i))
		}
	}
	cp := GP64()
	MOVQ(c, cp)
	for i := 0; i < mr; i++ {
		PREFETCHT0(Mem{Base: cp})
		if nr*4 > 64 {
			PREFETCHT0(Mem{Base: cp, Disp: nr*4 - 4})
		}
		ADDQ(ldc, cp)
	}

	step := func(u int) {
		for j := 0; j < nv; j++ {
			VMOVUPS(Mem{Base: b, Disp: (u*nr + j*w) * 4}, bv(j))
		}
		for i := 0; i < mr; i++ {
			r := bc(u*mr + i)
			VBROADCASTSS(Mem{Base: a, Disp: (u*mr + i) * 4}, r)
			for j := 0; j < nv; j++ {
				if bf16 {
					vdpbf16ps(acc(i, j), r, bv(j))
				} else {
					VFMADD231PS(bv(j), r, acc(i, j))
				}
			}
		}
	}
	Comment(fmt.Sprintf("Main loop: %d steps of k at a time.", unroll))
	CMPQ(k, Imm(uint64(unroll)))
	JL(LabelRef(name + "_tail"))
	Label(name + "_loop")
	PREFETCHT0(Mem{Base: a, Disp: 16 * mr * 4})
	if unroll*mr*4 > 64 {
		PREFETCHT0(Mem{Base: a, Disp: 16*mr*4 + 64})
	}
	if unroll*mr*4 > 128 {
		PREFETCHT0(Mem{Base: a, Disp: 16*mr*4 + 128})
	}
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*mr*4), a)
	ADDQ(U32(unroll*nr*4), b)
	SUBQ(Imm(uint64(unroll)), k)
	CMPQ(k, Imm(uint64(unroll)))
	JGE(LabelRef(name + "_loop"))

	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_store"))
	step(0)
	ADDQ(U32(mr*4), a)
	ADDQ(U32(nr*4), b)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_store")
	alpha, beta := bv(0), bc(0)
	if nv > 1 {
		beta = bv(1)
	}
	VBROADCASTSS(NewParamAddr("alpha", 40), alpha)
	VBROADCASTSS(NewParamAddr("beta", 44), beta)
	var masks []Op
	var rows Register
	if edge {
		rows = Load(Param("rows"), GP64())
		cols := Load(Param("cols"), GP64())
		one, m := GP64(), GP64()
		MOVQ(U32(1), one)
		SHLXQ(cols, one, m) // cols ≤ 32: no overflow
		DECQ(m)
		for j := 0; j < nv; j++ {
			kj := K()
			KMOVW(m.(GPVirtual).As32(), kj)
			if j < nv-1 {
				SHRQ(Imm(16), m)
			}
			masks = append(masks, kj)
		}
	}
	tmp := bc(0)
	if nv == 1 {
		tmp = bc(1)
	}
	storeRows := func(readC bool, done string) {
		for i := 0; i < mr; i++ {
			for j := 0; j < nv; j++ {
				m := Mem{Base: c, Disp: j * w * 4}
				VMULPS(alpha, acc(i, j), acc(i, j))
				if readC {
					if edge {
						VMOVUPS_Z(m, masks[j], tmp)
						VFMADD231PS(tmp, beta, acc(i, j))
					} else {
						VFMADD231PS(m, beta, acc(i, j))
					}
				}
				if edge {
					VMOVUPS(acc(i, j), masks[j], m)
				} else {
					VMOVUPS(acc(i, j), m)
				}
			}
			if i < mr-1 {
				if edge {
					DECQ(rows)
					JZ(LabelRef(done))
				}
				ADDQ(ldc, c)
			}
		}
		Label(done)
		VZEROUPPER()
		RET()
	}
	bits := GP32()
	MOVL(NewParamAddr("beta", 44), bits)
	SHLL(Imm(1), bits) // drop the sign: -0 is 0 too
	JZ(LabelRef(name + "_beta0"))
	storeRows(true, name+"_done1")
	Label(name + "_beta0")
	storeRows(false, name+"_done0")
}
