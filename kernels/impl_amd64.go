//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// hasAVX512 and hasAVX2 record what the CPU (and OS) support, read once.
var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

var gemmAVX512 = &gemmImpl{
	name: "avx512",
	mr:   12, nr: 32,
	// The 32-column B panel (kc·128 bytes) stays in L1, the mc×kc A block
	// in L2, the kc×nc B block in L3.
	kc: 256, mc: 384, nc: 4096,
	kernel: func(k int, a, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[12*k-1]
		_ = b[32*k-1]
		_ = c[11*ldc+31]
		sgemmKernel12x32AVX512(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
	packA: packAAVX512,
	packB: packBAVX512,
}

// packAAVX512 is packAGeneric with the transposing case (A not transposed:
// each panel gathers 12 rows) done 16 columns at a time in assembly.
func packAAVX512(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32) {
	if transA {
		packColsAVX512(a, lda, p0, i0, kb, mb, mr, dst, packCopy12AVX512)
		return
	}
	if kb < 16 {
		packAGeneric(transA, a, lda, i0, p0, mb, kb, mr, dst)
		return
	}
	packRowsAVX512(a, lda, i0, p0, mb, kb, mr, dst, packRows12AVX512)
}

// packBAVX512 is packBGeneric with the transposing case (B transposed: each
// panel gathers 32 rows of Bᵀ) done 16 columns at a time in assembly.
func packBAVX512(transB bool, b []float32, ldb, p0, j0, kb, nb, nr int, dst []float32) {
	if !transB {
		packColsAVX512(b, ldb, p0, j0, kb, nb, nr, dst, packCopy32AVX512)
		return
	}
	if kb < 16 {
		packBGeneric(transB, b, ldb, p0, j0, kb, nb, nr, dst)
		return
	}
	packRowsAVX512(b, ldb, j0, p0, nb, kb, nr, dst, packRows32AVX512)
}

// packColsAVX512 packs rows p0..p0+kb, columns c0..c0+ncols of the row-major
// src into w-column panels, dst[q*w*kb + p*w + j] = src[(p0+p)*ld + c0+q*w+j],
// with asm for whole panels and zero padding in Go for the last.
func packColsAVX512(src []float32, ld, p0, c0, kb, ncols, w int, dst []float32, asm func(k int, src *float32, ld int, dst *float32)) {
	for q := 0; q < ncols; q += w {
		cols := min(w, ncols-q)
		d := dst[q*kb : q*kb+kb*w]
		off := p0*ld + c0 + q
		if cols == w {
			_ = src[off+(kb-1)*ld+w-1]
			asm(kb, &src[off], ld, &d[0])
			continue
		}
		for p := 0; p < kb; p++ {
			dp := d[p*w : p*w+w]
			copy(dp, src[off+p*ld:off+p*ld+cols])
			clear(dp[cols:])
		}
	}
}

// packRowsAVX512 packs rows r0..r0+nrows (columns p0..p0+kb) of the row-major
// src into w-row panels, dst[q*w*kb + p*w + r] = src[(r0+q*w+r)*ld + p0+p],
// with asm for whole panels 16 columns at a time and Go for the rest.
func packRowsAVX512(src []float32, ld, r0, p0, nrows, kb, w int, dst []float32, asm func(n16 int, src *float32, ld int, dst *float32)) {
	n16 := kb / 16
	for q := 0; q < nrows; q += w {
		rows := min(w, nrows-q)
		d := dst[q*kb : q*kb+kb*w]
		if rows < w {
			for r := 0; r < rows; r++ {
				off := (r0+q+r)*ld + p0
				for p, v := range src[off : off+kb] {
					d[p*w+r] = v
				}
			}
			for r := rows; r < w; r++ {
				for p := 0; p < kb; p++ {
					d[p*w+r] = 0
				}
			}
			continue
		}
		off := (r0+q)*ld + p0
		_ = src[off+(w-1)*ld+kb-1]
		asm(n16, &src[off], ld, &d[0])
		for r := 0; r < w; r++ {
			o := off + r*ld
			for p := n16 * 16; p < kb; p++ {
				d[p*w+r] = src[o+p]
			}
		}
	}
}

var gemmAVX2 = &gemmImpl{
	name: "avx2",
	mr:   6, nr: 16,
	kc: 256, mc: 192, nc: 4096,
	kernel: func(k int, a, b, c []float32, ldc int, alpha, beta float32) {
		_ = a[6*k-1]
		_ = b[16*k-1]
		_ = c[5*ldc+15]
		sgemmKernel6x16AVX2(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
}

func archImpls() []*impl {
	var l []*impl
	if hasAVX512 {
		l = append(l, &impl{name: "avx512", gemm: gemmAVX512, vec: vecAVX512})
	}
	if hasAVX2 {
		l = append(l, &impl{name: "avx2", gemm: gemmAVX2, vec: vecAVX2})
	}
	return l
}
