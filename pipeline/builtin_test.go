package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
)

// withBuiltins makes fsys the binary's embedded models for one test.
func withBuiltins(t *testing.T, fsys fstest.MapFS) {
	t.Helper()
	saved := builtins
	builtins = fsys
	t.Cleanup(func() { builtins = saved })
}

// TestBuiltinLoadsAsTheDirectory: a model directory embedded as
// builtin:NAME (bf16 weights, as the shipped model) decodes exactly as the
// same directory on disk, with errors that name the built-in file.
func TestBuiltinLoadsAsTheDirectory(t *testing.T) {
	dir, m := modelDir(t, model.Presets["tiny-transformer"])
	// bf16 weights, as qkv convert writes them for the shipped model.
	if err := checkpoint.SaveAs(filepath.Join(dir, BestFile), m.Params(), nil, checkpoint.BF16); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fsys["toy/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	withBuiltins(t, fsys)
	if got := Builtins(); !reflect.DeepEqual(got, []string{"toy"}) {
		t.Fatalf("Builtins() = %q, want [toy]", got)
	}

	disk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := Load("builtin:toy")
	if err != nil {
		t.Fatal(err)
	}
	if emb.Dir != "builtin:toy" {
		t.Errorf("Dir = %q", emb.Dir)
	}
	dp, ep := disk.Model.Params(), emb.Model.Params()
	for i := range dp {
		if !reflect.DeepEqual(dp[i].Data, ep[i].Data) {
			t.Fatalf("parameter %s differs between the directory and the built-in model", dp[i].Name)
		}
	}
	in := []string{"abc", "hello", "x"}
	opt := Options{Search: search.Options{Beam: 2}}
	a, b := disk.Translate(in, opt), emb.Translate(in, opt)
	for i := range in {
		if a[i].Err != nil || b[i].Err != nil || !reflect.DeepEqual(a[i].Hyps, b[i].Hyps) {
			t.Errorf("%q: directory %+v (%v), built-in %+v (%v)", in[i], a[i].Hyps, a[i].Err, b[i].Hyps, b[i].Err)
		}
	}
	// An ensemble of the built-in model and the directory decodes too (same text).
	if _, err := LoadEnsemble([]Member{{Dir: "builtin:toy"}, {Dir: dir}}); err != nil {
		t.Errorf("ensemble: %v", err)
	}

	for _, c := range []struct {
		dir, weights string
		words        []string
	}{
		{"builtin:nope", "", []string{`"builtin:nope"`, "no such built-in model", "builtin:toy"}},
		{"builtin:", "", []string{"no such built-in model"}},
		{"builtin:../toy", "", []string{"no such built-in model"}},
		{"builtin:toy", "step-9.safetensors", []string{"builtin:toy/step-9.safetensors", "no such file"}},
		{"builtin:toy", "/tmp/x.safetensors", []string{"only the name of one of its own files"}},
	} {
		_, err := LoadWeights(c.dir, c.weights)
		wantLoadErr(t, c.dir+" "+c.weights, err, c.words...)
	}
	// A damaged embedded file is named as such.
	fsys["toy/"+SrcVocabFile] = &fstest.MapFile{Data: []byte("<pad>\nx\n")}
	_, err = Load("builtin:toy")
	wantLoadErr(t, "damaged vocabulary", err, "builtin:toy/"+SrcVocabFile)
	delete(fsys, "toy/"+ConfigFile)
	_, err = Load("builtin:toy")
	wantLoadErr(t, "no config", err, "builtin:toy/"+ConfigFile)
}

// TestNoBuiltins: a binary without embedded models says so.
func TestNoBuiltins(t *testing.T) {
	withBuiltins(t, nil)
	_, err := Load("builtin:g2p-en")
	if err == nil || !strings.Contains(err.Error(), "holds: none") {
		t.Errorf("err = %v", err)
	}
}
