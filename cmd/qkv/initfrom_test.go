package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// firstLoss is the training loss of step 1 in a --loss-log file.
func firstLoss(t *testing.T, path string) float64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) < 2 {
		t.Fatalf("%s holds no step:\n%s", path, raw)
	}
	f := strings.Split(lines[1], "\t")
	if f[0] != "1" {
		t.Fatalf("%s: the first step is %s", path, f[0])
	}
	v, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sameVocabFiles checks that run's vocabularies are model's, byte for byte.
func sameVocabFiles(t *testing.T, model, run string) {
	t.Helper()
	for _, f := range []string{"src.vocab", "tgt.vocab"} {
		a, errA := os.ReadFile(filepath.Join(model, f))
		b, errB := os.ReadFile(filepath.Join(run, f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from the model's (%v, %v)", f, errA, errB)
		}
	}
}

// refusedCleanly checks that a qkv train was refused with an error that
// says every one of want, and left nothing in its --out.
func refusedCleanly(t *testing.T, name, out, stderr string, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: trained\n%s", name, stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: the error does not say %q:\n%s", name, w, stderr)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("%s: the refused run left %d files in %s", name, len(entries), out)
	}
}

// TestTrainInitFrom: qkv train --init-from MODEL starts a new run from a
// trained model: its shape, vocabularies and tokenizers (the files are the
// model's) and its weights (the first step's loss is the trained model's,
// not a fresh one's), with a fresh schedule; the run records where it
// started, resumes, and refuses a resume from another model. Settings that
// would change the model or how it reads text are refused by name and
// leave nothing behind; symbols the model lacks are counted as <unk>.
func TestTrainInitFrom(t *testing.T) {
	tr, corpusFile := trainedModel(t)
	dir := t.TempDir()
	valid := filepath.Join(filepath.Dir(tr), "valid.tsv")
	common := []string{"train", "--train", corpusFile, "--valid", valid, "--max-tokens", "400", "--metric", "none",
		"--schedule", "constant", "--lr", "1e-3", "--max-steps", "3"}
	run := func(out string, extra ...string) (string, error) {
		_, stderr, err := qkv(t, "", append(append(append([]string{}, common...), "--out", out, "--loss-log", out+".tsv"), extra...)...)
		return stderr, err
	}
	from := filepath.Join(dir, "from")
	stderr, err := run(from, "--init-from", tr, "--dropout", "0")
	if err != nil {
		t.Fatalf("train --init-from: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "starting from the weights of "+tr) {
		t.Errorf("stderr does not say where the run starts:\n%s", stderr)
	}
	scratch := filepath.Join(dir, "scratch")
	if stderr, err := run(scratch, "--arch", "transformer", "--preset", "tiny-transformer", "--max-src-len", "12", "--dropout", "0"); err != nil {
		t.Fatalf("train from scratch: %v\n%s", err, stderr)
	}
	// The trained model has learned the toy task; a fresh one has not.
	if a, b := firstLoss(t, from+".tsv"), firstLoss(t, scratch+".tsv"); !(a < b/2) {
		t.Errorf("first-step loss %.4f from the trained model, %.4f from scratch: the weights were not carried over", a, b)
	}
	sameVocabFiles(t, tr, from)
	var cfg, model struct {
		Model map[string]any `json:"model"`
		Data  map[string]any `json:"data"`
		Train struct {
			InitFrom string `json:"init_from"`
			Steps    int    `json:"max_steps"`
		} `json:"train"`
	}
	for path, dst := range map[string]any{filepath.Join(from, "config.json"): &cfg, filepath.Join(tr, "config.json"): &model} {
		raw, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(raw, dst) != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if cfg.Train.InitFrom != tr {
		t.Errorf("config.json records train.init_from %q", cfg.Train.InitFrom)
	}
	for k, v := range model.Model {
		if k != "dropout" && k != "attn_dropout" && cfg.Model[k] != v {
			t.Errorf("model.%s is %v, the model's %v", k, cfg.Model[k], v)
		}
	}
	if cfg.Model["dropout"] != 0.0 {
		t.Errorf("model.dropout %v, want the 0 asked for", cfg.Model["dropout"])
	}
	for _, k := range []string{"src_tokenizer", "tgt_tokenizer", "lowercase", "max_src_len"} {
		if cfg.Data[k] != model.Data[k] {
			t.Errorf("data.%s is %v, the model's %v", k, cfg.Data[k], model.Data[k])
		}
	}

	// A weights file of a model directory: those weights, that directory's
	// vocabularies. The snapshot of step 20 is worse than the best weights.
	snap := filepath.Join(dir, "snapshot")
	stderr, err = run(snap, "--init-from", filepath.Join(tr, "step-00000020.safetensors"), "--dropout", "0")
	if err != nil || !strings.Contains(stderr, "starting from the weights of "+filepath.Join(tr, "step-00000020.safetensors")) {
		t.Fatalf("train --init-from a snapshot: %v\n%s", err, stderr)
	}
	if a, b := firstLoss(t, snap+".tsv"), firstLoss(t, from+".tsv"); a == b {
		t.Errorf("first-step loss %.4f from the snapshot and from the best weights alike: the file was not read", a)
	}

	// Resume: the run's own checkpoint, not the model; another model refused.
	_, stderr, err = qkv(t, "", "train", "--resume", "--train", corpusFile, "--valid", valid, "--out", from, "--max-steps", "5")
	if err != nil || !strings.Contains(stderr, "resuming") {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	_, stderr, err = qkv(t, "", "train", "--resume", "--train", corpusFile, "--valid", valid, "--out", from, "--max-steps", "6", "--init-from", scratch)
	if err == nil || !strings.Contains(stderr, "train.init_from") || !strings.Contains(stderr, "--init-from") {
		t.Errorf("a resume from another model: %v\n%s", err, stderr)
	}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"another shape", []string{"--preset", "transformer-base"}, []string{"model.d_model 64 → 512", "keeps its architecture"}},
		{"another architecture", []string{"--arch", "rnnsearch"}, []string{"model.arch", "--arch"}},
		{"another tokenizer", []string{"--src-tok", "word"}, []string{"data.src_tokenizer", "--src-tok"}},
		{"a vocabulary setting", []string{"--min-freq", "2"}, []string{"--min-freq", "vocabularies"}},
		{"no such model", []string{"--init-from", filepath.Join(dir, "nothing")}, []string{"--init-from " + filepath.Join(dir, "nothing")}},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		args := c.args
		if c.name != "no such model" {
			args = append([]string{"--init-from", tr}, args...)
		}
		stderr, err := run(out, args...)
		refusedCleanly(t, c.name, out, stderr, err, c.want)
	}

	// Letters the model never saw read as <unk>, counted.
	raw, err := os.ReadFile(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	wider := filepath.Join(dir, "wider.tsv")
	if err := os.WriteFile(wider, append(raw, "abzz\tAH BH ZH ZH\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = qkv(t, "", "train", "--train", wider, "--valid", valid, "--out", filepath.Join(dir, "wider"), "--max-tokens", "400",
		"--metric", "none", "--max-steps", "1", "--init-from", tr)
	if err != nil || !strings.Contains(stderr, "warning: 4 tokens of the training pairs are not in the vocabularies of "+tr) {
		t.Errorf("training pairs with symbols the model lacks: %v\n%s", err, stderr)
	}
}

// TestTrainVocabFrom: qkv train --vocab-from MODEL trains a new model of
// another architecture with MODEL's vocabularies and tokenizers, even on
// data with symbols MODEL lacks (read as <unk>, counted), so the two decode
// as one ensemble, which a model that built its own vocabularies from the
// same data cannot. Settings that would read text otherwise, and
// --vocab-from with --init-from, are refused by name.
func TestTrainVocabFrom(t *testing.T) {
	tr, corpusFile := trainedModel(t)
	dir := t.TempDir()
	raw, err := os.ReadFile(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	wider := filepath.Join(dir, "wider.tsv")
	if err := os.WriteFile(wider, append(raw, "abz\tAH BH ZH\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "--arch", "rnnsearch", "--train", wider, "--out", out, "--max-tokens", "400",
			"--metric", "none", "--max-steps", "2", "--max-src-len", "12"}, extra...)
	}
	shared := filepath.Join(dir, "shared")
	_, stderr, err := qkv(t, "", args(shared, "--vocab-from", tr)...)
	if err != nil || !strings.Contains(stderr, "with the vocabularies of "+tr) || !strings.Contains(stderr, "warning: 2 tokens of the training pairs are not in the vocabularies") {
		t.Fatalf("train --vocab-from: %v\n%s", err, stderr)
	}
	sameVocabFiles(t, tr, shared)
	if cfg := readOrFail(t, filepath.Join(shared, "config.json")); !strings.Contains(cfg, `"vocab_from": "`+tr+`"`) || !strings.Contains(cfg, `"arch": "rnnsearch"`) {
		t.Errorf("config.json does not record the run:\n%s", cfg)
	}
	if out, stderr, err := qkv(t, "abc\n", "predict", "--model", tr+","+shared); err != nil || strings.TrimSpace(out) == "" {
		t.Errorf("the two as an ensemble: %v\n%s", err, stderr)
	}
	own := filepath.Join(dir, "own")
	if _, stderr, err := qkv(t, "", args(own)...); err != nil {
		t.Fatalf("train with its own vocabularies: %v\n%s", err, stderr)
	}
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", tr+","+own); err == nil || !strings.Contains(stderr, "vocabularies") {
		t.Errorf("an ensemble with a model of other vocabularies: %v\n%s", err, stderr)
	}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"another tokenizer", []string{"--vocab-from", tr, "--tgt-tok", "char"}, []string{"data.tgt_tokenizer", "--tgt-tok", "reads text as the model does"}},
		{"a vocabulary setting", []string{"--vocab-from", tr, "--bpe-merges", "9"}, []string{"--bpe-merges", "vocabularies"}},
		{"both", []string{"--vocab-from", tr, "--init-from", tr}, []string{"drop --vocab-from"}},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		_, stderr, err := qkv(t, "", args(out, c.args...)...)
		refusedCleanly(t, c.name, out, stderr, err, c.want)
	}
}
