package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainWithATeacher: qkv train --teacher A,B learns from an ensemble of
// a Transformer and an RNNsearch trained on the same symbols, records the
// teacher with its defaults in config.json, and resumes (reading the
// teacher again); a resume with another teacher, and a teacher that lacks
// one of the student's symbols, are refused by name.
func TestTrainWithATeacher(t *testing.T) {
	tr, corpusFile := trainedModel(t)
	rs := trainedRNNSearch(t)
	dir := t.TempDir()
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
	_, stderr, err = qkv(t, "", "train", "--train", corpusFile, "--out", out, "--resume", "--max-steps", "10")
	if err != nil || !strings.Contains(stderr, "resuming") || !strings.Contains(stderr, "the teacher read them") {
		t.Fatalf("resume: %v\n%s", err, stderr)
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
