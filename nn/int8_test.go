package nn

import (
	"math"
	"testing"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/tensor"
)

// TestProjectQKVInt8 checks that the fused int8 projection gives exactly
// the three int8 projections' values, and that SetInt8 leaves the
// dequantized weights in Weight.
func TestProjectQKVInt8(t *testing.T) {
	m := NewMultiHeadAttention("a", 24, 4, 3)
	for i, l := range []*Linear{m.Q, m.K, m.V} {
		for j := range l.Bias.Data {
			l.Bias.Data[j] = float32(i+1) * 0.01 * float32(j%5)
		}
		q, err := kernels.QuantizeWeights(l.Weight.Data, 24, 24)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetInt8(q); err != nil {
			t.Fatal(err)
		}
		for j, v := range l.Weight.Data {
			if want := q.Scale[j/24] * float32(q.Data[j]); v != want {
				t.Fatalf("weight %d is %v, want the dequantized %v", j, v, want)
			}
		}
	}
	g := tensor.NewGraph(0)
	g.SetNoGrad(true)
	x := tensor.FromData(make([]float32, 5*24), 5, 1, 24)
	for i := range x.Data {
		x.Data[i] = float32(math.Sin(float64(i)))
	}
	q, k, v := m.ProjectQKV(g, x)
	for i, pair := range [][2]*tensor.Tensor{{q, m.Q.Forward(g, x)}, {k, m.K.Forward(g, x)}, {v, m.V.Forward(g, x)}} {
		got, want := pair[0], pair[1]
		if len(got.Shape) != 3 || got.Shape[2] != 24 {
			t.Fatalf("part %d has shape %v", i, got.Shape)
		}
		for j := range want.Data {
			if got.Data[j] != want.Data[j] {
				t.Fatalf("part %d value %d: fused %v, alone %v", i, j, got.Data[j], want.Data[j])
			}
		}
	}
}
