package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/tensor"
	"github.com/qkv-dev/qkv/text/corpus"
)

// TestWeightsFor: the weights to average with a model are read from a
// file, a model directory or a built-in model, each exactly as it loads;
// a model with other vocabularies or another architecture is refused by
// name, before any mean is taken.
func TestWeightsFor(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 40}
	run := savedDir(t, rnnsearchTiny, d, pairs)
	p, err := LoadForResume(run)
	if err != nil {
		t.Fatal(err)
	}
	best, err := LoadWeights(run, "")
	if err != nil {
		t.Fatal(err)
	}
	// Another model of the same vocabularies (a run's origin), with other
	// weights: as a directory, and built in.
	origin := t.TempDir()
	for _, f := range []string{ConfigFile, SrcVocabFile, TgtVocabFile} {
		b, err := os.ReadFile(filepath.Join(run, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(origin, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other := rnnsearchTiny
	other.Seed++
	other.SrcVocab, other.TgtVocab = p.Src.Len(), p.Tgt.Len()
	om, err := model.New(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(filepath.Join(origin, BestFile), om.Params(), nil); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	embedDir(t, fsys, origin, "origin")
	withBuiltins(t, fsys)

	// A weights file outside any model directory is read as it is.
	loose := filepath.Join(t.TempDir(), "loose.safetensors")
	if err := checkpoint.Save(loose, om.Params(), nil); err != nil {
		t.Fatal(err)
	}
	// A file that also holds the optimizer's state (last.safetensors):
	// only the parameters are averaged.
	withState := filepath.Join(run, "with-state.safetensors")
	state := tensor.FromData(make([]float32, 3), 3)
	state.Name = OptimizerPrefix + "m"
	if err := checkpoint.Save(withState, append(slices.Clone(best.Model.Params()), state), nil); err != nil {
		t.Fatal(err)
	}
	first := best.Model.Params()[0]
	for name, want := range map[string]model.Model{
		filepath.Join(run, BestFile):    best.Model,
		run:                             best.Model,
		withState:                       best.Model,
		origin:                          om,
		"builtin:origin":                om,
		filepath.Join(origin, BestFile): om,
		loose:                           om,
	} {
		arrays, err := WeightsFor(p, name)
		if err != nil {
			t.Errorf("WeightsFor(%s): %v", name, err)
			continue
		}
		if len(arrays) != len(want.Params()) {
			t.Errorf("WeightsFor(%s): %d tensors, want %d", name, len(arrays), len(want.Params()))
		}
		for _, w := range want.Params() {
			if a := arrays[w.Name]; !slices.Equal(a.Data, w.Data) || !slices.Equal(a.Shape, w.Shape) {
				t.Errorf("WeightsFor(%s): %s is not the model's", name, w.Name)
			}
		}
	}
	if a, _ := WeightsFor(p, origin); slices.Equal(a[first.Name].Data, first.Data) {
		t.Fatalf("the origin's weights are the run's: the test shows nothing")
	}

	// What must not be averaged with it.
	otherPairs := []corpus.Pair{{Source: "zebra", Target: "Zebra"}, {Source: "quick jump", Target: "schnell"}}
	strange := savedDir(t, rnnsearchTiny, d, otherPairs)
	transformer := savedDir(t, model.Config{Arch: model.ArchTransformer, DModel: 8, Heads: 2, EncLayers: 1, DecLayers: 1, DFF: 16, MaxLen: 64, Seed: 1}, d, pairs)
	for name, want := range map[string]string{
		strange:                          SrcVocabFile,
		filepath.Join(strange, BestFile): SrcVocabFile,
		transformer:                      "is a model of architecture transformer",
		"builtin:nope":                   "no such built-in model",
		filepath.Join(run, "nope"):       "not a weights file, a model directory or builtin:NAME",
	} {
		if _, err := WeightsFor(p, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("WeightsFor(%s) = %v, want an error naming %q", name, err, want)
		}
	}
}
