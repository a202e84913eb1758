package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSummarizationEndToEnd runs the summarization recipe on the corpus
// builder's test tree: data godoc, a few training steps with --metric
// rouge, then eval, which reports ROUGE and smoothed BLEU by default
// because the model recorded its metric; and score on the lead baseline.
func TestSummarizationEndToEnd(t *testing.T) {
	dir := t.TempDir()
	corpusDir := filepath.Join(dir, "summ")
	if _, stderr, err := qkv(t, "", "data", "godoc", "--root", "../../text/godoc/testdata/tree", "--out", corpusDir, "--valid-frac", "0", "--test-frac", "0"); err != nil {
		t.Fatalf("data godoc: %v\n%s", err, stderr)
	}
	train := filepath.Join(corpusDir, "train.tsv")
	model := filepath.Join(dir, "model")
	if _, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--preset", "tiny-transformer", "--src-tok", "bpe", "--tgt-tok", "bpe",
		"--joined-dictionary", "--bpe-merges", "100", "--train", train, "--valid", train, "--out", model, "--max-steps", "20",
		"--metric", "rouge", "--valid-every", "10", "--max-src-len", "300", "--max-tgt-len", "64"); err != nil {
		t.Fatalf("training: %v\n%s", err, stderr)
	} else if !strings.Contains(stderr, "rougeL") {
		t.Errorf("the validation does not report ROUGE-L:\n%s", stderr)
	}
	cfg, _ := os.ReadFile(filepath.Join(model, "config.json"))
	if !bytes.Contains(cfg, []byte(`"metric": "rouge"`)) || bytes.Contains(cfg, []byte(`"placeholders": true`)) {
		t.Fatalf("config.json does not record the metric, or protects placeholders in a summarizer:\n%s", cfg)
	}
	stdout, stderr, err := qkv(t, "", "eval", "--model", model, "--test", train, "--max-len", "20")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("eval: %q: %v", stdout, err)
	}
	for _, k := range []string{"rouge1", "rouge2", "rougeL", "sbleu"} {
		v, ok := ev[k].(float64)
		if !ok || v < 0 || v > 100 {
			t.Errorf("eval: %s = %v in %s", k, ev[k], stdout)
		}
	}
	if _, ok := ev["bleu"]; ok {
		t.Errorf("eval of a summarizer reports BLEU: %s", stdout)
	}
	// --metric bleu still overrides the recorded metric.
	stdout, _, err = qkv(t, "", "eval", "--model", model, "--test", train, "--max-len", "20", "--metric", "bleu")
	if err != nil || !strings.Contains(stdout, `"bleu"`) {
		t.Errorf("eval --metric bleu: %s %v", stdout, err)
	}
}
