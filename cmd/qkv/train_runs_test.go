package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/pipeline"
)

// tinyRun is the start of a short qkv train command on a toy corpus.
func tinyRun(trainFile, validFile, out string, more ...string) []string {
	args := []string{"train", "--arch", "transformer", "--preset", "tiny-transformer", "--train", trainFile, "--valid", validFile,
		"--out", out, "--max-tokens", "400", "--metric", "none", "--warmup", "5"}
	return append(args, more...)
}

// waitForFile waits until path exists, or fails the test.
func waitForFile(t *testing.T, path string, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%s never appeared:\n%s", path, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTrainOneTrainerPerDirectory starts a second qkv train (a new run, an
// --overwrite, a --resume) on the --out of a running one: each is refused at
// once with a message naming the directory and the first process, and the
// first finishes with a consistent directory.
func TestTrainOneTrainerPerDirectory(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 200, 31)
	validFile := g2pLike(t, dir, "valid.tsv", 20, 32)
	out := filepath.Join(dir, "run")
	first := exec.Command(qkvBin, tinyRun(trainFile, validFile, out, "--epochs", "100000", "--time-budget", "4s")...)
	var stderr bytes.Buffer
	first.Stderr = &stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(out, "config.json"), first, &stderr)
	pid := fmt.Sprintf("pid %d", first.Process.Pid)
	for _, args := range [][]string{
		{"train", "--arch", "seq2seq", "--train", trainFile, "--valid", validFile, "--out", out, "--max-steps", "2"},
		{"train", "--arch", "seq2seq", "--train", trainFile, "--valid", validFile, "--out", out, "--max-steps", "2", "--overwrite"},
		{"train", "--resume", "--out", out, "--train", trainFile, "--valid", validFile},
	} {
		start := time.Now()
		_, errOut, err := qkv(t, "", args...)
		if err == nil || !strings.Contains(errOut, out+" is being trained by another qkv process") || !strings.Contains(errOut, pid) {
			t.Errorf("%v while another trains: err %v\n%s", args[1:], err, errOut)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%v took %v to be refused", args[1:], d)
		}
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first run: %v\n%s", err, stderr.String())
	}
	p, err := pipeline.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Config.Model.Arch != "transformer" {
		t.Errorf("the directory's config is a %s: the second run got in", p.Config.Model.Arch)
	}
	// Once the first is gone, the directory is free for a resume.
	if _, errOut, err := qkv(t, "", "train", "--resume", "--out", out, "--train", trainFile, "--valid", validFile, "--time-budget", "1s"); err != nil {
		t.Errorf("resume after the first finished: %v\n%s", err, errOut)
	}
}

// TestTrainRefusesAnOldRunsDirectory: a directory holding a run (finished
// or crashed) is not silently trained over; --overwrite starts clean,
// removing the old run's files (snapshots included) but no one else's.
func TestTrainRefusesAnOldRunsDirectory(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 200, 33)
	validFile := g2pLike(t, dir, "valid.tsv", 20, 34)
	out := filepath.Join(dir, "run")
	if _, errOut, err := qkv(t, "", tinyRun(trainFile, validFile, out, "--max-steps", "20", "--valid-every", "5", "--keep-snapshots", "2")...); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	// A crash leaves no last.safetensors behind an older qkv's guard.
	os.Remove(filepath.Join(out, "last.safetensors"))
	os.WriteFile(filepath.Join(out, ".best.safetensors.tmp-1"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	best, _ := os.ReadFile(filepath.Join(out, "best.safetensors"))
	_, errOut, err := qkv(t, "", tinyRun(trainFile, validFile, out, "--max-steps", "4")...)
	if err == nil || !strings.Contains(errOut, "already holds files") || !strings.Contains(errOut, "--overwrite") || !strings.Contains(errOut, "--resume") {
		t.Fatalf("a rerun in a crashed run's directory: err %v\n%s", err, errOut)
	}
	if now, _ := os.ReadFile(filepath.Join(out, "best.safetensors")); !bytes.Equal(now, best) {
		t.Fatal("the refused rerun changed best.safetensors")
	}
	_, errOut, err = qkv(t, "", tinyRun(trainFile, validFile, out, "--max-steps", "4", "--valid-every", "2", "--keep-snapshots", "5", "--overwrite")...)
	if err != nil {
		t.Fatalf("--overwrite: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "left 1 files there that qkv did not write: notes.txt") {
		t.Errorf("--overwrite does not say what it left:\n%s", errOut)
	}
	var names []string
	for _, n := range mustEntries(t, out) {
		if strings.HasPrefix(n, "step-") || strings.HasPrefix(n, ".") || n == "notes.txt" {
			names = append(names, n)
		}
	}
	if got := strings.Join(names, " "); got != "notes.txt step-00000002.safetensors step-00000004.safetensors" {
		t.Errorf("after --overwrite: %s; want the new run's snapshots and the user's file only", got)
	}
}

// TestTrainResumeRefusesAnotherRun: --resume with another architecture,
// another configuration or other data is refused with a message naming the
// difference; the same data under another path, and the options a resume
// may change, are accepted.
func TestTrainResumeRefusesAnotherRun(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 200, 35)
	validFile := g2pLike(t, dir, "valid.tsv", 20, 36)
	out := filepath.Join(dir, "run")
	if _, errOut, err := qkv(t, "", tinyRun(trainFile, validFile, out, "--max-steps", "3")...); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	cfg := filepath.Join(dir, "other.yaml")
	os.WriteFile(cfg, []byte("model:\n  d_model: 32\ntrain:\n  label_smoothing: 0.2\n"), 0o644)
	otherTrain := g2pLike(t, dir, "other.tsv", 200, 37)
	resume := []string{"train", "--resume", "--out", out, "--metric", "none"}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--train", trainFile, "--valid", validFile, "--arch", "seq2seq"}, []string{`model.arch "transformer" → "seq2seq" (--arch)`}},
		{[]string{"--train", trainFile, "--valid", validFile, "--preset", "g2p-transformer"}, []string{"model.d_model 64 → 256"}},
		{[]string{"--train", trainFile, "--valid", validFile, "--config", cfg}, []string{"model.d_model 64 → 32", "train.label_smoothing 0.1 → 0.2"}},
		{[]string{"--train", trainFile, "--valid", validFile, "--lr", "0.5", "--max-tokens", "300"}, []string{"train.lr 1 → 0.5 (--lr)", "train.max_tokens 400 → 300 (--max-tokens)", "only --max-steps"}},
		{[]string{"--train", otherTrain, "--valid", validFile}, []string{"--train " + otherTrain + " is not the run's training data", "200 pairs"}},
		{[]string{"--train", trainFile, "--valid", otherTrain}, []string{"--valid " + otherTrain + " is not the run's validation data"}},
		{[]string{"--train", trainFile}, []string{"the run validated on a --valid file"}},
	} {
		_, errOut, err := qkv(t, "", append(append([]string{}, resume...), c.args...)...)
		for _, w := range c.want {
			if err == nil || !strings.Contains(errOut, w) {
				t.Errorf("resume %v: err %v, want a message with %q:\n%s", c.args, err, w, errOut)
			}
		}
	}
	// The same pairs under another name, and a longer run: accepted.
	raw, _ := os.ReadFile(trainFile)
	moved := filepath.Join(dir, "moved.tsv")
	os.WriteFile(moved, raw, 0o644)
	_, errOut, err := qkv(t, "", append(resume, "--train", moved, "--valid", validFile, "--max-steps", "6", "--epochs", "50", "--patience", "3", "--save-every", "1m", "--arch", "transformer")...)
	if err != nil || !strings.Contains(errOut, "resuming") || !strings.Contains(errOut, "after 6 steps") {
		t.Errorf("resume with the same data elsewhere: %v\n%s", err, errOut)
	}
	// A hand-edited config.json is noticed.
	cfgPath := filepath.Join(out, "config.json")
	c, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(c, []byte(`"enc_layers": 2`), []byte(`"enc_layers": 1`), 1), 0o644)
	if _, errOut, err := qkv(t, "", append(resume, "--train", trainFile, "--valid", validFile)...); err == nil || !strings.Contains(errOut, "was changed after the run started (model.enc_layers 2 → 1") {
		t.Errorf("edited config.json: err %v\n%s", err, errOut)
	}
	// A run stopped before its first save.
	empty := filepath.Join(dir, "early")
	os.MkdirAll(empty, 0o755)
	os.WriteFile(filepath.Join(empty, "config.json"), c, 0o644)
	if _, errOut, err := qkv(t, "", "train", "--resume", "--out", empty, "--train", trainFile); err == nil || !strings.Contains(errOut, "never saved a checkpoint") || !strings.Contains(errOut, "--overwrite") {
		t.Errorf("resume without a checkpoint: err %v\n%s", err, errOut)
	}
	if _, errOut, err := qkv(t, "", "train", "--resume", "--out", filepath.Join(dir, "nothing"), "--train", trainFile); err == nil || !strings.Contains(errOut, "no run to resume") {
		t.Errorf("resume of a missing directory: err %v\n%s", err, errOut)
	}
	// A directory that is not a run: refused, and left as it was.
	mine := filepath.Join(dir, "mine")
	os.MkdirAll(mine, 0o755)
	os.WriteFile(filepath.Join(mine, ".draft.txt.tmp-1"), []byte("mine"), 0o644)
	if _, errOut, err := qkv(t, "", "train", "--resume", "--out", mine, "--train", trainFile); err == nil || !strings.Contains(errOut, "holds no qkv run") {
		t.Errorf("resume in a directory that is not a run: err %v\n%s", err, errOut)
	}
	if entries, _ := os.ReadDir(mine); len(entries) != 1 || entries[0].Name() != ".draft.txt.tmp-1" {
		t.Errorf("a refused resume changed a directory that is not a run: %v", entries)
	}
}

// TestTrainRangeChecks: every numeric flag and config value out of range is
// refused before anything is written, with a message naming it.
func TestTrainRangeChecks(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 50, 38)
	n := 0
	cfg := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.yaml", n))
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	out := filepath.Join(dir, "run")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--lr", "-1"}, "--lr -1 is out of range: it must be greater than 0"},
		{[]string{"--lr", "0"}, "--lr 0 is out of range"},
		{[]string{"--warmup", "-1"}, "--warmup -1"},
		{[]string{"--valid-every", "-1"}, "--valid-every -1"},
		{[]string{"--time-budget", "-1s"}, "--time-budget -1s"},
		{[]string{"--epochs", "-1"}, "--epochs -1"},
		{[]string{"--epochs", "0"}, "--epochs 0"},
		{[]string{"--max-steps", "-1"}, "--max-steps -1"},
		{[]string{"--max-tokens", "1"}, "--max-tokens 1"},
		{[]string{"--dropout", "1"}, "--dropout 1"},
		{[]string{"--dropout", "-0.1"}, "--dropout -0.1"},
		{[]string{"--label-smoothing", "1"}, "--label-smoothing 1"},
		{[]string{"--clip-norm", "-1"}, "--clip-norm -1"},
		{[]string{"--weight-decay", "-1"}, "--weight-decay -1"},
		{[]string{"--patience", "-1"}, "--patience -1"},
		{[]string{"--keep-snapshots", "-1"}, "--keep-snapshots -1"},
		{[]string{"--accum", "0"}, "--accum 0"},
		{[]string{"--max-src-len", "0"}, "--max-src-len 0"},
		{[]string{"--max-tgt-len", "100000"}, "--max-tgt-len 100000"},
		{[]string{"--min-freq", "0"}, "--min-freq 0"},
		{[]string{"--bpe-merges", "0"}, "--bpe-merges 0"},
		{[]string{"--metric-max", "-1"}, "--metric-max -1"},
		{[]string{"--save-every", "-5"}, "--save-every"},
		{[]string{"--save-every", "soon"}, "--save-every"},
		{[]string{"--metric", "accuracy"}, `--metric "accuracy"`},
		{[]string{"--schedule", "linear"}, `--schedule "linear"`},
		{[]string{"--schedule", "cosine"}, "give --max-steps or --decay-steps"},
		{[]string{"--src-tok", "spm"}, `--src-tok "spm"`},
		{[]string{"--tgt-tok", "sentencepiece"}, `--tgt-tok "sentencepiece"`},
		{[]string{"--format", "csv"}, `--format "csv"`},
		{[]string{"--resume", "--overwrite"}, "give one of them"},
		{[]string{"--config", cfg("train:\n  warmup: -5\n")}, "--warmup -5"},
		{[]string{"--config", cfg("train:\n  eps: 0\n")}, "train.eps 0"},
		{[]string{"--config", cfg("data:\n  max_src_len: 0\n")}, "data.max_src_len"},
		{[]string{"--config", cfg("prepare:\n  min_freq: 0\n")}, "prepare.min_freq"},
		{[]string{"--config", cfg("train:\n  save_every: -1\n")}, "save_every"},
		{[]string{"--config", cfg("model:\n  share_emb: true\n")}, "model.share_emb"},
		// Model sizes are checked before the corpus is read or BPE learned.
		{[]string{"--config", cfg("model:\n  d_model: 1000000000\n")}, "d_model 1000000000 is above the limit"},
		{[]string{"--config", cfg("model:\n  d_model: 65536\n  d_ff: 262144\n")}, "to train with Adam"},
		{[]string{"--config", cfg("model:\n  heads: 0\n")}, "heads"},
	} {
		args := append([]string{"train", "--arch", "transformer", "--train", trainFile, "--out", out}, c.args...)
		_, errOut, err := qkv(t, "", args...)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: err %v, want a message with %q:\n%s", c.args, err, c.want, errOut)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: a refused run left %s behind", c.args, out)
		}
	}
}

// TestTrainDataChecks: an empty --valid, a tiny --train, a --max-tokens that
// cannot hold the longest pair, and a warm-up longer than the run are
// reported before the run spends its budget.
func TestTrainDataChecks(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 100, 39)
	empty := filepath.Join(dir, "empty.tsv")
	os.WriteFile(empty, []byte("\n\n"), 0o644)
	out := filepath.Join(dir, "run")
	base := []string{"train", "--arch", "transformer", "--preset", "tiny-transformer", "--metric", "none", "--out", out}
	if _, errOut, err := qkv(t, "", append(base, "--train", trainFile, "--valid", empty)...); err == nil || !strings.Contains(errOut, "--valid "+empty+" holds no pairs") {
		t.Errorf("empty --valid: err %v\n%s", err, errOut)
	}
	if _, errOut, err := qkv(t, "", append(base, "--train", empty)...); err == nil || !strings.Contains(errOut, "holds no pairs") {
		t.Errorf("empty --train: err %v\n%s", err, errOut)
	}
	// Two pairs: neither source hashes into the 2% hold-out; one is held out anyway.
	two := filepath.Join(dir, "two.tsv")
	os.WriteFile(two, []byte("ab\tAH BH\ncd\tCH DH\n"), 0o644)
	_, errOut, err := qkv(t, "", append(base, "--train", two, "--max-steps", "2", "--warmup", "1")...)
	if err != nil || !strings.Contains(errOut, "1 training and 1 validation pairs (held out of --train)") || !strings.Contains(errOut, "validation at step") {
		t.Errorf("a two-pair corpus: err %v\n%s", err, errOut)
	}
	os.RemoveAll(out)
	one := filepath.Join(dir, "one.tsv")
	os.WriteFile(one, []byte("ab\tAH BH\nab\tAA BH\n"), 0o644)
	if _, errOut, err := qkv(t, "", append(base, "--train", one)...); err == nil || !strings.Contains(errOut, "too few to hold out validation pairs; give --valid") {
		t.Errorf("a one-source corpus: err %v\n%s", err, errOut)
	}
	// g2pLike pairs have up to 6 letters and 6 phones: 2·(6+2) = 16 padded tokens.
	if _, errOut, err := qkv(t, "", append(base, "--train", trainFile, "--max-tokens", "12")...); err == nil || !strings.Contains(errOut, "--max-tokens 12 is smaller than the longest training pair") || !strings.Contains(errOut, "at least 16") {
		t.Errorf("max-tokens below the longest pair: err %v\n%s", err, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run left its directory behind")
	}
	_, errOut, err = qkv(t, "", append(base, "--train", trainFile, "--max-steps", "3")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	warn := strings.Index(errOut, "warning: the warm-up (--warmup 4000 steps) is longer than the whole run, --max-steps 3")
	if warn < 0 || warn > strings.Index(errOut, "stopped") {
		t.Errorf("no warning about the warm-up before the run:\n%s", errOut)
	}
	// --warmup 0 is no warm-up (not the default 4000): the first step has the peak rate.
	os.RemoveAll(out)
	_, errOut, err = qkv(t, "", append(base, "--train", trainFile, "--max-steps", "1", "--schedule", "inverse-sqrt", "--lr", "3e-3", "--warmup", "0")...)
	if err != nil || !strings.Contains(errOut, "lr 3.00e-03") {
		t.Errorf("--warmup 0: err %v, want the peak rate at step 1:\n%s", err, errOut)
	}
}

// TestTrainJoinedDictionary: --joined-dictionary writes one vocabulary for
// both sides, and a Transformer with share_emb trains and decodes with it.
func TestTrainJoinedDictionary(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 100, 40)
	cfg := filepath.Join(dir, "share.yaml")
	os.WriteFile(cfg, []byte("arch: transformer\npreset: tiny-transformer\nmodel:\n  share_emb: true\n"), 0o644)
	out := filepath.Join(dir, "run")
	if _, errOut, err := qkv(t, "", "train", "--config", cfg, "--train", trainFile, "--out", out, "--max-steps", "3", "--metric", "none", "--warmup", "1", "--joined-dictionary"); err != nil {
		t.Fatalf("share_emb with --joined-dictionary: %v\n%s", err, errOut)
	}
	src, _ := os.ReadFile(filepath.Join(out, "src.vocab"))
	tgt, _ := os.ReadFile(filepath.Join(out, "tgt.vocab"))
	if len(src) == 0 || !bytes.Equal(src, tgt) || !bytes.Contains(src, []byte("\nAH\n")) || !bytes.Contains(src, []byte("\na\n")) {
		t.Errorf("joint vocabularies differ or lack a side:\n%s\n---\n%s", src, tgt)
	}
	var c struct {
		Data struct {
			Joint bool `json:"joint_vocab"`
		} `json:"data"`
	}
	raw, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if json.Unmarshal(raw, &c); !c.Data.Joint {
		t.Errorf("config.json does not record the joint vocabulary: %s", raw)
	}
	if stdout, errOut, err := qkv(t, "abc\n", "predict", "--model", out); err != nil || strings.Count(stdout, "\n") != 1 {
		t.Errorf("predict with a shared embedding: %v %q\n%s", err, stdout, errOut)
	}
	_, errOut, err := qkv(t, "", "train", "--config", cfg, "--train", trainFile, "--out", filepath.Join(dir, "o2"), "--max-steps", "3")
	if err == nil || !strings.Contains(errOut, "model.share_emb") || !strings.Contains(errOut, "--joined-dictionary") {
		t.Errorf("share_emb without a joint vocabulary: err %v\n%s", err, errOut)
	}
}

// TestDemoConfigSaysLowercase runs the demo for a few seconds: its model
// directory says that it lowercases, so predict and eval take the
// dictionary's uppercase words (the demo's closing hint).
func TestDemoConfigSaysLowercase(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the demo for 3 s")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "demo")
	_, errOut, err := qkv(t, "", "demo", "--time", "3s", "--words", "5", "--out", out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut)
	}
	// The closing hint names recipes by their path in the repository.
	recipes := regexp.MustCompile(`recipes/[\w.-]+\.yaml`).FindAllString(errOut, -1)
	if len(recipes) == 0 {
		t.Errorf("the demo's closing hint names no recipe:\n%s", errOut)
	}
	for _, r := range recipes {
		if _, err := os.Stat(filepath.Join("..", "..", r)); err != nil {
			t.Errorf("the demo's closing hint names %s: %v", r, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, ".qkv.lock")); err != nil {
		t.Errorf("the demo did not lock its directory: %v", err)
	}
	p, err := pipeline.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Config.Data.Lowercase {
		t.Error("the demo's config.json does not say lowercase")
	}
	stdout, errOut, err := qkv(t, "ABADI\nQubit\n", "predict", "--model", out)
	if err != nil || strings.Count(stdout, "\n") != 2 {
		t.Errorf("predict ABADI with the demo's model: %v %q\n%s", err, stdout, errOut)
	}
	test := filepath.Join(dir, "test.tsv")
	os.WriteFile(test, []byte("ABADI\tAH B AE D IY\nABATING\tAH B EY T IH NG\n"), 0o644)
	if _, errOut, err := qkv(t, "", "eval", "--model", out, "--test", test, "--beam", "2"); err != nil {
		t.Errorf("eval on uppercase words with the demo's model: %v\n%s", err, errOut)
	}
}
