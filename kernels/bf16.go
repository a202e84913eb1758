package kernels

import (
	"fmt"
	"math"
)

// bfloat16 matrix products (mixed precision): the operands are rounded to
// bfloat16 (8 bits of significand, float32's exponent range) and their
// products accumulated in float32, which is what AVX-512 BF16's VDPBF16PS
// computes at twice the float32 FMA rate, and what PyTorch's CPU autocast
// does to matrix products.
//
// The packers convert the float32 operands as they lay out the panels, so
// the conversion costs one pass over each operand and the panels half the
// memory. A packed bf16 panel holds pairs along k: element p of a panel row
// (A) or column (B) is the uint32 bf16(x[2p]) | bf16(x[2p+1])<<16, with a
// zero for the missing half when k is odd, which is the operand layout of
// VDPBF16PS.
//
// Implementations (BF16Impls):
//
//   - "avx512bf16": VDPBF16PS microkernel 12×32, VCVTNE2PS2BF16 packers.
//   - "avx512", "avx2": for CPUs without BF16, the packers round to bfloat16
//     in Go (bits arithmetic) and lay out each pair as two float32, the
//     upper one first; the float32 FMA microkernels then compute exactly
//     VDPBF16PS's sums (the products of two bfloat16 are exact in float32,
//     and VDPBF16PS adds the upper product first).
//   - "generic": the Go twin of the VDPBF16PS microkernel.
//
// All of them give the same bits (see Bgemm) and block k by the same
// bf16KC, so a model trained on one machine computes the same on another.

// bf16KC is the k block of every bf16 implementation; it is even, so that
// no pair straddles two blocks, and the same for all, so that all sum in the
// same order.
const bf16KC = 256

// BF16Round returns x rounded to the nearest bfloat16 (ties to even), as a
// float32: the conversion of VCVTNEPS2BF16. Subnormals become zero of the
// same sign (bfloat16 arithmetic here treats them as zero, as the hardware
// does); infinities stay; a NaN stays a NaN (quiet).
func BF16Round(x float32) float32 {
	return math.Float32frombits(uint32(bf16Bits(x)) << 16)
}

// bf16Bits returns the 16 bits of the bfloat16 nearest x (see BF16Round).
func bf16Bits(x float32) uint16 {
	u := math.Float32bits(x)
	switch {
	case u&0x7f800000 == 0: // zero or subnormal
		return uint16(u>>16) & 0x8000
	case u&0x7fffffff > 0x7f800000: // NaN
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// bf16Lo and bf16Hi return the two bfloat16 halves of a packed pair as
// float32.
func bf16Lo(p float32) float32 { return math.Float32frombits(math.Float32bits(p) << 16) }
func bf16Hi(p float32) float32 { return math.Float32frombits(math.Float32bits(p) &^ 0xffff) }

// bf16Pair packs x, y (k indexes 2p and 2p+1) into one pair.
func bf16Pair(x, y float32) float32 {
	return math.Float32frombits(uint32(bf16Bits(x)) | uint32(bf16Bits(y))<<16)
}

// ftz flushes a subnormal float32 to zero of the same sign, as VDPBF16PS
// does with its results.
func ftz(x float32) float32 {
	if u := math.Float32bits(x); u&0x7f800000 == 0 {
		return math.Float32frombits(u & 0x80000000)
	}
	return x
}

// Bgemm is Sgemm in mixed precision: every element of A and B is rounded to
// bfloat16 (BF16Round) and the products are accumulated in float32.
//
// Reference loop (k in blocks of bf16KC = 256; the pair's upper product
// first, each addition rounded to float32 and a subnormal sum flushed to
// zero, as VDPBF16PS does):
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			c[i*ldc+j] *= beta                    // not read when beta is 0
//			for p0 := 0; p0 < k; p0 += bf16KC {
//				var s float32
//				for p := p0; p < min(p0+bf16KC, k); p += 2 {
//					if p+1 < k { s = ftz(s + bf16(opA(i, p+1))*bf16(opB(p+1, j))) }
//					s = ftz(s + bf16(opA(i, p))*bf16(opB(p, j)))
//				}
//				c[i*ldc+j] = alpha*s + c[i*ldc+j] // fused multiply-add of beta·c on the first block
//			}
//		}
//	}
//
// Every implementation computes exactly this, whatever the number of
// threads, as long as no product or sum leaves float32's normal range (the
// float32 FMA of the "avx512" and "avx2" fallbacks keeps subnormal sums
// that VDPBF16PS flushes), except that with beta other than 0 and 1 the Go
// twin rounds beta·c before it adds it.
func Bgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemmParallel(curBF16, threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// BgemmStrided is SgemmStrided in mixed precision (see Bgemm).
//
// Reference loop:
//
//	for i := 0; i < batch; i++ {
//		Bgemm(transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
//	}
func BgemmStrided(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	if m <= 0 || n <= 0 || batch <= 0 {
		return
	}
	checkStrided(transA, transB, m, n, k, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batch)
	gemmBatched(curBF16, threads(), transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
}

// bf16Impls lists the bf16 implementations this CPU and build can run, best
// first, "generic" last; curBF16 is the one in use.
var (
	bf16Impls []*gemmImpl
	curBF16   *gemmImpl
)

func init() {
	bf16Impls = append(archBF16Impls(), bgemmGeneric)
	curBF16 = bf16Impls[0]
}

// BF16Impls returns the names of the bf16 implementations this CPU (and
// build) can run, best first: some of "avx512bf16", "avx512", "avx2", then
// always "generic".
func BF16Impls() []string {
	names := make([]string, len(bf16Impls))
	for i, g := range bf16Impls {
		names[i] = g.name
	}
	return names
}

// BF16Impl returns the name of the bf16 implementation in use.
func BF16Impl() string { return curBF16.name }

// SetBF16Impl selects the bf16 implementation by name (one of BF16Impls())
// and returns the previous name. It is meant for tests and benchmarks and
// must not be called while kernels run.
func SetBF16Impl(name string) (prev string, err error) {
	for _, g := range bf16Impls {
		if g.name == name {
			prev = curBF16.name
			curBF16 = g
			return prev, nil
		}
	}
	return curBF16.name, fmt.Errorf("kernels: bf16 implementation %q not available (have %v)", name, BF16Impls())
}

// pairsK and pairsK2 are the packedK of the bf16 layouts: pairs, and
// pairs as two float32.
func pairsK(kb int) int  { return (kb + 1) / 2 }
func pairsK2(kb int) int { return (kb + 1) / 2 * 2 }

// bgemmGeneric is the Go twin: Go packers and bgemmKernelGeneric.
var bgemmGeneric = &gemmImpl{
	name: "generic",
	mr:   4, nr: 4,
	kc: bf16KC, mc: 128, nc: 1024,
	kernel:  bgemmKernelGeneric4x4,
	packA:   packABF16,
	packB:   packBBF16,
	packedK: pairsK,
}

// bgemmKernelGeneric4x4 is the Go twin of bgemmKernel12x32AVX512BF16 for a
// 4×4 tile: c[i*ldc+j] = alpha·Σ_p a[p*4+i]·b[p*4+j] + beta·c[i*ldc+j], where
// a and b hold bfloat16 pairs, k counts pairs, and · is VDPBF16PS's pair
// product (upper halves first, each sum rounded and flushed).
func bgemmKernelGeneric4x4(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var acc [4][4]float32
	a, b = a[:4*k], b[:4*k]
	for p := 0; p < k; p++ {
		ap := a[4*p : 4*p+4 : 4*p+4]
		bp := b[4*p : 4*p+4 : 4*p+4]
		for i, av := range ap {
			ahi, alo := bf16Hi(av), bf16Lo(av)
			row := &acc[i]
			for j, bv := range bp {
				s := ftz(row[j] + ahi*bf16Hi(bv))
				row[j] = ftz(s + alo*bf16Lo(bv))
			}
		}
	}
	for i := range 4 {
		cr := c[i*ldc : i*ldc+4]
		for j := range cr {
			switch beta {
			case 0:
				cr[j] = alpha * acc[i][j]
			case 1:
				cr[j] = alpha*acc[i][j] + cr[j]
			default:
				cr[j] = alpha*acc[i][j] + beta*cr[j]
			}
		}
	}
}

// packBF16 packs rows r0..r0+nrows (the panel dimension) and k indexes
// p0..p0+kb of a matrix whose element (r, p) is src[r*ld+p] (rowMajor) or
// src[p*ld+r] into w-wide panels of bfloat16 pairs, zero-padded:
//
//	dst[q*w*kp + p*w + r] = bf16Pair(x(r0+q*w+r, p0+2p), x(r0+q*w+r, p0+2p+1))   kp = (kb+1)/2
//
// With swapped (the fallbacks' layout), each pair is two float32 instead,
// the upper first: dst[q*w*2kp + 2p*w + r] = BF16Round(x(.., p0+2p+1)),
// dst[q*w*2kp + (2p+1)*w + r] = BF16Round(x(.., p0+2p)).
func packBF16(rowMajor bool, src []float32, ld, r0, p0, nrows, kb, w int, dst []float32, swapped bool) {
	kp := pairsK(kb)
	at := func(r, p int) float32 {
		if p >= kb {
			return 0
		}
		if rowMajor {
			return src[(r0+r)*ld+p0+p]
		}
		return src[(p0+p)*ld+r0+r]
	}
	for q := 0; q < nrows; q += w {
		rows := min(w, nrows-q)
		if swapped {
			d := dst[q*2*kp : q*2*kp+2*kp*w]
			for p := 0; p < kp; p++ {
				hi, lo := d[2*p*w:2*p*w+w], d[(2*p+1)*w:(2*p+1)*w+w]
				for r := 0; r < rows; r++ {
					hi[r], lo[r] = BF16Round(at(q+r, 2*p+1)), BF16Round(at(q+r, 2*p))
				}
				clear(hi[rows:])
				clear(lo[rows:])
			}
			continue
		}
		d := dst[q*kp : q*kp+kp*w]
		for p := 0; p < kp; p++ {
			dp := d[p*w : p*w+w]
			for r := 0; r < rows; r++ {
				dp[r] = bf16Pair(at(q+r, 2*p), at(q+r, 2*p+1))
			}
			clear(dp[rows:])
		}
	}
}

// packABF16 and packBBF16 are the Go packers of bfloat16 pairs, with the
// signatures of gemmImpl.packA and packB.
func packABF16(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32) {
	packBF16(!transA, a, lda, i0, p0, mb, kb, mr, dst, false)
}

func packBBF16(transB bool, b []float32, ldb, p0, j0, kb, nb, nr int, dst []float32) {
	packBF16(transB, b, ldb, j0, p0, nb, kb, nr, dst, false)
}

// packASwappedBF16 and packBSwappedBF16 are the fallbacks' packers: pairs
// as two rounded float32, the upper first.
func packASwappedBF16(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32) {
	packBF16(!transA, a, lda, i0, p0, mb, kb, mr, dst, true)
}

func packBSwappedBF16(transB bool, b []float32, ldb, p0, j0, kb, nb, nr int, dst []float32) {
	packBF16(transB, b, ldb, j0, p0, nb, kb, nr, dst, true)
}
