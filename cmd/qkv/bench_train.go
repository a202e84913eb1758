package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/optim"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/tensor"
	"github.com/qkv-dev/qkv/text/corpus"
)

var btf struct {
	preset, trainFile  string
	steps, warmupSteps int
	maxTokens          int
	seed               uint64
	precision          string
}

var benchTrainCmd = &cobra.Command{
	Use:   "train --preset g2p-transformer --train FILE --steps N",
	Short: "Measure training throughput the way ../shared/bench/peers/pytorch_g2p.py does",
	Long: `Train the preset's model on a G2P TSV (lowercased letters → ARPAbet phones) for
--steps optimizer steps with the peer's settings: label smoothing 0.1,
Adam(0.9, 0.98, 1e-9), the paper's warm-up schedule (4000 steps), batches of at
most --max-tokens padded tokens sorted by length and shuffled. Prints one JSON
line: train_tokens_per_s counts non-pad source tokens plus non-pad target tokens
with <s> and </s>, after --warmup-steps steps, as the peer does; peak_rss_mb is
the process's peak resident memory; cpu_percent is the process's CPU time over
the timed steps, in percent of one core (200 = both cores of a 2-core machine).
--precision bf16 runs the matrix products in bfloat16 with float32
accumulation, as qkv train --precision bf16 does (the peer's --bf16).`,
	Args: cobra.NoArgs,
	RunE: runBenchTrain,
}

func init() {
	f := benchTrainCmd.Flags()
	f.StringVar(&btf.preset, "preset", "g2p-transformer", "model preset")
	f.StringVar(&btf.trainFile, "train", "", "G2P training TSV (word<TAB>phones)")
	f.IntVar(&btf.steps, "steps", 60, "optimizer steps")
	f.IntVar(&btf.warmupSteps, "warmup-steps", 10, "steps left out of the throughput figure")
	f.IntVar(&btf.maxTokens, "max-tokens", 4096, "padded tokens per batch")
	f.Uint64Var(&btf.seed, "seed", 1, "seed")
	f.StringVar(&btf.precision, "precision", "fp32", "precision of the matrix products: fp32, or bf16 (bfloat16 operands, float32 accumulation)")
	benchCmd.AddCommand(benchTrainCmd)
}

func runBenchTrain(cmd *cobra.Command, _ []string) error {
	if btf.trainFile == "" {
		return errors.New("bench train: --train is required")
	}
	if btf.steps <= btf.warmupSteps {
		return fmt.Errorf("bench train: --steps %d must exceed --warmup-steps %d", btf.steps, btf.warmupSteps)
	}
	prec, err := tensor.ParsePrecision(btf.precision)
	if err != nil {
		return fmt.Errorf("bench train: --precision %q is not a precision: use fp32 or bf16", btf.precision)
	}
	mc, ok := model.Presets[btf.preset]
	if !ok {
		return fmt.Errorf("bench train: unknown preset %q", btf.preset)
	}
	pairs, err := corpus.ReadTSVFile(btf.trainFile)
	if err != nil {
		return err
	}
	data := pipeline.DataConfig{SrcTokenizer: pipeline.TokChar, TgtTokenizer: pipeline.TokWord, Lowercase: true}
	pr, err := pipeline.Prepare(pairs, nil, pipeline.PrepareOptions{Data: data})
	if err != nil {
		return err
	}
	mc.SrcVocab, mc.TgtVocab, mc.Seed = pr.Src.Len(), pr.Tgt.Len(), btf.seed
	m, err := model.New(mc)
	if err != nil {
		return err
	}
	params := m.Params()
	opt, err := optim.NewAdam(params, optim.PaperAdam())
	if err != nil {
		return err
	}
	sched := optim.NoamSchedule{Factor: 1, DModel: mc.DModel, Warmup: 4000}
	plan := batch.Plan(pr.Train, btf.maxTokens)
	g := tensor.NewGraph(btf.seed)
	g.SetPrecision(prec)
	var (
		cpu0       time.Duration
		t0         time.Time
		timedTok   int64
		lastLoss   float64
		step       int
		stepTimes  []float64
		totalStart = time.Now()
	)
	for epoch := 0; step < btf.steps; epoch++ {
		for _, bi := range batch.Shuffled(len(plan), btf.seed, epoch) {
			if step >= btf.steps {
				break
			}
			b, err := batch.Make(pr.Train, plan[bi])
			if err != nil {
				return err
			}
			ts := time.Now()
			loss := g.CrossEntropy(m.Forward(g, b), b.TgtOut, batch.PAD, 0.1)
			g.Backward(loss)
			lastLoss = float64(loss.Item())
			g.Reset()
			step++
			opt.SetLR(sched.LR(int64(step)))
			opt.Step()
			optim.ZeroGrad(params)
			stepTimes = append(stepTimes, time.Since(ts).Seconds())
			if step == btf.warmupSteps {
				t0, cpu0 = time.Now(), processCPU()
			} else if step > btf.warmupSteps {
				timedTok += int64(b.SrcTokens + b.TgtTokens)
			}
		}
	}
	elapsed := time.Since(t0).Seconds()
	cpuPct := 100 * (processCPU() - cpu0).Seconds() / elapsed
	var nparams int64
	for _, p := range params {
		nparams += int64(p.Len())
	}
	out := map[string]any{
		"peer": "qkv", "preset": btf.preset, "threads": kernels.Threads(), "impl": kernels.Impl(),
		"params": nparams, "steps": step, "train_tokens_per_s": round(float64(timedTok)/elapsed, 1),
		"last_loss": round(lastLoss, 4), "train_seconds": round(time.Since(totalStart).Seconds(), 1),
		"peak_rss_mb": round(peakRSSMB(), 1), "arena_mb": round(float64(g.ArenaBytes())/(1<<20), 1),
		"gomaxprocs": runtime.GOMAXPROCS(0), "precision": prec.String(), "bf16_impl": kernels.BF16Impl(),
		"cpu_percent": round(cpuPct, 1),
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMB is the process's peak resident set size (getrusage's maxrss,
// in kilobytes on Linux).
func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Maxrss) / 1024
}
