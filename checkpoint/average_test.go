package checkpoint

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/tensor"
)

func named(name string, data []float32, shape ...int) *tensor.Tensor {
	t := tensor.FromData(data, shape...)
	t.Name = name
	return t
}

func TestAverage(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, v := range []float32{1, 2, 6} {
		p := filepath.Join(dir, "step-"+string(rune('1'+i))+".safetensors")
		ts := []*tensor.Tensor{named("w", []float32{v, -v, 3 * v, 0.5}, 2, 2), named("b", []float32{10 * v}, 1)}
		if err := Save(p, ts, nil); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out := filepath.Join(dir, "average.safetensors")
	if err := Average(out, paths); err != nil {
		t.Fatal(err)
	}
	got, meta, err := ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{"w": {3, -3, 9, 0.5}, "b": {30}}
	for name, w := range want {
		a := got[name]
		if len(a.Data) != len(w) {
			t.Fatalf("%s: %v, want %v", name, a.Data, w)
		}
		for i := range w {
			if a.Data[i] != w[i] {
				t.Fatalf("%s: %v, want %v", name, a.Data, w)
			}
		}
	}
	if len(got["w"].Shape) != 2 || got["w"].Shape[0] != 2 {
		t.Fatalf("shape %v", got["w"].Shape)
	}
	if meta["averaged"] != strings.Join(paths, ",") {
		t.Fatalf("metadata %q", meta["averaged"])
	}

	// Averaging a single file reproduces it; the output may be an input.
	if err := Average(paths[2], paths[2:]); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := ReadAll(paths[2]); got["b"].Data[0] != 60 {
		t.Fatalf("self-average: %v", got["b"].Data)
	}

	bad := func(name string, ts ...*tensor.Tensor) string {
		p := filepath.Join(dir, name)
		if err := Save(p, ts, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		file string
		ts   []*tensor.Tensor
		want string
	}{
		{"shape.safetensors", []*tensor.Tensor{named("w", make([]float32, 4), 4), named("b", []float32{1}, 1)}, `tensor "w": shape [4], but [2 2]`},
		{"missing.safetensors", []*tensor.Tensor{named("w", make([]float32, 4), 2, 2)}, `tensor "b": missing`},
		{"extra.safetensors", []*tensor.Tensor{named("w", make([]float32, 4), 2, 2), named("c", []float32{1}, 1)}, `tensor "c": not in`},
	} {
		p := bad(c.file, c.ts...)
		err := Average(filepath.Join(dir, "x.safetensors"), []string{paths[0], p})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s: error %v, want one naming the file and %q", c.file, err, c.want)
		}
	}
	if err := Average(out, nil); err == nil {
		t.Error("no error for no files")
	}
	if err := Average(out, []string{filepath.Join(dir, "absent.safetensors")}); err == nil || !strings.Contains(err.Error(), "absent.safetensors") {
		t.Errorf("absent file: %v", err)
	}
}
