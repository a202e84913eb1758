package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/qkv-dev/qkv/explain"
)

// recurrentModels trains, once per test binary, an RNNsearch and a seq2seq
// model for a few steps on a toy corpus (under a second each): their
// pictures and errors do not depend on what they learned.
var recurrentModels = sync.OnceValues(func() (map[string]string, error) {
	dir := filepath.Join(filepath.Dir(qkvBin), "recurrent-models")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	corpus := filepath.Join(dir, "tiny.tsv")
	if err := os.WriteFile(corpus, []byte("abc\tAH BH CH\nfed\tFH EH DH\nbad\tBH AH DH\ncafe\tCH AH FH EH\n"), 0o644); err != nil {
		return nil, err
	}
	models := map[string]string{}
	for arch, preset := range map[string]string{"rnnsearch": "g2p-rnnsearch", "seq2seq": "g2p-seq2seq"} {
		out := filepath.Join(dir, arch)
		cmd := []string{"train", "--arch", arch, "--preset", preset, "--train", corpus, "--valid", corpus, "--out", out, "--max-steps", "3", "--metric", "none"}
		if _, stderr, err := qkvRun("", cmd...); err != nil {
			return nil, &trainError{arch, err, stderr}
		}
		models[arch] = out
	}
	return models, nil
})

type trainError struct {
	arch   string
	err    error
	stderr string
}

func (e *trainError) Error() string {
	return "training " + e.arch + ": " + e.err.Error() + "\n" + e.stderr
}

// qkvRun is qkv without a *testing.T, for the sync.Once helpers.
func qkvRun(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(qkvBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func recurrentModel(t *testing.T, arch string) string {
	t.Helper()
	ms, err := recurrentModels()
	if err != nil {
		t.Fatal(err)
	}
	return ms[arch]
}

var svgFill = regexp.MustCompile(`<path [^>]*style="fill:#`)

// svgCells counts the heat-map cells of an SVG written by qkv attention:
// its filled paths but the page's background.
func svgCells(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(svgFill.FindAll(b, -1)) - 1
}

// attentionFileJSON is attention.json.
type attentionFileJSON struct {
	Arch  string `json:"arch"`
	Input string `json:"input"`
	Text  string `json:"output_text"`
	explain.Attention
}

func TestAttentionPictures(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("abc\nfeda\nabc\n"), 0o644)
	out := filepath.Join(dir, "pics")
	stdout, stderr, err := qkv(t, "", "attention", "--model", model, "--out", out, "--input-file", in)
	if err != nil {
		t.Fatalf("attention: %v\n%s", err, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 3 {
		t.Errorf("stdout lists %d inputs, want 3:\n%s", n, stdout)
	}
	// The same input twice gets two directories: neither overwrites the other.
	for _, d := range []string{"001-abc", "002-feda", "003-abc"} {
		if _, err := os.Stat(filepath.Join(out, d, "attention.json")); err != nil {
			t.Errorf("no %s/attention.json: %v", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Error(err)
	}
	d := filepath.Join(out, "002-feda")
	raw, err := os.ReadFile(filepath.Join(d, "attention.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a attentionFileJSON
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	src, steps := len(a.Source), len(a.Output)+1 // + EOS
	if src != 4 || !a.Finished {
		t.Fatalf("attention.json: source %v, output %v, finished %v", a.Source, a.Output, a.Finished)
	}
	// tiny-transformer: 2 encoder and 2 decoder layers of 4 heads.
	for _, kind := range explain.Kinds {
		for l := range 2 {
			for h := range 4 {
				name := filepath.Join(d, kind+"-layer"+strconv.Itoa(l)+"-head"+strconv.Itoa(h))
				f, err := os.Open(name + ".png")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := png.Decode(f); err != nil {
					t.Errorf("%s.png: %v", name, err)
				}
				f.Close()
				want := map[string]int{explain.EncSelf: src * src, explain.Cross: steps * src, explain.DecSelf: steps * (steps + 1) / 2}[kind]
				if got := svgCells(t, name+".svg"); got != want {
					t.Errorf("%s.svg has %d cells, want %d (one per visible query-key pair; masked ones blank)", name, got, want)
				}
				m := a.Map(kind, l, h)
				if m == nil {
					t.Fatalf("attention.json lacks %s layer %d head %d", kind, l, h)
				}
				for i, row := range m.Weights {
					var s float64
					for _, w := range row {
						s += float64(w)
					}
					if math.Abs(s-1) > 1e-4 {
						t.Errorf("%s layer %d head %d row %d sums to %g", kind, l, h, i, s)
					}
					if kind == explain.DecSelf && len(row) != i+1 {
						t.Errorf("dec-self row %d has %d weights: masked positions must be left out", i, len(row))
					}
				}
			}
		}
		if got := svgCells(t, filepath.Join(d, "overview-"+kind+".svg")); got <= 0 {
			t.Errorf("overview-%s.svg has no cells", kind)
		}
		if _, err := os.Stat(filepath.Join(d, "overview-"+kind+".png")); err != nil {
			t.Error(err)
		}
	}
	// The weights are the ones the decoder used: predict --attention
	// records the same maps.
	attnFile := filepath.Join(dir, "attn.jsonl")
	if _, stderr, err := qkv(t, "feda\n", "predict", "--model", model, "--attention", attnFile); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rec attentionJSON
	raw, _ = os.ReadFile(attnFile)
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	for s, step := range rec.Steps {
		for _, m := range step {
			if m.Name != "decoder.1.cross_attn" {
				continue
			}
			for h := range m.Heads {
				got := a.Map(explain.Cross, 1, h).Weights[s]
				for j := range m.Keys {
					if math.Abs(float64(got[j]-m.Weights[h*m.Keys+j])) > 1e-5 { // batched with other inputs: float32 rounding differs
						t.Fatalf("step %d head %d key %d: attention.json %g, predict --attention %g", s, h, j, got[j], m.Weights[h*m.Keys+j])
					}
				}
			}
		}
	}

	// A second run into the same directory is refused, unless --force.
	_, stderr, err = qkv(t, "", "attention", "--model", model, "--out", out, "--input", "abc")
	if err == nil || !strings.Contains(stderr, "--force") {
		t.Errorf("a non-empty --out was accepted: %v %s", err, stderr)
	}
	if _, stderr, err := qkv(t, "", "attention", "--model", model, "--out", out, "--input", "bad", "--force", "--format", "svg"); err != nil {
		t.Errorf("--force: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "001-bad", "cross-layer0-head0.svg")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(out, "001-bad", "cross-layer0-head0.png")); err == nil {
		t.Error("--format svg wrote a PNG")
	}
}

func TestAttentionRNNSearchAndSeq2Seq(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pics")
	_, stderr, err := qkv(t, "", "attention", "--model", recurrentModel(t, "rnnsearch"), "--out", out, "--input", "cab")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	ents, _ := os.ReadDir(filepath.Join(out, "001-cab"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"attention.json", "cross-layer0-head0.png", "cross-layer0-head0.svg", "overview-cross.png", "overview-cross.svg"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("rnnsearch files %v, want %v", names, want)
	}
	svg, _ := os.ReadFile(filepath.Join(out, "001-cab", "cross-layer0-head0.svg"))
	if !bytes.Contains(svg, []byte("additive attention (RNNsearch)")) {
		t.Error("the rnnsearch map's title does not say it is additive attention")
	}
	_, stderr, err = qkv(t, "", "attention", "--model", recurrentModel(t, "seq2seq"), "--out", filepath.Join(t.TempDir(), "x"), "--input", "cab")
	if err == nil || !strings.Contains(stderr, "seq2seq") || !strings.Contains(stderr, "no attention") {
		t.Errorf("seq2seq: %v %s", err, stderr)
	}
}

func TestAttentionBadFlags(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", dir + "/a"}, "exactly one of --input TEXT and --input-file FILE"},
		{[]string{"--out", dir + "/a", "--input", "abc", "--input-file", file}, "exactly one of"},
		{[]string{"--input", "abc"}, "--out is required"},
		{[]string{"--out", dir + "/a", "--input", "abc", "--format", "pdf"}, `--format "pdf"`},
		{[]string{"--out", file, "--input", "abc"}, "is a file, not a directory"},
		{[]string{"--out", dir + "/a", "--input", "abc", "--beam", "0"}, "--beam 0 is out of range"},
		{[]string{"--out", dir + "/a", "--input-file", dir + "/missing"}, "--input-file"},
		{[]string{"--out", dir + "/a", "--input", ""}, "input 1: empty input"},
	} {
		_, stderr, err := qkv(t, "", append([]string{"attention", "--model", model}, c.args...)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: %v %q, want %q", c.args, err, stderr, c.want)
		}
	}
	// A bad line is reported with its number; the others are drawn.
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("abc\n\nfed\n"), 0o644)
	_, stderr, err := qkv(t, "", "attention", "--model", model, "--out", dir+"/b", "--input-file", in)
	if err == nil || !strings.Contains(stderr, "input 2: empty input") || !strings.Contains(stderr, "1 of 3 inputs") {
		t.Errorf("empty line: %v %s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "b", "003-fed", "attention.json")); err != nil {
		t.Error("the good lines after a bad one were not drawn")
	}
}

// TestPredictPrintAlignment: --print-alignment adds a TAB and Pharaoh
// pairs, one per output token, equal to the argmax of the head-averaged
// cross-attention of the last layer that --attention records.
func TestPredictPrintAlignment(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	attnFile := filepath.Join(dir, "attn.jsonl")
	stdout, stderr, err := qkv(t, "abc\nfeda\n", "predict", "--model", model, "--print-alignment", "--attention", attnFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	raw, _ := os.ReadFile(attnFile)
	recs := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || len(recs) != 2 {
		t.Fatalf("%d output lines, %d attention records", len(lines), len(recs))
	}
	pair := regexp.MustCompile(`^(\d+)-(\d+)$`)
	for k, line := range lines {
		cols := strings.Split(line, "\t")
		if len(cols) != 2 {
			t.Fatalf("line %q is not output<TAB>alignment", line)
		}
		var rec attentionJSON
		if err := json.Unmarshal([]byte(recs[k]), &rec); err != nil {
			t.Fatal(err)
		}
		pairs := strings.Fields(cols[1])
		if out := strings.Fields(cols[0]); len(pairs) != len(out) {
			t.Errorf("%d pairs for %d output tokens: %q", len(pairs), len(out), line)
		}
		for j, p := range pairs {
			m := pair.FindStringSubmatch(p)
			if m == nil {
				t.Fatalf("pair %q is not i-j", p)
			}
			if m[2] != strconv.Itoa(j) {
				t.Errorf("pair %d is %s: targets must run 0, 1, 2, …", j, p)
			}
			// argmax over source of the head average of decoder.1.cross_attn
			best, bestV := 0, -1.0
			for _, mp := range rec.Steps[j] {
				if mp.Name != "decoder.1.cross_attn" {
					continue
				}
				for i := range mp.Keys {
					var s float64
					for h := range mp.Heads {
						s += float64(mp.Weights[h*mp.Keys+i])
					}
					if s > bestV {
						best, bestV = i, s
					}
				}
			}
			if m[1] != strconv.Itoa(best) {
				t.Errorf("line %d: pair %s, head-average argmax is %d", k+1, p, best)
			}
		}
	}
	// n-best: score, output, alignment.
	stdout, _, err = qkv(t, "abc\n", "predict", "--model", model, "--print-alignment", "--alignment-layer", "0", "--beam", "3", "--nbest", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if cols := strings.Split(line, "\t"); len(cols) != 3 {
			t.Errorf("n-best line %q is not score<TAB>output<TAB>alignment", line)
		}
	}
	// RNNsearch aligns from its one attention.
	stdout, stderr, err = qkv(t, "cab\n", "predict", "--model", recurrentModel(t, "rnnsearch"), "--print-alignment", "--max-len", "4")
	if err != nil || strings.Count(stdout, "\t") != 1 {
		t.Errorf("rnnsearch: %v %q %s", err, stdout, stderr)
	}
	for _, c := range []struct {
		model string
		args  []string
		want  string
	}{
		{model, []string{"--print-alignment", "--alignment-layer", "2"}, "--alignment-layer 2 is out of range: the model has 2 decoder layers"},
		{model, []string{"--print-alignment", "--alignment-layer", "-3"}, "--alignment-layer -3 is out of range"},
		{model, []string{"--alignment-layer", "0"}, "add --print-alignment"},
		{recurrentModel(t, "seq2seq"), []string{"--print-alignment"}, "seq2seq, which has none"},
		{recurrentModel(t, "rnnsearch"), []string{"--print-alignment", "--alignment-layer", "1"}, "(0 to 0"},
	} {
		_, stderr, err := qkv(t, "abc\n", append([]string{"predict", "--model", c.model}, c.args...)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: %v %q, want %q", c.args, err, stderr, c.want)
		}
	}
}
