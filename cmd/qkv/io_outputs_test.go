package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/internal/atomicfile"
)

// readOrFail returns a file's content.
func readOrFail(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTemps fails when dir holds a temporary file of the atomic writer.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name()) {
			t.Errorf("%s left behind in %s", e.Name(), dir)
		}
	}
}

// TestPredictOutputIsNeverAnInput: --output or --attention naming the input
// (also through a hard or symbolic link), each other, or a model file is
// refused before anything is written, and the files stay as they were.
func TestPredictOutputIsNeverAnInput(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("abc\nfed\n"), 0o644)
	hard := filepath.Join(dir, "hard.txt")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.txt")
	if err := os.Symlink(in, sym); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(model, "config.json")
	cfgBefore := readOrFail(t, cfg)
	out := filepath.Join(dir, "out.txt")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", in}, "--output: output " + in + " is also an input"},
		{[]string{"--output", hard}, "is the input " + in},
		{[]string{"--output", sym}, "is the input " + in},
		{[]string{"--output", "./" + filepath.Base(in)}, "is the input"},
		{[]string{"--attention", in}, "--attention: output " + in + " is also an input"},
		{[]string{"--attention", hard, "--output", out}, "--attention: output"},
		{[]string{"--output", out, "--attention", out}, "--output and --attention name the same file"},
		{[]string{"--output", cfg}, "--output: output " + cfg},
		{[]string{"--output", filepath.Join(model, "best.safetensors")}, "best.safetensors"},
	} {
		cmd := exec.Command(qkvBin, append([]string{"predict", "--model", model, "--input", in}, tc.args...)...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: err %v, stderr %q; want %q", tc.args, err, stderr.String(), tc.want)
		}
		if got := readOrFail(t, in); got != "abc\nfed\n" {
			t.Fatalf("%q: the input became %q", tc.args, got)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%q: %s was written", tc.args, out)
		}
	}
	if readOrFail(t, cfg) != cfgBefore {
		t.Error("the model's config.json changed")
	}
	noTemps(t, dir)
	// Standard output appended (>>) to the input would read itself forever.
	f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(qkvBin, "predict", "--model", model, "--input", in)
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "standard output is the input") {
		t.Errorf("stdout >> input: err %v, stderr %q", err, stderr.String())
	}
	if got := readOrFail(t, in); got != "abc\nfed\n" {
		t.Errorf("the input became %q", got)
	}
}

// TestPredictWritesAtomically: --output and --attention appear whole at the
// end; a failed run (here: the --attention file cannot be written) leaves
// no output and an existing output untouched.
func TestPredictWritesAtomically(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	attn := filepath.Join(dir, "attn.jsonl")
	if _, stderr, err := qkv(t, "abc\nfed\n", "predict", "--model", model, "--output", out, "--attention", attn); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if got := readOrFail(t, out); strings.Count(got, "\n") != 2 {
		t.Errorf("output %q", got)
	}
	if got := readOrFail(t, attn); strings.Count(got, "\n") != 2 || !strings.Contains(got, `"line":2`) {
		t.Errorf("attention %.200q", got)
	}
	noTemps(t, dir)

	os.WriteFile(out, []byte("OLD\n"), 0o644)
	adir := filepath.Join(dir, "adir")
	os.Mkdir(adir, 0o755)
	for _, bad := range []string{adir, "/dev/full", filepath.Join(dir, "no", "such", "dir", "a.jsonl")} {
		_, stderr, err := qkv(t, "abc\n", "predict", "--model", model, "--output", out, "--attention", bad)
		if err == nil || !strings.Contains(stderr, "--attention") {
			t.Errorf("--attention %s: err %v, stderr %q", bad, err, stderr)
		}
		if got := readOrFail(t, out); got != "OLD\n" {
			t.Errorf("--attention %s failed, but --output was replaced with %q", bad, got)
		}
	}
	noTemps(t, dir)
	// A fresh output of a failed run does not appear at all.
	fresh := filepath.Join(dir, "fresh.txt")
	if _, _, err := qkv(t, "abc\n", "predict", "--model", model, "--output", fresh, "--attention", adir); err == nil {
		t.Error("a failed run exited 0")
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("a failed run left its --output")
	}
}

// TestPredictWriteErrorsReachTheExitCode: a full disk on standard output is
// an error, not a silent loss, in predict, data bpe, score and eval.
func TestPredictWriteErrorsReachTheExitCode(t *testing.T) {
	model, _ := trainedModel(t)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer full.Close()
	cmd := exec.Command(qkvBin, "predict", "--model", model)
	cmd.Stdin = strings.NewReader("abc\nfed\n")
	cmd.Stdout = full
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "no space left on device") {
		t.Errorf("predict > /dev/full: err %v, stderr %q", err, stderr.String())
	}
	test := filepath.Join(t.TempDir(), "test.tsv")
	os.WriteFile(test, []byte("abc\tAH BH CH\n"), 0o644)
	for _, args := range [][]string{
		{"data", "bpe", "--merges", "2", "--min-freq", "1", "--input", filepath.Join(model, "src.vocab")},
		{"score", "--hyp", filepath.Join(model, "src.vocab"), "--ref", filepath.Join(model, "src.vocab")},
		{"eval", "--model", model, "--test", test},
	} {
		cmd = exec.Command(qkvBin, args...)
		cmd.Stdout = full
		stderr.Reset()
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("%s > /dev/full: err %v, stderr %q", args[0], err, stderr.String())
		}
	}
}

// TestBPEOutputIsNeverAnInput: qkv data bpe refuses an --out that is the
// input or the merges (also through a link), and writes atomically.
func TestBPEOutputIsNeverAnInput(t *testing.T) {
	dir := t.TempDir()
	text := "the cat sat on the mat\nthe cat ate the rat\n"
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte(text), 0o644)
	merges := filepath.Join(dir, "m.bpe")
	if _, stderr, err := qkv(t, "", "data", "bpe", "--merges", "10", "--min-freq", "1", "--input", in, "--out", merges); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	mergesBefore := readOrFail(t, merges)
	link := filepath.Join(dir, "link.txt")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--apply", merges, "--input", in, "--out", in},
		{"--apply", merges, "--input", in, "--out", link},
		{"--apply", merges, "--input", in, "--out", merges},
		{"--merges", "5", "--min-freq", "1", "--input", in, "--out", in},
	} {
		_, stderr, err := qkv(t, "", append([]string{"data", "bpe"}, args...)...)
		if err == nil || !strings.Contains(stderr, "--out: output") {
			t.Errorf("%q: err %v, stderr %q", args, err, stderr)
		}
	}
	if readOrFail(t, in) != text || readOrFail(t, merges) != mergesBefore {
		t.Error("an input changed")
	}
	// --tsv with a line that has no tab: an error, and no output.
	tsv := filepath.Join(dir, "c.tsv")
	os.WriteFile(tsv, []byte("the cat\tdie Katze\nno tab here\n"), 0o644)
	out := filepath.Join(dir, "out.tsv")
	if _, stderr, err := qkv(t, "", "data", "bpe", "--apply", merges, "--tsv", "--input", tsv, "--out", out); err == nil || !strings.Contains(stderr, "c.tsv:2: no tab") {
		t.Errorf("--tsv without a tab: err %v, stderr %q", err, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed bpe --apply left its --out")
	}
	noTemps(t, dir)
	// A byte-order mark at the start of the input is not text.
	bom := filepath.Join(dir, "bom.txt")
	os.WriteFile(bom, []byte("\uFEFF"+text), 0o644)
	a, _, err1 := qkv(t, "", "data", "bpe", "--apply", merges, "--input", bom)
	b, _, err2 := qkv(t, "", "data", "bpe", "--apply", merges, "--input", in)
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("with a BOM %q (%v), without %q (%v)", a, err1, b, err2)
	}
}

// TestAverageOutputIsNeverAnInput: qkv average will not write over one of
// the snapshots it averages, nor over last.safetensors (what --resume
// continues from) or another file of the model.
func TestAverageOutputIsNeverAnInput(t *testing.T) {
	model, _ := trainedModel(t)
	snap := filepath.Join(model, "step-00000040.safetensors")
	before := readOrFail(t, snap)
	lastBefore := readOrFail(t, filepath.Join(model, "last.safetensors"))
	for _, out := range []string{"step-00000040.safetensors", snap, "last.safetensors", "config.json", "src.vocab"} {
		_, stderr, err := qkv(t, "", "average", "--model", model, "--out", out)
		if err == nil || !strings.Contains(stderr, "average: --out") {
			t.Errorf("--out %s: err %v, stderr %q", out, err, stderr)
		}
	}
	if readOrFail(t, snap) != before || readOrFail(t, filepath.Join(model, "last.safetensors")) != lastBefore {
		t.Error("a snapshot or last.safetensors changed")
	}
	out := filepath.Join(t.TempDir(), "avg.safetensors")
	if _, stderr, err := qkv(t, "", "average", "--model", model, "--out", out); err != nil {
		t.Fatalf("average: %v\n%s", err, stderr)
	}
	noTemps(t, filepath.Dir(out))
	noTemps(t, model)

	// Another qkv average writing the same --out has its own temporary
	// file, which this one neither writes into nor removes (both once used
	// ".<out>.tmp-average").
	theirs := filepath.Join(filepath.Dir(out), ".avg.safetensors.tmp-average")
	os.WriteFile(theirs, []byte("another run's"), 0o644)
	if _, stderr, err := qkv(t, "", "average", "--model", model, "--out", out); err != nil {
		t.Fatalf("average: %v\n%s", err, stderr)
	}
	if b, err := os.ReadFile(theirs); err != nil || string(b) != "another run's" {
		t.Errorf("another run's temporary file was changed or removed: %q, %v", b, err)
	}
	// --last over the snapshots kept averages those, and says so.
	if _, stderr, err := qkv(t, "", "average", "--model", model, "--out", out, "--last", "5"); err != nil || !strings.Contains(stderr, "--last 5, but "+model+" keeps 2 snapshots") {
		t.Errorf("--last 5 of 2 snapshots: %v, stderr %q", err, stderr)
	}
	if _, stderr, err := qkv(t, "", "average", "--model", model, "--out", out, "--last", "2"); err != nil || stderr != "" {
		t.Errorf("--last 2 of 2 snapshots: %v, stderr %q", err, stderr)
	}
	// An --out that is a directory is refused, with no file left behind.
	if _, stderr, err := qkv(t, "", "average", "--model", model, "--out", t.TempDir()); err == nil || !strings.Contains(stderr, "average: --out") {
		t.Errorf("--out a directory: err %v, stderr %q", err, stderr)
	}
}

// TestPredictInterruptLeavesNothing: Ctrl-C while predict writes --output
// removes its temporary file and leaves the previous output as it was.
func TestPredictInterruptLeavesNothing(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	os.WriteFile(out, []byte("OLD\n"), 0o644)
	cmd := exec.Command(qkvBin, "predict", "--model", model, "--output", out)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("abc\n")) // and keep the input open: predict waits for more
	deadline := time.Now().Add(20 * time.Second)
	for !hasTemp(dir) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("predict never started writing:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	stdin.Close()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("interrupted predict: %v, stderr %q", err, stderr.String())
	}
	if got := readOrFail(t, out); got != "OLD\n" {
		t.Errorf("the previous output became %q", got)
	}
	noTemps(t, dir)
}

func hasTemp(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name()) {
			return true
		}
	}
	return false
}

// TestEvalOutput: eval --output writes one line per test line, each the
// output predict gives for that line's source (a source repeated with
// another reference gets its output again), and refuses to overwrite the
// test file.
func TestEvalOutput(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	test := filepath.Join(dir, "test.tsv")
	lines := "abc\tAH BH CH\nfed\tFH EH DH\nabc\tAH BH\ncafe\tCH AH FH EH\n"
	os.WriteFile(test, []byte(lines), 0o644)
	out := filepath.Join(dir, "out.txt")
	if _, stderr, err := qkv(t, "", "eval", "--model", model, "--test", test, "--output", out); err != nil {
		t.Fatalf("eval --output: %v\n%s", err, stderr)
	}
	got := strings.Split(strings.TrimSuffix(readOrFail(t, out), "\n"), "\n")
	srcs := "abc\nfed\nabc\ncafe\n"
	pred, stderr, err := qkv(t, srcs, "predict", "--model", model)
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, stderr)
	}
	want := strings.Split(strings.TrimSuffix(pred, "\n"), "\n")
	if len(got) != 4 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("eval --output wrote %q; predict gives %q", got, want)
	}
	if got[0] == "" {
		t.Fatalf("empty output for a decodable source: %q", got)
	}
	noTemps(t, dir)
	_, stderr, err = qkv(t, "", "eval", "--model", model, "--test", test, "--output", test)
	if err == nil || !strings.Contains(stderr, "is also an input") {
		t.Fatalf("eval --output naming the test file: err %v, stderr %q", err, stderr)
	}
	if readOrFail(t, test) != lines {
		t.Fatal("the test file changed")
	}
}

// TestUnwritableOutputRefusedFirst: an output no file can be written to (in
// a directory that does not exist, or a directory itself) is refused before
// any input is read, so a long decoding is never thrown away at the end
// for want of a place to put it. Each command is given an input that would
// fail too: the output's error must come first.
func TestUnwritableOutputRefusedFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "out")
	badPO := filepath.Join(dir, "bad.po")
	os.WriteFile(badPO, []byte("msgid \"a\"\nmsgstr \"\n"), 0o644)
	noInput := filepath.Join(dir, "no-such-input")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"predict", "--model", "builtin:g2p-en", "--input", noInput, "--output", missing}, "--output"},
		{[]string{"predict", "--model", "builtin:g2p-en", "--input", noInput, "--output", dir}, "--output"},
		{[]string{"predict", "--model", "builtin:g2p-en", "--input", noInput, "--attention", missing}, "--attention"},
		{[]string{"eval", "--model", "builtin:g2p-en", "--test", noInput, "--output", missing}, "--output"},
		{[]string{"translate-po", "--model", "builtin:g2p-en", badPO, "-o", missing}, "--output"},
		{[]string{"translate-po", "--model", "builtin:g2p-en", badPO, "-o", dir}, "--output"},
		{[]string{"score", "--memprofile", missing, "--hyp", noInput, "--ref", noInput}, "--memprofile"},
	} {
		_, stderr, err := qkv(t, "", tc.args...)
		if err == nil {
			t.Errorf("%v succeeded", tc.args)
			continue
		}
		if !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "bad.po:") || strings.Contains(stderr, "no-such-input") {
			t.Errorf("%v: want the %s error before any input is read, got:\n%s", tc.args, tc.want, stderr)
		}
	}
	noTemps(t, dir)
}
