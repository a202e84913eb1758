package train

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
)

// TestOptionsValidate checks every option's range: each bad value is an
// error that names the flag (or the config key), and the defaults pass.
func TestOptionsValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	nan := math.NaN()
	cases := []struct {
		set  func(*Options)
		want string
	}{
		{func(o *Options) { o.Schedule = "cosine-restarts" }, "--schedule"},
		{func(o *Options) { o.Schedule = "cosine" }, "give --max-steps or --decay-steps"},
		{func(o *Options) { o.Schedule, o.MaxSteps = "cosine", 4000 }, "within the warm-up (--warmup 4000)"},
		{func(o *Options) { o.Schedule, o.MaxSteps, o.DecaySteps = "cosine", 9000, -1 }, "--decay-steps -1"},
		{func(o *Options) { o.Schedule, o.MaxSteps, o.LR, o.MinLR = "cosine", 9000, 1e-3, 1e-3 }, "--min-lr 0.001"},
		{func(o *Options) { o.Schedule, o.MaxSteps, o.MinLR = "cosine", 9000, nan }, "--min-lr NaN"},
		{func(o *Options) { o.DecaySteps = 9000 }, "belong to --schedule cosine, not noam"},
		{func(o *Options) { o.Schedule, o.MinLR = "inverse-sqrt", 1e-5 }, "belong to --schedule cosine, not inverse-sqrt"},
		{func(o *Options) { o.MaxTokens = 1 }, "--max-tokens 1"},
		{func(o *Options) { o.MaxTokens = MaxMaxTokens + 1 }, "--max-tokens"},
		{func(o *Options) { o.Epochs = 0 }, "--epochs 0"},
		{func(o *Options) { o.Epochs = -1 }, "--epochs -1"},
		{func(o *Options) { o.MaxSteps = -1 }, "--max-steps -1"},
		{func(o *Options) { o.TimeBudget = -time.Second }, "--time-budget -1s"},
		{func(o *Options) { o.LR = 0 }, "--lr 0"},
		{func(o *Options) { o.LR = -1 }, "--lr -1"},
		{func(o *Options) { o.LR = nan }, "--lr NaN"},
		{func(o *Options) { o.LR = math.Inf(1) }, "--lr +Inf"},
		{func(o *Options) { o.Warmup = -1 }, "--warmup -1"},
		{func(o *Options) { o.Beta1 = 1 }, "train.beta1"},
		{func(o *Options) { o.Beta2 = -0.1 }, "train.beta2"},
		{func(o *Options) { o.Eps = 0 }, "train.eps"},
		{func(o *Options) { o.WeightDecay = -1 }, "--weight-decay -1"},
		{func(o *Options) { o.ClipNorm = -1 }, "--clip-norm -1"},
		{func(o *Options) { o.ClipNorm = nan }, "--clip-norm NaN"},
		{func(o *Options) { o.LabelSmoothing = 1 }, "--label-smoothing 1"},
		{func(o *Options) { o.LabelSmoothing = -0.1 }, "--label-smoothing"},
		{func(o *Options) { o.Accum = 0 }, "--accum 0"},
		{func(o *Options) { o.ValidEvery = -1 }, "--valid-every -1"},
		{func(o *Options) { o.Patience = -1 }, "--patience -1"},
		{func(o *Options) { o.KeepSnapshots = -1 }, "--keep-snapshots -1"},
		{func(o *Options) { o.SaveEvery = Every{Steps: -1} }, "--save-every"},
		{func(o *Options) { o.SaveEvery = Every{Time: -time.Minute} }, "--save-every"},
	}
	for _, c := range cases {
		o := Defaults()
		c.set(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
	// Zero warm-up and zero save period are meaningful, not defaults.
	o := Defaults()
	o.Warmup, o.SaveEvery = 0, Every{}
	if err := o.Validate(); err != nil {
		t.Errorf("warmup 0, save_every 0: %v", err)
	}
	if w := o.WithDefaults().Warmup; w != 0 {
		t.Errorf("warmup 0 became %d", w)
	}
	// Cosine ends its decay at --max-steps unless told otherwise, and
	// records the step, so that a resume with more steps keeps it.
	o = Defaults()
	o.Schedule, o.LR, o.MaxSteps, o.MinLR = "cosine", 2e-3, 9000, 1e-5
	if err := o.Validate(); err != nil {
		t.Errorf("cosine to --max-steps: %v", err)
	}
	if d := o.WithDefaults().DecaySteps; d != 9000 {
		t.Errorf("cosine's decay ends at %d, want --max-steps 9000", d)
	}
	o.MaxSteps, o.DecaySteps = 0, 12000
	if err := o.Validate(); err != nil || o.WithDefaults().DecaySteps != 12000 {
		t.Errorf("cosine with --decay-steps and no --max-steps: %v, %d", err, o.WithDefaults().DecaySteps)
	}
}

func TestEvery(t *testing.T) {
	for in, want := range map[string]Every{"500": {Steps: 500}, "0": {}, "10m": {Time: 10 * time.Minute}, " 90s ": {Time: 90 * time.Second}} {
		got, err := ParseEvery(in)
		if err != nil || got != want {
			t.Errorf("ParseEvery(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		raw, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var back Every
		if err := json.Unmarshal(raw, &back); err != nil || back != got {
			t.Errorf("JSON %s reads back as %+v, %v", raw, back, err)
		}
	}
	for _, in := range []string{"-1", "-1m", "1x", "", "ten"} {
		if _, err := ParseEvery(in); err == nil {
			t.Errorf("ParseEvery(%q) accepted", in)
		}
	}
	var e Every
	if err := json.Unmarshal([]byte(`"5m"`), &e); err != nil || e.Time != 5*time.Minute {
		t.Errorf(`"5m": %+v, %v`, e, err)
	}
	if err := json.Unmarshal([]byte(`-3`), &e); err == nil {
		t.Error("save_every -3 accepted")
	}
}

// lastStep is the step recorded in dir's last checkpoint, or -1.
func lastStep(t *testing.T, dir string) string {
	t.Helper()
	meta, err := checkpoint.ReadMetadata(filepath.Join(dir, LastFile))
	if err != nil {
		return "-1"
	}
	return meta["step"]
}

// TestLastIsSavedDuringTheRun checks that the last checkpoint is written
// every SaveEvery steps and at every validation point, not only at the end.
func TestLastIsSavedDuringTheRun(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
		want map[int64]string // step seen in OnStep → step of last.safetensors at that moment
	}{
		{"save-every 3", Options{MaxTokens: 120, Schedule: "constant", LR: 1e-3, SaveEvery: Every{Steps: 3}, Seed: 1},
			map[int64]string{1: "-1", 3: "-1", 4: "3", 6: "3", 7: "6"}},
		{"valid-every 4", Options{MaxTokens: 120, Schedule: "constant", LR: 1e-3, ValidEvery: 4, Seed: 1},
			map[int64]string{3: "-1", 5: "4", 9: "8"}},
		{"save-every 1ns", Options{MaxTokens: 120, Schedule: "constant", LR: 1e-3, SaveEvery: Every{Time: 1}, Seed: 1},
			map[int64]string{2: "1", 5: "4"}},
	} {
		dir := t.TempDir()
		c.opts.MaxSteps = 10
		tr, err := New(newModel(t, model.ArchTransformer), copyTask(300, 1), copyTask(40, 2), dir, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		tr.OnStep = func(p Progress) {
			if _, ok := c.want[p.Step]; ok {
				got[p.Step] = lastStep(t, dir)
			}
		}
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for step, want := range c.want {
			if got[step] != want {
				t.Errorf("%s: at step %d last.safetensors was from step %s, want %s", c.name, step, got[step], want)
			}
		}
	}
}

// TestResumeWithoutACheckpoint: a run killed before its first save has
// nothing to resume from, and says so.
func TestResumeWithoutACheckpoint(t *testing.T) {
	tr, err := New(newModel(t, model.ArchTransformer), copyTask(20, 1), nil, t.TempDir(), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Resume()
	if !errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("resume in an empty directory: %v", err)
	}
}

// TestResumedSnapshotsPrune: snapshots the interrupted run wrote after its
// last save are dropped on resume, and the resumed run's snapshots prune
// with the old ones by step.
func TestResumedSnapshotsPrune(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxTokens: 120, Epochs: 100, Schedule: "constant", LR: 1e-3, ValidEvery: 3, KeepSnapshots: 3, Seed: 1}
	run(t, model.ArchTransformer, dir, 10, false, opts) // snapshots at 3, 6, 9; last at 10
	// A snapshot from after the last save, as a run killed between writing
	// step-12 and its last checkpoint leaves (here: a copy of step 9).
	raw, err := os.ReadFile(filepath.Join(dir, "step-00000009.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "step-00000012.safetensors"), raw, 0o644)
	os.WriteFile(filepath.Join(dir, "step-notes.safetensors"), []byte("mine"), 0o644)
	opts.KeepSnapshots = 2
	run(t, model.ArchTransformer, dir, 16, true, opts) // validations at 12, 15
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
		steps = append(steps, filepath.Base(s)+"@"+meta["step"])
	}
	if want := []string{"step-00000012.safetensors@12", "step-00000015.safetensors@15"}; !slices.Equal(steps, want) {
		t.Errorf("snapshots after the resume: %v, want %v", steps, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "step-notes.safetensors")); err != nil {
		t.Errorf("pruning removed a file that is not a snapshot: %v", err)
	}
	if n, ok := SnapshotStep("step-100000000.safetensors"); !ok || n != 100000000 {
		t.Errorf("SnapshotStep of a step past 10⁸: %d, %v", n, ok)
	}
}

// TestMaxTokensBelowTheLongestPair: a pair that alone takes more padded
// tokens than --max-tokens is an error that names the flag and the size.
func TestMaxTokensBelowTheLongestPair(t *testing.T) {
	ex := copyTask(50, 1) // sources and targets of 1 to 6 tokens: the longest costs 2·(6+2) = 16
	_, err := New(newModel(t, model.ArchTransformer), ex, nil, t.TempDir(), Options{MaxTokens: 15, Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "--max-tokens 15") || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("max_tokens 15: %v", err)
	}
	if _, err := New(newModel(t, model.ArchTransformer), ex, nil, t.TempDir(), Options{MaxTokens: 16, Seed: 1}); err != nil {
		t.Fatalf("max_tokens 16: %v", err)
	}
}

// TestNaNValidationIsAnError: a diverged model's validation loss is not
// reported as a number and trained on: the run stops with an error.
func TestNaNValidationIsAnError(t *testing.T) {
	m := newModel(t, model.ArchTransformer)
	for _, p := range m.Params() {
		for i := range p.Data {
			p.Data[i] = float32(math.NaN())
		}
	}
	tr, err := New(m, copyTask(50, 1), copyTask(10, 2), t.TempDir(), Options{MaxTokens: 120, Schedule: "constant", LR: 1e-3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "validation loss at step") || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("NaN model: %v", err)
	}
}

// TestWarmupWarnings: a warm-up longer than the run, or than the steps a
// time budget allows, is reported before it wastes the run; so is a cosine
// decay that would not end by the run's end.
func TestWarmupWarnings(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string // "" for no warning
	}{
		{Options{MaxSteps: 10, Warmup: 100}, "--max-steps 10"},
		{Options{MaxSteps: 10, Warmup: 10}, ""},
		{Options{MaxSteps: 10, Warmup: 100, Schedule: "constant"}, ""},
		{Options{Epochs: 1, Warmup: 1000}, "--epochs 1"},
		{Options{Epochs: 100000, TimeBudget: 300 * time.Millisecond, Warmup: 50000}, "--time-budget 300ms allows about"},
		{Options{MaxSteps: 10, Warmup: 2, Schedule: "cosine", LR: 1e-3}, ""},
		{Options{Epochs: 1, Warmup: 1, Schedule: "cosine", LR: 1e-3, DecaySteps: 100000}, "the cosine decay ends at step 100000"},
		{Options{Epochs: 1000000, TimeBudget: 300 * time.Millisecond, Warmup: 1, Schedule: "cosine", LR: 1e-3, DecaySteps: 1e7},
			"fewer than the cosine decay's 10000000"},
	} {
		c.opts.MaxTokens, c.opts.Seed, c.opts.ValidEvery = 120, 1, 1000
		tr, err := New(newModel(t, model.ArchTransformer), copyTask(100, 1), nil, t.TempDir(), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		var warnings []string
		stepsBefore := int64(-1)
		tr.OnWarn = func(s string) {
			warnings = append(warnings, s)
			if stepsBefore < 0 {
				stepsBefore = tr.Step()
			}
		}
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		switch {
		case c.want == "" && len(warnings) > 0:
			t.Errorf("%+v: unexpected warnings %q", c.opts, warnings)
		case c.want != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], c.want)):
			t.Errorf("%+v: warnings %q, want one with %q", c.opts, warnings, c.want)
		case c.want != "" && c.opts.TimeBudget == 0 && stepsBefore != 0:
			t.Errorf("%+v: warned after step %d, not before the first", c.opts, stepsBefore)
		}
	}
}

// TestLock: a second lock on a run directory is refused while the first is
// held, with a message that names the directory and the holder; after
// Unlock it is free again, and a directory Lock made and nothing else used
// is removed.
func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	a, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("second lock: %v", err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the empty directory Lock made is still there: %v", err)
	}
	b, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
	b.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Errorf("Unlock removed a directory with files: %v", err)
	}
}

// TestIdentity: the record of a run's settings leaves out what a resume may
// change, names what differs, and refuses an edited record.
func TestIdentity(t *testing.T) {
	type sec struct {
		Model map[string]any `json:"model"`
		Train Options        `json:"train"`
	}
	a := sec{Model: map[string]any{"arch": "transformer", "d_model": 64}, Train: Defaults()}
	fp := NewFingerprinter()
	fp.Add("abc", "AH BH CH")
	id, err := NewIdentity("transformer", a, fp.Sum(), Fingerprint{}, true)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := id.Write(dir); err != nil {
		t.Fatal(err)
	}
	back, err := ReadIdentity(dir)
	if err != nil || back.SettingsSHA256 != id.SettingsSHA256 || back.Train != id.Train || !back.ValidHeldOut {
		t.Fatalf("read back %+v, %v", back, err)
	}
	if !strings.HasPrefix(back.Program, "qkv ") || !strings.Contains(back.Program, runtime.Version()) {
		t.Errorf("run.json records the program %q, want the qkv build and its Go version", back.Program)
	}
	b := a
	b.Train.MaxSteps, b.Train.Epochs, b.Train.TimeBudget, b.Train.SaveEvery, b.Train.Patience = 99, 3, time.Hour, Every{Steps: 7}, 4
	rb, _ := SettingsJSON(b)
	if diffs, _ := DiffSettings(back.Settings, rb); len(diffs) != 0 {
		t.Errorf("resumable options count as differences: %v", diffs)
	}
	b.Train.LR = 0.5
	b.Model = map[string]any{"arch": "seq2seq", "d_model": 64}
	rb, _ = SettingsJSON(b)
	diffs, _ := DiffSettings(back.Settings, rb)
	got := DescribeDiffs(diffs, func(k string) string { return map[string]string{"train.lr": "--lr"}[k] })
	if want := `model.arch "transformer" → "seq2seq"; train.lr 1 → 0.5 (--lr)`; got != want {
		t.Errorf("differences %q, want %q", got, want)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, IdentityFile))
	os.WriteFile(filepath.Join(dir, IdentityFile), []byte(strings.Replace(string(raw), `"d_model": 64`, `"d_model": 32`, 1)), 0o644)
	if _, err := ReadIdentity(dir); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Errorf("an edited run.json: %v", err)
	}
	if _, err := ReadIdentity(t.TempDir()); !IsNotExist(err) {
		t.Errorf("no run.json: %v", err)
	}
	// Fingerprints see the pairs, not how their text splits.
	f1, f2 := NewFingerprinter(), NewFingerprinter()
	f1.Add("ab", "c")
	f2.Add("a", "bc")
	if f1.Sum() == f2.Sum() {
		t.Error("two different pairs have one fingerprint")
	}
}
