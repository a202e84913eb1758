package distill

import (
	"slices"
	"testing"
)

// keepTop keeps the most probable symbols, the lower id first among equals,
// renormalized; K = 1 and K = V are the edges.
func TestKeepTop(t *testing.T) {
	q := []float64{0.1, 0.3, 0.1, 0.3, 0.05, 0.15}
	for _, c := range []struct {
		k   int
		ids []int32
		p   []float32
	}{
		{1, []int32{1}, []float32{1}},
		{2, []int32{1, 3}, []float32{0.5, 0.5}},
		{3, []int32{1, 3, 5}, []float32{0.4, 0.4, 0.2}},
		{4, []int32{1, 3, 5, 0}, []float32{0.3 / 0.85, 0.3 / 0.85, 0.15 / 0.85, 0.1 / 0.85}},
		{6, []int32{1, 3, 5, 0, 2, 4}, []float32{0.3, 0.3, 0.15, 0.1, 0.1, 0.05}},
	} {
		ids, p := make([]int32, c.k), make([]float32, c.k)
		keepTop(ids, p, q)
		if !slices.Equal(ids, c.ids) {
			t.Errorf("K = %d: ids %v, want %v", c.k, ids, c.ids)
		}
		for i := range p {
			if d := p[i] - c.p[i]; d > 1e-6 || d < -1e-6 {
				t.Errorf("K = %d: p %v, want %v", c.k, p, c.p)
				break
			}
		}
	}
}
