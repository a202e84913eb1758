package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkBgemm runs the default shapes through Bgemm (every bf16
// implementation) and Sgemm side by side, at 1 and 2 threads:
// go test -bench Bgemm ./kernels
func BenchmarkBgemm(b *testing.B) {
	for _, s := range gemmShapes {
		for _, nt := range []int{1, 2} {
			for _, name := range append([]string{"sgemm"}, BF16Impls()...) {
				if name == "generic" && testing.Short() {
					continue
				}
				b.Run(fmt.Sprintf("%dx%dx%d%s%s/threads=%d/%s", s.m, s.n, s.k, tn(s.ta), tn(s.tb), nt, name), func(b *testing.B) {
					defer SetThreads(SetThreads(nt))
					gemm := Sgemm
					if name != "sgemm" {
						prev, _ := SetBF16Impl(name)
						defer SetBF16Impl(prev)
						gemm = Bgemm
					}
					benchGemmFunc(b, gemm, s.m, s.n, s.k, s.ta, s.tb)
				})
			}
		}
	}
}

func benchGemmFunc(b *testing.B, gemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int), m, n, k int, ta, tb bool) {
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
	for b.Loop() {
		gemm(ta, tb, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
