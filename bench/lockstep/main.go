// Command lockstep trains qkv's Transformer on a fixed sequence of batches
// and writes everything PyTorch needs to train the same model on the same
// batches in the same order (bench/lockstep.py), so that the two can be
// compared step by step with no randomness left but dropout.
//
// It builds the run as `qkv train --arch transformer --src-tok word
// --tgt-tok word --joined-dictionary --placeholders=false` would (the
// g2p-transformer preset: post-norm with final norms, as torch.nn.Transformer),
// writes the initial weights, the gradients of the first batch and the
// batches of every step, then trains with qkv's own train.Trainer and logs
// every step:
//
//	DIR/init/      config.json, vocabularies, best.safetensors = the initial weights
//	DIR/grad1/     the same, best.safetensors = the gradients of step 1 (qkv's names)
//	DIR/step-K/    the same, best.safetensors = the weights after step K (-dump-at)
//	DIR/gradK+1/   the gradients of step K+1's batch from those weights
//	DIR/grad1-mean/  step 1's gradients averaged over -mean-grads dropout draws
//	DIR/batches.jsonl  one line per step: B, S, T and the ids of src, tgt_in, tgt_out
//	DIR/qkv.tsv    step, loss, nll, grad_norm, lr of every step
//
// The directories are model directories for pytorch_g2p.load_qkv (which
// reads best.safetensors). Then, with 1 thread each:
//
//	nice -n 15 env GOMAXPROCS=1 go run ./bench/lockstep -train /work/runs/cmp/pieces-s1.tsv \
//	    -out /tmp/ls/d0 -max-tokens 1024 -steps 300 -dropout 0 -label-smoothing 0 -dump-at 1,10,100
//	nice -n 15 /usr/bin/python3 bench/lockstep.py --dir /tmp/ls/d0 --label-smoothing 0 --dropout 0
//
// -dropout sets the model's dropout and its attention dropout (the preset
// has both at 0.1, as torch.nn.Transformer's single dropout argument).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/optim"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/tensor"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/train"
)

func main() {
	trainFile := flag.String("train", "", "training pairs: space-separated pieces, source<TAB>target")
	out := flag.String("out", "", "output directory (created)")
	maxTokens := flag.Int("max-tokens", 1024, "padded tokens per batch")
	maxLen := flag.Int("max-len", 150, "longest source and target in tokens (longer pairs are left out)")
	steps := flag.Int64("steps", 300, "optimizer steps")
	dropout := flag.Float64("dropout", 0, "dropout and attention dropout")
	smoothing := flag.Float64("label-smoothing", 0, "label smoothing ε")
	warmup := flag.Int64("warmup", 400, "warm-up steps of the noam schedule")
	seed := flag.Uint64("seed", 1, "seed of initialization, batch order and dropout")
	dumpAt := flag.String("dump-at", "", "comma-separated steps after which to write the weights (DIR/step-K)")
	meanGrads := flag.Int("mean-grads", 0, "with dropout: also write the mean of step 1's gradients over this many dropout draws (DIR/grad1-mean)")
	flag.Parse()
	if *trainFile == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*trainFile, *out, *maxTokens, *maxLen, *steps, float32(*dropout), float32(*smoothing), *warmup, *seed, *dumpAt, *meanGrads); err != nil {
		fmt.Fprintln(os.Stderr, "lockstep:", err)
		os.Exit(1)
	}
}

func run(trainFile, out string, maxTokens, maxLen int, steps int64, dropout, smoothing float32, warmup int64, seed uint64, dumpAt string, meanGrads int) error {
	dumps := map[int64]bool{}
	for _, f := range strings.Split(dumpAt, ",") {
		if f == "" {
			continue
		}
		k, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return fmt.Errorf("-dump-at: %w", err)
		}
		dumps[k] = true
	}
	pairs, err := corpus.ReadTSVFile(trainFile)
	if err != nil {
		return err
	}
	data := pipeline.DataConfig{SrcTokenizer: pipeline.TokWord, TgtTokenizer: pipeline.TokWord, JointVocab: true,
		MaxSrcLen: maxLen, MaxTgtLen: maxLen, MaxLenA: pipeline.DefaultMaxLenA, MaxLenB: pipeline.DefaultMaxLenB}
	pr, err := pipeline.Prepare(pairs, nil, pipeline.PrepareOptions{Data: data, MinFreq: 1, BPEMerges: 8000})
	if err != nil {
		return err
	}
	mc, err := model.DefaultConfig(model.ArchTransformer)
	if err != nil {
		return err
	}
	mc.SrcVocab, mc.TgtVocab, mc.Seed = pr.Src.Len(), pr.Tgt.Len(), seed
	mc.Dropout, mc.AttnDropout = dropout, dropout
	mc.MaxLen = max(mc.MaxLen, maxLen+2) // as qkv train sets it
	m, err := model.New(mc)
	if err != nil {
		return err
	}
	opts := train.Defaults()
	opts.MaxTokens, opts.MaxSteps, opts.Warmup, opts.LabelSmoothing, opts.Seed = maxTokens, steps, warmup, smoothing, seed
	opts.SaveEvery = train.Every{}
	params := m.Params()

	// A model directory holding tensors of the model's names and shapes.
	saveDir := func(name string, tensors []*tensor.Tensor) error {
		dir := filepath.Join(out, name)
		if err := pr.Save(dir, mc, opts); err != nil {
			return err
		}
		return checkpoint.Save(filepath.Join(dir, train.BestFile), tensors, nil)
	}
	if err := saveDir("init", params); err != nil {
		return err
	}

	// The trainer's batches and order: batch.Plan and batch.Shuffled, as
	// train.New and Trainer.Run use them.
	plan := batch.Plan(pr.Train, maxTokens)
	batches := make([]*batch.Batch, len(plan))
	for i, idx := range plan {
		if batches[i], err = batch.Make(pr.Train, idx); err != nil {
			return err
		}
	}
	var seq []*batch.Batch
	for epoch := 0; int64(len(seq)) < steps; epoch++ {
		for _, i := range batch.Shuffled(len(batches), seed, epoch) {
			seq = append(seq, batches[i])
		}
	}
	seq = seq[:steps]
	if err := writeBatches(filepath.Join(out, "batches.jsonl"), seq); err != nil {
		return err
	}

	// The gradients of step k's batch from the current weights, on a graph
	// of their own (with dropout they are one draw, not the trainer's): at
	// the start, and after each dumped step, so that PyTorch can compare
	// its gradient from the very same weights.
	// With draws > 1, the mean over that many dropout draws (graph seeds
	// seed, seed+1, …), whose expectation PyTorch's must share if dropout sits
	// and scales as in torch.nn.Transformer.
	saveGrad := func(k int64, draws int, name string) error {
		b := seq[k-1]
		for d := range draws {
			g := tensor.NewGraph(seed + uint64(d))
			g.Backward(g.CrossEntropy(m.Forward(g, b), b.TgtOut, batch.PAD, smoothing)) // gradients add up
		}
		grads := make([]*tensor.Tensor, len(params))
		for i, p := range params {
			grads[i] = tensor.FromData(append([]float32(nil), p.Grad...), p.Shape...)
			grads[i].Name = p.Name
			for j := range grads[i].Data {
				grads[i].Data[j] /= float32(draws)
			}
		}
		optim.ZeroGrad(params)
		return saveDir(name, grads)
	}
	if err := saveGrad(1, 1, "grad1"); err != nil {
		return err
	}
	if meanGrads > 0 {
		if err := saveGrad(1, meanGrads, "grad1-mean"); err != nil {
			return err
		}
	}

	tr, err := train.New(m, pr.Train, nil, filepath.Join(out, "run"), opts)
	if err != nil {
		return err
	}
	if tr.BatchesPerEpoch() != len(batches) {
		return fmt.Errorf("the trainer has %d batches an epoch, the plan %d", tr.BatchesPerEpoch(), len(batches))
	}
	var log strings.Builder
	log.WriteString("step\tloss\tnll\tgrad_norm\tlr\n")
	var stepErr error
	tr.OnStep = func(p train.Progress) {
		fmt.Fprintf(&log, "%d\t%.7g\t%.7g\t%.7g\t%.7g\n", p.Step, p.Loss, p.NLL, p.GradNorm, p.LR)
		if p.Step%50 == 0 {
			fmt.Fprintf(os.Stderr, "step %d loss %.5f nll %.5f grad norm %.4f\n", p.Step, p.Loss, p.NLL, p.GradNorm)
		}
		if dumps[p.Step] && stepErr == nil {
			stepErr = saveDir(fmt.Sprintf("step-%d", p.Step), params)
			if stepErr == nil && p.Step < steps {
				stepErr = saveGrad(p.Step+1, 1, fmt.Sprintf("grad%d", p.Step+1))
			}
		}
	}
	if _, err := tr.Run(context.Background()); err != nil {
		return err
	}
	if stepErr != nil {
		return stepErr
	}
	fmt.Fprintf(os.Stderr, "%d pairs, vocabulary %d, %d batches an epoch, %d steps\n", len(pr.Train), pr.Src.Len(), len(batches), steps)
	return atomicfile.WriteFile(filepath.Join(out, "qkv.tsv"), []byte(log.String()))
}

// batchLine is one step's batch as bench/lockstep.py reads it: ids (B, S)
// and (B, T), row-major, PAD = 0.
type batchLine struct {
	B, S, T int
	Src     []int32 `json:"src"`
	TgtIn   []int32 `json:"tgt_in"`
	TgtOut  []int32 `json:"tgt_out"`
}

func writeBatches(path string, seq []*batch.Batch) error {
	return atomicfile.Write(path, func(w0 io.Writer) error {
		w := bufio.NewWriter(w0)
		enc := json.NewEncoder(w)
		for _, b := range seq {
			if err := enc.Encode(batchLine{B: b.B, S: b.S, T: b.T, Src: b.Src, TgtIn: b.TgtIn, TgtOut: b.TgtOut}); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}
