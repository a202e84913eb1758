package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
)

// TestTrainBestByMetric: qkv train --best-by metric keeps in
// best.safetensors the validation with the lowest WER (the first of
// equals), says so at the end, and a resume may not change it; without a
// metric or with an unknown choice it is refused by name.
func TestTrainBestByMetric(t *testing.T) {
	dir := t.TempDir()
	trainFile, validFile, common := tinyTraining(t, dir)
	common = append(common[:len(common)-2], "--metric", "wer", "--valid-every", "3") // tinyTraining ends with --metric none
	out := filepath.Join(dir, "run")
	_, stderr, err := qkv(t, "", append(common, "--out", out, "--max-steps", "12", "--best-by", "metric", "--lr", "3e-3")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	table, err := os.ReadFile(filepath.Join(out, "validations.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(table)), "\n")
	if len(lines) != 5 || lines[0] != "step\tepoch\tloss\twer\tbest" {
		t.Fatalf("validations.tsv:\n%s", table)
	}
	bestStep, bestWER := "", math.Inf(1)
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		wer, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		if wer < bestWER {
			bestStep, bestWER = f[0], wer
		}
		if (f[4] == "1") != (f[0] == bestStep) {
			t.Errorf("line %q: best is %s, the best WER so far is at step %s", l, f[4], bestStep)
		}
	}
	meta, err := checkpoint.ReadMetadata(filepath.Join(out, "best.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := strconv.ParseFloat(meta["valid_wer"], 64); meta["step"] != bestStep || math.Abs(w-bestWER) > 1e-4 {
		t.Errorf("best.safetensors is from step %s (wer %s), the lowest WER %.4f was at step %s", meta["step"], meta["valid_wer"], bestWER, bestStep)
	}
	if !strings.Contains(stderr, "best validation wer") || !strings.Contains(stderr, "keeps the validation of lowest wer on 20 validation pairs") {
		t.Errorf("the end of the run does not name the best WER:\n%s", stderr)
	}
	// A resume keeps the choice: --best-by loss is another setting.
	_, stderr, err = qkv(t, "", "train", "--resume", "--out", out, "--train", trainFile, "--valid", validFile, "--max-steps", "15", "--best-by", "loss")
	if err == nil || !strings.Contains(stderr, "best_by") {
		t.Errorf("resume with another --best-by: err %v, stderr %q", err, stderr)
	}
	// Refused before anything is written: the flag with --metric none, the
	// config key with --metric none, an unknown choice.
	cfg := filepath.Join(dir, "best.yaml")
	if err := os.WriteFile(cfg, []byte("train:\n  best_by: metric\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"--best-by", "metric", "--metric", "none"}},
		{[]string{"--config", cfg, "--metric", "none"}},
		{[]string{"--best-by", "wer"}},
	} {
		refused := filepath.Join(dir, "refused")
		_, stderr, err := qkv(t, "", append(common, append(c.args, "--out", refused, "--max-steps", "3")...)...)
		if err == nil || !strings.Contains(stderr, "--best-by") {
			t.Errorf("%v: err %v, stderr %q", c.args, err, stderr)
		}
		if _, err := os.Stat(refused); err == nil {
			t.Errorf("%v: refused, but wrote %s", c.args, refused)
		}
	}
}
