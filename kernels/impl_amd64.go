//go:build !purego

package kernels

import (
	"sync"

	"golang.org/x/sys/cpu"
)

// hasAVX512 and hasAVX2 record what the CPU (and OS) support, read once.
var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && cpu.X86.HasBMI2
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
	edge: func(k int, a, b, c []float32, ldc int, alpha, beta float32, rows, cols int) {
		_ = a[12*k-1]
		_ = b[32*k-1]
		_ = c[(rows-1)*ldc+cols-1]
		sgemmKernel12x32EdgeAVX512(k, &a[0], &b[0], &c[0], ldc, alpha, beta, rows, cols)
	},
	packA: packAAVX512,
	packB: packBAVX512,
	small: smallAVX512,
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
// zero-padded to whole panels, all in assembly.
func packColsAVX512(src []float32, ld, p0, c0, kb, ncols, w int, dst []float32, asm func(k int, src *float32, ld int, dst *float32, cols int)) {
	for q := 0; q < ncols; q += w {
		cols := min(w, ncols-q)
		d := dst[q*kb : q*kb+kb*w]
		off := p0*ld + c0 + q
		_ = src[off+(kb-1)*ld+cols-1]
		asm(kb, &src[off], ld, &d[0], cols)
	}
}

// packRowsAVX512 packs rows r0..r0+nrows (columns p0..p0+kb) of the row-major
// src into w-row panels, dst[q*w*kb + p*w + r] = src[(r0+q*w+r)*ld + p0+p],
// zero-padded to whole panels: assembly for four rows and 16 columns at a
// time, Go for the last rows%4 rows and kb%16 columns.
func packRowsAVX512(src []float32, ld, r0, p0, nrows, kb, w int, dst []float32, asm func(n16 int, src *float32, ld int, dst *float32, groups int)) {
	n16 := kb / 16
	for q := 0; q < nrows; q += w {
		rows := min(w, nrows-q)
		groups := rows / 4
		d := dst[q*kb : q*kb+kb*w]
		off := (r0+q)*ld + p0
		if groups > 0 {
			_ = src[off+(4*groups-1)*ld+16*n16-1]
		}
		asm(n16, &src[off], ld, &d[0], groups)
		for r := 4 * groups; r < rows; r++ {
			o := off + r*ld
			for p, v := range src[o : o+16*n16] {
				d[p*w+r] = v
			}
		}
		for p := n16 * 16; p < kb; p++ {
			dp := d[p*w : p*w+w]
			for r := range rows {
				dp[r] = src[off+r*ld+p]
			}
			clear(dp[rows:])
		}
	}
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

// smallMaxRows is the largest m that smallAVX512 takes in general: it
// streams B once per 4 rows of A, which beats packing B up to about this
// many rows. Beyond it, it still takes products with B not transposed,
// n ≤ smallMaxCols and B at most smallMaxB elements (cache-resident; per-head
// attention's P·V), where the packed path's tiles fit badly: measured at 1
// thread, 20×64×20 190 against 122 GFLOP/s, 64³ 247 against 167, 2048×64×64
// 252 against 225; at n = 128 or 256 it was 2–6% slower than packing.
//
// With B transposed and more than smallMaxRows rows, Bᵀ is first transposed
// into panels (smallPackedBT); that pays up to smallMaxRowsBT rows (Q·Kᵀ:
// 20×20×64 88 against 80 GFLOP/s, 30×30×64 137 against 104; 5–9% slower
// from 128 rows).
const (
	smallMaxRows   = 8
	smallMaxCols   = 64
	smallMaxB      = 32 << 10
	smallMaxRowsBT = 64
)

var (
	smallN = [...]func(n, k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32){
		sgemmSmallN1AVX512, sgemmSmallN2AVX512, sgemmSmallN3AVX512, sgemmSmallN4AVX512}
	smallT4 = [...]func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32){
		sgemmSmallT1x4AVX512, sgemmSmallT2x4AVX512, sgemmSmallT3x4AVX512, sgemmSmallT4x4AVX512}
	smallT1 = [...]func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32){
		sgemmSmallT1x1AVX512, sgemmSmallT2x1AVX512, sgemmSmallT3x1AVX512, sgemmSmallT4x1AVX512}
)

// smallAVX512 runs products with at most smallMaxRows rows, or with a small
// B (see smallMaxRows), without packing (k ≥ 1, alpha ≠ 0), four rows of C
// at a time, and reports whether it did:
// B not transposed streams through sgemmSmallN (either transpose of A); B
// transposed with A not transposed is dot products, sgemmSmallT.
func smallAVX512(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if transA && transB {
		return false
	}
	if m > smallMaxRows && (transA && transB || n > smallMaxCols || k*n > smallMaxB) {
		return false
	}
	if m > smallMaxRows && transB {
		if m > smallMaxRowsBT {
			return false
		}
		return smallPackedBT(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	for i0 := 0; i0 < m; i0 += 4 {
		mm := min(4, m-i0)
		ci := c[i0*ldc : (i0+mm-1)*ldc+n]
		if !transB {
			ao, sai, sap := i0*lda, lda, 1
			if transA {
				ao, sai, sap = i0, 1, lda
			}
			_ = a[ao+(mm-1)*sai+(k-1)*sap]
			_ = b[(k-1)*ldb+n-1]
			smallN[mm-1](n, k, &a[ao], sai, sap, &b[0], ldb, &ci[0], ldc, alpha, beta)
			continue
		}
		ai := a[i0*lda : (i0+mm-1)*lda+k]
		_ = b[(n-1)*ldb+k-1]
		j := 0
		for ; j+4 <= n; j += 4 {
			smallT4[mm-1](k, &ai[0], lda, &b[j*ldb], ldb, &ci[j], ldc, alpha, beta)
		}
		for ; j < n; j++ {
			smallT1[mm-1](k, &ai[0], lda, &b[j*ldb], ldb, &ci[j], ldc, alpha, beta)
		}
	}
	return true
}

var smallBufs sync.Pool

// smallPackedBT is the few-row path for B transposed with many rows and a
// small B (Q·Kᵀ in attention): Bᵀ is transposed into 32-column panels, which
// costs little next to the m/4 passes that sgemmSmallN then makes over them.
func smallPackedBT(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	need := k * roundUp(n, 32)
	p, _ := smallBufs.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	if cap(*p) < need {
		*p = make([]float32, need)
	}
	bt := (*p)[:need]
	packBAVX512(true, b, ldb, 0, 0, k, n, 32, bt)
	for q := 0; q < n; q += 32 {
		cols := min(32, n-q)
		bq := bt[q*k : q*k+32*k]
		for i0 := 0; i0 < m; i0 += 4 {
			mm := min(4, m-i0)
			_ = a[(i0+mm-1)*lda+k-1]
			_ = c[(i0+mm-1)*ldc+q+cols-1]
			smallN[mm-1](cols, k, &a[i0*lda], lda, 1, &bq[0], 32, &c[i0*ldc+q], ldc, alpha, beta)
		}
	}
	smallBufs.Put(p)
	return true
}
