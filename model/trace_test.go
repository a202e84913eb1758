package model

import (
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/tensor"
)

// TestTraceReportsEveryAttention: a traced pass reports each attention
// sub-layer once, in order, with its shapes, and computes what Forward
// computes.
func TestTraceReportsEveryAttention(t *testing.T) {
	cfg := Config{Arch: ArchTransformer, SrcVocab: 9, TgtVocab: 8, DModel: 8, Heads: 2, EncLayers: 2, DecLayers: 3, DFF: 16, MaxLen: 32, Seed: 1}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := batch.Make([]batch.Example{{Src: []int32{4, 5, 6}, Tgt: []int32{4, 5}}, {Src: []int32{7, 8}, Tgt: []int32{6}}}, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	g := tensor.NewGraph(0)
	g.SetTraining(false)
	g.SetNoGrad(true)
	want := append([]float32(nil), m.Forward(g, b).Data...)
	g.Reset()
	var calls []AttentionCall
	got, err := Trace(m, g, b, func(c AttentionCall) { calls = append(calls, c) })
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got.Data[i] != want[i] {
			t.Fatalf("traced logits differ from Forward's at %d: %g vs %g", i, got.Data[i], want[i])
		}
	}
	wantKinds := []string{KindEncSelf, KindEncSelf, KindDecSelf, KindCross, KindDecSelf, KindCross, KindDecSelf, KindCross}
	if len(calls) != len(wantKinds) {
		t.Fatalf("%d calls, want %d", len(calls), len(wantKinds))
	}
	for i, c := range calls {
		tq, tk := b.T, b.S
		if c.Kind == KindEncSelf {
			tq = b.S
		}
		if c.Kind == KindDecSelf {
			tk = b.T
		}
		if c.Kind != wantKinds[i] || c.Query.Shape[1] != tq || c.Src.Shape[1] != tk || c.Out.Shape[1] != tq ||
			len(c.Probs) != b.B*cfg.Heads*tq*tk || c.Causal != (c.Kind == KindDecSelf) {
			t.Errorf("call %d: %s layer %d, query %v, src %v, out %v, %d probs, causal %v", i, c.Kind, c.Layer, c.Query.Shape, c.Src.Shape, c.Out.Shape, len(c.Probs), c.Causal)
		}
	}
	if _, err := Trace(newRecurrent(Config{Arch: ArchRNNSearch, SrcVocab: 9, TgtVocab: 8, Embed: 4, Hidden: 4, Layers: 1, AttnDim: 4}), g, b, nil); err == nil {
		t.Error("Trace accepted an RNNsearch model")
	}
}
