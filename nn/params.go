package nn

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/qkv-dev/qkv/tensor"
)

// Module is anything with trainable parameters.
type Module interface {
	Params() []*tensor.Tensor
}

// Join builds a hierarchical name: Join("encoder", "layers", 0, "fc") is
// "encoder.layers.0.fc". Empty parts are skipped.
func Join(parts ...any) string {
	s := ""
	for _, p := range parts {
		part := fmt.Sprint(p)
		if part == "" {
			continue
		}
		if s != "" {
			s += "."
		}
		s += part
	}
	return s
}

// Collect gathers the parameters of modules in order and checks that every
// parameter has a name and that no name occurs twice.
func Collect(modules ...Module) ([]*tensor.Tensor, error) {
	var all []*tensor.Tensor
	seen := map[string]bool{}
	for _, m := range modules {
		for _, p := range m.Params() {
			if p.Name == "" {
				return nil, fmt.Errorf("nn: parameter of shape %v has no name", p.Shape)
			}
			if seen[p.Name] {
				return nil, fmt.Errorf("nn: parameter name %q occurs twice", p.Name)
			}
			seen[p.Name] = true
			all = append(all, p)
		}
	}
	return all, nil
}

// ParamMap returns the parameters by name (see Collect for the checks).
func ParamMap(modules ...Module) (map[string]*tensor.Tensor, error) {
	ps, err := Collect(modules...)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*tensor.Tensor, len(ps))
	for _, p := range ps {
		m[p.Name] = p
	}
	return m, nil
}

// Rand returns the random stream that initializes the parameter called
// name under the model seed: a PCG seeded with seed and the FNV-1a hash of
// the name.
func Rand(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// Uniform fills p with U(−a, a) drawn from Rand(seed, p.Name).
func Uniform(p *tensor.Tensor, a float64, seed uint64) {
	r := Rand(seed, p.Name)
	for i := range p.Data {
		p.Data[i] = float32((2*r.Float64() - 1) * a)
	}
}

// Normal fills p with N(0, std²) drawn from Rand(seed, p.Name).
func Normal(p *tensor.Tensor, std float64, seed uint64) {
	r := Rand(seed, p.Name)
	for i := range p.Data {
		p.Data[i] = float32(r.NormFloat64() * std)
	}
}

// XavierUniform fills a weight (Out, In) with Glorot & Bengio's (2010)
// U(±√(6/(In+Out))).
func XavierUniform(w *tensor.Tensor, seed uint64) {
	fanOut, fanIn := w.Shape[0], w.Cols()
	Uniform(w, math.Sqrt(6/float64(fanIn+fanOut)), seed)
}

// params gathers non-nil tensors.
func params(ts ...*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, 0, len(ts))
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// concatParams joins the parameters of modules.
func concatParams(ms ...Module) []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, m := range ms {
		if m != nil {
			out = append(out, m.Params()...)
		}
	}
	return out
}
