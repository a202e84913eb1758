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
	embedDir(t, fsys, dir, "toy")
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

// embedDir copies a model directory into fsys as the built-in model name.
func embedDir(t *testing.T, fsys fstest.MapFS, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fsys[name+"/"+e.Name()] = &fstest.MapFile{Data: b}
	}
}

// TestBuiltinEnsemble: a built-in directory whose card.json lists members
// decodes as the ensemble of those built-in models, exactly as naming them
// one by one; anything that needs a single model says what it is instead;
// a card naming a member the binary lacks, or an ensemble among members,
// is refused.
func TestBuiltinEnsemble(t *testing.T) {
	fsys := fstest.MapFS{}
	dirA, mA := modelDir(t, model.Presets["tiny-transformer"])
	if err := checkpoint.SaveAs(filepath.Join(dirA, BestFile), mA.Params(), nil, checkpoint.BF16); err != nil {
		t.Fatal(err)
	}
	rnn := model.Presets["g2p-rnnsearch"]
	rnn.Embed, rnn.Hidden, rnn.AttnDim = 16, 24, 24
	dirB, mB := modelDir(t, rnn)
	if err := checkpoint.SaveAs(filepath.Join(dirB, BestFile), mB.Params(), nil, checkpoint.BF16); err != nil {
		t.Fatal(err)
	}
	embedDir(t, fsys, dirA, "a")
	embedDir(t, fsys, dirB, "b")
	fsys["ens/card.json"] = &fstest.MapFile{Data: []byte(`{"beam": 2, "alpha": 0, "members": ["a", "b"]}`)}
	withBuiltins(t, fsys)
	if got := Builtins(); !reflect.DeepEqual(got, []string{"a", "b", "ens"}) {
		t.Fatalf("Builtins() = %q", got)
	}
	if m, err := BuiltinMembers("a"); err != nil || m != nil {
		t.Errorf("BuiltinMembers(a) = %q, %v: a single model", m, err)
	}

	byName, err := LoadEnsemble([]Member{{Dir: "builtin:ens"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := byName.EnsembleSize(); n != 2 {
		t.Fatalf("builtin:ens decodes with %d models, want 2", n)
	}
	oneByOne, err := LoadEnsemble([]Member{{Dir: "builtin:a"}, {Dir: "builtin:b"}})
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"abc", "hello", "x"}
	opt := Options{Search: search.Options{Beam: 2}}
	x, y := byName.Translate(in, opt), oneByOne.Translate(in, opt)
	for i := range in {
		if x[i].Err != nil || y[i].Err != nil || !reflect.DeepEqual(x[i].Hyps, y[i].Hyps) {
			t.Errorf("%q: builtin:ens %+v (%v), its members %+v (%v)", in[i], x[i].Hyps, x[i].Err, y[i].Hyps, y[i].Err)
		}
	}
	// With another model beside it, it counts as its members.
	if p, err := LoadEnsemble([]Member{{Dir: "builtin:ens"}, {Dir: dirA}}); err != nil || p.EnsembleSize() != 3 {
		t.Errorf("builtin:ens + a directory: %v", err)
	}

	_, err = Load("builtin:ens")
	wantLoadErr(t, "one model", err, "builtin:ens is a built-in ensemble of builtin:a, builtin:b", "single model")
	_, err = LoadEnsemble([]Member{{Dir: "builtin:ens", Weights: "average.safetensors"}})
	wantLoadErr(t, "weights", err, "built-in ensemble", `--weights "average.safetensors"`)

	for _, c := range []struct {
		card  string
		words []string
	}{
		{`{"members": ["a", "nope"]}`, []string{"builtin:ens/card.json", `"nope"`, "not a built-in model"}},
		{`{"members": ["a", "ens"]}`, []string{"lists itself"}},
		{`{"members": ["a", "ens2"]}`, []string{`"ens2"`, "not a single model"}},
		{`{"members": ["a"`, []string{"builtin:ens/card.json"}},
	} {
		fsys["ens/card.json"] = &fstest.MapFile{Data: []byte(c.card)}
		fsys["ens2/card.json"] = &fstest.MapFile{Data: []byte(`{"members": ["a", "b"]}`)}
		_, err := LoadEnsemble([]Member{{Dir: "builtin:ens"}})
		wantLoadErr(t, c.card, err, c.words...)
	}
	// A directory with a model of its own and members is neither.
	fsys["ens/card.json"] = &fstest.MapFile{Data: []byte(`{"members": ["a", "b"]}`)}
	fsys["ens/config.json"] = fsys["a/config.json"]
	_, err = LoadEnsemble([]Member{{Dir: "builtin:ens"}})
	wantLoadErr(t, "both", err, "config.json", "one or the other")
}
