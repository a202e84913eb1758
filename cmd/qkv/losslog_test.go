package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTrainLossLog checks qkv train --loss-log: one line per optimizer step
// with the learning rate of the noam schedule; a run killed after its last
// save and resumed gives the same file as an uninterrupted run (the lines
// logged after the save, and a partial last line, are dropped); an existing
// log or an input is never overwritten by a new run.
func TestTrainLossLog(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 200, 3)
	validFile := g2pLike(t, dir, "valid.tsv", 20, 4)
	common := []string{"train", "--arch", "transformer", "--preset", "tiny-transformer", "--train", trainFile,
		"--valid", validFile, "--max-tokens", "400", "--metric", "none", "--warmup", "5"}
	wholeLog := filepath.Join(dir, "whole.tsv")
	if _, stderr, err := qkv(t, "", append(common, "--out", filepath.Join(dir, "whole"), "--max-steps", "12", "--loss-log", wholeLog)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	whole, err := os.ReadFile(wholeLog)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(whole), "\n"), "\n")
	if len(lines) != 13 || lines[0]+"\n" != lossLogHeader {
		t.Fatalf("want a header and 12 lines, got:\n%s", whole)
	}
	for i, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 6 || f[0] != strconv.Itoa(i+1) {
			t.Fatalf("line %d: %q", i+2, line)
		}
		var v [6]float64
		for j, s := range f {
			if v[j], err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(v[j]) || math.IsInf(v[j], 0) {
				t.Fatalf("line %d field %d: %q", i+2, j+1, s)
			}
		}
		step := float64(i + 1)
		wantLR := math.Pow(64, -0.5) * math.Min(math.Pow(step, -0.5), step*math.Pow(5, -1.5)) // tiny-transformer: d_model 64
		if math.Abs(v[3]-wantLR) > 1e-4*wantLR {
			t.Errorf("step %d: lr %g, want %g", i+1, v[3], wantLR)
		}
		if v[1] <= 0 || v[2] <= 0 || v[4] <= 0 || v[5] <= 0 {
			t.Errorf("step %d: loss, nll, gradient norm and tokens must be positive: %q", i+1, line)
		}
	}

	split := filepath.Join(dir, "split")
	splitLog := filepath.Join(dir, "split.tsv")
	if _, stderr, err := qkv(t, "", append(common, "--out", split, "--max-steps", "5", "--loss-log", splitLog)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	// What a run killed after step 7, its last save at step 5, leaves behind.
	f, err := os.OpenFile(splitLog, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("6\t9.9\t9.9\t1e-3\t1.0\t100\n7\t9.9\t9.9\t1e-3\t1.0\t100\n8\t9.")
	f.Close()
	if _, stderr, err := qkv(t, "", "train", "--resume", "--out", split, "--train", trainFile, "--valid", validFile,
		"--max-steps", "12", "--metric", "none", "--loss-log", splitLog); err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	if got, _ := os.ReadFile(splitLog); string(got) != string(whole) {
		t.Errorf("the resumed run's log differs from the uninterrupted run's:\n%s\nwant:\n%s", got, whole)
	}

	for _, c := range []struct {
		log, want string
	}{
		{wholeLog, "already holds a log"},
		{trainFile, "is also an input"},
	} {
		before, _ := os.ReadFile(c.log)
		_, stderr, err := qkv(t, "", append(common, "--out", filepath.Join(dir, "new"), "--max-steps", "1", "--loss-log", c.log)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("--loss-log %s: err %v, want %q:\n%s", c.log, err, c.want, stderr)
		}
		if after, _ := os.ReadFile(c.log); string(after) != string(before) {
			t.Errorf("--loss-log %s was changed by a refused run", c.log)
		}
	}
}

// TestLossLogNeverReplacesOtherFiles: --loss-log, even with --overwrite
// (which is about --out), replaces only a previous loss log: not a file of
// another kind, and never a file named like a run's (another run's
// config.json, or this run's last.safetensors, which the trainer writes).
func TestLossLogNeverReplacesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("my notes\n"), 0o644)
	run := filepath.Join(dir, "run1")
	os.Mkdir(run, 0o755)
	cfg := filepath.Join(run, "config.json")
	os.WriteFile(cfg, []byte("{}\n"), 0o644)
	for _, path := range []string{other, cfg, filepath.Join(dir, "run2", "last.safetensors"), filepath.Join(dir, "step-00000100.safetensors")} {
		for _, resume := range []int64{-1, 3} {
			if l, err := openLossLog(path, resume, true); err == nil {
				l.close()
				t.Errorf("--loss-log %s (resume at %d, --overwrite) accepted", path, resume)
			}
		}
	}
	if b, _ := os.ReadFile(other); string(b) != "my notes\n" {
		t.Errorf("notes.txt changed: %q", b)
	}
	if b, _ := os.ReadFile(cfg); string(b) != "{}\n" {
		t.Errorf("config.json changed: %q", b)
	}
	// A previous loss log is still replaced with --overwrite.
	log := filepath.Join(dir, "loss.tsv")
	os.WriteFile(log, []byte(lossLogHeader+"1\t2\t2\t1e-3\t1\t10\n"), 0o644)
	l, err := openLossLog(log, -1, true)
	if err != nil {
		t.Fatalf("--overwrite of a previous loss log: %v", err)
	}
	l.close()
	if b, _ := os.ReadFile(log); string(b) != lossLogHeader {
		t.Errorf("the previous log was not replaced: %q", b)
	}
}
