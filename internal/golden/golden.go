// Package golden loads reference values computed by PyTorch for tests: the
// inputs, outputs and gradients of an operation or layer, stored as JSON in
// testdata/ and embedded, so tests never need PyTorch.
//
// The files are made by the gen_*.py scripts beside this file, run with
// Debian's python3-torch: `/usr/bin/python3 internal/golden/gen_ops.py`.
package golden

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

//go:embed testdata/*.json
var files embed.FS

// Array is one named tensor: its shape and row-major values.
type Array struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// Float32 returns the values as float32.
func (a Array) Float32() []float32 {
	out := make([]float32, len(a.Data))
	for i, v := range a.Data {
		out[i] = float32(v)
	}
	return out
}

// Int32 returns the values as int32 (for ids and targets).
func (a Array) Int32() []int32 {
	out := make([]int32, len(a.Data))
	for i, v := range a.Data {
		out[i] = int32(v)
	}
	return out
}

// Case is one golden case.
type Case struct {
	Name    string             `json:"name"`
	Attrs   map[string]float64 `json:"attrs"`   // scalar settings (eps, p, smoothing, …)
	Inputs  map[string]Array   `json:"inputs"`  // inputs and parameters
	Outputs map[string]Array   `json:"outputs"` // forward results
	Grads   map[string]Array   `json:"grads"`   // gradients of Σ out·upstream w.r.t. inputs
}

// Load reads testdata/<name>.json or fails the test.
func Load(t testing.TB, name string) *Case {
	t.Helper()
	raw, err := files.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	var c Case
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return &c
}

// In returns a named input or fails the test.
func (c *Case) In(t testing.TB, name string) Array {
	t.Helper()
	a, ok := c.Inputs[name]
	if !ok {
		t.Fatalf("golden %s: no input %q", c.Name, name)
	}
	return a
}

// Close reports an error unless got matches want elementwise within
// |got−want| ≤ atol + rtol·|want|.
func Close(t testing.TB, what string, got []float32, want Array, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want.Data) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want.Data))
		return
	}
	bad := 0
	for i, w := range want.Data {
		g := float64(got[i])
		if math.Abs(g-w) > atol+rtol*math.Abs(w) || math.IsNaN(g) != math.IsNaN(w) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.7g, want %.7g", what, i, g, w)
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %s", what, fmt.Sprintf("%d of %d values differ", bad, len(got)))
	}
}
