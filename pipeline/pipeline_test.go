package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/text/corpus"
)

var pairs = []corpus.Pair{
	{Source: "Open the file", Target: "Datei öffnen"},
	{Source: "Save the file", Target: "Datei speichern"},
	{Source: "Close the window", Target: "Fenster schließen"},
	{Source: "Open the window", Target: "Fenster öffnen"},
}

func prepared(t *testing.T, d DataConfig) *Prepared {
	t.Helper()
	p, err := Prepare(pairs, pairs[:1], PrepareOptions{Data: d, BPEMerges: 20})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSaveLoadRoundTrip writes a model directory with BPE tokenizers and
// reads it back: the same vocabularies, tokenization and weights.
func TestSaveLoadRoundTrip(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokBPE, TgtTokenizer: TokBPE, Lowercase: true, MaxSrcLen: 30, MaxTgtLen: 30}
	pr := prepared(t, d)
	cfg := model.Presets["tiny-transformer"]
	cfg.SrcVocab, cfg.TgtVocab = pr.Src.Len(), pr.Tgt.Len()
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pr.Save(dir, cfg, map[string]int{"max_tokens": 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no weights") {
		t.Fatalf("a directory without weights: %v", err)
	}
	if err := checkpoint.Save(filepath.Join(dir, BestFile), m.Params(), nil); err != nil {
		t.Fatal(err)
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Src.Symbols(), " ") != strings.Join(pr.Src.Symbols(), " ") {
		t.Error("source vocabulary changed on the way through the disk")
	}
	ids, err := p.EncodeSource("OPEN the window")
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := p.DecodeTarget(ids); text == "" {
		t.Error("decoding gave nothing")
	}
	for i, w := range m.Params() {
		if got := p.Model.Params()[i]; got.Name != w.Name || !slices.Equal(got.Data, w.Data) {
			t.Fatalf("parameter %s did not round-trip", w.Name)
		}
	}
	trainEx, validEx, _, err := p.Encode(pairs, pairs[:2])
	if err != nil || len(trainEx) != len(pr.Train) || len(validEx) != 2 {
		t.Fatalf("Encode: %d/%d examples, %v", len(trainEx), len(validEx), err)
	}
	if err := os.Remove(filepath.Join(dir, SrcBPEFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), SrcBPEFile) {
		t.Errorf("missing BPE merges: %v", err)
	}
}

func TestEncodeSourceErrors(t *testing.T) {
	pr := prepared(t, DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord, MaxSrcLen: 15, MaxTgtLen: 10})
	p := &Pipeline{Config: Config{Data: pr.Data}, Src: pr.Src, Tgt: pr.Tgt, SrcTok: pr.SrcTok, TgtTok: pr.TgtTok}
	for _, tc := range []struct{ in, want string }{
		{"", "empty input"},
		{"   ", "empty input"},
		{"Open\xffthe", "invalid UTF-8"},
		{"Open the fileZ", `unknown symbol "Z"`},
		{"Open the window!", "16 tokens long; the model takes at most 15"},
	} {
		if _, err := p.EncodeSource(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("EncodeSource(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
	if _, err := p.EncodeSource("Open the file"); err != nil {
		t.Errorf("a good line: %v", err)
	}
}

func TestPrepareLimits(t *testing.T) {
	pr, err := Prepare(pairs, nil, PrepareOptions{Data: DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord, MaxSrcLen: 13}})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Skipped != 2 || len(pr.Train) != 2 { // "Close the window", "Open the window" are longer than 13
		t.Errorf("skipped %d, kept %d; want 2 and 2", pr.Skipped, len(pr.Train))
	}
	// Over-long validation pairs are left out and counted, as training
	// pairs are; a validation set with none left is an error.
	pr, err = Prepare(pairs, pairs[1:3], PrepareOptions{Data: DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord, MaxSrcLen: 13}})
	if err != nil || pr.SkippedValid != 1 || len(pr.Valid) != 1 {
		t.Fatalf("one over-long validation pair of two: %v; skipped %d, kept %d", err, pr.SkippedValid, len(pr.Valid))
	}
	if _, err := Prepare(pairs, pairs[2:3], PrepareOptions{Data: DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord, MaxSrcLen: 13}}); err == nil ||
		!strings.Contains(err.Error(), "every one of the 1 validation pairs is longer than the limits") {
		t.Errorf("no validation pair within the limits: %v", err)
	}
	if _, err := Prepare(nil, nil, PrepareOptions{Data: DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord}}); err == nil {
		t.Error("an empty training set was accepted")
	}
	if _, err := Prepare(pairs, nil, PrepareOptions{Data: DataConfig{SrcTokenizer: "sentencepiece", TgtTokenizer: TokWord}}); err == nil {
		t.Error("an unknown tokenizer was accepted")
	}
}

// TestMetricHigherIsBetter: every metric qkv knows has its direction, the
// one --best-by metric and --patience follow.
func TestMetricHigherIsBetter(t *testing.T) {
	want := map[string]bool{"wer": false, "per": false, "bleu": true, "chrf": true, "rouge": true, "sbleu": true}
	if len(want) != len(Metrics) {
		t.Fatalf("Metrics %v: this test knows %d of them; give each new metric its direction here", Metrics, len(want))
	}
	for _, m := range Metrics {
		w, ok := want[m]
		if !ok {
			t.Fatalf("metric %q has no expected direction in this test", m)
		}
		if got := MetricHigherIsBetter(m); got != w {
			t.Errorf("MetricHigherIsBetter(%q) = %v, want %v", m, got, w)
		}
	}
}
