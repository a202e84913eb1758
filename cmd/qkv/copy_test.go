package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyAttentionEndToEnd trains RNNsearch and a Transformer with
// --copy-attention for a few steps and follows the option through: it is
// refused without a joint vocabulary and for seq2seq, recorded in
// config.json, and every decoded token's copy probability comes out in
// predict --attention's JSON and in qkv attention's JSON and pictures
// (the strip beside the map copied through, and copy.svg).
func TestCopyAttentionEndToEnd(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "copy.tsv")
	os.WriteFile(corpus, []byte("abc\tcab\nfed\tdef\nbad\tdab\ncafe\tefac\n"), 0o644)
	base := []string{"train", "--train", corpus, "--valid", corpus, "--src-tok", "char", "--tgt-tok", "char", "--max-steps", "3", "--metric", "none", "--copy-attention"}
	if _, stderr, err := qkv(t, "", append(base, "--arch", "rnnsearch", "--out", filepath.Join(dir, "nojoint"))...); err == nil || !strings.Contains(stderr, "--joined-dictionary") {
		t.Errorf("--copy-attention without a joint vocabulary: %v %s", err, stderr)
	}
	if _, stderr, err := qkv(t, "", append(base, "--arch", "seq2seq", "--joined-dictionary", "--out", filepath.Join(dir, "s2s"))...); err == nil || !strings.Contains(stderr, "seq2seq") {
		t.Errorf("--copy-attention with seq2seq: %v %s", err, stderr)
	}
	for arch, preset := range map[string]string{"rnnsearch": "g2p-rnnsearch", "transformer": "tiny-transformer"} {
		t.Run(arch, func(t *testing.T) {
			model := filepath.Join(dir, arch)
			if _, stderr, err := qkv(t, "", append(base, "--arch", arch, "--preset", preset, "--joined-dictionary", "--out", model)...); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			var cfg struct {
				Model struct {
					Copy bool `json:"copy"`
				} `json:"model"`
			}
			raw, _ := os.ReadFile(filepath.Join(model, "config.json"))
			if err := json.Unmarshal(raw, &cfg); err != nil || !cfg.Model.Copy {
				t.Fatalf("config.json does not record copy attention (%v): %s", err, raw)
			}
			attn := filepath.Join(dir, arch+".jsonl")
			if _, stderr, err := qkv(t, "abc\nfed\n", "predict", "--model", model, "--attention", attn, "--max-len", "6"); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			f, _ := os.ReadFile(attn)
			sc := bufio.NewScanner(bytes.NewReader(f))
			lines := 0
			for sc.Scan() {
				lines++
				var rec attentionJSON
				if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
					t.Fatal(err)
				}
				if len(rec.Steps) == 0 {
					t.Fatalf("line %d: no attention steps", rec.Line)
				}
				for s, step := range rec.Steps {
					n := 0
					for _, m := range step {
						if m.PCopy != nil {
							n++
							if !(*m.PCopy > 0 && *m.PCopy < 1) {
								t.Errorf("line %d step %d: p_copy %g", rec.Line, s, *m.PCopy)
							}
						}
					}
					if n != 1 {
						t.Errorf("line %d step %d: %d maps with p_copy, want 1", rec.Line, s, n)
					}
				}
			}
			if lines != 2 {
				t.Fatalf("%d attention lines, want 2", lines)
			}

			out := filepath.Join(dir, arch+"-pics")
			if _, stderr, err := qkv(t, "", "attention", "--model", model, "--out", out, "--input", "abc", "--format", "svg", "--max-len", "6"); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			raw, _ = os.ReadFile(filepath.Join(out, "001-abc", "attention.json"))
			var af attentionFileJSON
			if err := json.Unmarshal(raw, &af); err != nil {
				t.Fatal(err)
			}
			steps := len(af.Output)
			if af.Finished {
				steps++
			}
			if af.CopyModule == "" || len(af.Copy) != steps {
				t.Fatalf("attention.json: copy module %q, %d copy probabilities for %d steps", af.CopyModule, len(af.Copy), steps)
			}
			layer := "0"
			if arch == "transformer" {
				layer = "1" // the last of tiny-transformer's 2 decoder layers
			}
			strip, _ := os.ReadFile(filepath.Join(out, "001-abc", "cross-layer"+layer+"-head0.svg"))
			copied, err := os.ReadFile(filepath.Join(out, "001-abc", "copy.svg"))
			if err != nil || !bytes.Contains(strip, []byte("P(copy)")) || !bytes.Contains(copied, []byte("P(copy)")) {
				t.Errorf("the pictures do not show P(copy) (copy.svg: %v)", err)
			}
			if arch == "transformer" {
				first, _ := os.ReadFile(filepath.Join(out, "001-abc", "cross-layer0-head0.svg"))
				if bytes.Contains(first, []byte("P(copy)")) {
					t.Error("layer 0's cross-attention, which the model does not copy through, shows P(copy)")
				}
			}
		})
	}
}
