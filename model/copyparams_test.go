package model

import (
	"slices"
	"strings"
	"testing"
)

// TestCopyParams: a model of the same configuration but its dropout and
// seed takes another's weights exactly; a model of another shape is
// refused by the name of the first parameter that differs.
func TestCopyParams(t *testing.T) {
	cfg := Config{Arch: ArchTransformer, SrcVocab: 9, TgtVocab: 11, DModel: 16, Heads: 2, EncLayers: 1, DecLayers: 1, DFF: 32, MaxLen: 20, Seed: 1}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed, cfg.Dropout = 2, 0.3
	dst, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(dst.Params()[0].Data, src.Params()[0].Data) {
		t.Fatal("two seeds gave the same initialization: the test needs two")
	}
	if err := CopyParams(dst, src); err != nil {
		t.Fatal(err)
	}
	for i, p := range dst.Params() {
		if !slices.Equal(p.Data, src.Params()[i].Data) {
			t.Errorf("%s was not copied", p.Name)
		}
	}
	cfg.DFF = 64
	wider, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := CopyParams(wider, src); err == nil || !strings.Contains(err.Error(), "[16 64]") && !strings.Contains(err.Error(), "[64 16]") {
		t.Errorf("a wider feed-forward layer: %v", err)
	}
}
