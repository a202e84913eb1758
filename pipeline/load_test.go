package pipeline

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/tensor"
	"github.com/qkv-dev/qkv/text/vocab"
)

// modelDir writes a model directory (char tokenizers) for cfg, with no
// weights, and returns it with a model built from cfg.
func modelDir(t *testing.T, cfg model.Config) (string, model.Model) {
	t.Helper()
	pr := prepared(t, DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 64, MaxTgtLen: 64})
	cfg.SrcVocab, cfg.TgtVocab = pr.Src.Len(), pr.Tgt.Len()
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pr.Save(dir, cfg, nil); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func wantLoadErr(t *testing.T, what string, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: loaded", what)
		return
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", what, err, w)
		}
	}
}

// TestLoadRefusesNonFiniteWeights: NaN or ±Inf in best, last or a file
// given with --weights is an error naming the file and the tensor; NaN
// weights used to load and decode every line to "<pad> <pad> …".
func TestLoadRefusesNonFiniteWeights(t *testing.T) {
	dir, m := modelDir(t, model.Presets["tiny-transformer"])
	ps := m.Params()
	victim := ps[len(ps)/2]
	victim.Data[1] = float32(math.NaN())
	victim.Data[5] = float32(math.Inf(-1))
	for _, name := range []string{BestFile, "step-100.safetensors"} {
		if err := checkpoint.Save(filepath.Join(dir, name), ps, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(dir)
	wantLoadErr(t, "best", err, filepath.Join(dir, BestFile), victim.Name, "2 of", "not finite")
	_, err = LoadWeights(dir, "step-100.safetensors")
	wantLoadErr(t, "--weights", err, "step-100.safetensors", victim.Name, "not finite")
	// last.safetensors (the fallback when there is no best) too.
	if err := os.Rename(filepath.Join(dir, BestFile), filepath.Join(dir, LastFile)); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	wantLoadErr(t, "last", err, LastFile, victim.Name, "not finite")
	// The same weights made finite load.
	victim.Data[1], victim.Data[5] = 0, 0
	if err := checkpoint.Save(filepath.Join(dir, BestFile), ps, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRefusesUnusedTensors: lowering enc_layers in config.json after
// training used to load the bigger file silently, dropping a trained layer.
// Now the extra tensors are an error that names a few of them; the
// optimizer state that last.safetensors holds is the one allowed extra.
func TestLoadRefusesUnusedTensors(t *testing.T) {
	cfg := model.Presets["tiny-transformer"]
	cfg.EncLayers = 3
	dir, m := modelDir(t, cfg)
	optim := tensor.FromData(make([]float32, 4), 4)
	optim.Name = OptimizerPrefix + "m.decoder.out.bias"
	if err := checkpoint.Save(filepath.Join(dir, LastFile), append(m.Params(), optim), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatalf("last.safetensors with optimizer state: %v", err)
	}
	var c Config
	if err := checkpoint.LoadJSON(filepath.Join(dir, ConfigFile), &c); err != nil {
		t.Fatal(err)
	}
	c.Model.EncLayers = 2
	if err := checkpoint.SaveJSON(filepath.Join(dir, ConfigFile), c); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	wantLoadErr(t, "enc_layers lowered", err, LastFile, "tensors that the model of config.json does not use",
		`"encoder.layers.2.self_attn.q_proj.weight"`, "more", "edited")
	if err != nil && strings.Contains(err.Error(), OptimizerPrefix) {
		t.Errorf("optimizer state listed as unused: %v", err)
	}
	// Raising it instead is a missing tensor, as before.
	c.Model.EncLayers = 4
	if err := checkpoint.SaveJSON(filepath.Join(dir, ConfigFile), c); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	wantLoadErr(t, "enc_layers raised", err, "encoder.layers.3", "missing from the file")
}

// TestShareEmbNeedsOneVocabulary: share_emb used to compare only the sizes
// of src.vocab and tgt.vocab, so two different vocabularies of one size
// shared one embedding table.
func TestShareEmbNeedsOneVocabulary(t *testing.T) {
	cfg := model.Presets["tiny-transformer"]
	cfg.ShareEmb = true
	src, _ := vocab.New([]string{"a", "b", "c"})
	for _, tc := range []struct {
		name string
		tgt  []string
		want string
	}{
		{"same size, other symbols", []string{"a", "x", "c"}, `id 5 is "b" in one and "x" in the other`},
		{"same symbols, other order", []string{"b", "a", "c"}, `id 4 is "a" in one and "b" in the other`},
		{"identical", []string{"a", "b", "c"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tgt, err := vocab.New(tc.tgt)
			if err != nil {
				t.Fatal(err)
			}
			cfg.SrcVocab, cfg.TgtVocab = src.Len(), tgt.Len()
			c := Config{Model: cfg, Data: DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 10, MaxTgtLen: 10}}
			if err := checkpoint.SaveJSON(filepath.Join(dir, ConfigFile), c); err != nil {
				t.Fatal(err)
			}
			if err := src.SaveFile(filepath.Join(dir, SrcVocabFile)); err != nil {
				t.Fatal(err)
			}
			if err := tgt.SaveFile(filepath.Join(dir, TgtVocabFile)); err != nil {
				t.Fatal(err)
			}
			_, err = LoadForResume(dir)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantLoadErr(t, tc.name, err, "share_emb", "one vocabulary", tc.want, "joint vocabulary")
		})
	}
}

// TestLoadChecksConfigValues: config.json values out of range are refused
// at load, naming the file and the key, and a model too large for memory
// fails before anything is allocated.
func TestLoadChecksConfigValues(t *testing.T) {
	dir, m := modelDir(t, model.Presets["tiny-transformer"])
	if err := checkpoint.Save(filepath.Join(dir, BestFile), m.Params(), nil); err != nil {
		t.Fatal(err)
	}
	var good Config
	if err := checkpoint.LoadJSON(filepath.Join(dir, ConfigFile), &good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    func(*Config)
		want string
	}{
		{"max_tgt_len 0", func(c *Config) { c.Data.MaxTgtLen = 0 }, "data.max_tgt_len"},
		{"max_tgt_len huge", func(c *Config) { c.Data.MaxTgtLen = 1 << 30 }, "1073741824 is out of range"},
		{"max_src_len negative", func(c *Config) { c.Data.MaxSrcLen = -1 }, "data.max_src_len"},
		{"tokenizer", func(c *Config) { c.Data.TgtTokenizer = "sentencepiece" }, `"sentencepiece" is not a tokenizer`},
		{"d_model 1e9", func(c *Config) { c.Model.DModel = 1_000_000_000 }, "d_model 1000000000 is above the limit"},
		{"dropout", func(c *Config) { c.Model.Dropout = 1.5 }, "dropout must be in [0, 1)"},
		{"too big for memory", func(c *Config) { c.Model.DModel, c.Model.DFF, c.Model.EncLayers = 65536, 262144, 64 }, "more than"},
	} {
		c := good
		tc.f(&c)
		if err := checkpoint.SaveJSON(filepath.Join(dir, ConfigFile), c); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		wantLoadErr(t, tc.name, err, filepath.Join(dir, ConfigFile), tc.want)
	}
}
