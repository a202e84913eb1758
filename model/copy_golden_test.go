package model

import (
	"slices"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/tensor"
)

// TestCopyTransformerGolden compares a whole Transformer with copy
// attention with the same model written out in PyTorch with the same
// weights (internal/golden/gen_copy.py, "copy_transformer"): the
// mixture's log-probabilities of every target position, and the gradient
// of every parameter.
func TestCopyTransformerGolden(t *testing.T) {
	c := golden.Load(t, "copy_transformer")
	at := func(k string) int { return int(c.Attrs[k]) }
	cfg := Config{Arch: ArchTransformer, SrcVocab: at("vocab"), TgtVocab: at("vocab"), DModel: at("d_model"), Heads: at("heads"),
		EncLayers: at("enc_layers"), DecLayers: at("dec_layers"), DFF: at("d_ff"), MaxLen: 64, Copy: true, Seed: 1}
	m := newModel(t, cfg)
	for _, p := range m.Params() {
		a := c.In(t, p.Name)
		if !slices.Equal(a.Shape, p.Shape) {
			t.Fatalf("%s: golden shape %v, parameter %v", p.Name, a.Shape, p.Shape)
		}
		copy(p.Data, a.Float32())
		p.ZeroGrad()
	}
	// The batch the script built: sources padded with 0, targets after <s>.
	src, tgtIn := c.In(t, "src"), c.In(t, "tgt_in")
	B, S, T := src.Shape[0], src.Shape[1], tgtIn.Shape[1]
	var ex []batch.Example
	for r := range B {
		s := trimPad(src.Int32()[r*S : (r+1)*S])
		tg := trimPad(tgtIn.Int32()[r*T+1 : (r+1)*T])
		ex = append(ex, batch.Example{Src: s, Tgt: tg})
	}
	b, err := batch.Make(ex, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Src, src.Int32()) || !slices.Equal(b.TgtIn, tgtIn.Int32()) {
		t.Fatalf("batch %v / %v, golden %v / %v", b.Src, b.TgtIn, src.Int32(), tgtIn.Int32())
	}
	g := tensor.NewGraph(1)
	out := m.Forward(g, b)
	golden.Close(t, "log P", out.Data, c.Outputs["out"], 1e-4, 1e-5)
	g.BackwardFrom(out, c.In(t, "up_out").Float32())
	for _, p := range m.Params() {
		golden.Close(t, "d"+p.Name, p.Grad, c.Grads[p.Name], 1e-3, 1e-5)
	}
}

// trimPad drops trailing padding ids.
func trimPad(ids []int32) []int32 {
	n := len(ids)
	for n > 0 && ids[n-1] == batch.PAD {
		n--
	}
	return slices.Clone(ids[:n])
}
