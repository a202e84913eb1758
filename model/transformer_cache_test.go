package model

import (
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// rowCounter records how many rows every Step of a search fed.
type rowCounter struct {
	Decoder
	rows []int
}

func (c *rowCounter) Step(tokens []int32) ([]float32, error) {
	c.rows = append(c.rows, len(tokens))
	return c.Decoder.Step(tokens)
}

// TestBeamCacheCostsWhatItHolds decodes short sources with a beam of 8
// and a long length limit (and greedily, and by sampling), and requires the self-attention caches to have
// allocated exactly the keys and values of the rows each step fed, per
// layer: Σ_steps rows × D × 2 × layers, not batch × beam × capacity.
func TestBeamCacheCostsWhatItHolds(t *testing.T) {
	m := tinyTransformer(12, 3)
	cfg := m.Config()
	for _, opt := range []search.Options{
		{Beam: 8, NBest: 8, MaxLen: 60},
		{Beam: 1, MaxLen: 60},
		{Sample: true, NBest: 5, Temperature: 1, MaxLen: 60},
	} {
		srcs := [][]int32{{4, 5, 6}, {7, 8, 9, 10, 11}}
		st, err := m.Start(tensor.NewGraph(0), batch.Sources(srcs))
		if err != nil {
			t.Fatal(err)
		}
		c := &rowCounter{Decoder: st}
		if _, err := search.Decode(c, len(srcs), search.Special{BOS: batch.BOS, EOS: batch.EOS}, opt); err != nil {
			t.Fatal(err)
		}
		fed := 0
		for _, r := range c.rows {
			fed += r
		}
		allocated, held := st.(*transformerState).CacheFloats()
		want := fed * cfg.DModel * 2 * cfg.DecLayers
		if held != want || allocated != held {
			t.Errorf("%+v: steps fed %v rows; the caches hold %d floats and allocated %d, want both %d (Σ rows × D × 2 × layers)",
				opt, c.rows, held, allocated, want)
		}
		if opt.Beam > 1 && len(c.rows) < 3 {
			t.Errorf("%+v: only %d steps: the test needs a longer search", opt, len(c.rows))
		}
	}
}
