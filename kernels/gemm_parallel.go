package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// bPanelGroup is how many nr-column B panels one goroutine packs at a time.
const bPanelGroup = 4

// chunksPerThread is how many pieces gemmParallelChunks cuts a product into
// per goroutine. More pieces balance better when other processes take some
// of the cores; each piece repacks the operand that is not split, which
// (measured in thread CPU time, 1 thread, the default shapes) costs 0-2% for
// 2 pieces per thread, 1-5% for 3 and 3-10% for 6.
const chunksPerThread = 2

// gemmParallelChunks splits the larger of m and n into chunks, whole
// register tiles each, and lets nt goroutines take chunks on demand, each
// running gemmSerial on its chunk with its own packing. There is no barrier
// inside the product: a goroutine that starts late or whose core is taken
// by another process simply takes fewer chunks. (A version that packed B
// once into a shared buffer and handed out row blocks between barriers, one
// per kc step, was as fast on an idle machine and much slower on a busy one,
// where every barrier waits for the slowest goroutine.)
func gemmParallelChunks(g *gemmImpl, nt, chunks int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	splitM := m >= n
	total, unit := n, g.nr
	if splitM {
		total, unit = m, g.mr
	}
	tiles := (total + unit - 1) / unit
	chunks = min(chunks, max(nt, tiles/4)) // at least 4 tiles a chunk
	chunks = min(chunks, tiles)
	nt = min(nt, chunks)
	var next atomic.Int32
	run := func() {
		buf := getGemmBuf(g)
		for {
			ch := int(next.Add(1)) - 1
			if ch >= chunks {
				break
			}
			lo := tiles * ch / chunks * unit
			hi := min(tiles*(ch+1)/chunks*unit, total)
			if splitM {
				ao := lo * lda
				if transA {
					ao = lo
				}
				gemmSerial(g, buf, transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
			} else {
				bo := lo
				if transB {
					bo = lo * ldb
				}
				gemmSerial(g, buf, transA, transB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
			}
		}
		gemmBufs.Put(buf)
	}
	parallelDo(nt, run)
}

// gemmParallelPacked is the parallel product for when op(A) has rows to
// spare: all of op(B) is packed once, by all goroutines together (panel
// groups handed out on demand), into one shared buffer; then the goroutines
// take chunks of rows of A and C on demand and run the loop nest on them
// against the shared panels, packing only their own A blocks. The one wait is
// for the last B panels to be packed, not for the other goroutines to arrive.
func gemmParallelPacked(g *gemmImpl, nt int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := g.mr, g.nr
	packB := g.packB
	if packB == nil {
		packB = packBGeneric
	}
	type block struct{ jc, nb, pc, kb, pk, off, units int }
	var blocks []block
	size, units := 0, 0
	for jc := 0; jc < n; jc += g.nc {
		nb := min(g.nc, n-jc)
		np := (nb + nr - 1) / nr
		for pc := 0; pc < k; pc += g.kc {
			kb := min(g.kc, k-pc)
			pk := g.pk(kb)
			u := (np + bPanelGroup - 1) / bPanelGroup
			blocks = append(blocks, block{jc, nb, pc, kb, pk, size, u})
			size += np * nr * pk
			units += u
		}
	}
	pb := getPackedB(size)
	bp := (*pb)[:size]
	rowsPerChunk := min(g.mc, roundUp((m+4*nt-1)/(4*nt), mr))
	rowsPerChunk = max(rowsPerChunk, min(g.mc, 4*mr))
	chunks := (m + rowsPerChunk - 1) / rowsPerChunk
	var packNext, packDone, chunkNext atomic.Int32
	work := func() {
		// Pack B: unit u is panel group u-first of the block it falls in.
		for {
			u := int(packNext.Add(1)) - 1
			if u >= units {
				break
			}
			for _, bl := range blocks {
				if u >= bl.units {
					u -= bl.units
					continue
				}
				j0 := u * bPanelGroup * nr
				cols := min(bPanelGroup*nr, bl.nb-j0)
				packB(transB, b, ldb, bl.pc, bl.jc+j0, bl.kb, cols, nr, bp[bl.off+j0*bl.pk:])
				break
			}
			packDone.Add(1)
		}
		for packDone.Load() < int32(units) {
			runtime.Gosched()
		}
		buf := getGemmBuf(g)
		tile := buf.tile[:mr*nr]
		for {
			ch := int(chunkNext.Add(1)) - 1
			if ch >= chunks {
				break
			}
			lo, hi := ch*rowsPerChunk, min((ch+1)*rowsPerChunk, m)
			for _, bl := range blocks {
				bb := bp[bl.off : bl.off+roundUp(bl.nb, nr)*bl.pk]
				betaEff := beta
				if bl.pc > 0 {
					betaEff = 1
				}
				for ic := lo; ic < hi; ic += g.mc {
					mb := min(g.mc, hi-ic)
					ab := buf.a[:roundUp(mb, mr)*bl.pk]
					g.packAFunc()(transA, a, lda, ic, bl.pc, mb, bl.kb, mr, ab)
					macroKernel(g, tile, ab, bb, mb, bl.nb, bl.pk, c[ic*ldc+bl.jc:], ldc, alpha, betaEff)
				}
			}
		}
		gemmBufs.Put(buf)
	}
	nt = min(nt, max(chunks, 1))
	parallelDo(nt, work)
	packedBs.Put(pb)
}

var packedBs sync.Pool

func getPackedB(size int) *[]float32 {
	p, _ := packedBs.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	if cap(*p) < size {
		*p = make([]float32, size)
	}
	return p
}
