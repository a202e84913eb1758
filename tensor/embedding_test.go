package tensor_test

import (
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/tensor"
)

func TestEmbeddingGradients(t *testing.T) {
	w := gradcheck.Param("w", 1, -1, 1, 6, 3)
	ids := []int32{2, 5, 2, 0, 2, 1}
	gradcheck.Check(t, "embedding", []*tensor.Tensor{w}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Embedding(p[0], ids, 2, 3)
	}, gradcheck.Options{})
}

func TestEmbeddingGolden(t *testing.T) {
	c := golden.Load(t, "embedding")
	ids := c.In(t, "ids")
	checkGolden(t, "embedding", []string{"w"}, func(g *tensor.Graph, p []*tensor.Tensor) *tensor.Tensor {
		return g.Embedding(p[0], ids.Int32(), ids.Shape...)
	})
}

// The backward pass touches only the rows that occur, and the ids are
// copied: the caller may overwrite its slice before Backward.
func TestEmbeddingSparseAndCopiesIDs(t *testing.T) {
	w := gradcheck.Param("w", 1, -1, 1, 5, 2)
	g := tensor.NewGraph(1)
	ids := []int32{3, 1, 3}
	out := g.Embedding(w, ids) // shape defaults to (len(ids))
	if !equalInts(out.Shape, []int{3, 2}) {
		t.Fatalf("shape %v, want [3 2]", out.Shape)
	}
	ids[0], ids[1], ids[2] = 0, 0, 0
	g.BackwardFrom(out, []float32{1, 2, 3, 4, 5, 6})
	want := []float32{0, 0, 3, 4, 0, 0, 1 + 5, 2 + 6, 0, 0}
	for i, v := range want {
		if w.Grad[i] != v {
			t.Fatalf("grad %v, want %v", w.Grad, want)
		}
	}
}

func TestEmbeddingOutOfRangePanics(t *testing.T) {
	w := tensor.NewParam("w", 4, 2)
	for _, id := range []int32{4, -1, 100} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "id "+itoa(int(id))) || !strings.Contains(msg, "V=4") {
					t.Errorf("id %d: panic %q does not name the id and V", id, msg)
				}
			}()
			tensor.NewGraph(1).Embedding(w, []int32{0, id}, 2)
		}()
	}
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
