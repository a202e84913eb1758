package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmShapes are the default shapes of qkv bench gemm and of the OpenBLAS peer.
var gemmShapes = []struct {
	m, n, k int
	ta, tb  bool
}{
	{2048, 256, 256, false, false},
	{2048, 1024, 256, false, false},
	{2048, 256, 1024, false, false},
	{256, 1024, 2048, true, false},
	{2048, 256, 1024, false, true},
	{4096, 2048, 512, false, false},
	{1024, 1024, 1024, false, false},
}

func benchGemm(b *testing.B, m, n, k int, ta, tb bool) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := make([]float32, m*k)
	bb := make([]float32, k*n)
	c := make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bb {
		bb[i] = rng.Float32()
	}
	lda, ldb := k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	b.ResetTimer()
	for b.Loop() {
		Sgemm(ta, tb, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func tn(t bool) string {
	if t {
		return "t"
	}
	return "n"
}

// BenchmarkSgemm runs the default shapes on every implementation at 1 and 2
// threads: go test -bench Sgemm ./kernels
func BenchmarkSgemm(b *testing.B) {
	for _, name := range Impls() {
		for _, nt := range []int{1, 2} {
			for _, s := range gemmShapes {
				b.Run(fmt.Sprintf("%s/t%d/%dx%dx%d%s%s", name, nt, s.m, s.n, s.k, tn(s.ta), tn(s.tb)), func(b *testing.B) {
					prev, _ := SetImpl(name)
					defer SetImpl(prev)
					defer SetThreads(SetThreads(nt))
					benchGemm(b, s.m, s.n, s.k, s.ta, s.tb)
				})
			}
		}
	}
}

// BenchmarkSgemmStrided is per-head attention, 256 (batch × heads)
// products: scores Q·Kᵀ (20×20×64, B transposed) and outputs P·V (20×64×20).
func BenchmarkSgemmStrided(b *testing.B) {
	for _, nt := range []int{1, 2} {
		b.Run(fmt.Sprintf("t%d/PV/256x20x64x20", nt), func(b *testing.B) {
			defer SetThreads(SetThreads(nt))
			const m, n, k, batch = 20, 64, 20, 256
			a := make([]float32, batch*m*k)
			bb := make([]float32, batch*k*n)
			c := make([]float32, batch*m*n)
			for b.Loop() {
				SgemmStrided(false, false, m, n, k, 1, a, k, m*k, bb, n, k*n, 0, c, n, m*n, batch)
			}
			b.ReportMetric(2*float64(m*n*k*batch)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("t%d/QK/256x20x20x64", nt), func(b *testing.B) {
			defer SetThreads(SetThreads(nt))
			const m, n, k, batch = 20, 20, 64, 256
			a := make([]float32, batch*m*k)
			bb := make([]float32, batch*k*n)
			c := make([]float32, batch*m*n)
			for b.Loop() {
				SgemmStrided(false, true, m, n, k, 1, a, k, m*k, bb, k, n*k, 0, c, n, m*n, batch)
			}
			b.ReportMetric(2*float64(m*n*k*batch)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMicroKernel runs each implementation's microkernel alone on one
// packed A and B panel with k = 256, which stay in L1 (one thread):
// go test -bench MicroKernel ./kernels (add GOEXPERIMENT=simd for gosimd).
func BenchmarkMicroKernel(b *testing.B) {
	for _, name := range Impls() {
		b.Run(name, func(b *testing.B) {
			prev, _ := SetImpl(name)
			defer SetImpl(prev)
			g := cur.gemm
			const k = 256
			a := make([]float32, g.mr*k)
			bp := make([]float32, g.nr*k)
			for i := range a {
				a[i] = float32(i%7) / 7
			}
			for i := range bp {
				bp[i] = float32(i%5) / 5
			}
			c := make([]float32, g.mr*g.nr)
			for b.Loop() {
				g.kernel(k, a, bp, c, g.nr, 1, 0)
			}
			b.ReportMetric(2*float64(g.mr*g.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// smallShapes are the products the few-row path is for, or borders on:
// decoder steps against weight matrices (m rows, B transposed as Linear
// gives it, and not), and per-head attention's P·V and Q·Kᵀ.
var smallShapes = []struct {
	m, n, k int
	tb      bool
}{
	{1, 256, 256, true}, {2, 256, 256, true}, {4, 256, 256, true}, {8, 256, 256, true},
	{10, 256, 256, true}, {12, 256, 256, true}, {16, 256, 256, true}, {24, 256, 256, true},
	{1, 1024, 256, true}, {4, 1024, 256, true}, {8, 1024, 256, true}, {12, 1024, 256, true}, {16, 1024, 256, true},
	{1, 256, 1024, true}, {4, 256, 1024, true}, {8, 256, 1024, true}, {12, 256, 1024, true},
	{1, 256, 256, false}, {4, 256, 256, false}, {8, 256, 256, false}, {12, 256, 256, false}, {16, 256, 256, false},
	{1, 1024, 256, false}, {4, 1024, 256, false}, {8, 1024, 256, false}, {12, 1024, 256, false},
	// P·V (B not transposed, small B) and Q·Kᵀ (B transposed).
	{20, 64, 20, false}, {64, 64, 64, false}, {128, 64, 64, false}, {2048, 64, 64, false}, {20, 128, 20, false}, {64, 128, 64, false},
	{16, 16, 64, true}, {20, 20, 64, true}, {24, 24, 64, true}, {30, 30, 64, true}, {32, 32, 64, true}, {48, 48, 64, true}, {64, 64, 64, true}, {96, 64, 64, true}, {128, 64, 64, true},
}

// BenchmarkSmallVsPacked times, on one goroutine, each implementation that
// has a few-row path on smallShapes twice: as Sgemm runs it ("small", which
// takes the few-row path where its thresholds say so) and with the few-row
// path switched off ("packed"). The thresholds in gemm_avx2_amd64.go and
// impl_amd64.go come from it:
// go test -run '^$' -bench SmallVsPacked -benchtime 200ms ./kernels
func BenchmarkSmallVsPacked(b *testing.B) {
	for _, im := range impls {
		if im.gemm.small == nil {
			continue
		}
		packed := *im.gemm
		packed.small = nil
		for _, s := range smallShapes {
			for _, g := range []*gemmImpl{im.gemm, &packed} {
				path := "small"
				if g.small == nil {
					path = "packed"
				}
				b.Run(fmt.Sprintf("%s/%dx%dx%dn%s/%s", im.name, s.m, s.n, s.k, tn(s.tb), path), func(b *testing.B) {
					rng := rand.New(rand.NewPCG(1, 1))
					a := make([]float32, s.m*s.k)
					bb := make([]float32, s.k*s.n)
					c := make([]float32, s.m*s.n)
					for i := range a {
						a[i] = rng.Float32()
					}
					for i := range bb {
						bb[i] = rng.Float32()
					}
					ldb := s.n
					if s.tb {
						ldb = s.k
					}
					buf := getGemmBuf(g)
					defer gemmBufs.Put(buf)
					for b.Loop() {
						gemmSerial(g, buf, false, s.tb, s.m, s.n, s.k, 1, a, s.k, bb, ldb, 0, c, s.n)
					}
					b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
