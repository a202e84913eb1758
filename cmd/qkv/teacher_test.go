package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTrainWithATeacher: qkv train --teacher A,B learns from an ensemble of
// a Transformer and an RNNsearch trained on the same symbols, records the
// teacher with its defaults in config.json and its fingerprint in run.json,
// keeps what it taught in the run directory, and resumes from that copy,
// even after the teacher's weights changed. Without the copy a resume runs
// the teacher again, unless its weights changed; a damaged copy is
// replaced. A resume with another teacher, and a teacher that lacks one of
// the student's symbols, are refused by name.
func TestTrainWithATeacher(t *testing.T) {
	trained, corpusFile := trainedModel(t)
	rs := trainedRNNSearch(t)
	dir := t.TempDir()
	// A copy of the Transformer to teach with, whose weights change below.
	tr := filepath.Join(dir, "teacher")
	if err := os.Mkdir(tr, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "src.vocab", "tgt.vocab", "best.safetensors"} {
		copyFile(t, filepath.Join(trained, f), filepath.Join(tr, f))
	}
	out := filepath.Join(dir, "student")
	args := []string{"train", "--arch", "transformer", "--preset", "tiny-transformer", "--train", corpusFile,
		"--out", out, "--max-tokens", "400", "--metric", "none", "--schedule", "inverse-sqrt", "--lr", "3e-3",
		"--warmup", "5", "--max-src-len", "12"}
	_, stderr, err := qkv(t, "", append(args, "--max-steps", "6", "--teacher", tr+","+rs)...)
	if err != nil {
		t.Fatalf("train with a teacher: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "the teacher (an ensemble of 2)") || !strings.Contains(stderr, "λ = 0.5, its 8 likeliest symbols") {
		t.Errorf("stderr does not say what the teacher is:\n%s", stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Train struct {
			Teacher []string `json:"teacher"`
			Weight  float64  `json:"teacher_weight"`
			TopK    int      `json:"teacher_top_k"`
		} `json:"train"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if c := cfg.Train; len(c.Teacher) != 2 || c.Teacher[0] != tr || c.Teacher[1] != rs || c.Weight != 0.5 || c.TopK != 8 {
		t.Errorf("config.json records the teacher as %+v", c)
	}
	kept := filepath.Join(out, "teacher.targets")
	var id struct {
		Teacher string `json:"teacher_sha256"`
	}
	if raw, err := os.ReadFile(filepath.Join(out, "run.json")); err != nil || json.Unmarshal(raw, &id) != nil || len(id.Teacher) != 64 {
		t.Errorf("run.json records the teacher's fingerprint as %q (%v)", id.Teacher, err)
	}
	resume := func(steps string) (string, error) {
		_, stderr, err := qkv(t, "", "train", "--train", corpusFile, "--out", out, "--resume", "--max-steps", steps)
		return stderr, err
	}
	const fromCopy, reads = "as it gave them when the run started", "the teacher read them"
	stderr, err = resume("8")
	if err != nil || !strings.Contains(stderr, "resuming") || !strings.Contains(stderr, fromCopy) || strings.Contains(stderr, reads) {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	// A damaged copy: a warning, and the teacher reads the data again.
	raw, err = os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	stderr, err = resume("10")
	if err != nil || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "cut short") || !strings.Contains(stderr, reads) {
		t.Fatalf("resume with the copy cut short: %v\n%s", err, stderr)
	}
	// The teacher's weights change: the run keeps learning from its copy,
	// and without the copy it is refused rather than taught otherwise.
	best := filepath.Join(tr, "best.safetensors")
	copyFile(t, best, filepath.Join(dir, "best.orig"))
	copyFile(t, filepath.Join(trained, "step-00000020.safetensors"), best)
	if stderr, err = resume("12"); err != nil || !strings.Contains(stderr, fromCopy) {
		t.Fatalf("resume after the teacher's weights changed: %v\n%s", err, stderr)
	}
	if err := os.Remove(kept); err != nil {
		t.Fatal(err)
	}
	if stderr, err = resume("14"); err == nil || !strings.Contains(stderr, "is not the one this run learned from") || !strings.Contains(stderr, "restore the teacher's files") {
		t.Errorf("resume without the copy, the teacher's weights changed: %v\n%s", err, stderr)
	}
	copyFile(t, filepath.Join(dir, "best.orig"), best)
	if stderr, err = resume("14"); err != nil || !strings.Contains(stderr, reads) {
		t.Fatalf("resume without the copy, the teacher restored: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the copy was not written again: %v", err)
	}
	_, stderr, err = qkv(t, "", "train", "--train", corpusFile, "--out", out, "--resume", "--max-steps", "12", "--teacher", tr)
	if err == nil || !strings.Contains(stderr, "train.teacher") || !strings.Contains(stderr, "(--teacher)") {
		t.Errorf("a resume with another teacher: %v\n%s", err, stderr)
	}

	// A student whose data holds a letter the teacher never saw.
	raw, err = os.ReadFile(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	wider := filepath.Join(dir, "wider.tsv")
	if err := os.WriteFile(wider, append(raw, "abz\tAH BH ZH\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	other := append([]string{}, args...)
	other[6], other[8] = wider, filepath.Join(dir, "other")
	_, stderr, err = qkv(t, "", append(other, "--max-steps", "2", "--teacher", tr)...)
	if err == nil || !strings.Contains(stderr, "cannot teach this run") || !strings.Contains(stderr, `source vocabulary (src.vocab) lacks one symbol of the student's: "z"`) {
		t.Errorf("a teacher without the student's z: %v\n%s", err, stderr)
	}
	// The refused run left nothing behind: the same command with a
	// teacher that knows z (itself trained on the wider data) starts.
	wide := filepath.Join(dir, "wide-teacher")
	wideArgs := append([]string{}, args...)
	wideArgs[6], wideArgs[8] = wider, wide
	if _, stderr, err := qkv(t, "", append(wideArgs, "--max-steps", "2")...); err != nil {
		t.Fatalf("training the wider teacher: %v\n%s", err, stderr)
	}
	if _, stderr, err := qkv(t, "", append(other, "--max-steps", "2", "--teacher", wide)...); err != nil {
		t.Errorf("the refused run again, with a teacher that knows z: %v\n%s", err, stderr)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainInterruptedWhileTheTeacherReads: Ctrl-C while the teacher reads
// the training data stops a new run at once, with an error that says so,
// and leaves its directory empty, so that the same command starts it again.
func TestTrainInterruptedWhileTheTeacherReads(t *testing.T) {
	tr, _ := trainedModel(t)
	rs := trainedRNNSearch(t)
	dir := t.TempDir()
	big := g2pLike(t, dir, "big.tsv", 60000, 21) // minutes for the teacher to read on one core
	out := filepath.Join(dir, "student")
	cmd := exec.Command(qkvBin, "train", "--arch", "transformer", "--preset", "tiny-transformer", "--train", big,
		"--out", out, "--max-tokens", "400", "--metric", "none", "--max-src-len", "12", "--threads", "1", "--max-steps", "1", "--teacher", tr+","+rs)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var stderr strings.Builder
	reading := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "training pairs (λ = 0.5") {
				reading <- true
			}
		}
	}()
	select {
	case <-reading:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the teacher never started reading:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	<-done
	if err == nil || !strings.Contains(stderr.String(), "interrupted while the teacher read the training data") {
		t.Fatalf("Ctrl-C while the teacher reads: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "the teacher read them") {
		t.Fatalf("the teacher finished before Ctrl-C: make the data larger\n%s", stderr.String())
	}
	entries, err := os.ReadDir(out) // the directory qkv made may be gone too
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the interrupted run left %s in its directory", e.Name())
	}
}
