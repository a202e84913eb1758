package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// gemmShared is the parallel loop nest: nt goroutines walk the (jc, pc)
// blocks in lockstep. In each step they first pack the kc×nc block of B
// together, into one shared buffer (panel groups handed out by an atomic
// counter), meet at a barrier, and then take mc-row blocks of A and C from
// another counter until none are left: each packs its A block and runs the
// macrokernel. Nothing is packed twice, and because blocks are handed out on
// demand a goroutine whose core is busy with other work simply takes fewer
// of them. The B buffer is double-buffered, so that one barrier per step is
// enough: a goroutine may pack step s+1 while others still read step s.
type gemmShared struct {
	g              *gemmImpl
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	mc             int // rows per A/C block handed out
	bbuf           [2][]float32
	counters       []atomic.Int32 // two per step: B panel groups, then A blocks
	bar            barrier
}

// bPanelGroup is how many nr-column B panels one goroutine packs at a time.
const bPanelGroup = 4

var sharedBufs sync.Pool

type sharedBuf struct{ b [2][]float32 }

func gemmParallelShared(g *gemmImpl, nt int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, mc int) {
	steps := ((n + g.nc - 1) / g.nc) * ((k + g.kc - 1) / g.kc)
	job := &gemmShared{g: g, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc, mc: mc,
		counters: make([]atomic.Int32, 2*steps)}
	job.bar.n = int32(nt)
	sb, _ := sharedBufs.Get().(*sharedBuf)
	if sb == nil {
		sb = new(sharedBuf)
	}
	need := roundUp(min(g.nc, n), g.nr) * min(g.kc, k)
	for i := range sb.b {
		if cap(sb.b[i]) < need {
			sb.b[i] = make([]float32, need)
		}
		job.bbuf[i] = sb.b[i][:need]
	}
	var wg sync.WaitGroup
	wg.Add(nt - 1)
	for t := 1; t < nt; t++ {
		go func() {
			defer wg.Done()
			job.work()
		}()
	}
	job.work()
	wg.Wait()
	sharedBufs.Put(sb)
}

func (j *gemmShared) work() {
	g := j.g
	mr, nr := g.mr, g.nr
	buf := getGemmBuf(g)
	defer gemmBufs.Put(buf)
	packA, packB := g.packA, g.packB
	if packA == nil {
		packA = packAGeneric
	}
	if packB == nil {
		packB = packBGeneric
	}
	tile := buf.tile[:mr*nr]
	step := 0
	for jc := 0; jc < j.n; jc += g.nc {
		nb := min(g.nc, j.n-jc)
		npanels := (nb + nr - 1) / nr
		for pc := 0; pc < j.k; pc += g.kc {
			kb := min(g.kc, j.k-pc)
			bb := j.bbuf[step%2][:npanels*nr*kb]
			for {
				u := int(j.counters[2*step].Add(1)) - 1
				q0 := u * bPanelGroup
				if q0 >= npanels {
					break
				}
				j0 := q0 * nr
				cols := min(bPanelGroup*nr, nb-j0)
				packB(j.transB, j.b, j.ldb, pc, jc+j0, kb, cols, nr, bb[j0*kb:])
			}
			j.bar.wait()
			betaEff := j.beta
			if pc > 0 {
				betaEff = 1
			}
			for {
				u := int(j.counters[2*step+1].Add(1)) - 1
				ic := u * j.mc
				if ic >= j.m {
					break
				}
				mb := min(j.mc, j.m-ic)
				ab := buf.a[:roundUp(mb, mr)*kb]
				packA(j.transA, j.a, j.lda, ic, pc, mb, kb, mr, ab)
				macroKernel(g, tile, ab, bb, mb, nb, kb, j.c[ic*j.ldc+jc:], j.ldc, j.alpha, betaEff)
			}
			step++
		}
	}
}

// barrier is a reusable spinning barrier for a fixed number of goroutines;
// it yields the processor while it waits.
type barrier struct {
	n     int32
	count atomic.Int32
	gen   atomic.Uint32
}

func (b *barrier) wait() {
	gen := b.gen.Load()
	if b.count.Add(1) == b.n {
		b.count.Store(0)
		b.gen.Add(1)
		return
	}
	for i := 0; b.gen.Load() == gen; i++ {
		if i > 64 {
			runtime.Gosched()
		}
	}
}
