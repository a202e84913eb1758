package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/qkv-dev/qkv/pipeline"
)

var trainRNN sync.Once

// trainedRNNSearch trains, once per test binary, a tiny RNNsearch on the
// corpus of trainedModel (so both share their vocabularies) and returns
// its directory.
func trainedRNNSearch(t *testing.T) string {
	t.Helper()
	tr, corpusFile := trainedModel(t)
	dir := filepath.Dir(tr)
	out := filepath.Join(dir, "rnnsearch")
	trainRNN.Do(func() {
		cfg := filepath.Join(dir, "rnnsearch.yaml")
		if err := os.WriteFile(cfg, []byte("arch: rnnsearch\nmodel: {embed: 16, hidden: 24, layers: 1, attn_dim: 16, dropout: 0}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, stderr, err := qkv(t, "", "train", "--config", cfg, "--train", corpusFile, "--valid", filepath.Join(dir, "valid.tsv"),
			"--out", out, "--max-steps", "150", "--valid-every", "150", "--max-tokens", "400", "--metric", "none",
			"--schedule", "constant", "--lr", "1e-2", "--max-src-len", "12"); err != nil {
			t.Fatalf("training the test RNNsearch: %v\n%s", err, stderr)
		}
	})
	if _, err := os.Stat(filepath.Join(out, "best.safetensors")); err != nil {
		t.Fatalf("the test RNNsearch was not trained: %v", err)
	}
	return out
}

// TestEnsemblePredictEval: a Transformer and an RNNsearch decode as one
// ensemble through predict (--model A --model B and --model A,B alike,
// greedy and with a beam) and eval (end to end, the JSON line says so);
// a model with itself decodes as the model.
func TestEnsemblePredictEval(t *testing.T) {
	tr, corpusFile := trainedModel(t)
	rs := trainedRNNSearch(t)
	in := "abc\nfed\ncab\n"
	alone, stderr, err := qkv(t, in, "predict", "--model", tr)
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, stderr)
	}
	twice, stderr, err := qkv(t, in, "predict", "--model", tr, "--model", tr)
	if err != nil || twice != alone {
		t.Errorf("a model with itself: %q (%v %s), alone: %q", twice, err, stderr, alone)
	}
	// A weights file of a directory stands for the directory with those
	// weights, alone and in an ensemble.
	asFile, stderr, err := qkv(t, in, "predict", "--model", filepath.Join(tr, "best.safetensors"))
	if err != nil || asFile != alone {
		t.Errorf("--model DIR/best.safetensors: %q (%v %s), --model DIR: %q", asFile, err, stderr, alone)
	}
	withRS, _, err := qkv(t, in, "predict", "--model", tr, "--model", rs, "--weights", "best.safetensors,last.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if got, stderr, err := qkv(t, in, "predict", "--model", filepath.Join(tr, "best.safetensors")+","+filepath.Join(rs, "last.safetensors")); err != nil || got != withRS {
		t.Errorf("--model A/best.safetensors,B/last.safetensors: %q (%v %s), with --weights: %q", got, err, stderr, withRS)
	}
	for _, beam := range []string{"1", "4"} {
		a, stderr, err := qkv(t, in, "predict", "--model", tr, "--model", rs, "--beam", beam)
		if err != nil {
			t.Fatalf("predict with an ensemble: %v\n%s", err, stderr)
		}
		b, _, err := qkv(t, in, "predict", "--model", tr+","+rs, "--beam", beam)
		if err != nil || a != b {
			t.Errorf("--model A,B gave %q (%v), --model A --model B %q", b, err, a)
		}
		if n := strings.Count(a, "\n"); n != 3 {
			t.Errorf("beam %s: %d output lines for 3 inputs: %q", beam, n, a)
		}
	}
	out, stderr, err := qkv(t, "", "eval", "--model", tr, "--model", rs, "--test", corpusFile, "--beam", "2", "--weights", "best.safetensors")
	if err != nil {
		t.Fatalf("eval with an ensemble: %v\n%s", err, stderr)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("eval output %q: %v", out, err)
	}
	if rec["ensemble"] != 2.0 || rec["model"] != tr+","+rs || rec["wer"] == nil || rec["weights"] != "best.safetensors" {
		t.Errorf("eval JSON %v: want ensemble 2, both models, a WER and the weights", rec)
	}
}

// TestEnsembleRefusals: models of other vocabularies, attention with an
// ensemble, and --weights that do not match the models are refused,
// naming what is wrong.
func TestEnsembleRefusals(t *testing.T) {
	tr, _ := trainedModel(t)
	rs := trainedRNNSearch(t)
	// Copies of the RNNsearch whose target vocabulary has its last symbol
	// replaced by one the others do not know (the same sizes, so only the
	// symbols tell), and has its last two symbols swapped (the same
	// symbols in another order: it decodes with the others, reordered).
	other := copyWithTgtVocab(t, rs, func(lines []string, n int) { lines[n] = "not-a-symbol" })
	swapped := copyWithTgtVocab(t, rs, func(lines []string, n int) { lines[n-1], lines[n] = lines[n], lines[n-1] })
	loose := filepath.Join(t.TempDir(), "best.safetensors")
	if b, err := os.ReadFile(filepath.Join(tr, "best.safetensors")); err != nil || os.WriteFile(loose, b, 0o644) != nil {
		t.Fatal("copying the weights", err)
	}
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", tr, "--model", swapped); err != nil {
		t.Errorf("the same symbols in another order: %v\n%s", err, stderr)
	}
	for _, c := range []struct {
		name  string
		args  []string
		words []string
	}{
		{"other vocabulary", []string{"predict", "--model", tr, "--model", other}, []string{tr, other, "target vocabularies (tgt.vocab) differ", `one symbol only in the second: "not-a-symbol"`, "same vocabularies"}},
		{"eval, other vocabulary", []string{"eval", "--model", tr + "," + other, "--test", "x.tsv"}, []string{"cannot decode together"}},
		{"attention", []string{"predict", "--model", tr, "--model", rs, "--attention", filepath.Join(t.TempDir(), "a.jsonl")}, []string{"--attention needs one model, and 2 are given"}},
		{"alignment", []string{"predict", "--model", tr, "--model", rs, "--print-alignment"}, []string{"--print-alignment needs one model"}},
		{"weights count", []string{"predict", "--model", tr, "--model", rs, "--model", tr, "--weights", "best.safetensors,best.safetensors"}, []string{"2 --weights for 3 --model"}},
		{"one weights path", []string{"predict", "--model", tr, "--model", rs, "--weights", filepath.Join(tr, "best.safetensors")}, []string{"is one file for 2 models", "one --weights per --model"}},
		{"stray comma", []string{"predict", "--model", tr + ","}, []string{"--model: model 2 of 2 is empty"}},
		{"weights twice", []string{"predict", "--model", filepath.Join(tr, "best.safetensors"), "--weights", "last.safetensors"}, []string{"is a weights file already", "drop --weights"}},
		{"a file outside a model directory", []string{"eval", "--model", loose, "--test", "x.tsv"}, []string{filepath.Dir(loose) + " is not a model directory", "config.json"}},
		{"no model", []string{"predict"}, []string{"--model is required"}},
	} {
		_, stderr, err := qkv(t, "abc\n", c.args...)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.words {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q does not say %q", c.name, stderr, w)
			}
		}
	}
	// One weights file per model, in order, is accepted.
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", tr, "--model", rs, "--weights", "best.safetensors", "--weights", filepath.Join(rs, "last.safetensors")); err != nil {
		t.Errorf("one --weights per --model: %v\n%s", err, stderr)
	}
}

// TestConvertHalf: qkv convert writes the weights in bf16 or f16, about
// half the size, and they decode the toy words as the float32 weights do;
// a dtype it does not know and an output over a model file are refused.
func TestConvertHalf(t *testing.T) {
	tr, _ := trainedModel(t)
	dir := t.TempDir()
	in := "abc\nfed\nbead\n"
	want, _, err := qkv(t, in, "predict", "--model", tr)
	if err != nil {
		t.Fatal(err)
	}
	best, err := os.Stat(filepath.Join(tr, "best.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dtype := range []string{"bf16", "f16"} {
		out := filepath.Join(dir, dtype+".safetensors")
		stdout, stderr, err := qkv(t, "", "convert", "--model", tr, "--dtype", dtype, "--out", out)
		if err != nil {
			t.Fatalf("convert %s: %v\n%s", dtype, err, stderr)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec["out"] != out {
			t.Errorf("convert %s printed %q", dtype, stdout)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if ratio := float64(st.Size()) / float64(best.Size()); ratio > 0.55 || ratio < 0.45 {
			t.Errorf("%s: %d bytes, best.safetensors %d: not about half", dtype, st.Size(), best.Size())
		}
		got, stderr, err := qkv(t, in, "predict", "--model", tr, "--weights", out)
		if err != nil || got != want {
			t.Errorf("%s weights decode %q (%v %s), float32 %q", dtype, got, err, stderr, want)
		}
	}
	// The default output name is beside the weights it came from.
	if _, stderr, err := qkv(t, "", "convert", "--model", tr, "--dtype", "bf16"); err != nil {
		t.Errorf("convert with the default --out: %v\n%s", err, stderr)
	} else if _, err := os.Stat(filepath.Join(tr, "best-bf16.safetensors")); err != nil {
		t.Errorf("no best-bf16.safetensors: %v", err)
	} else {
		os.Remove(filepath.Join(tr, "best-bf16.safetensors")) // the shared test model stays as it was
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dtype", "int8"}, `unknown dtype "int8": use f32, f16 or bf16`},
		{[]string{"--dtype", "f16", "--out", "best.safetensors"}, "best.safetensors is also an input"},
		{[]string{"--dtype", "f16", "--out", "src.bpe"}, "would replace the model directory's src.bpe"},
		{[]string{}, "--dtype is required"},
	} {
		_, stderr, err := qkv(t, "", append([]string{"convert", "--model", tr}, c.args...)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("convert %v: %v, stderr %q, want %q", c.args, err, stderr, c.want)
		}
	}
}

// copyWithTgtVocab copies model directory dir with its target vocabulary's
// lines changed by edit (n is the index of the last symbol's line).
func copyWithTgtVocab(t *testing.T, dir string, edit func(lines []string, n int)) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{pipeline.ConfigFile, pipeline.SrcVocabFile, pipeline.BestFile} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, pipeline.TgtVocabFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	edit(lines, len(lines)-2) // the file ends with a newline
	if err := os.WriteFile(filepath.Join(out, pipeline.TgtVocabFile), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
