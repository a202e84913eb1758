//go:build !purego

package kernels

// The AVX2+FMA implementation: the 6×16 microkernel, packing in assembly for
// its panel shapes, and a few-row path without packing, the AVX2 twins of
// the AVX-512 ones in impl_amd64.go (kernels in _asm/small_avx2.go).

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
	packA: packAAVX2,
	packB: packBAVX2,
	small: smallAVX2,
}

// packAAVX2 is packAGeneric for 6-row panels with the whole panels done in
// assembly: 8 columns at a time, transposed, when A is not transposed (the
// last kb%8 columns in Go), copied when it is; a partial last panel, and
// panels of other heights, go to packAGeneric.
func packAAVX2(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32) {
	full := 0
	if mr == 6 && (transA || kb >= 8) {
		full = mb / 6 * 6
	}
	n8 := kb / 8
	for ir := 0; ir < full; ir += 6 {
		d := dst[ir*kb : ir*kb+6*kb]
		if transA {
			off := p0*lda + i0 + ir
			_ = a[off+(kb-1)*lda+5]
			packCopy6AVX2(kb, &a[off], lda, &d[0])
			continue
		}
		off := (i0+ir)*lda + p0
		_ = a[off+5*lda+kb-1]
		packRows6AVX2(n8, &a[off], lda, &d[0], 0)
		for p := 8 * n8; p < kb; p++ {
			dp := d[p*6 : p*6+6 : p*6+6]
			for r := range dp {
				dp[r] = a[off+r*lda+p]
			}
		}
	}
	if full < mb {
		packAGeneric(transA, a, lda, i0+full, p0, mb-full, kb, mr, dst[full*kb:])
	}
}

// packBAVX2 is packBGeneric for 16-column panels in assembly: copied (with
// lane masks for a partial panel) when B is not transposed, transposed 8
// values of k at a time when it is (four rows at a time, the last rows%4
// rows and kb%8 values in Go); other widths go to packBGeneric.
func packBAVX2(transB bool, b []float32, ldb, p0, j0, kb, nb, nr int, dst []float32) {
	if nr != 16 || (transB && kb < 8) {
		packBGeneric(transB, b, ldb, p0, j0, kb, nb, nr, dst)
		return
	}
	if !transB {
		for q := 0; q < nb; q += 16 {
			cols := min(16, nb-q)
			d := dst[q*kb : q*kb+16*kb]
			off := p0*ldb + j0 + q
			_ = b[off+(kb-1)*ldb+cols-1]
			packCopy16AVX2(kb, &b[off], ldb, &d[0], cols)
		}
		return
	}
	n8 := kb / 8
	for q := 0; q < nb; q += 16 {
		rows := min(16, nb-q)
		groups := rows / 4
		d := dst[q*kb : q*kb+16*kb]
		off := (j0+q)*ldb + p0
		if groups > 0 {
			_ = b[off+(4*groups-1)*ldb+8*n8-1]
		}
		packRows16AVX2(n8, &b[off], ldb, &d[0], groups)
		for r := 4 * groups; r < rows; r++ {
			o := off + r*ldb
			for p, v := range b[o : o+8*n8] {
				d[p*16+r] = v
			}
		}
		for p := n8 * 8; p < kb; p++ {
			dp := d[p*16 : p*16+16]
			for r := range rows {
				dp[r] = b[off+r*ldb+p]
			}
			clear(dp[rows:])
		}
	}
}

// Thresholds of smallAVX2, as smallMaxRows and the others for AVX-512,
// measured with BenchmarkSmallVsPacked (GOMAXPROCS=1, -benchtime 100ms,
// best of 3) on an AMD EPYC Zen 2 (AVX2+FMA, no AVX-512; 512 KiB L2 per
// core), 2026-12-02 15:05–15:08 UTC at load average 0.5–1.7 (the machine
// otherwise idle); speed of the few-row path over the packed one:
//
//   - up to 8 rows it always wins: 1, 4 and 8 rows × 256×256 with B
//     transposed 5.8, 2.1, 1.5×; × 1024×256 4.7, 2.1, 1.5×; × 256×1024
//     5.9, 3.5, 2.3×; B not transposed, × 256×256 6.2, 3.3, 2.4×,
//     × 1024×256 3.8, 1.7, 1.1×;
//   - from 10 to 16 rows it is a toss-up by shape (0.68× on
//     12×1024×256, 1.57× on 16×256×256, B not transposed; 0.95–1.43× with
//     B transposed), so smallMaxRowsAVX2 stays 8;
//   - per-head P·V (B not transposed, n ≤ 64, B ≤ 32 K elements): 20×64×20
//     1.9×, 64³ 1.3×, 128×64×64 1.2×, 2048×64×64 1.1×, as with AVX-512;
//   - Q·Kᵀ through smallPackedBTAVX2: 16×16×64 1.8×, 20×20×64 1.4×,
//     24×24×64 1.1×, 30×30×64 0.9×, 32×32×64 1.25×, but 48×48×64 0.91× and
//     64³ 0.99×: smallMaxRowsBTAVX2 is 32, not the AVX-512 path's 64.
const (
	smallMaxRowsAVX2   = 8
	smallMaxColsAVX2   = 64
	smallMaxBAVX2      = 32 << 10
	smallMaxRowsBTAVX2 = 32
)

// smallTWidthAVX2 is how many columns of C sgemmSmallT<m>x<w>AVX2 computes
// for m rows: as many accumulators as the 16 ymm registers leave room for
// (_asm/small_avx2.go).
var smallTWidthAVX2 = [4]int{8, 6, 3, 2}

var (
	smallNAVX2 = [...]func(n, k int, a *float32, sai, sap int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32){
		sgemmSmallN1AVX2, sgemmSmallN2AVX2, sgemmSmallN3AVX2, sgemmSmallN4AVX2}
	smallTWAVX2 = [...]func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32){
		sgemmSmallT1x8AVX2, sgemmSmallT2x6AVX2, sgemmSmallT3x3AVX2, sgemmSmallT4x2AVX2}
	smallT1AVX2 = [...]func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32){
		sgemmSmallT1x1AVX2, sgemmSmallT2x1AVX2, sgemmSmallT3x1AVX2, sgemmSmallT4x1AVX2}
)

// smallAVX2 is smallAVX512 with the AVX2 kernels and thresholds: products
// with at most smallMaxRowsAVX2 rows, or with a small B, run without
// packing (k ≥ 1, alpha ≠ 0), four rows of C at a time; it reports whether
// it took the product.
func smallAVX2(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if transA && transB {
		return false
	}
	if m > smallMaxRowsAVX2 && (n > smallMaxColsAVX2 || k*n > smallMaxBAVX2) {
		return false
	}
	if m > smallMaxRowsAVX2 && transB {
		if m > smallMaxRowsBTAVX2 {
			return false
		}
		smallPackedBTAVX2(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return true
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
			smallNAVX2[mm-1](n, k, &a[ao], sai, sap, &b[0], ldb, &ci[0], ldc, alpha, beta)
			continue
		}
		ai := a[i0*lda : (i0+mm-1)*lda+k]
		_ = b[(n-1)*ldb+k-1]
		w := smallTWidthAVX2[mm-1]
		j := 0
		for ; j+w <= n; j += w {
			smallTWAVX2[mm-1](k, &ai[0], lda, &b[j*ldb], ldb, &ci[j], ldc, alpha, beta)
		}
		for ; j < n; j++ {
			smallT1AVX2[mm-1](k, &ai[0], lda, &b[j*ldb], ldb, &ci[j], ldc, alpha, beta)
		}
	}
	return true
}

// smallPackedBTAVX2 is smallPackedBT for AVX2: Bᵀ is transposed into
// 16-column panels (packBAVX2), which sgemmSmallN then streams m/4 times. A
// last panel of 9 to 15 columns is computed whole (its padding is zeros)
// into a scratch tile and copied out: one strip of two vectors is faster
// than a strip of one and a masked one (30×30×64 went from 0.75 to 0.94 of
// the packed path's speed), while 4 or 8 columns are better done directly
// (20×20×64 and 24×24×64: 1.35 and 0.98 of it through the tile, 1.43 and
// 1.14 directly).
func smallPackedBTAVX2(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	np := roundUp(n, 16)
	need := k*np + 16*m
	p, _ := smallBufs.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	if cap(*p) < need {
		*p = make([]float32, need)
	}
	bt := (*p)[:k*np]
	packBAVX2(true, b, ldb, 0, 0, k, n, 16, bt)
	for q := 0; q < n; q += 16 {
		cols := min(16, n-q)
		bq := bt[q*k : q*k+16*k]
		if cols > 8 && cols < 16 && cols%8 != 0 {
			tile := (*p)[k*np : k*np+16*m]
			for i0 := 0; i0 < m; i0 += 4 {
				mm := min(4, m-i0)
				_ = a[(i0+mm-1)*lda+k-1]
				smallNAVX2[mm-1](16, k, &a[i0*lda], lda, 1, &bq[0], 16, &tile[i0*16], 16, alpha, 0)
			}
			for i := range m {
				crow := c[i*ldc+q : i*ldc+q+cols]
				trow := tile[i*16 : i*16+cols]
				if beta == 0 {
					copy(crow, trow)
					continue
				}
				for j, t := range trow {
					crow[j] = t + beta*crow[j]
				}
			}
			continue
		}
		for i0 := 0; i0 < m; i0 += 4 {
			mm := min(4, m-i0)
			_ = a[(i0+mm-1)*lda+k-1]
			_ = c[(i0+mm-1)*ldc+q+cols-1]
			smallNAVX2[mm-1](cols, k, &a[i0*lda], lda, 1, &bq[0], 16, &c[i0*ldc+q], ldc, alpha, beta)
		}
	}
	smallBufs.Put(p)
}
