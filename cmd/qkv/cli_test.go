package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/kernels"
)

// qkvBin is the qkv binary built once for the end-to-end tests, which run
// it as a user would: separate processes, real files, stdin and stdout.
var qkvBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "qkv-cli-test")
	if err != nil {
		panic(err)
	}
	qkvBin = filepath.Join(dir, "qkv")
	if out, err := exec.Command("go", "build", "-o", qkvBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building qkv: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// qkv runs the binary with stdin and returns stdout, stderr and the error.
func qkv(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(qkvBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// g2pLike writes a toy letters→phones corpus: each letter has a fixed
// "phone", so the task is learnable in a few steps.
func g2pLike(t *testing.T, dir, name string, n int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	for i := 0; i < n; i++ {
		var src []byte
		var tgt []string
		for j := 0; j < 2+rng.IntN(5); j++ {
			c := byte('a' + rng.IntN(6))
			src = append(src, c)
			tgt = append(tgt, strings.ToUpper(string(c))+"H")
		}
		fmt.Fprintf(&b, "%s\t%s\n", src, strings.Join(tgt, " "))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrainPredictEval(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 1000, 1)
	validFile := g2pLike(t, dir, "valid.tsv", 40, 2)
	out := filepath.Join(dir, "run")
	_, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--preset", "tiny-transformer",
		"--train", trainFile, "--valid", validFile, "--out", out, "--max-steps", "500", "--valid-every", "250",
		"--max-tokens", "800", "--schedule", "inverse-sqrt", "--lr", "3e-3", "--warmup", "30", "--keep-snapshots", "2")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	for _, f := range []string{"config.json", "src.vocab", "tgt.vocab", "best.safetensors", "last.safetensors", "step-00000250.safetensors", "step-00000500.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("train left no %s: %v", f, err)
		}
	}
	if !strings.Contains(stderr, "validation at step 500") {
		t.Errorf("no validation reported:\n%s", stderr)
	}

	// predict: one output per input line, in order.
	stdout, stderr, err := qkv(t, "abc\nfed\n", "predict", "--model", out)
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, stderr)
	}
	if got := strings.Split(strings.TrimSpace(stdout), "\n"); len(got) != 2 || got[0] != "AH BH CH" || got[1] != "FH EH DH" {
		t.Errorf("predict gave %q, want AH BH CH / FH EH DH", got)
	}
	// n-best with beam: N lines each, score TAB output, best first.
	stdout, _, err = qkv(t, "abc\n", "predict", "--model", out, "--beam", "4", "--nbest", "3")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "\tAH BH CH") {
		t.Errorf("nbest output %q", lines)
	}
	// --attention: one JSON line per input with every step's maps.
	attnFile := filepath.Join(dir, "attn.jsonl")
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", out, "--attention", attnFile); err != nil {
		t.Fatalf("predict --attention: %v\n%s", err, stderr)
	}
	raw, err := os.ReadFile(attnFile)
	if err != nil {
		t.Fatal(err)
	}
	var rec attentionJSON
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("attention line %q: %v", raw, err)
	}
	if len(rec.Source) != 3 || len(rec.Steps) != len(rec.Output)+1 || len(rec.Encoder) != 2 {
		t.Fatalf("attention record: %d source tokens, %d steps for %d outputs, %d encoder maps", len(rec.Source), len(rec.Steps), len(rec.Output), len(rec.Encoder))
	}
	for i, step := range rec.Steps {
		if len(step) != 4 { // tiny-transformer: 2 decoder layers × (self, cross)
			t.Fatalf("step %d: %d maps", i, len(step))
		}
		for _, m := range step {
			if strings.HasSuffix(m.Name, "cross_attn") && m.Keys != 3 {
				t.Errorf("step %d %s: %d keys, want the 3 source tokens", i, m.Name, m.Keys)
			}
			for h := 0; h < m.Heads; h++ {
				var sum float64
				for _, w := range m.Weights[h*m.Keys : (h+1)*m.Keys] {
					sum += float64(w)
				}
				if math.Abs(sum-1) > 1e-4 {
					t.Errorf("step %d %s head %d: weights sum to %g", i, m.Name, h, sum)
				}
			}
		}
	}

	// Bad lines are reported with their number and keep the output aligned.
	stdout, stderr, err = qkv(t, "ab\n\nxyz\nca\n", "predict", "--model", out, "--strict")
	if err == nil {
		t.Error("predict with bad lines exited 0")
	}
	if got := strings.Split(stdout, "\n"); len(got) != 5 || got[1] != "" || got[2] != "" || got[3] != "CH AH" {
		t.Errorf("outputs not aligned with inputs: %q", got)
	}
	for _, want := range []string{"line 2: empty input", `line 3: vocab: unknown symbol "x"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// eval: one JSON line with WER and PER.
	stdout, stderr, err = qkv(t, "", "eval", "--model", out, "--test", validFile)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("eval output %q: %v", stdout, err)
	}
	if wer, ok := res["wer"].(float64); !ok || wer > 10 {
		t.Errorf("eval: %v (want wer ≤ 10%% on this easy task)", res)
	}
	if _, ok := res["per"]; !ok {
		t.Errorf("eval: no per in %v", res)
	}

	// average: the two snapshots into average.safetensors, which eval and
	// predict load with --weights.
	stdout, stderr, err = qkv(t, "", "average", "--model", out)
	if err != nil {
		t.Fatalf("average: %v\n%s", err, stderr)
	}
	var avg struct {
		Out      string   `json:"out"`
		Averaged []string `json:"averaged"`
	}
	if err := json.Unmarshal([]byte(stdout), &avg); err != nil || len(avg.Averaged) != 2 || avg.Out != filepath.Join(out, "average.safetensors") {
		t.Fatalf("average output %q: %v", stdout, err)
	}
	stdout, stderr, err = qkv(t, "", "eval", "--model", out, "--test", validFile, "--weights", "average.safetensors")
	if err != nil {
		t.Fatalf("eval --weights: %v\n%s", err, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("eval output %q: %v", stdout, err)
	}
	if wer, ok := res["wer"].(float64); !ok || wer > 10 {
		t.Errorf("eval of the average: %v (want wer ≤ 10%%)", res)
	}
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", out, "--weights", "nosuch.safetensors"); err == nil || !strings.Contains(stderr, "nosuch.safetensors") {
		t.Errorf("missing weights file: err %v, stderr %q", err, stderr)
	}
	// A model named beside a file (a run's origin): its best weights, if
	// it has the run's architecture and vocabularies.
	stdout, stderr, err = qkv(t, "", "average", "--model", out, "--out", "with-dir.safetensors", "best.safetensors", out)
	if err != nil || !strings.Contains(stdout, `"averaged":["`+filepath.Join(out, "best.safetensors")+`","`+out+`"]`) {
		t.Errorf("average with a model directory: %v\n%s%s", err, stdout, stderr)
	}
	for model, want := range map[string]string{"builtin:g2p-en-rnnsearch": "is a model of architecture rnnsearch", "builtin:g2p-en": "src.vocab"} {
		if _, stderr, err := qkv(t, "", "average", "--model", out, "--out", "x.safetensors", "best.safetensors", model); err == nil || !strings.Contains(stderr, want) {
			t.Errorf("average with %s: err %v, stderr %q (want %q)", model, err, stderr, want)
		}
	}
	empty := t.TempDir()
	if _, stderr, err := qkv(t, "", "average", "--model", empty); err == nil || !strings.Contains(stderr, "--keep-snapshots") {
		t.Errorf("average without snapshots: err %v, stderr %q", err, stderr)
	}

	// Training again into the same directory would overwrite the run: refused.
	if _, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--train", trainFile, "--out", out); err == nil || !strings.Contains(stderr, "--resume") {
		t.Errorf("overwriting a run: err %v, stderr %q", err, stderr)
	}
	// A model directory missing a file: a clear error naming it.
	if err := os.Remove(filepath.Join(out, "tgt.vocab")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", out); err == nil || !strings.Contains(stderr, "tgt.vocab") {
		t.Errorf("missing vocabulary: err %v, stderr %q", err, stderr)
	}
}

// tinyTraining writes a small letters→phones training and validation file
// into dir and returns them with the qkv train arguments of a tiny
// Transformer on them (no --out).
func tinyTraining(t *testing.T, dir string) (trainFile, validFile string, args []string) {
	t.Helper()
	trainFile = g2pLike(t, dir, "train.tsv", 200, 3)
	validFile = g2pLike(t, dir, "valid.tsv", 20, 4)
	return trainFile, validFile, []string{"train", "--arch", "transformer", "--preset", "tiny-transformer", "--train", trainFile,
		"--valid", validFile, "--max-tokens", "400", "--metric", "none"}
}

func TestTrainResumeMatchesUninterrupted(t *testing.T) {
	dir := t.TempDir()
	trainFile, validFile, common := tinyTraining(t, dir)
	whole := filepath.Join(dir, "whole")
	if _, stderr, err := qkv(t, "", append(common, "--out", whole, "--max-steps", "12")...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	split := filepath.Join(dir, "split")
	if _, stderr, err := qkv(t, "", append(common, "--out", split, "--max-steps", "5")...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if _, stderr, err := qkv(t, "", "train", "--resume", "--out", split, "--train", trainFile, "--valid", validFile, "--max-steps", "12", "--metric", "none"); err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	a, err := os.ReadFile(filepath.Join(whole, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(split, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the resumed run's last checkpoint differs from the uninterrupted run's")
	}
}

func TestTrainBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tsv")
	os.WriteFile(bad, []byte("abc\tAH\nno tab here\n"), 0o644)
	_, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--train", bad, "--out", filepath.Join(dir, "o"))
	if err == nil || !strings.Contains(stderr, "bad.tsv:2") {
		t.Errorf("malformed corpus: err %v, stderr %q", err, stderr)
	}
	_, stderr, err = qkv(t, "", "train", "--arch", "lstm", "--train", bad, "--out", filepath.Join(dir, "o"))
	if err == nil || !strings.Contains(stderr, "unknown architecture") {
		t.Errorf("unknown arch: err %v, stderr %q", err, stderr)
	}
	_, stderr, err = qkv(t, "", "predict", "--model", filepath.Join(dir, "nothing"))
	if err == nil || !strings.Contains(stderr, "nothing") {
		t.Errorf("missing model dir: err %v, stderr %q", err, stderr)
	}
}

// TestTrainInterruptSavesAndResumes sends Ctrl-C (SIGINT) to a training run:
// it must write its last checkpoint and exit cleanly, and --resume must
// pick the run up from there.
func TestTrainInterruptSavesAndResumes(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 300, 5)
	out := filepath.Join(dir, "run")
	cmd := exec.Command(qkvBin, "train", "--arch", "transformer", "--preset", "tiny-transformer", "--train", trainFile,
		"--out", out, "--max-tokens", "400", "--metric", "none", "--epochs", "100000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until training has started (the config is written first), then interrupt.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "config.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("training never started:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("interrupted training exited with %v:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped (interrupted)") {
		t.Errorf("no interruption reported:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "last.safetensors")); err != nil {
		t.Fatalf("no checkpoint after Ctrl-C: %v", err)
	}
	_, errOut, err := qkv(t, "", "train", "--resume", "--out", out, "--train", trainFile, "--max-steps", "1000000", "--time-budget", "1s", "--metric", "none")
	if err != nil || !strings.Contains(errOut, "resuming") {
		t.Fatalf("resume after Ctrl-C: %v\n%s", err, errOut)
	}
}

func TestPredictRejectsOverlongInput(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 100, 6)
	out := filepath.Join(dir, "run")
	if _, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--preset", "tiny-transformer", "--train", trainFile,
		"--out", out, "--max-steps", "2", "--metric", "none", "--max-src-len", "10"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	stdout, stderr, err := qkv(t, "abc\n"+strings.Repeat("a", 11)+"\n", "predict", "--model", out)
	if err == nil || !strings.Contains(stderr, "line 2: input is 11 tokens long; the model takes at most 10") {
		t.Errorf("over-long input: err %v, stderr %q", err, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 2 {
		t.Errorf("%d output lines for 2 inputs", n)
	}
}

// TestTrainConfigFile trains from a YAML configuration whose sections
// override the preset, with a flag overriding the file.
func TestTrainConfigFile(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 100, 7)
	cfg := filepath.Join(dir, "run.yaml")
	os.WriteFile(cfg, []byte(`arch: transformer
preset: tiny-transformer
model:
  d_model: 32
  heads: 2
  pre_norm: true
train:
  max_tokens: 300
  label_smoothing: 0.2
`), 0o644)
	out := filepath.Join(dir, "run")
	if _, stderr, err := qkv(t, "", "train", "--config", cfg, "--train", trainFile, "--out", out,
		"--max-steps", "2", "--metric", "none", "--label-smoothing", "0.05"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var got struct {
		Model struct {
			DModel  int  `json:"d_model"`
			Heads   int  `json:"heads"`
			PreNorm bool `json:"pre_norm"`
			DFF     int  `json:"d_ff"`
		} `json:"model"`
		Train struct {
			MaxTokens      int     `json:"max_tokens"`
			LabelSmoothing float64 `json:"label_smoothing"`
		} `json:"train"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Model.DModel != 32 || got.Model.Heads != 2 || !got.Model.PreNorm || got.Model.DFF != 256 {
		t.Errorf("model config %+v: want d_model 32, heads 2, pre-norm from the file and d_ff 256 from the preset", got.Model)
	}
	if got.Train.MaxTokens != 300 || math.Abs(got.Train.LabelSmoothing-0.05) > 1e-6 {
		t.Errorf("train config %+v: want max_tokens 300 from the file, label smoothing 0.05 from the flag", got.Train)
	}
	os.WriteFile(cfg, []byte("model:\n  d_modle: 32\n"), 0o644)
	if _, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--config", cfg, "--train", trainFile, "--out", filepath.Join(dir, "o2")); err == nil || !strings.Contains(stderr, "d_modle") {
		t.Errorf("misspelt config key: err %v, stderr %q", err, stderr)
	}
}

// TestRecurrentArchitecturesEndToEnd trains each recurrent architecture for
// a few steps through the command line and decodes with it, with beam
// search and attention output.
func TestRecurrentArchitecturesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 100, 8)
	for _, arch := range []string{"seq2seq", "rnnsearch"} {
		out := filepath.Join(dir, arch)
		if _, stderr, err := qkv(t, "", "train", "--arch", arch, "--train", trainFile, "--out", out,
			"--max-steps", "3", "--metric", "none"); err != nil {
			t.Fatalf("%s: train: %v\n%s", arch, err, stderr)
		}
		attnFile := filepath.Join(dir, arch+".jsonl")
		stdout, stderr, err := qkv(t, "abc\nfed\n", "predict", "--model", out, "--beam", "3", "--max-len", "6", "--attention", attnFile)
		if err != nil {
			t.Fatalf("%s: predict: %v\n%s", arch, err, stderr)
		}
		if n := strings.Count(stdout, "\n"); n != 2 {
			t.Errorf("%s: %d output lines for 2 inputs", arch, n)
		}
		raw, err := os.ReadFile(attnFile)
		if err != nil {
			t.Fatal(err)
		}
		var rec attentionJSON
		if err := json.Unmarshal([]byte(strings.SplitN(string(raw), "\n", 2)[0]), &rec); err != nil {
			t.Fatal(err)
		}
		maps := 0
		for _, step := range rec.Steps {
			maps += len(step)
		}
		if arch == "rnnsearch" && (len(rec.Steps) == 0 || maps != len(rec.Steps) || rec.Steps[0][0].Keys != 3) {
			t.Errorf("rnnsearch: %d steps with %d maps; want one map over the 3 source tokens per step", len(rec.Steps), maps)
		}
		if arch == "seq2seq" && maps != 0 {
			t.Errorf("seq2seq has no attention, got %d maps", maps)
		}
	}
}

// TestUnknownSubcommandFails: a mistyped subcommand of a command that
// groups others is an error (status 1) naming it, as one of qkv itself is;
// the group alone still prints its help.
func TestUnknownSubcommandFails(t *testing.T) {
	for _, args := range [][]string{{"nosuch"}, {"data", "gettxt"}, {"bench", "nosuch"}} {
		_, stderr, err := qkv(t, "", args...)
		if err == nil || !strings.Contains(stderr, "unknown command \""+args[len(args)-1]+"\"") {
			t.Errorf("qkv %v: err %v, stderr %q", args, err, stderr)
		}
	}
	for _, group := range []string{"data", "bench"} {
		stdout, _, err := qkv(t, "", group)
		if err != nil || !strings.Contains(stdout, "Available Commands") {
			t.Errorf("qkv %s: err %v, stdout %q", group, err, stdout)
		}
	}
}

// TestVersion: --version prints the build in one line, `qkv version` adds
// the kernels this machine runs.
func TestVersion(t *testing.T) {
	short, _, err := qkv(t, "", "--version")
	if err != nil || strings.Count(short, "\n") != 1 || !strings.HasPrefix(short, "qkv ") || !strings.Contains(short, runtime.Version()) {
		t.Fatalf("qkv --version: err %v, stdout %q", err, short)
	}
	long, _, err := qkv(t, "", "version")
	lines := strings.Split(strings.TrimSuffix(long, "\n"), "\n")
	if err != nil || len(lines) != 2 || lines[0]+"\n" != short ||
		!strings.HasPrefix(lines[1], "kernels: fp32 "+kernels.Impl()+",") || !strings.Contains(lines[1], "generic") {
		t.Errorf("qkv version: err %v, stdout %q", err, long)
	}
	if _, stderr, err := qkv(t, "", "version", "extra"); err == nil || !strings.Contains(stderr, `unknown command "extra"`) {
		t.Errorf("qkv version extra: err %v, stderr %q", err, stderr)
	}
}

// TestTrainCosineSchedule: --schedule cosine needs the step its decay ends
// at, records it (--max-steps by default) in run.json, and a resume with
// more steps keeps it: the rate reaches --min-lr there and stays.
func TestTrainCosineSchedule(t *testing.T) {
	dir := t.TempDir()
	trainFile, validFile, common := tinyTraining(t, dir)
	common = append(common, "--schedule", "cosine", "--lr", "2e-3", "--warmup", "2")
	_, stderr, err := qkv(t, "", append(common, "--out", filepath.Join(dir, "nosteps"), "--time-budget", "1m")...)
	if err == nil || !strings.Contains(stderr, "give --max-steps or --decay-steps") {
		t.Errorf("cosine without an end: err %v, stderr %q", err, stderr)
	}
	_, stderr, err = qkv(t, "", append(common, "--out", filepath.Join(dir, "minlr"), "--max-steps", "6", "--min-lr", "3e-3")...)
	if err == nil || !strings.Contains(stderr, "--min-lr 0.003 is out of range") {
		t.Errorf("--min-lr above --lr: err %v, stderr %q", err, stderr)
	}
	out, lossLog := filepath.Join(dir, "run"), filepath.Join(dir, "loss.tsv")
	if _, stderr, err := qkv(t, "", append(common, "--out", out, "--max-steps", "6", "--min-lr", "1e-4", "--loss-log", lossLog)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil || !strings.Contains(string(raw), `"decay_steps": 6`) || !strings.Contains(string(raw), `"min_lr": 0.0001`) {
		t.Fatalf("run.json does not record the decay (%v):\n%s", err, raw)
	}
	if _, stderr, err := qkv(t, "", "train", "--resume", "--out", out, "--train", trainFile, "--valid", validFile,
		"--max-steps", "9", "--metric", "none", "--loss-log", lossLog); err != nil {
		t.Fatalf("resume with more steps: %v\n%s", err, stderr)
	}
	logText, err := os.ReadFile(lossLog)
	if err != nil {
		t.Fatal(err)
	}
	// step, loss, nll, lr, …: warm-up to 2e-3 at step 2, half a cosine down
	// to 1e-4 at step 6, then 1e-4.
	want := map[string]float64{"1": 1e-3, "2": 2e-3, "4": 1e-4 + (2e-3-1e-4)/2, "6": 1e-4, "7": 1e-4, "9": 1e-4}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(logText)), "\n") {
		f := strings.Split(line, "\t")
		w, ok := want[f[0]]
		if !ok || len(f) < 4 {
			continue
		}
		lr, err := strconv.ParseFloat(f[3], 64)
		if err != nil || math.Abs(lr-w) > 1e-4*w {
			t.Errorf("step %s: learning rate %q, want %g", f[0], f[3], w)
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("the loss log has %d of the %d steps checked:\n%s", seen, len(want), logText)
	}
}
