package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/beam/internal/testmodel"
)

var qkvBin, beamBin, modelDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "qkv-beam-cli-test")
	if err != nil {
		panic(err)
	}
	beamBin = filepath.Join(dir, "qkv-beam")
	if out, err := exec.Command("go", "build", "-o", beamBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building qkv-beam: %v\n%s", err, out)
		os.Exit(1)
	}
	if qkvBin, err = testmodel.Build(dir); err == nil {
		modelDir, err = testmodel.Train(qkvBin, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The commands as a user runs them, through qkv beam (qkv finds qkv-beam
// beside itself): predict's files and exit status, eval's and score's
// JSON lines against qkv's own.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []string{qkvBin, beamBin} { // qkv beside qkv-beam
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(b)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	qkv := filepath.Join(dir, "qkv")
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	os.WriteFile(filepath.Join(in, "a.txt"), []byte("abc\nfed\nabz\n"), 0o644)
	os.WriteFile(filepath.Join(in, "b.txt"), []byte("cab\n\nface\n"), 0o644)

	_, stderr, err := testmodel.Run(qkv, "", "beam", "predict", "--threads", "1", "--model", modelDir, "--input", in+"/*.txt", "--output", dir+"/out-")
	if err == nil || !strings.Contains(stderr, "1 lines could not be decoded") || !strings.Contains(stderr, "b.txt\t2\tempty input") ||
		!strings.Contains(stderr, "1 input lines held symbols the model never saw") {
		t.Errorf("predict with an empty line: %v\n%s", err, stderr)
	}
	for _, name := range []string{"a.txt", "b.txt"} {
		want, _, _ := testmodel.Run(qkvBin, "", "predict", "--model", modelDir, "--input", filepath.Join(in, name))
		got, err := os.ReadFile(dir + "/out-" + name)
		if err != nil || string(got) != want {
			t.Errorf("%s: qkv beam predict wrote %q (%v), qkv predict %q", name, got, err, want)
		}
	}
	// --max-len-a/-b limit each output by its source, as in qkv predict:
	// a = 0, b = 2 allows two decoding steps, so no line has three tokens.
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "predict", "--threads", "1", "--model", modelDir, "--input", in+"/a.txt", "--output", dir+"/short-", "--max-len-a", "0", "--max-len-b", "2"); err != nil {
		t.Errorf("predict --max-len-a 0 --max-len-b 2: %v\n%s", err, stderr)
	}
	want, _, _ := testmodel.Run(qkvBin, "", "predict", "--model", modelDir, "--input", filepath.Join(in, "a.txt"), "--max-len-a", "0", "--max-len-b", "2")
	got, err := os.ReadFile(dir + "/short-a.txt")
	if err != nil || string(got) != want || len(want) == 0 {
		t.Errorf("--max-len-a 0 --max-len-b 2: qkv beam predict wrote %q (%v), qkv predict %q", got, err, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if len(strings.Fields(line)) > 2 {
			t.Errorf("--max-len-a 0 --max-len-b 2: %q is longer than two steps allow", line)
		}
	}
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "predict", "--model", modelDir, "--input", in+"/a.txt", "--output", dir+"/bad-", "--max-len-a", "-1"); err == nil || !strings.Contains(stderr, "--max-len-a -1 is out of range") {
		t.Errorf("--max-len-a -1: %v\n%s", err, stderr)
	}
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "predict", "--model", modelDir, "--input", in+"/*.txt", "--output", in+"/"); err == nil || !strings.Contains(stderr, "write elsewhere") {
		t.Errorf("outputs over the inputs: %v\n%s", err, stderr)
	}
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "predict", "--model", dir, "--input", in+"/*.txt", "--output", dir+"/x-"); err == nil || !strings.Contains(stderr, "config.json is missing") {
		t.Errorf("not a model: %v\n%s", err, stderr)
	}
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "predict", "--model", modelDir, "--input", in+"/*.txt", "--output", dir+"/x-", "--runner", "universal"); err == nil || !strings.Contains(stderr, "needs --endpoint") {
		t.Errorf("universal without an endpoint: %v\n%s", err, stderr)
	}

	test := filepath.Join(dir, "test.tsv")
	os.WriteFile(test, []byte(testmodel.Corpus(60, 5)), 0o644)
	want, stderr, err = testmodel.Run(qkvBin, "", "eval", "--model", modelDir, "--test", test)
	if err != nil {
		t.Fatalf("qkv eval: %v\n%s", err, stderr)
	}
	gotEval, stderr, err := testmodel.Run(qkv, "", "beam", "eval", "--threads", "1", "--model", modelDir, "--test", test)
	if err != nil {
		t.Fatalf("qkv beam eval: %v\n%s", err, stderr)
	}
	var w, g map[string]any
	json.Unmarshal([]byte(want), &w)
	json.Unmarshal([]byte(gotEval), &g)
	for _, k := range []string{"wer", "per", "sentences"} {
		if w[k] == nil || g[k] != w[k] {
			t.Errorf("%s: qkv beam eval %v, qkv eval %v", k, g[k], w[k])
		}
	}

	hyp := filepath.Join(dir, "hyp.txt")
	ref := filepath.Join(dir, "ref.txt")
	os.WriteFile(hyp, []byte("the cat sat on the mat .\na dog barks\n"), 0o644)
	os.WriteFile(ref, []byte("the cat sat on a mat .\nthe dog barks\n"), 0o644)
	want, _, err = testmodel.Run(qkvBin, "", "score", "--metric", "chrf", "--hyp", hyp, "--ref", ref)
	if err != nil {
		t.Fatal(err)
	}
	gotEval, stderr, err = testmodel.Run(qkv, "", "beam", "score", "--metric", "chrf", "--hyp", hyp, "--ref", ref)
	if err != nil || gotEval != want {
		t.Errorf("qkv beam score printed %q (%v %s), qkv score %q", gotEval, err, stderr, want)
	}
	// prepare bpe writes qkv data bpe's merges file.
	os.WriteFile(filepath.Join(in, "c.tsv"), []byte(testmodel.Corpus(200, 8)), 0o644)
	if _, stderr, err := testmodel.Run(qkvBin, "", "data", "bpe", "--tsv", "--merges", "50", "--input", filepath.Join(in, "c.tsv"), "--out", dir+"/want.bpe"); err != nil {
		t.Fatalf("qkv data bpe: %v\n%s", err, stderr)
	}
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "prepare", "bpe", "--tsv", "--merges", "50", "--input", in+"/*.tsv", "--out", dir+"/got.bpe"); err != nil {
		t.Fatalf("qkv beam prepare bpe: %v\n%s", err, stderr)
	}
	wb, _ := os.ReadFile(dir + "/want.bpe")
	gb, _ := os.ReadFile(dir + "/got.bpe")
	if len(wb) == 0 || string(gb) != string(wb) {
		t.Errorf("qkv beam prepare bpe wrote %q, qkv data bpe %q", gb, wb)
	}
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "prepare", "gettext", "--locale-dir", dir, "--lang", "xx", "--out", dir+"/corpus"); err == nil || !strings.Contains(stderr, "matches no file") {
		t.Errorf("prepare gettext without catalogues: %v\n%s", err, stderr)
	}
	// An earlier corpus in --out is kept, before any catalogue is read.
	os.MkdirAll(dir+"/old/xx", 0o755)
	os.WriteFile(dir+"/old/xx/train.tsv", []byte("a\tb\n"), 0o644)
	if _, stderr, err := testmodel.Run(qkv, "", "beam", "prepare", "gettext", "--locale-dir", dir, "--lang", "xx", "--out", dir+"/old"); err == nil || !strings.Contains(stderr, dir+"/old/xx/train.tsv exists") {
		t.Errorf("prepare gettext over an earlier corpus: %v\n%s", err, stderr)
	}
	if b, _ := os.ReadFile(dir + "/old/xx/train.tsv"); string(b) != "a\tb\n" {
		t.Errorf("the earlier corpus changed: %q", b)
	}

	for _, c := range []string{"predict", "eval", "score", "prepare gettext", "prepare bpe"} {
		out, _, err := testmodel.Run(qkv, "", append(append([]string{"beam"}, strings.Fields(c)...), "--help")...)
		if err != nil || !strings.Contains(out, "qkv-beam "+c) {
			t.Errorf("qkv beam %s --help: %v\n%s", c, err, out)
		}
	}
}
