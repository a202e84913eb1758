package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuantize: qkv quantize writes an int8 copy of a model, about a
// third of the float32 size at most, that predict and eval load as any model and
// that decodes nearly as the float32 model does; the source is left as it
// was, and a quantized source, an output inside the source or an output
// that holds files are refused.
func TestQuantize(t *testing.T) {
	// A model trained until its outputs are decided: after the 40 steps of
	// trainedModel most words are near-ties between two outputs, which any
	// change in rounding (a kernel's summation order, not only int8) flips.
	dir := t.TempDir()
	corpusFile := g2pLike(t, dir, "train.tsv", 400, 11)
	valid := g2pLike(t, dir, "valid.tsv", 30, 12)
	tr := filepath.Join(dir, "run")
	if _, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--preset", "tiny-transformer",
		"--train", corpusFile, "--valid", valid, "--out", tr, "--max-steps", "200", "--valid-every", "100",
		"--max-tokens", "400", "--metric", "none", "--schedule", "inverse-sqrt",
		"--lr", "3e-3", "--warmup", "10", "--max-src-len", "12"); err != nil {
		t.Fatalf("training the test model: %v\n%s", err, stderr)
	}
	before, err := os.ReadFile(filepath.Join(tr, "best.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "q")
	stdout, stderr, err := qkv(t, "", "quantize", "--model", tr, "--out", out)
	if err != nil {
		t.Fatalf("quantize: %v\n%s", err, stderr)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec["out"] != out || rec["quantized"] != "int8" {
		t.Errorf("quantize printed %q", stdout)
	}
	after, err := os.ReadFile(filepath.Join(tr, "best.safetensors"))
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the source weights changed (%v)", err)
	}
	st, err := os.Stat(filepath.Join(out, "best.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if ratio := float64(st.Size()) / float64(len(before)); ratio > 0.4 {
		t.Errorf("int8 weights: %d bytes, float32 %d: ratio %.2f, want at most about a third", st.Size(), len(before), ratio)
	}
	corpus, err := os.ReadFile(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, line := range strings.Split(strings.TrimSpace(string(corpus)), "\n")[:100] {
		words = append(words, strings.Split(line, "\t")[0])
	}
	in := strings.Join(words, "\n") + "\n"
	want, _, err := qkv(t, in, "predict", "--model", tr)
	if err != nil {
		t.Fatal(err)
	}
	got, stderr, err := qkv(t, in, "predict", "--model", out)
	if err != nil {
		t.Fatalf("predict with the int8 model: %v\n%s", err, stderr)
	}
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	if len(wl) != len(gl) {
		t.Fatalf("int8 predict gave %d lines, float32 %d", len(gl), len(wl))
	}
	same := 0
	for i := range wl {
		if wl[i] == gl[i] {
			same++
		}
	}
	t.Logf("int8 and float32 agree on %d of %d words", same, len(wl))
	if same < len(wl)*9/10 {
		t.Errorf("int8 and float32 agree on %d of %d words, want at least 90%%", same, len(wl))
	}
	if _, stderr, err := qkv(t, "", "eval", "--model", out, "--test", corpusFile, "--beam", "2"); err != nil {
		t.Errorf("eval with the int8 model: %v\n%s", err, stderr)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", out, "--out", filepath.Join(t.TempDir(), "qq")}, "already quantized"},
		{[]string{"--model", tr, "--out", filepath.Join(tr, "q")}, "inside the model directory"},
		{[]string{"--model", tr, "--out", full}, "already holds files"},
		{[]string{"--out", full}, "--model is required"},
	} {
		_, stderr, err := qkv(t, "", append([]string{"quantize"}, c.args...)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("quantize %v: %v, stderr %q, want %q", c.args, err, stderr, c.want)
		}
	}
	// Float weights cannot pose as the quantized ones.
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", out, "--weights", filepath.Join(tr, "best.safetensors")); err == nil || !strings.Contains(stderr, "is not int8 weights") {
		t.Errorf("float weights in a quantized directory: %v, stderr %q", err, stderr)
	}
	// Nor int8 weights as float ones.
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", tr, "--weights", filepath.Join(out, "best.safetensors")); err == nil || !strings.Contains(stderr, "quantized") {
		t.Errorf("int8 weights in a float directory: %v, stderr %q", err, stderr)
	}
}

// TestQuantizeBuiltinOut: quantizing a built-in model without --out is
// refused (it once made a directory named "builtin:g2p-en-int8" in the
// current directory); with --out, the model directory is as readable as a
// training run's (MkdirTemp's 0700 once made it private).
func TestQuantizeBuiltinOut(t *testing.T) {
	cwd := t.TempDir()
	cmd := exec.Command(qkvBin, "quantize", "--model", "builtin:g2p-en")
	cmd.Dir = cwd
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--out") {
		t.Errorf("quantize of a built-in model without --out: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(cwd); len(ents) != 0 {
		t.Errorf("it wrote into the current directory: %v", ents)
	}
	q := filepath.Join(cwd, "g2p-en-int8")
	if _, stderr, err := qkv(t, "", "quantize", "--model", "builtin:g2p-en", "--out", q); err != nil {
		t.Fatalf("quantize --out: %v\n%s", err, stderr)
	}
	st, err := os.Stat(q)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Errorf("the quantized model's directory has mode %v, want 0755", st.Mode().Perm())
	}
}
