package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/qkv-dev/qkv/beam/decode"
	"github.com/qkv-dev/qkv/beam/internal/testmodel"
)

var qkvBin, modelDir string

func TestMain(m *testing.M) {
	beam.Init()
	dir, err := os.MkdirTemp("", "qkv-beam-eval-test")
	if err != nil {
		panic(err)
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

func execute(t *testing.T, build func(beam.Scope) error) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := build(s); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
}

// beam eval equals qkv eval: WER/PER and BLEU/chrF of the same model on a
// test set with repeated sources (several references) and a source longer
// than the model takes (decoded from its first tokens, as qkv eval does).
func TestBeamEvalEqualsQkvEval(t *testing.T) {
	dir := t.TempDir()
	test := testmodel.Corpus(300, 9)
	test += "abc\tAH BH CH\nabc\tAH BH CHH\n" // a repeated source: two references
	test += strings.Repeat("ab", 200) + "\tAH\n"
	test += "ab%s\tAH BH\nfa{x}\tFH AH\nbad\tBH AH DH\n" // placeholders: qkv eval's placeholders_kept with BLEU
	testFile := filepath.Join(dir, "test.tsv")
	if err := os.WriteFile(testFile, []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, metric := range []string{"wer", "bleu", "rouge"} {
		t.Run(metric, func(t *testing.T) {
			stdout, stderr, err := testmodel.Run(qkvBin, "", "eval", "--threads", "1", "--model", modelDir, "--test", testFile, "--metric", metric, "--beam", "3")
			if err != nil {
				t.Fatalf("qkv eval: %v\n%s", err, stderr)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(stdout), &want); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, metric+".json")
			execute(t, func(s beam.Scope) error {
				return BuildEval(s, EvalConfig{Model: decode.Model{Dir: modelDir}, Tests: []string{testFile}, Format: "tsv", Metric: metric,
					Options: decode.Options{Beam: 3, BatchSize: 32}, Shards: 4, Output: out})
			})
			st, err := ReadStats(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			scores, err := st.Scores(metric)
			if err != nil {
				t.Fatal(err)
			}
			count := func(k string) float64 { v, _ := want[k].(float64); return v } // qkv eval leaves out zero counts
			if float64(st.Segments) != count("sentences") || float64(st.Failed) != count("undecodable") || float64(st.Truncated) != count("truncated") {
				t.Errorf("beam eval: %d sentences, %d undecodable, %d truncated; qkv eval: %s", st.Segments, st.Failed, st.Truncated, stdout)
			}
			if st.Truncated != 1 {
				t.Errorf("the one over-long source: %d truncated", st.Truncated)
			}
			for k, v := range scores {
				if Round(v, 4) != want[k] {
					t.Errorf("%s: beam eval %v, qkv eval %v", k, Round(v, 4), want[k])
				}
			}
			for _, k := range []string{"wer", "per", "bleu", "chrf", "placeholder_sources", "placeholders_kept", "rouge1", "rouge2", "rougeL", "sbleu"} {
				_, inQkv := want[k]
				if _, inBeam := scores[k]; inBeam != inQkv {
					t.Errorf("%s: in qkv eval's line: %v, in beam eval's: %v", k, inQkv, inBeam)
				}
			}
			if metric == "bleu" && want["placeholder_sources"] != 2.0 {
				t.Errorf("qkv eval counted %v placeholder sources, want 2", want["placeholder_sources"])
			}
			if metric == "rouge" {
				metric = "rougeL"
			}
			if scores[metric] == 0 || scores[metric] == 100 {
				t.Errorf("degenerate score %v: the test proves little", scores)
			}
		})
	}
}

// beam score prints the very line qkv score prints, for every metric, on
// the metrics package's peer-checked files (punctuation, numbers, entities,
// German, Korean, Japanese), with two references one of which has a gap.
func TestBeamScoreEqualsQkvScore(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(testmodel.Root(), "metrics", "testdata")
	hyp, ref1 := filepath.Join(data, "hyp.txt"), filepath.Join(data, "ref1.txt")
	b, err := os.ReadFile(filepath.Join(data, "ref2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	lines[4] = "" // a missing reference: nrefs becomes "var"
	ref2 := filepath.Join(dir, "ref2.txt")
	if err := os.WriteFile(ref2, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, metric := range []string{"bleu", "chrf", "wer", "per", "rouge", "sbleu"} {
		want, stderr, err := testmodel.Run(qkvBin, "", "score", "--metric", metric, "--hyp", hyp, "--ref", ref1, "--ref", ref2)
		if err != nil {
			t.Fatalf("qkv score: %v\n%s", err, stderr)
		}
		out := filepath.Join(dir, metric+".json")
		execute(t, func(s beam.Scope) error {
			return BuildScore(s, ScoreConfig{Metric: metric, Hyp: hyp, Refs: []string{ref1, ref2}, Output: out})
		})
		st, err := ReadStats(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		line, err := st.Line(metric, 2)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		line.WriteLine(&got)
		if got.String() != want {
			t.Errorf("%s: beam score\n%s qkv score\n%s", metric, got.String(), want)
		}
	}
	// A reference file a line short is an error, as in qkv score.
	short := filepath.Join(dir, "short.txt")
	os.WriteFile(short, []byte("one line\n"), 0o644)
	p, s := beam.NewPipelineWithRoot()
	if err := BuildScore(s, ScoreConfig{Metric: "bleu", Hyp: hyp, Refs: []string{short}, Output: filepath.Join(dir, "x.json")}); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(context.Background(), p); err == nil || !strings.Contains(err.Error(), short+" has no line") {
		t.Errorf("a short reference file gave %v", err)
	}
}
