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

// TestStartHoldsOneEncoderLayer: decoding needs no gradient, so Start
// keeps one encoder layer's intermediates at a time, not the whole
// encoder's: its graph's arena ends up at most about what one layer needs,
// far less than a forward pass of the same sources keeps (for 4 layers,
// under half), and the memory it returns is the same.
func TestStartHoldsOneEncoderLayer(t *testing.T) {
	cfg := Presets["tiny-transformer"]
	cfg.SrcVocab, cfg.TgtVocab, cfg.EncLayers, cfg.DecLayers, cfg.Dropout, cfg.AttnDropout = 20, 20, 4, 1, 0, 0
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := m.(*Transformer)
	var srcs [][]int32
	for i := range 64 {
		s := make([]int32, 30)
		for j := range s {
			s[j] = int32(4 + (i*7+j*3)%16)
		}
		srcs = append(srcs, s)
	}
	b := batch.Sources(srcs)
	whole := tensor.NewGraph(0)
	whole.SetNoGrad(true)
	mem := tr.encode(whole, b, b.SrcPad(), nil)
	want, shape := append([]float32(nil), mem.Data...), append([]int(nil), mem.Shape...)
	whole.Reset() // the arena grows to hold the whole pass
	g := tensor.NewGraph(0)
	st, err := tr.Start(g, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, all := g.ArenaBytes(), whole.ArenaBytes(); got*2 > all {
		t.Errorf("after Start the arena holds %d bytes; the whole encoder pass %d: want under half", got, all)
	}
	// The cross-attention keys of the first decoder layer are mem·W_K + b_K:
	// recompute them from the whole pass's memory.
	k := tr.dec[0].cross.ProjectKV(whole, whole.Const(want, shape...)).K.Data
	if got := st.(*transformerState).crossK[0]; len(got) != len(k) {
		t.Fatalf("cross keys: %d values, want %d", len(got), len(k))
	} else {
		for i := range k {
			if got[i] != k[i] {
				t.Fatalf("cross key %d: %v, want %v (the encoder's memory differs)", i, got[i], k[i])
			}
		}
	}
}

// TestStepHoldsOneSublayer: a decoding step needs no gradient, so Step
// resets its graph between sublayers and keeps only the residual stream:
// with 256 beam rows through 4 decoder layers, the arena holds about one
// feed-forward sublayer's intermediates (rows × (2·d_ff + 3·D) floats),
// not the whole step's (four layers of them and more), and the
// log-probabilities are those of the same steps on a graph reset only
// between steps (TestIncrementalEqualsFullDecoding covers the values).
func TestStepHoldsOneSublayer(t *testing.T) {
	cfg := Presets["tiny-transformer"]
	cfg.SrcVocab, cfg.TgtVocab, cfg.DModel, cfg.Heads, cfg.EncLayers, cfg.DecLayers, cfg.DFF = 20, 20, 64, 4, 1, 4, 512
	cfg.Dropout, cfg.AttnDropout = 0, 0
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 256
	g := tensor.NewGraph(0)
	st, err := m.(*Transformer).Start(g, batch.Sources([][]int32{{4, 5, 6}}))
	if err != nil {
		t.Fatal(err)
	}
	st.Select(make([]int32, rows)) // 256 hypotheses of the one source
	tokens := make([]int32, rows)
	for i := range tokens {
		tokens[i] = int32(4 + i%16)
	}
	for range 3 {
		if _, err := st.Step(tokens); err != nil {
			t.Fatal(err)
		}
	}
	sublayer := int64(rows*(2*cfg.DFF+3*cfg.DModel)) * 4
	if got := g.ArenaBytes(); got > 3*sublayer/2 {
		t.Errorf("after 3 steps of %d rows the arena holds %d bytes; one feed-forward sublayer needs %d: want at most 1.5× that", rows, got, sublayer)
	}
}
