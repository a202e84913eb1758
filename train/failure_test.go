package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/tensor"
)

// panicAt is a model whose Forward panics at its at-th call in training
// (counted from 1).
type panicAt struct {
	model.Model
	calls, at int
}

func (m *panicAt) Forward(g *tensor.Graph, b *batch.Batch) *tensor.Tensor {
	if !g.Training() {
		return m.Model.Forward(g, b) // validation: not counted
	}
	m.calls++
	if m.calls == m.at {
		panic("injected failure in a step")
	}
	return m.Model.Forward(g, b)
}

// TestAFailureSavesLastFirst: a failure after training started (a metric
// error at a validation, a panic in the middle of a step with gradient
// accumulation, a failed write of best.safetensors, a panic in a callback) is reported after last.safetensors
// has been written as of the last whole step; resumed from it, the run
// gives the losses and weights of a run that never failed.
func TestAFailureSavesLastFirst(t *testing.T) {
	opts := Options{MaxTokens: 120, Epochs: 5, Schedule: "noam", Warmup: 10, ValidEvery: 4, Accum: 2, ClipNorm: 1, LabelSmoothing: 0.1, Seed: 9}
	whole := t.TempDir()
	all, _ := run(t, model.ArchTransformer, whole, 14, false, opts)
	want, _, err := checkpoint.ReadAll(filepath.Join(whole, LastFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		inject func(tr *Trainer, m *panicAt)
		step   int64 // the step last.safetensors must hold
		errHas string
	}{
		{"metric error", func(tr *Trainer, _ *panicAt) {
			tr.Metric = func(_ context.Context, _ model.Model) (string, float64, error) {
				if tr.Step() == 8 {
					return "", 0, errors.New("injected metric failure")
				}
				return "bleu", 1, nil
			}
		}, 8, "validation metric at step 8: injected metric failure"},
		// Two batches a step (accumulation): the 12th is the second batch
		// of step 6, which is rolled back to its start (step 5 whole).
		{"panic in a step", func(_ *Trainer, m *panicAt) { m.at = 12 }, 5, "injected failure in a step"},
		// A directory where best.safetensors goes makes its write fail at
		// the first validation (step 4); it is removed before resuming.
		{"write error", func(tr *Trainer, _ *panicAt) {
			if err := os.Mkdir(filepath.Join(tr.dir, BestFile), 0o755); err != nil {
				t.Fatal(err)
			}
		}, 4, BestFile},
		{"panic in a callback", func(tr *Trainer, _ *panicAt) {
			prev := tr.OnStep
			tr.OnStep = func(p Progress) {
				prev(p)
				if p.Step == 6 {
					panic("injected failure in OnStep")
				}
			}
		}, 6, "injected failure in OnStep"},
	} {
		dir := t.TempDir()
		o := opts
		o.MaxSteps = 14
		m := &panicAt{Model: newModel(t, model.ArchTransformer)}
		tr, err := New(m, copyTask(300, 1), copyTask(40, 2), dir, o)
		if err != nil {
			t.Fatal(err)
		}
		var first []float64
		tr.OnStep = func(p Progress) { first = append(first, p.Loss) }
		c.inject(tr, m)
		_, err = tr.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.errHas) || !strings.Contains(err.Error(), "--resume") {
			t.Fatalf("%s: Run returned %v", c.name, err)
		}
		if _, serr := os.Stat(filepath.Join(dir, LastFile)); serr != nil {
			t.Fatalf("%s: no %s after the failure: %v", c.name, LastFile, serr)
		}
		step := lastStep(t, dir)
		if c.step >= 0 && step != strconv.FormatInt(c.step, 10) {
			t.Fatalf("%s: last.safetensors holds step %s, want %d", c.name, step, c.step)
		}
		if strconv.Itoa(len(first)) != step {
			t.Fatalf("%s: %d steps were taken whole, last.safetensors holds step %s", c.name, len(first), step)
		}
		os.Remove(filepath.Join(dir, BestFile)) // the write error's directory, if any
		rest, _ := run(t, model.ArchTransformer, dir, 14, true, opts)
		if got := append(first, rest...); !slices.Equal(got, all) {
			t.Fatalf("%s: losses with the failure and a resume\n%v\nwithout\n%v", c.name, got, all)
		}
		got, _, err := checkpoint.ReadAll(filepath.Join(dir, LastFile))
		if err != nil {
			t.Fatal(err)
		}
		for name, x := range want {
			if !slices.Equal(x.Data, got[name].Data) {
				t.Fatalf("%s: tensor %s differs from the run that never failed", c.name, name)
			}
		}
	}
}
