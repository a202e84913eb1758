package explain

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/tokenize"
	"github.com/qkv-dev/qkv/text/vocab"
)

// tinyPipeline builds an untrained model of cfg's architecture over the
// letters a–f (characters) and their "phones" AH … FH (words), with every
// parameter, biases and norms included, moved off its initial value so
// that no term of the computation is zero or one by accident.
func tinyPipeline(t *testing.T, cfg model.Config) *pipeline.Pipeline {
	t.Helper()
	src, err := vocab.New([]string{"a", "b", "c", "d", "e", "f"})
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := vocab.New([]string{"AH", "BH", "CH", "DH", "EH", "FH"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SrcVocab, cfg.TgtVocab = src.Len(), tgt.Len()
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, p := range m.Params() {
		for i := range p.Data {
			p.Data[i] += float32(0.2 * rng.NormFloat64())
		}
	}
	return &pipeline.Pipeline{
		Config: pipeline.Config{Model: cfg, Data: pipeline.DataConfig{SrcTokenizer: pipeline.TokChar, TgtTokenizer: pipeline.TokWord, MaxSrcLen: 20, MaxTgtLen: 8}},
		Model:  m, Src: src, Tgt: tgt, SrcTok: tokenize.Char{}, TgtTok: tokenize.Word{},
	}
}

func transformerConfig(preNorm bool) model.Config {
	return model.Config{Arch: model.ArchTransformer, DModel: 16, Heads: 4, EncLayers: 2, DecLayers: 2, DFF: 32, MaxLen: 64, PreNorm: preNorm, Seed: 3}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// TestWalkRecomputesTheForwardPass checks, for every kind, layer and head,
// in a post-norm and a pre-norm model, that the walk-through's own numbers
// recompute the attention sub-layer's output of the model's forward pass:
// scores from q and the keys, weights from the scores (and equal to the
// forward pass's), the weighted sum from the values, and Σ over heads of
// the heads' shares plus b_O equal to the forward output.
func TestWalkRecomputesTheForwardPass(t *testing.T) {
	for _, preNorm := range []bool{false, true} {
		p := tinyPipeline(t, transformerConfig(preNorm))
		cfg := p.Config.Model
		for _, kind := range Kinds {
			for layer := range 2 {
				for _, tok := range []int{0, 2, 3} {
					sum := make([]float64, cfg.DModel)
					var fwd []float32
					for head := range cfg.Heads {
						w, err := Walk(p, "abcd", Query{Kind: kind, Layer: layer, Head: head, Token: tok, Target: "CH AH DH"})
						if err != nil {
							t.Fatalf("pre-norm %v %s layer %d head %d token %d: %v", preNorm, kind, layer, head, tok, err)
						}
						checkHead(t, w)
						for o, v := range w.OutShare {
							sum[o] += float64(v)
						}
						if head == 0 {
							for o, v := range w.OutBias {
								sum[o] += float64(v)
							}
						}
						fwd = w.ForwardOutput
					}
					for o := range sum {
						if !near(sum[o], float64(fwd[o]), 1e-4) {
							t.Fatalf("pre-norm %v %s layer %d token %d: Σ heads' shares + b_O [%d] = %g, the forward pass gave %g", preNorm, kind, layer, tok, o, sum[o], fwd[o])
						}
					}
				}
			}
		}
	}
}

// checkHead recomputes one head from the walk-through's vectors.
func checkHead(t *testing.T, w *Walkthrough) {
	t.Helper()
	var total float64
	ctx := make([]float64, w.DK)
	if len(w.Keys) != len(w.ForwardWeights) {
		t.Fatalf("%d keys, the forward pass weighed %d", len(w.Keys), len(w.ForwardWeights))
	}
	for j, k := range w.Keys {
		var s float64
		for d := range w.DK {
			s += float64(w.Q[d]) * float64(k.K[d])
		}
		if s /= math.Sqrt(float64(w.DK)); !near(s, float64(k.Score), 1e-5) {
			t.Fatalf("key %d: q·k/√d_k = %g, walk-through says %g", j, s, k.Score)
		}
		if !near(float64(k.Weight), float64(w.ForwardWeights[j]), 1e-4) {
			t.Fatalf("key %d: weight %g, the forward pass used %g", j, k.Weight, w.ForwardWeights[j])
		}
		total += float64(k.Weight)
		for d := range w.DK {
			ctx[d] += float64(k.Weight) * float64(k.V[d])
		}
	}
	if !near(total, 1, 1e-5) {
		t.Fatalf("weights sum to %g", total)
	}
	for d := range ctx {
		if !near(ctx[d], float64(w.Context[d]), 1e-5) {
			t.Fatalf("Σ w_j v_j [%d] = %g, walk-through says %g", d, ctx[d], w.Context[d])
		}
	}
	// Softmax of the scores gives the weights.
	mx := math.Inf(-1)
	for _, k := range w.Keys {
		mx = max(mx, float64(k.Score))
	}
	var z float64
	for _, k := range w.Keys {
		z += math.Exp(float64(k.Score) - mx)
	}
	for j, k := range w.Keys {
		if sm := math.Exp(float64(k.Score)-mx) / z; !near(sm, float64(k.Weight), 1e-5) {
			t.Fatalf("key %d: softmax of the scores is %g, weight %g", j, sm, k.Weight)
		}
	}
}

// TestWalkMatchesDecoding: on the model's own greedy output, the cross
// weights the walk-through finds are the ones the step-by-step decoder
// used (predict --attention), and decoder self-attention sees only the
// positions written so far.
func TestWalkMatchesDecoding(t *testing.T) {
	p := tinyPipeline(t, transformerConfig(false))
	res := p.Translate([]string{"fab"}, pipeline.Options{BatchSize: 1, Search: search.Options{Beam: 1, Attention: true}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	a, err := FromResult(res[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{Cross, DecSelf} {
		for step := range a.Map(kind, 1, 2).Weights {
			w, err := Walk(p, "fab", Query{Kind: kind, Layer: 1, Head: 2, Token: step})
			if err != nil {
				t.Fatal(err)
			}
			if w.TargetFrom != "greedy" || strings.Join(w.Target, " ") != strings.Join(res[0].Hyps[0].Tokens, " ") {
				t.Fatalf("walk ran on %q (%s), greedy output is %q", w.Target, w.TargetFrom, res[0].Hyps[0].Tokens)
			}
			dec := a.Map(kind, 1, 2).Weights[step]
			if kind == DecSelf && len(w.Keys) != step+1 {
				t.Fatalf("dec-self step %d sees %d keys, want %d", step, len(w.Keys), step+1)
			}
			if len(dec) != len(w.Keys) {
				t.Fatalf("%s step %d: decoder map has %d keys, walk %d", kind, step, len(dec), len(w.Keys))
			}
			for j := range dec {
				if !near(float64(dec[j]), float64(w.Keys[j].Weight), 1e-4) {
					t.Fatalf("%s step %d key %d: decoding used %g, walk-through %g", kind, step, j, dec[j], w.Keys[j].Weight)
				}
			}
		}
	}
}

func TestWalkErrors(t *testing.T) {
	p := tinyPipeline(t, transformerConfig(false))
	for _, c := range []struct {
		q    Query
		in   string
		want string
	}{
		{Query{Kind: "self"}, "abc", "--kind"},
		{Query{Kind: EncSelf, Layer: 2}, "abc", "--layer 2 is out of range: the encoder has 2 layers (0 to 1)"},
		{Query{Kind: Cross, Layer: -1}, "abc", "--layer -1 is out of range"},
		{Query{Kind: EncSelf, Head: 4}, "abc", "--head 4 is out of range: each layer has 4 heads (0 to 3)"},
		{Query{Kind: EncSelf, Token: 3}, "abc", "--query-token 3 is out of range: the encoder's queries are the 3 source tokens (0 to 2)"},
		{Query{Kind: Cross, Token: 3, Target: "AH BH"}, "abc", "--query-token 3 is out of range: the decoder's queries are its 3 steps"},
		{Query{Kind: Cross, Target: "AH ZZ"}, "abc", "--target: token 1"},
		{Query{Kind: EncSelf}, "", "--input: empty input"},
	} {
		_, err := Walk(p, c.in, c.q)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error with %q", c.q, err, c.want)
		}
	}
	for arch, want := range map[string]string{model.ArchSeq2Seq: "seq2seq, which has no attention", model.ArchRNNSearch: "rnnsearch, which has additive attention"} {
		cfg, _ := model.DefaultConfig(arch)
		cfg.Embed, cfg.Hidden, cfg.AttnDim = 8, 8, 8
		_, err := Walk(tinyPipeline(t, cfg), "abc", Query{Kind: Cross})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", arch, err, want)
		}
	}
}

func TestWalkText(t *testing.T) {
	p := tinyPipeline(t, transformerConfig(true))
	w, err := Walk(p, "abcdef", Query{Kind: EncSelf, Layer: 1, Head: 1, Token: 2})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := w.WriteText(&b, TextOptions{TopKeys: 3}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{RoleQuery, RoleKey, RoleValue, "pre-norm", `query: source token 2 "c"`, "… 3 more keys", "Σ_j w_j v_j"} {
		if !strings.Contains(s, want) {
			t.Errorf("text lacks %q:\n%s", want, s)
		}
	}
	var b2 bytes.Buffer
	w2, err := Walk(p, "abz", Query{Kind: EncSelf, Token: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.WriteText(&b2, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b2.String(), "the model never saw z: read as <unk>") || w2.Query.Token != "z" {
		t.Errorf("an unknown source symbol is not reported:\n%s", b2.String())
	}
	// Keys are listed most attended first.
	best := 0
	for j, k := range w.Keys {
		if k.Weight > w.Keys[best].Weight {
			best = j
		}
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.Contains(l, "q·k_j/√d") {
			if f := strings.Fields(lines[i+1]); len(f) == 0 || f[0] != string(rune('0'+best)) {
				t.Errorf("first key line %q, want key %d (weight %g) first", lines[i+1], best, w.Keys[best].Weight)
			}
		}
	}
}
