package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/spf13/cobra"
)

// defaultGemmShapes are the shapes of ../shared/bench/peers/openblas_gemm.py.
var defaultGemmShapes = []string{
	// the G2P Transformer's shapes (about 2048 tokens a side, d_model 256, d_ff 1024)
	"2048,256,256", "2048,1024,256", "2048,256,1024",
	// backward products: weight gradients (A transposed) and input gradients (B transposed)
	"256,1024,2048,t,n", "2048,256,1024,n,t",
	// a base-sized translation model's feed-forward layer, and a square reference
	"4096,2048,512", "1024,1024,1024",
}

var benchGemmFlags struct {
	shapes  []string
	threads string
	impl    string
}

var benchGemmCmd = &cobra.Command{
	Use:   "gemm",
	Short: "Single-precision GEMM throughput, one JSON line per shape and thread count",
	Long: `gemm times C = op(A)·op(B) (kernels.Sgemm) as the OpenBLAS peer
../shared/bench/peers/openblas_gemm.py does: one warm-up call, then
max(3, min(200, 3e10/flops)) timed calls; GFLOP/s = 2mnk / median time.
Shapes are M,N,K[,t|n,t|n] (t: A or B stored transposed).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := benchGemmFlags
		shapes := f.shapes
		if len(shapes) == 0 {
			shapes = defaultGemmShapes
		}
		var threads []int
		for _, s := range strings.Split(f.threads, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || t < 1 {
				return fmt.Errorf("bad --threads entry %q", s)
			}
			threads = append(threads, t)
		}
		if f.impl != "" {
			if _, err := kernels.SetImpl(f.impl); err != nil {
				return err
			}
		}
		type spec struct {
			m, n, k int
			ta, tb  bool
		}
		var specs []spec
		for _, s := range shapes {
			parts := strings.Split(s, ",")
			if len(parts) != 3 && len(parts) != 5 {
				return fmt.Errorf("bad --shape %q: want M,N,K or M,N,K,t|n,t|n", s)
			}
			var d [3]int
			for i := range d {
				v, err := strconv.Atoi(strings.TrimSpace(parts[i]))
				if err != nil || v < 1 {
					return fmt.Errorf("bad --shape %q", s)
				}
				d[i] = v
			}
			sp := spec{m: d[0], n: d[1], k: d[2]}
			if len(parts) == 5 {
				for i, p := range parts[3:] {
					p = strings.TrimSpace(p)
					if p != "t" && p != "n" {
						return fmt.Errorf("bad --shape %q: transposes are t or n", s)
					}
					if i == 0 {
						sp.ta = p == "t"
					} else {
						sp.tb = p == "t"
					}
				}
			}
			specs = append(specs, sp)
		}
		defer kernels.SetThreads(kernels.SetThreads(0))
		rng := rand.New(rand.NewPCG(1, 0))
		out := json.NewEncoder(cmd.OutOrStdout())
		for _, t := range threads {
			kernels.SetThreads(t)
			for _, sp := range specs {
				m, n, k := sp.m, sp.n, sp.k
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
				if sp.ta {
					lda = m
				}
				if sp.tb {
					ldb = k
				}
				run := func() {
					kernels.Sgemm(sp.ta, sp.tb, m, n, k, 1, a, lda, b, ldb, 0, c, n)
				}
				run()
				flops := 2 * float64(m) * float64(n) * float64(k)
				reps := max(3, min(200, int(3e10/flops)))
				times := make([]float64, reps)
				for i := range times {
					t0 := time.Now()
					run()
					times[i] = time.Since(t0).Seconds()
				}
				slices.Sort(times)
				med := times[len(times)/2]
				err := out.Encode(struct {
					Peer    string  `json:"peer"`
					Impl    string  `json:"impl"`
					M       int     `json:"m"`
					N       int     `json:"n"`
					K       int     `json:"k"`
					TA      bool    `json:"ta"`
					TB      bool    `json:"tb"`
					Threads int     `json:"threads"`
					GFLOPS  float64 `json:"gflops"`
				}{"qkv", kernels.Impl(), m, n, k, sp.ta, sp.tb, t, math.Round(flops/med/1e8) / 10})
				if err != nil {
					return err
				}
			}
		}
		return nil
	},
}

func init() {
	fl := benchGemmCmd.Flags()
	fl.StringArrayVar(&benchGemmFlags.shapes, "shape", nil, "shape M,N,K[,t|n,t|n] (repeatable; default: the peer's shapes)")
	fl.StringVar(&benchGemmFlags.threads, "threads", "1,2", "comma-separated thread counts")
	fl.StringVar(&benchGemmFlags.impl, "impl", "", "kernel implementation (default: the best the CPU has; see kernels.Impls)")
	benchCmd.AddCommand(benchGemmCmd)
}
