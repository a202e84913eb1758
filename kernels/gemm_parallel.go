package kernels

import (
	"sync"
	"sync/atomic"
)

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
	var wg sync.WaitGroup
	wg.Add(nt - 1)
	for t := 1; t < nt; t++ {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}
