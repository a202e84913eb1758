package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/tensor"
)

// bigParams are parameters large enough for splitParams to split them
// (about 3.5·paramGrain elements in all), with sizes that are no multiple
// of anything, so that pieces start and end inside parameters and one piece
// can span several; a frozen one must stay as it is.
func bigParams(seed uint64) []*tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 2))
	ps := []*tensor.Tensor{
		tensor.NewParam("a", 301, 97), tensor.NewParam("b", 7), tensor.NewParam("c", 5),
		tensor.NewParam("frozen", 1000), tensor.NewParam("d", 263, 331), tensor.NewParam("e", 3),
	}
	ps[3].SetRequiresGrad(false)
	for _, p := range ps {
		for i := range p.Data {
			p.Data[i] = float32(r.NormFloat64())
		}
	}
	return ps
}

func TestSplitParamsCoversEachElementOnce(t *testing.T) {
	ps := bigParams(1)
	for _, threads := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("threads=", threads), func(t *testing.T) {
			defer kernels.SetThreads(kernels.SetThreads(threads))
			if got, want := parallelParams(ps), threads > 1; got != want {
				t.Fatalf("parallelParams = %v, want %v", got, want)
			}
			seen := make([][]int32, len(ps))
			for i, p := range ps {
				seen[i] = make([]int32, len(p.Data))
			}
			calls := 0
			// Goroutines write disjoint ranges; calls is only read for
			// threads=1 (the serial path calls once per parameter).
			splitParams(ps, func(i, lo, hi int) {
				if threads == 1 {
					calls++
				}
				for j := lo; j < hi; j++ {
					seen[i][j]++
				}
			})
			for i := range seen {
				for j, n := range seen[i] {
					if n != 1 {
						t.Fatalf("parameter %d element %d visited %d times", i, j, n)
					}
				}
			}
			if threads == 1 && calls != len(ps) {
				t.Fatalf("serial path made %d calls, want one per parameter (%d)", calls, len(ps))
			}
		})
	}
}

// TestStepSplitIsExact: Adam, AdamW and SGD update big parameters over
// three steps to the same bits on 1 and 2 threads (parameters and optimizer
// state), and ZeroGrad clears every gradient either way.
func TestStepSplitIsExact(t *testing.T) {
	run := func(threads int) map[string][][]float32 {
		defer kernels.SetThreads(kernels.SetThreads(threads))
		out := map[string][][]float32{}
		for _, name := range []string{"Adam", "AdamW", "SGD"} {
			ps := bigParams(3)
			var opt Optimizer
			var err error
			switch name {
			case "Adam":
				cfg := PaperAdam()
				cfg.LR, cfg.WeightDecay = 1e-3, 0.01 // L2 decay: the l2 branch
				opt, err = NewAdam(ps, cfg)
			case "AdamW":
				cfg := DefaultAdam()
				cfg.WeightDecay = 0.1 // the decoupled branch
				opt, err = NewAdamW(ps, cfg)
			case "SGD":
				opt, err = NewSGD(ps, SGDConfig{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4})
			}
			if err != nil {
				t.Fatal(err)
			}
			for step := 1; step <= 3; step++ {
				setGrads(ps, step)
				opt.Step()
				ZeroGrad(ps)
				for _, p := range ps {
					for j, g := range p.Grad {
						if g != 0 {
							t.Fatalf("%s, %d threads: ZeroGrad left %s.grad[%d] = %v", name, threads, p.Name, j, g)
						}
					}
				}
			}
			state, _ := opt.State()
			for _, x := range append(ps, state...) {
				out[name] = append(out[name], append([]float32(nil), x.Data...))
			}
		}
		return out
	}
	one, two := run(1), run(2)
	fresh := bigParams(3)
	for name, xs := range one {
		for k, x := range xs {
			for j, v := range x {
				if w := two[name][k][j]; math.Float32bits(v) != math.Float32bits(w) {
					t.Fatalf("%s tensor %d element %d: 1 thread %v, 2 threads %v", name, k, j, v, w)
				}
			}
			if k < len(fresh) {
				changed := false
				for j := range x {
					changed = changed || x[j] != fresh[k].Data[j]
				}
				if frozen := fresh[k].Name == "frozen"; changed == frozen {
					t.Fatalf("%s: parameter %s changed = %v", name, fresh[k].Name, changed)
				}
			}
		}
	}
}
