// Command gonumcmp compares qkv's pure-Go GEMM with gonum's Sgemm, side by
// side in one run. It is a separate module so that gonum is no dependency of
// qkv.
//
// The pure-Go fallback is what a `purego` build runs: with Go's SIMD
// experiment, the Go-SIMD microkernels ("gosimd512", "gosimd256"), otherwise
// the scalar "generic" one:
//
//	cd bench/gonumcmp
//	GOEXPERIMENT=simd go run -tags purego . -impl gosimd512
//	go run -tags purego . -impl generic
//
// The default shapes are those of ../shared/bench/peers/openblas_gemm.py
// (the G2P Transformer's products) and three square ones.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qkv-dev/qkv/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

const defaultShapes = "2048,256,256 2048,1024,256 2048,256,1024 256,1024,2048,t,n 2048,256,1024,n,t 4096,2048,512 1024,1024,1024 512,512,512"

type shape struct {
	m, n, k int
	ta, tb  bool
}

func parseShape(s string) (shape, error) {
	f := strings.Split(s, ",")
	if len(f) != 3 && len(f) != 5 {
		return shape{}, fmt.Errorf("shape %q: want M,N,K or M,N,K,t|n,t|n", s)
	}
	var d [3]int
	for i := range d {
		v, err := strconv.Atoi(f[i])
		if err != nil || v < 1 {
			return shape{}, fmt.Errorf("shape %q: %q is not a positive integer", s, f[i])
		}
		d[i] = v
	}
	sh := shape{m: d[0], n: d[1], k: d[2]}
	if len(f) == 5 {
		for i, p := range []*bool{&sh.ta, &sh.tb} {
			switch f[3+i] {
			case "t":
				*p = true
			case "n":
			default:
				return shape{}, fmt.Errorf("shape %q: transpose flag %q is not t or n", s, f[3+i])
			}
		}
	}
	return sh, nil
}

func tn(t bool) string {
	if t {
		return "t"
	}
	return "n"
}

func main() {
	threads := flag.String("threads", "1,2", "comma-separated thread counts (GOMAXPROCS for gonum)")
	impl := flag.String("impl", "generic", "qkv implementation to compare (see kernels.Impls)")
	shapesFlag := flag.String("shapes", defaultShapes, "space-separated M,N,K[,t|n,t|n]")
	flag.Parse()
	if _, err := kernels.SetImpl(*impl); err != nil {
		fmt.Fprintln(os.Stderr, "gonumcmp:", err)
		os.Exit(2)
	}
	var shapes []shape
	for _, s := range strings.Fields(*shapesFlag) {
		sh, err := parseShape(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gonumcmp:", err)
			os.Exit(2)
		}
		shapes = append(shapes, sh)
	}
	rng := rand.New(rand.NewPCG(1, 0))
	fmt.Println("| threads | m,n,k,ta,tb | gonum GFLOP/s | qkv (" + *impl + ") GFLOP/s | qkv/gonum |")
	fmt.Println("|---:|---|---:|---:|---:|")
	for _, ts := range strings.Split(*threads, ",") {
		t, err := strconv.Atoi(ts)
		if err != nil || t < 1 {
			fmt.Fprintf(os.Stderr, "gonumcmp: thread count %q is not a positive integer\n", ts)
			os.Exit(2)
		}
		runtime.GOMAXPROCS(t)
		kernels.SetThreads(t)
		logSum, minRatio := 0.0, math.Inf(1)
		for _, sh := range shapes {
			m, n, k := sh.m, sh.n, sh.k
			a := make([]float32, m*k)
			b := make([]float32, k*n)
			c := make([]float32, m*n)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			lda, ldb := k, n
			if sh.ta {
				lda = m
			}
			if sh.tb {
				ldb = k
			}
			ta, tb := blas.NoTrans, blas.NoTrans
			if sh.ta {
				ta = blas.Trans
			}
			if sh.tb {
				tb = blas.Trans
			}
			flops := 2 * float64(m) * float64(n) * float64(k)
			// The median of several timed calls after a warm-up, as the
			// OpenBLAS peer times.
			median := func(f func()) float64 {
				f()
				reps := max(3, min(21, int(2e10/flops)))
				ts := make([]float64, reps)
				for i := range ts {
					t0 := time.Now()
					f()
					ts[i] = time.Since(t0).Seconds()
				}
				slices.Sort(ts)
				return flops / ts[len(ts)/2] / 1e9
			}
			var q, g float64
			for range 2 { // alternate, keep the best of each
				g = max(g, median(func() {
					gonum.Implementation{}.Sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n)
				}))
				q = max(q, median(func() { kernels.Sgemm(sh.ta, sh.tb, m, n, k, 1, a, lda, b, ldb, 0, c, n) }))
			}
			logSum += math.Log(q / g)
			minRatio = min(minRatio, q/g)
			fmt.Printf("| %d | %d,%d,%d,%s,%s | %.1f | %.1f | %.2f |\n", t, m, n, k, tn(sh.ta), tn(sh.tb), g, q, q/g)
		}
		fmt.Printf("| %d | **geometric mean** | | | **%.2f** (min %.2f) |\n", t, math.Exp(logSum/float64(len(shapes))), minRatio)
	}
}
