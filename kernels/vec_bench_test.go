package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkVec times the vector kernels on every implementation at a row
// length typical of the models (d_model 256, d_ff 1024): go test -bench Vec ./kernels
func BenchmarkVec(b *testing.B) {
	for _, name := range Impls() {
		for _, n := range []int{256, 1024} {
			x := make([]float32, n)
			y := make([]float32, n)
			d := make([]float32, n)
			g := make([]float32, n)
			for i := range x {
				x[i], y[i], g[i] = float32(i%17)/8-1, float32(i%5)/4, 1
			}
			cases := []struct {
				op string
				f  func()
			}{
				{"Axpy", func() { Axpy(0.5, x, y) }},
				{"Dot", func() { _ = Dot(x, y) }},
				{"Sum", func() { _ = Sum(x) }},
				{"Max", func() { _ = Max(x) }},
				{"Exp", func() { Exp(d, x) }},
				{"Softmax", func() { copy(d, x); Softmax(d) }},
				{"Tanh", func() { Tanh(d, x) }},
				{"Sigmoid", func() { Sigmoid(d, x) }},
				{"LayerNorm", func() { LayerNorm(d, x, g, y, 1e-5) }},
				{"LayerNormBackward", func() { LayerNormBackward(d, g, y, x, x, 0.1, 1.2, g) }},
			}
			for _, c := range cases {
				b.Run(fmt.Sprintf("%s/%s/%d", c.op, name, n), func(b *testing.B) {
					prev, _ := SetImpl(name)
					defer SetImpl(prev)
					b.SetBytes(int64(4 * n))
					for b.Loop() {
						c.f()
					}
				})
			}
		}
	}
}
