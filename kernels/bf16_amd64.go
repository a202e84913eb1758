//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// hasAVX512BF16 records whether the CPU has VDPBF16PS and VCVTNE2PS2BF16
// (with the AVX-512 level the float32 kernels need).
var hasAVX512BF16 = hasAVX512 && cpu.X86.HasAVX512BF16

// bgemmAVX512BF16 is the native bf16 product: packers that convert with
// VCVTNE2PS2BF16 and the VDPBF16PS microkernel, 12×32 like the float32 one
// (a 12×kc/2 A panel and a kc/2×32 B panel of pairs).
var bgemmAVX512BF16 = &gemmImpl{
	name: "avx512bf16",
	mr:   12, nr: 32,
	kc: bf16KC, mc: 384, nc: 4096,
	kernel: func(k int, a, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[12*k-1]
		_ = b[32*k-1]
		_ = c[11*ldc+31]
		bgemmKernel12x32AVX512BF16(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
	edge: func(k int, a, b, c []float32, ldc int, alpha, beta float32, rows, cols int) {
		_ = a[12*k-1]
		_ = b[32*k-1]
		_ = c[(rows-1)*ldc+cols-1]
		bgemmKernel12x32EdgeAVX512BF16(k, &a[0], &b[0], &c[0], ldc, alpha, beta, rows, cols)
	},
	packA:   packAAVX512BF16,
	packB:   packBAVX512BF16,
	packedK: pairsK,
}

// packAAVX512BF16 is packABF16 in assembly: A transposed pairs rows of the
// stored matrix (packPairs12BF16), A not transposed transposes 32 columns at
// a time (packRows12BF16).
func packAAVX512BF16(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32) {
	if transA {
		packPairsAVX512BF16(a, lda, p0, i0, kb, mb, mr, dst, packPairs12BF16)
		return
	}
	packRowsAVX512BF16(a, lda, i0, p0, mb, kb, mr, dst, packRows12BF16)
}

// packBAVX512BF16 is packBBF16 in assembly (see packAAVX512BF16).
func packBAVX512BF16(transB bool, b []float32, ldb, p0, j0, kb, nb, nr int, dst []float32) {
	if !transB {
		packPairsAVX512BF16(b, ldb, p0, j0, kb, nb, nr, dst, packPairs32BF16)
		return
	}
	packRowsAVX512BF16(b, ldb, j0, p0, nb, kb, nr, dst, packRows32BF16)
}

// packPairsAVX512BF16 packs rows p0..p0+kb (k), columns c0..c0+ncols (the
// panel dimension) of the row-major src into w-column panels of pairs,
// dst[q*w*kp + p*w + j] = bf16Pair(src[(p0+2p)*ld + c0+q*w+j], src[(p0+2p+1)*ld + ...]),
// the last half-pair of an odd kb zero.
func packPairsAVX512BF16(src []float32, ld, p0, c0, kb, ncols, w int, dst []float32, asm func(n int, src *float32, ld int, dst *float32, cols int)) {
	kp := pairsK(kb)
	for q := 0; q < ncols; q += w {
		cols := min(w, ncols-q)
		d := dst[q*kp : q*kp+kp*w]
		off := p0*ld + c0 + q
		if n := kb / 2; n > 0 {
			_ = src[off+(2*n-1)*ld+cols-1]
			asm(n, &src[off], ld, &d[0], cols)
		}
		if kb%2 == 1 {
			o := off + (kb-1)*ld
			dp := d[(kp-1)*w : kp*w]
			for j := range cols {
				dp[j] = bf16Pair(src[o+j], 0)
			}
			clear(dp[cols:])
		}
	}
}

// packRowsAVX512BF16 packs rows r0..r0+nrows (the panel dimension), columns
// p0..p0+kb (k) of the row-major src into w-row panels of pairs,
// dst[q*w*kp + p*w + r] = bf16Pair(src[(r0+q*w+r)*ld + p0+2p], src[... + p0+2p+1]):
// assembly for four rows and 32 columns at a time; the last kb%32 columns
// (all of them when k is a sequence length, as in attention) are copied
// into a zero-padded 32-column scratch block and packed from there by the
// same assembly; Go converts the last rows%4 rows of the whole 32-column
// steps.
func packRowsAVX512BF16(src []float32, ld, r0, p0, nrows, kb, w int, dst []float32, asm func(n32 int, src *float32, ld int, dst *float32, groups int)) {
	kp := pairsK(kb)
	n32 := kb / 32
	tail := kb - 32*n32
	var scratch [32 * 32]float32
	var tmp [32 * 16]float32
	for q := 0; q < nrows; q += w {
		rows := min(w, nrows-q)
		groups := rows / 4
		d := dst[q*kp : q*kp+kp*w]
		off := (r0+q)*ld + p0
		if n32 > 0 {
			if groups > 0 {
				_ = src[off+(4*groups-1)*ld+32*n32-1]
			}
			asm(n32, &src[off], ld, &d[0], groups)
			for r := 4 * groups; r < rows; r++ {
				o := off + r*ld
				for p := range 16 * n32 {
					d[p*w+r] = bf16Pair(src[o+2*p], src[o+2*p+1])
				}
			}
		}
		if tail == 0 {
			continue
		}
		sc := scratch[:w*32]
		for r := range w {
			row := sc[r*32 : r*32+32]
			if r < rows {
				o := off + r*ld + 32*n32
				copy(row, src[o:o+tail])
				clear(row[tail:])
			} else {
				clear(row)
			}
		}
		asm(1, &sc[0], 32, &tmp[0], w/4)
		tp := kp - 16*n32
		copy(d[16*n32*w:], tmp[:tp*w])
	}
}

// bgemmAVX512 and bgemmAVX2 are the fallbacks for CPUs without BF16: Go
// packers that round to bfloat16 and lay each pair out as two float32, the
// upper first, and the float32 microkernels, which then add the same exact
// products in the same order as VDPBF16PS.
var bgemmAVX512 = &gemmImpl{
	name: "avx512",
	mr:   12, nr: 32,
	kc: bf16KC, mc: 384, nc: 4096,
	kernel:  gemmAVX512.kernel,
	edge:    gemmAVX512.edge,
	packA:   packASwappedBF16,
	packB:   packBSwappedBF16,
	packedK: pairsK2,
}

var bgemmAVX2 = &gemmImpl{
	name: "avx2",
	mr:   6, nr: 16,
	kc: bf16KC, mc: 192, nc: 4096,
	kernel:  gemmAVX2.kernel,
	packA:   packASwappedBF16,
	packB:   packBSwappedBF16,
	packedK: pairsK2,
}

func archBF16Impls() []*gemmImpl {
	var l []*gemmImpl
	if hasAVX512BF16 {
		l = append(l, bgemmAVX512BF16)
	}
	if hasAVX512 {
		l = append(l, bgemmAVX512)
	}
	if hasAVX2 {
		l = append(l, bgemmAVX2)
	}
	return l
}
