package kernels

import (
	"sync"
	"sync/atomic"
)

// This file is the GotoBLAS/BLIS loop nest around a microkernel:
//
//	for jc := 0; jc < n; jc += nc          // B block kc×nc packed (L3)
//	  for pc := 0; pc < k; pc += kc
//	    pack B[pc:pc+kc, jc:jc+nc] into nr-column panels
//	    for ic := 0; ic < m; ic += mc      // A block mc×kc packed (L2)
//	      pack A[ic:ic+mc, pc:pc+kc] into mr-row panels
//	      for jr := 0; jr < nc; jr += nr   // one B panel kc×nr stays in L1
//	        for ir := 0; ir < mc; ir += mr
//	          microkernel: C[ir:ir+mr, jr:jr+nr] = α·Apanel·Bpanel + β'·C
//
// where β' is β on the first kc block and 1 afterwards. Panels are padded with
// zeros to whole mr/nr widths; edge tiles go through a small scratch tile.

// microKernel computes the mr×nr tile c[i*ldc+j] = alpha·Σ_p a[p*mr+i]·b[p*nr+j]
// + beta·c[i*ldc+j] from packed panels a (k×mr) and b (k×nr). When beta is 0, c
// is not read.
type microKernel func(k int, a, b, c []float32, ldc int, alpha, beta float32)

// gemmImpl is one microkernel with the blocking that suits it.
type gemmImpl struct {
	name       string
	mr, nr     int // register tile
	kc, mc, nc int // cache blocks: kc×nr B panel in L1, mc×kc A block in L2, kc×nc B block in L3
	kernel     microKernel
	// edge, if not nil, computes just the top-left rows×cols of a tile,
	// which spares edge tiles the scratch tile.
	edge func(k int, a, b, c []float32, ldc int, alpha, beta float32, rows, cols int)
	// small, if not nil, may take a product with few rows (k ≥ 1, alpha ≠ 0)
	// whole, without packing; it reports whether it did.
	small func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool
	// packA and packB may be replaced by faster (assembly) versions; nil means the Go ones.
	packA func(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32)
	packB func(transB bool, b []float32, ldb, p0, j0, kb, nb, nr int, dst []float32)
	// packedK, if not nil, is how many elements a packed panel has per row
	// (A) or column (B) for kb values of k, and the k the microkernel is
	// given: (kb+1)/2 for bfloat16 pairs (bf16.go); nil means kb.
	packedK func(kb int) int
}

// pk returns the packed length of kb values of k (see packedK).
func (g *gemmImpl) pk(kb int) int {
	if g.packedK != nil {
		return g.packedK(kb)
	}
	return kb
}

// gemmBuf is one goroutine's packing space.
type gemmBuf struct {
	a, b, tile []float32
}

var gemmBufs sync.Pool

func getGemmBuf(g *gemmImpl) *gemmBuf {
	buf, _ := gemmBufs.Get().(*gemmBuf)
	if buf == nil {
		buf = new(gemmBuf)
	}
	na := roundUp(g.mc, g.mr) * g.kc
	nb := roundUp(g.nc, g.nr) * g.kc
	if cap(buf.a) < na {
		buf.a = make([]float32, na)
	}
	if cap(buf.b) < nb {
		buf.b = make([]float32, nb)
	}
	if cap(buf.tile) < g.mr*g.nr {
		buf.tile = make([]float32, g.mr*g.nr)
	}
	return buf
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// scaleC sets C = beta·C (and C = 0 when beta is 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// gemmSerial runs the whole loop nest on one goroutine.
func gemmSerial(g *gemmImpl, buf *gemmBuf, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if g.small != nil && g.small(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	mr, nr := g.mr, g.nr
	packA, packB := g.packA, g.packB
	if packA == nil {
		packA = packAGeneric
	}
	if packB == nil {
		packB = packBGeneric
	}
	tile := buf.tile[:mr*nr]
	for jc := 0; jc < n; jc += g.nc {
		nb := min(g.nc, n-jc)
		for pc := 0; pc < k; pc += g.kc {
			kb := min(g.kc, k-pc)
			pk := g.pk(kb)
			bb := buf.b[:roundUp(nb, nr)*pk]
			packB(transB, b, ldb, pc, jc, kb, nb, nr, bb)
			betaEff := beta
			if pc > 0 {
				betaEff = 1
			}
			for ic := 0; ic < m; ic += g.mc {
				mb := min(g.mc, m-ic)
				ab := buf.a[:roundUp(mb, mr)*pk]
				packA(transA, a, lda, ic, pc, mb, kb, mr, ab)
				macroKernel(g, tile, ab, bb, mb, nb, pk, c[ic*ldc+jc:], ldc, alpha, betaEff)
			}
		}
	}
}

// macroKernel runs the microkernel over an mb×nb block of C from a packed
// A block ab (mb×kb) and B block bb (kb×nb), kb packed elements (g.pk) per
// panel row or column, the B panel outermost so that it
// stays in L1 while the A panels stream past; edge tiles go through tile.
func macroKernel(g *gemmImpl, tile, ab, bb []float32, mb, nb, kb int, c []float32, ldc int, alpha, beta float32) {
	mr, nr := g.mr, g.nr
	kern := g.kernel
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		bp := bb[jr*kb : (jr+nr)*kb]
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			ap := ab[ir*kb : (ir+mr)*kb]
			co := ir*ldc + jr
			if rows == mr && cols == nr {
				kern(kb, ap, bp, c[co:co+(mr-1)*ldc+nr], ldc, alpha, beta)
				continue
			}
			if g.edge != nil {
				g.edge(kb, ap, bp, c[co:co+(rows-1)*ldc+cols], ldc, alpha, beta, rows, cols)
				continue
			}
			kern(kb, ap, bp, tile, nr, alpha, 0)
			for i := 0; i < rows; i++ {
				crow := c[co+i*ldc : co+i*ldc+cols]
				trow := tile[i*nr : i*nr+cols]
				switch beta {
				case 0:
					copy(crow, trow)
				case 1:
					for j, t := range trow {
						crow[j] += t
					}
				default:
					for j, t := range trow {
						crow[j] = t + beta*crow[j]
					}
				}
			}
		}
	}
}

// packAGeneric packs rows i0..i0+mb and columns p0..p0+kb of op(A) into mr-row
// panels: panel q holds dst[q*mr*kb + p*mr + r] = op(A)[i0+q*mr+r, p0+p], with
// zero rows past mb.
func packAGeneric(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32) {
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		d := dst[ir*kb : ir*kb+kb*mr]
		if mr == 4 && rows == 4 {
			packPanel4(transA, a, lda, i0+ir, p0, kb, d)
			continue
		}
		if !transA {
			for r := 0; r < rows; r++ {
				off := (i0+ir+r)*lda + p0
				src := a[off : off+kb]
				for p, v := range src {
					d[p*mr+r] = v
				}
			}
			for r := rows; r < mr; r++ {
				for p := 0; p < kb; p++ {
					d[p*mr+r] = 0
				}
			}
			continue
		}
		for p := 0; p < kb; p++ {
			off := (p0+p)*lda + i0 + ir
			dp := d[p*mr : p*mr+mr]
			copy(dp, a[off:off+rows])
			clear(dp[rows:])
		}
	}
}

// packPanel4 is packAGeneric for one whole 4-row panel (the gosimd
// kernels' mr): d[4p+r] = op(A)[i+r, p0+p], written in order, without a call
// to copy for every four elements.
func packPanel4(transA bool, a []float32, lda, i, p0, kb int, d []float32) {
	d = d[:4*kb]
	if transA {
		for p := range kb {
			off := (p0+p)*lda + i
			src := a[off : off+4 : off+4]
			dp := d[4*p : 4*p+4 : 4*p+4]
			dp[0], dp[1], dp[2], dp[3] = src[0], src[1], src[2], src[3]
		}
		return
	}
	off := i*lda + p0
	r0 := a[off : off+kb]
	r1 := a[off+lda : off+lda+kb]
	r2 := a[off+2*lda : off+2*lda+kb]
	r3 := a[off+3*lda : off+3*lda+kb]
	for p := range kb {
		dp := d[4*p : 4*p+4 : 4*p+4]
		dp[0], dp[1], dp[2], dp[3] = r0[p], r1[p], r2[p], r3[p]
	}
}

// packBGeneric packs rows p0..p0+kb and columns j0..j0+nb of op(B) into
// nr-column panels: panel q holds dst[q*nr*kb + p*nr + j] = op(B)[p0+p, j0+q*nr+j],
// with zero columns past nb.
func packBGeneric(transB bool, b []float32, ldb, p0, j0, kb, nb, nr int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		d := dst[jr*kb : jr*kb+kb*nr]
		if transB {
			for j := 0; j < cols; j++ {
				off := (j0+jr+j)*ldb + p0
				src := b[off : off+kb]
				for p, v := range src {
					d[p*nr+j] = v
				}
			}
			for j := cols; j < nr; j++ {
				for p := 0; p < kb; p++ {
					d[p*nr+j] = 0
				}
			}
			continue
		}
		for p := 0; p < kb; p++ {
			off := (p0+p)*ldb + j0 + jr
			dp := d[p*nr : p*nr+nr]
			copy(dp, b[off:off+cols])
			clear(dp[cols:])
		}
	}
}

// parallelMinFlops is the smallest m·n·k worth splitting over goroutines:
// below it, starting a goroutine costs more than it saves.
const parallelMinFlops = 64 * 64 * 64

// gemmParallel runs a product on nt goroutines, or on this one when it is
// too small to be worth it.
func gemmParallel(g *gemmImpl, nt int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if nt <= 1 || m*n*max(k, 1) < parallelMinFlops || k == 0 || alpha == 0 {
		buf := getGemmBuf(g)
		gemmSerial(g, buf, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		gemmBufs.Put(buf)
		return
	}
	// Rows to spare: pack B once for all (gemmParallelPacked). Otherwise,
	// or when B is the bigger operand (each row chunk would stream all of
	// it from L3), split the larger side into chunks that pack for
	// themselves (gemmParallelChunks). Measured at 2 threads on an idle
	// machine: the first is 2–6% faster on the default shapes with m ≥ n,
	// 9% slower on 256×1024×2048.
	if m >= n && m >= 4*nt*g.mr {
		gemmParallelPacked(g, nt, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmParallelChunks(g, nt, nt*chunksPerThread, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// packAFunc returns the A packer of g.
func (g *gemmImpl) packAFunc() func(transA bool, a []float32, lda, i0, p0, mb, kb, mr int, dst []float32) {
	if g.packA != nil {
		return g.packA
	}
	return packAGeneric
}

// gemmBatched runs SgemmStrided: small products are dealt out to nt
// goroutines a contiguous range of the batch each; large ones run in turn,
// each split by gemmParallel.
func gemmBatched(g *gemmImpl, nt int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	work := m * n * max(k, 1)
	if work >= 4*parallelMinFlops || nt <= 1 || batch == 1 || work*batch < parallelMinFlops {
		// In turn, with no closure: the serial path allocates nothing.
		var buf *gemmBuf
		if work < 4*parallelMinFlops || nt <= 1 {
			buf = getGemmBuf(g)
		}
		for i := 0; i < batch; i++ {
			var ai, bi []float32
			if k > 0 {
				ai, bi = a[i*strideA:], b[i*strideB:]
			}
			if buf == nil {
				gemmParallel(g, nt, transA, transB, m, n, k, alpha, ai, lda, bi, ldb, beta, c[i*strideC:], ldc)
			} else {
				gemmSerial(g, buf, transA, transB, m, n, k, alpha, ai, lda, bi, ldb, beta, c[i*strideC:], ldc)
			}
		}
		if buf != nil {
			gemmBufs.Put(buf)
		}
		return
	}
	one := func(buf *gemmBuf, i int) {
		var ai, bi []float32
		if k > 0 {
			ai, bi = a[i*strideA:], b[i*strideB:]
		}
		gemmSerial(g, buf, transA, transB, m, n, k, alpha, ai, lda, bi, ldb, beta, c[i*strideC:], ldc)
	}
	// Hand out the batch on demand, a few products at a time.
	nt = min(nt, batch)
	group := max(1, batch/(8*nt))
	var next atomic.Int32
	run := func() {
		buf := getGemmBuf(g)
		for {
			lo := (int(next.Add(1)) - 1) * group
			if lo >= batch {
				break
			}
			for i := lo; i < min(lo+group, batch); i++ {
				one(buf, i)
			}
		}
		gemmBufs.Put(buf)
	}
	parallelDo(nt, run)
}
