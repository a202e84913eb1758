package checkpoint

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/tensor"
)

// TestSaveMixedI8 round-trips a file of I8 weights beside F32 scales, and
// checks that I8 refuses what it cannot hold and that plain loading refuses
// I8 weights.
func TestSaveMixedI8(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.safetensors")
	w := tensor.NewParam("l.weight", 2, 3)
	copy(w.Data, []float32{-127, 0, 127, 5, -6, 7})
	s := tensor.NewParam("l.weight_scale", 2)
	copy(s.Data, []float32{0.5, 0.25})
	if err := SaveMixed(path, []*tensor.Tensor{w, s}, []DType{I8, F32}, map[string]string{"quantized": "int8"}); err != nil {
		t.Fatal(err)
	}
	w2, s2 := tensor.NewParam("l.weight", 2, 3), tensor.NewParam("l.weight_scale", 2)
	if _, err := LoadQuantized(path, []*tensor.Tensor{w2, s2}, func(n string) bool { return n == "l.weight" }); err != nil {
		t.Fatal(err)
	}
	for i := range w.Data {
		if w2.Data[i] != w.Data[i] {
			t.Errorf("weight %d: %v, want %v", i, w2.Data[i], w.Data[i])
		}
	}
	if s2.Data[1] != 0.25 {
		t.Errorf("scale %v", s2.Data)
	}
	if err := Load(path, []*tensor.Tensor{tensor.NewParam("l.weight", 2, 3), tensor.NewParam("l.weight_scale", 2)}); err == nil || !strings.Contains(err.Error(), "quantized") {
		t.Errorf("Load of I8 weights: %v, want a refusal that says they are quantized", err)
	}
	for _, bad := range []float32{0.5, -128, 128} {
		w.Data[0] = bad
		if err := SaveMixed(path, []*tensor.Tensor{w, s}, []DType{I8, F32}, nil); err == nil {
			t.Errorf("I8 stored %v", bad)
		}
	}
	if err := SaveAs(path, []*tensor.Tensor{s}, nil, I8); err == nil {
		t.Error("SaveAs stored a whole file as I8")
	}
}
