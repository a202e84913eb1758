package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/distill"
	"github.com/qkv-dev/qkv/model"
)

func copyTask(n int, seed uint64) []batch.Example {
	rng := rand.New(rand.NewPCG(seed, 2))
	ex := make([]batch.Example, n)
	for i := range ex {
		s := make([]int32, 1+rng.IntN(6))
		for j := range s {
			s[j] = 4 + rng.Int32N(8)
		}
		ex[i] = batch.Example{Src: s, Tgt: slices.Clone(s)}
	}
	return ex
}

func newModel(t *testing.T, arch string) model.Model {
	t.Helper()
	cfg := model.Config{Arch: arch, SrcVocab: 12, TgtVocab: 12, Dropout: 0.2, Seed: 3,
		DModel: 32, Heads: 2, EncLayers: 1, DecLayers: 1, DFF: 64, MaxLen: 32,
		Embed: 16, Hidden: 32, Layers: 1, AttnDim: 16}
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run trains a fresh model in dir for maxSteps (resuming when asked) and
// returns the loss of every step it took.
func run(t *testing.T, arch, dir string, maxSteps int64, resume bool, opts Options) ([]float64, Result) {
	return runTaught(t, arch, dir, maxSteps, resume, opts, nil)
}

// runTaught is run with a teacher's targets (nil: none).
func runTaught(t *testing.T, arch, dir string, maxSteps int64, resume bool, opts Options, teacher *distill.Targets) ([]float64, Result) {
	t.Helper()
	opts.MaxSteps = maxSteps
	tr, err := New(newModel(t, arch), copyTask(300, 1), copyTask(40, 2), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if resume {
		if err := tr.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	if teacher != nil {
		if err := tr.SetTeacher(teacher); err != nil {
			t.Fatal(err)
		}
	}
	var losses []float64
	tr.OnStep = func(p Progress) { losses = append(losses, p.Loss) }
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return losses, res
}

// TestResumeReproducesTheUninterruptedRun stops a run part-way (in the
// middle of an epoch, with dropout on and gradient accumulation), resumes
// it from its last checkpoint, and checks that every later loss and the
// final weights are bit-for-bit those of a run that never stopped.
func TestResumeReproducesTheUninterruptedRun(t *testing.T) {
	for _, arch := range []string{model.ArchTransformer, model.ArchRNNSearch} {
		opts := Options{MaxTokens: 120, Epochs: 5, Schedule: "noam", Warmup: 10, ValidEvery: 4, Accum: 2, ClipNorm: 1, LabelSmoothing: 0.1, Seed: 9}
		whole := t.TempDir()
		all, _ := run(t, arch, whole, 14, false, opts)
		split := t.TempDir()
		first, res := run(t, arch, split, 6, false, opts)
		if res.Stopped != "max-steps" || res.Steps != 6 {
			t.Fatalf("%s: first part stopped with %+v", arch, res)
		}
		rest, _ := run(t, arch, split, 14, true, opts)
		got := append(first, rest...)
		if !slices.Equal(got, all) {
			t.Fatalf("%s: losses with a resume\n%v\nwithout\n%v", arch, got, all)
		}
		a, _, err := checkpoint.ReadAll(filepath.Join(whole, LastFile))
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := checkpoint.ReadAll(filepath.Join(split, LastFile))
		if err != nil {
			t.Fatal(err)
		}
		for name, x := range a {
			if !slices.Equal(x.Data, b[name].Data) {
				t.Fatalf("%s: tensor %s differs after resuming", arch, name)
			}
		}
		// The validation table too: every 4 steps, at 4, 8 and 12.
		va, errA := os.ReadFile(filepath.Join(whole, ValidationsFile))
		vb, errB := os.ReadFile(filepath.Join(split, ValidationsFile))
		if errA != nil || errB != nil || string(va) != string(vb) || strings.Count(string(va), "\n") != 4 ||
			!strings.HasPrefix(string(va), "step\tepoch\tloss\tbest\n4\t") {
			t.Errorf("%s: %s\n%s\nwith a resume:\n%s\n%v %v", arch, ValidationsFile, va, vb, errA, errB)
		}
	}
}

// TestValidationsTable: validations.tsv holds every validation of the run
// with its metric under its name; a resumed run's table is its saved
// history, without what the interrupted run wrote after its last save.
func TestValidationsTable(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxTokens: 120, Schedule: "constant", LR: 1e-3, ValidEvery: 3, MaxSteps: 7, Seed: 2}
	tr, err := New(newModel(t, model.ArchTransformer), copyTask(300, 1), copyTask(40, 2), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	tr.Metric = func(context.Context, model.Model) (string, float64, error) {
		calls++
		return "wer", float64(50 + calls), nil
	}
	var seen []Validation
	tr.OnValid = func(v Validation) { seen = append(seen, v) }
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ValidationsFile)
	table, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(table), "\n"), "\n")
	if len(seen) != 2 || len(lines) != 3 || lines[0] != "step\tepoch\tloss\twer\tbest" {
		t.Fatalf("%d validations, table:\n%s", len(seen), table)
	}
	for i, v := range seen {
		best := "0"
		if v.Best {
			best = "1"
		}
		want := fmt.Sprintf("%d\t%d\t%.6f\t%.4f\t%s", v.Step, v.Epoch+1, v.Loss, v.Value, best)
		if lines[i+1] != want {
			t.Errorf("line %d: %q, want %q", i+1, lines[i+1], want)
		}
	}
	// A validation the interrupted run wrote after its last save is not
	// in the resumed run's table.
	if err := os.WriteFile(path, append(table, "9\t1\t0.5\t40.0000\t1\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err = New(newModel(t, model.ArchTransformer), copyTask(300, 1), copyTask(40, 2), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Resume(); err != nil {
		t.Fatal(err)
	}
	if again, err := os.ReadFile(path); err != nil || string(again) != string(table) {
		t.Errorf("after Resume:\n%s\nwant\n%s", again, table)
	}
}

func TestTrainingLowersTheLossAndKeepsTheBest(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxTokens: 200, Epochs: 30, Schedule: "inverse-sqrt", LR: 3e-3, Warmup: 20, Seed: 1}
	tr, err := New(newModel(t, model.ArchTransformer), copyTask(300, 1), copyTask(40, 2), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var valids []Validation
	tr.OnValid = func(v Validation) { valids = append(valids, v) }
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 30 || res.Stopped != "epochs" || len(valids) != 30 {
		t.Fatalf("result %+v with %d validations", res, len(valids))
	}
	if first, last := valids[0].Loss, res.BestLoss; last > first/2 {
		t.Errorf("validation loss went from %.3f to only %.3f", first, last)
	}
	best := valids[0]
	for _, v := range valids {
		if v.Loss < best.Loss {
			best = v
		}
	}
	meta, err := checkpoint.ReadMetadata(filepath.Join(dir, BestFile))
	if err != nil {
		t.Fatal(err)
	}
	if meta["step"] != strconv.FormatInt(best.Step, 10) {
		t.Errorf("best checkpoint is from step %s, the best validation was at step %d", meta["step"], best.Step)
	}
}

func TestEarlyStoppingAndTimeBudget(t *testing.T) {
	// A learning rate of zero never improves: patience 2 stops after 3 validations.
	opts := Options{MaxTokens: 200, Epochs: 50, Schedule: "constant", LR: 1e-12, Patience: 2, Seed: 1}
	tr, err := New(newModel(t, model.ArchTransformer), copyTask(100, 1), copyTask(20, 2), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "early-stopping" || res.Epochs > 4 {
		t.Errorf("got %+v, want early stopping after about 3 epochs", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	tr, _ = New(newModel(t, model.ArchTransformer), copyTask(100, 1), nil, dir, Options{Seed: 1})
	res, err = tr.Run(ctx)
	if err != nil || res.Stopped != "interrupted" {
		t.Fatalf("cancelled run: %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, LastFile)); err != nil {
		t.Errorf("an interrupted run left no checkpoint: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	m := newModel(t, model.ArchTransformer)
	for _, o := range []Options{{Schedule: "linear"}, {LabelSmoothing: 1.5}, {MaxTokens: 1}} {
		if _, err := New(m, copyTask(10, 1), nil, t.TempDir(), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := New(m, nil, nil, t.TempDir(), Options{}); err == nil {
		t.Error("an empty training set was accepted")
	}
}

// TestSnapshots keeps the parameters of the last validation points, removes
// older ones, and the average of the kept snapshots is their mean.
func TestSnapshots(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxTokens: 120, Epochs: 100, Schedule: "constant", LR: 1e-3, ValidEvery: 3, KeepSnapshots: 2, Seed: 1}
	_, res := run(t, model.ArchTransformer, dir, 10, false, opts)
	if res.Steps != 10 {
		t.Fatalf("result %+v", res)
	}
	snaps, err := Snapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, s := range snaps {
		meta, err := checkpoint.ReadMetadata(s)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, meta["step"])
	}
	// Validation points at steps 3, 6 and 9: the last two are kept.
	if want := []string{"6", "9"}; !slices.Equal(steps, want) || filepath.Base(snaps[1]) != "step-00000009.safetensors" {
		t.Fatalf("snapshots %v (steps %v), want steps %v", snaps, steps, want)
	}
	a, _, err := checkpoint.ReadAll(snaps[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := checkpoint.ReadAll(snaps[1])
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "average.safetensors")
	if err := checkpoint.Average(out, snaps); err != nil {
		t.Fatal(err)
	}
	avg, _, err := checkpoint.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(t, model.ArchTransformer)
	if len(avg) != len(m.Params()) {
		t.Fatalf("average holds %d tensors, the model has %d parameters", len(avg), len(m.Params()))
	}
	differ := false
	for name, x := range avg {
		for i, v := range x.Data {
			if want := float32((float64(a[name].Data[i]) + float64(b[name].Data[i])) / 2); v != want {
				t.Fatalf("%s[%d] = %v, want %v", name, i, v, want)
			}
			differ = differ || a[name].Data[i] != b[name].Data[i]
		}
	}
	if !differ {
		t.Fatal("the two snapshots are identical: training did not move the weights")
	}
	if err := checkpoint.Load(out, m.Params()); err != nil {
		t.Fatalf("the average does not load into the model: %v", err)
	}
	if _, err := New(newModel(t, model.ArchTransformer), copyTask(10, 1), nil, t.TempDir(), Options{KeepSnapshots: -1}); err == nil {
		t.Error("no error for keep_snapshots -1")
	}
}

// TestDescribeSchedule: the schedule's description gives the rate it
// peaks at, and when: for noam, whose --lr is a factor, the rate its
// formula makes of the model's width.
func TestDescribeSchedule(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want []string
	}{
		// 2 · 32^−0.5 · 100^−0.5 = 0.0354: d_model 32 (newModel).
		{Options{Schedule: "noam", LR: 2, Warmup: 100}, []string{"noam", "0.0354 at step 100", "--lr 2 is the schedule's factor"}},
		{Options{Schedule: "inverse-sqrt", LR: 5e-4, Warmup: 40}, []string{"0.0005 at step 40", "1/√step"}},
		{Options{Schedule: "cosine", LR: 1e-3, Warmup: 80, MaxSteps: 900, MinLR: 1e-5}, []string{"0.001 at step 80", "down to 1e-05 at step 900"}},
		{Options{Schedule: "constant", LR: 3e-4}, []string{"constant: 0.0003"}},
		// Without a warm-up the rate starts at its peak: nothing rises.
		{Options{Schedule: "cosine", LR: 2e-4, MaxSteps: 500}, []string{"cosine: 0.0002 from the first step (no warm-up), then down to 0 at step 500"}},
	} {
		tr, err := New(newModel(t, "transformer"), copyTask(30, 1), copyTask(5, 2), t.TempDir(), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		got := tr.DescribeSchedule()
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.opts.Schedule, got, w)
			}
		}
	}
}

// TestBestByMetric: with BestBy "metric", best.safetensors and patience
// follow the validation metric in its direction, not the loss; the best
// value survives a resume; a run without a metric is refused.
func TestBestByMetric(t *testing.T) {
	for _, higher := range []bool{false, true} {
		// A scripted metric, whatever the loss does.
		script := []float64{30, 20, 25, 10, 40, 50}
		calls := 0
		newTrainer := func(dir string, maxSteps int64) *Trainer {
			opts := Options{MaxTokens: 120, Schedule: "constant", LR: 1e-3, ValidEvery: 2, MaxSteps: maxSteps, Seed: 2, BestBy: "metric", Patience: 2}
			tr, err := New(newModel(t, model.ArchTransformer), copyTask(300, 1), copyTask(40, 2), dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			tr.MetricHigherIsBetter = higher
			tr.Metric = func(context.Context, model.Model) (string, float64, error) {
				calls++
				return "wer", script[calls-1], nil
			}
			return tr
		}
		dir := t.TempDir()
		var seen []Validation
		tr := newTrainer(dir, 4) // validations 1 and 2, then a resume
		tr.OnValid = func(v Validation) { seen = append(seen, v) }
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr = newTrainer(dir, 100)
		if err := tr.Resume(); err != nil {
			t.Fatal(err)
		}
		tr.OnValid = func(v Validation) { seen = append(seen, v) }
		res, err := tr.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Patience 2 stops both after two validations without a better
		// metric: the best value and the count survive the resume.
		wantBest := []bool{true, true, false, true, false, false} // error rate: 30, 20, 10
		if higher {
			wantBest = []bool{true, false, false} // 30 stays the best
		}
		var got []bool
		for _, v := range seen {
			got = append(got, v.Best)
		}
		if res.Stopped != "early-stopping" || !slices.Equal(got, wantBest) {
			t.Errorf("higher %v: stopped (%s) with best flags %v, want early stopping with %v", higher, res.Stopped, got, wantBest)
		}
		last := 0
		for i, v := range seen {
			if v.Best {
				last = i
			}
		}
		meta, err := checkpoint.ReadMetadata(filepath.Join(dir, BestFile))
		if err != nil {
			t.Fatal(err)
		}
		if meta["step"] != strconv.FormatInt(seen[last].Step, 10) || meta["valid_wer"] != fmt.Sprint(seen[last].Value) {
			t.Errorf("higher %v: best.safetensors is from step %s (wer %s), the best validation was at step %d (%g)",
				higher, meta["step"], meta["valid_wer"], seen[last].Step, seen[last].Value)
		}
		if res.Metric != "wer" || res.BestMetric != seen[last].Value {
			t.Errorf("higher %v: result names %s %g as the best, want wer %g", higher, res.Metric, res.BestMetric, seen[last].Value)
		}
	}
	// No metric: refused, naming the option.
	tr, err := New(newModel(t, model.ArchTransformer), copyTask(30, 1), copyTask(4, 2), t.TempDir(), Options{MaxSteps: 2, BestBy: "metric", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--best-by metric") {
		t.Errorf("a run with --best-by metric and no metric: %v", err)
	}
	if _, err := New(newModel(t, model.ArchTransformer), copyTask(30, 1), nil, t.TempDir(), Options{BestBy: "wer"}); err == nil || !strings.Contains(err.Error(), "--best-by") {
		t.Errorf("--best-by wer: %v", err)
	}
}
