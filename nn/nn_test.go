package nn_test

import (
	"math"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/tensor"
)

// transformerLayer is a small module tree named as a model would name it.
type transformerLayer struct {
	selfAttn *nn.MultiHeadAttention
	ffn      *nn.FeedForward
	norm     *nn.LayerNorm
}

func newLayer(prefix string, seed uint64) *transformerLayer {
	return &transformerLayer{
		selfAttn: nn.NewMultiHeadAttention(nn.Join(prefix, "self_attn"), 8, 2, seed),
		ffn:      nn.NewFeedForward(nn.Join(prefix, "ffn"), 8, 16, 0, seed),
		norm:     nn.NewLayerNorm(nn.Join(prefix, "norm"), 8, 1e-5),
	}
}

func (l *transformerLayer) Params() []*tensor.Tensor {
	var ps []*tensor.Tensor
	for _, m := range []nn.Module{l.selfAttn, l.ffn, l.norm} {
		ps = append(ps, m.Params()...)
	}
	return ps
}

func TestParameterNames(t *testing.T) {
	l0, l1 := newLayer("encoder.layers.0", 1), newLayer("encoder.layers.1", 1)
	ps, err := nn.Collect(l0, l1)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range ps {
		names[p.Name] = true
	}
	for _, want := range []string{
		"encoder.layers.0.self_attn.q_proj.weight", "encoder.layers.0.self_attn.out_proj.bias",
		"encoder.layers.1.ffn.linear2.weight", "encoder.layers.1.norm.bias",
	} {
		if !names[want] {
			t.Errorf("missing parameter %q", want)
		}
	}
	if _, err := nn.Collect(l0, newLayer("encoder.layers.0", 2)); err == nil || !strings.Contains(err.Error(), "encoder.layers.0") {
		t.Errorf("duplicate names: err = %v", err)
	}
	lstm := nn.NewLSTM("enc.rnn", 3, 4, 2, true, 0, 1)
	m, err := nn.ParamMap(lstm)
	if err != nil {
		t.Fatal(err)
	}
	if p := m["enc.rnn.weight_ih_l1_reverse"]; p == nil || p.Shape[0] != 16 || p.Shape[1] != 8 {
		t.Errorf("enc.rnn.weight_ih_l1_reverse = %v", p)
	}
	if len(m) != 16 {
		t.Errorf("%d LSTM parameters, want 16", len(m))
	}
	if nn.Join("a", "", 3, "b") != "a.3.b" {
		t.Errorf("Join = %q", nn.Join("a", "", 3, "b"))
	}
}

func TestInitializationIsDeterministic(t *testing.T) {
	a, b := newLayer("dec.layers.0", 42), newLayer("dec.layers.0", 42)
	// Building other layers first changes nothing: streams are per name.
	_ = newLayer("dec.layers.1", 42)
	c := newLayer("dec.layers.0", 42)
	d := newLayer("dec.layers.0", 43)
	pa, pb, pc, pd := a.Params(), b.Params(), c.Params(), d.Params()
	differs := false
	for i := range pa {
		for j := range pa[i].Data {
			if pa[i].Data[j] != pb[i].Data[j] || pa[i].Data[j] != pc[i].Data[j] {
				t.Fatalf("%s differs between identical builds", pa[i].Name)
			}
			if pa[i].Data[j] != pd[i].Data[j] {
				differs = true
			}
		}
	}
	if !differs {
		t.Error("a different seed gave the same parameters")
	}
	// q_proj and k_proj of one layer draw different values.
	if a.selfAttn.Q.Weight.Data[0] == a.selfAttn.K.Weight.Data[0] {
		t.Error("q_proj and k_proj start equal")
	}
}

func TestInitializationRanges(t *testing.T) {
	lin := nn.NewLinear("l", 30, 20, true, 1)
	bound := math.Sqrt(6.0 / 50)
	checkRange(t, lin.Weight, bound)
	for _, v := range lin.Bias.Data {
		if v != 0 {
			t.Fatal("Linear bias not 0")
		}
	}
	lstm := nn.NewLSTM("r", 5, 16, 1, false, 0, 1)
	for _, p := range lstm.Params() {
		checkRange(t, p, 0.25)
	}
	emb := nn.NewEmbedding("e", 50, 64, 0, 1)
	var ss float64
	for i, v := range emb.Weight.Data {
		if i < 64 && v != 0 {
			t.Fatal("padding row not 0")
		}
		ss += float64(v) * float64(v)
	}
	if std := math.Sqrt(ss / float64(49*64)); math.Abs(std-1/8.0) > 0.01 {
		t.Errorf("embedding std %v, want 1/√64", std)
	}
}

// checkRange checks |p| ≤ bound and that the values spread over it.
func checkRange(t *testing.T, p *tensor.Tensor, bound float64) {
	t.Helper()
	var mx float64
	for _, v := range p.Data {
		mx = math.Max(mx, math.Abs(float64(v)))
	}
	if mx > bound || mx < 0.8*bound {
		t.Errorf("%s: max |value| %v for bound %v", p.Name, mx, bound)
	}
}

func TestSinusoidalPositions(t *testing.T) {
	pe := nn.NewSinusoidalPositions(6, 4)
	rows := pe.Rows(0, 6, nil) // beyond MaxLen too
	for pos := 0; pos < 6; pos++ {
		for i := 0; i < 6; i++ {
			angle := float64(pos) / math.Pow(10000, float64(i-i%2)/6)
			want := math.Sin(angle)
			if i%2 == 1 {
				want = math.Cos(angle)
			}
			if math.Abs(float64(rows[pos*6+i])-want) > 1e-6 {
				t.Fatalf("PE(%d, %d) = %v, want %v", pos, i, rows[pos*6+i], want)
			}
		}
	}
	g := tensor.NewGraph(1)
	x := g.Zeros(2, 3, 6)
	y := pe.Forward(g, x, 2)
	for i, v := range y.Data[18:] { // batch 1 = positions 2, 3, 4
		if v != rows[12+i] {
			t.Fatalf("Forward with offset: %v, want %v", v, rows[12+i])
		}
	}
}

func TestLayerGradients(t *testing.T) {
	opt := gradcheck.Options{}
	x := gradcheck.Param("x", 1, -1, 1, 2, 3, 4)
	lin := nn.NewLinear("lin", 4, 5, true, 1)
	gradcheck.Check(t, "linear", append([]*tensor.Tensor{x}, lin.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		return lin.Forward(g, x)
	}, opt)

	ln := nn.NewLayerNorm("ln", 4, 1e-5)
	copy(ln.Weight.Data, gradcheck.Param("", 2, 0.5, 1.5, 4).Data)
	copy(ln.Bias.Data, gradcheck.Param("", 3, -0.5, 0.5, 4).Data)
	gradcheck.Check(t, "layernorm", append([]*tensor.Tensor{x}, ln.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		return ln.Forward(g, x)
	}, opt)

	ffn := nn.NewFeedForward("ffn", 4, 6, 0.3, 1)
	gradcheck.Check(t, "feedforward", append([]*tensor.Tensor{x}, ffn.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		return ffn.Forward(g, x) // dropout on: the graph seed repeats the mask
	}, gradcheck.Options{Seed: 5})

	emb := nn.NewEmbedding("emb", 5, 4, 0, 1)
	ids := []int32{1, 2, 2, 4, 0, 3}
	gradcheck.Check(t, "embedding", emb.Params(), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		return emb.Forward(g, ids, 2, 3)
	}, opt)

	pe := nn.NewSinusoidalPositions(4, 8)
	gradcheck.Check(t, "positions", []*tensor.Tensor{x}, func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		return pe.Forward(g, x, 1)
	}, opt)
}

func TestAttentionLayerGradients(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 2, 3, 4)
	mem := gradcheck.Param("mem", 2, -1, 1, 2, 4, 4)
	pad := []bool{false, false, false, true, false, false, false, false}
	mha := nn.NewMultiHeadAttention("mha", 4, 2, 1)
	gradcheck.Check(t, "mha_self_causal", append([]*tensor.Tensor{x}, mha.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		out, _ := mha.Forward(g, x, x, nil, true)
		return out
	}, gradcheck.Options{})
	gradcheck.Check(t, "mha_cross", append([]*tensor.Tensor{x, mem}, mha.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		out, _ := mha.Forward(g, x, mem, pad, false)
		return out
	}, gradcheck.Options{})

	s := gradcheck.Param("s", 3, -1, 1, 2, 5)
	add := nn.NewAdditiveAttention("att", 5, 4, 3, 1)
	gradcheck.Check(t, "additive", append([]*tensor.Tensor{s, mem}, add.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		ctx, _ := add.Forward(g, s, add.PrecomputeKeys(g, mem), mem, pad)
		return ctx
	}, gradcheck.Options{})
}

func TestLSTMGradients(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 2, 3, 2)
	lstm := nn.NewLSTM("lstm", 2, 2, 2, true, 0, 1)
	gradcheck.Check(t, "bilstm", append([]*tensor.Tensor{x}, lstm.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		out, final := lstm.Forward(g, x, []int{3, 2}, nil)
		return g.Concat(1, g.Reshape(out, 2, -1), final.H[3], final.C[2])
	}, gradcheck.Options{})
	dec := nn.NewLSTM("dec", 2, 3, 2, false, 0, 1)
	gradcheck.Check(t, "lstm_step", append([]*tensor.Tensor{x}, dec.Params()...), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
		xs := g.Split(x, 1, 1, 1, 1)
		var st nn.LSTMState
		var tops []*tensor.Tensor
		for _, xt := range xs {
			st = dec.Step(g, g.Reshape(xt, 2, 2), st)
			tops = append(tops, st.Top())
		}
		return g.Concat(1, append(tops, st.C[0])...)
	}, gradcheck.Options{})
}

// Running a padded batch with lengths equals running every sequence alone
// at its own length (PyTorch's packed-sequence semantics).
func TestLSTMLengthsEqualSeparateRuns(t *testing.T) {
	B, T, In := 3, 5, 3
	lengths := []int{5, 2, 4}
	x := gradcheck.Param("x", 1, -1, 1, B, T, In)
	lstm := nn.NewLSTM("l", In, 4, 2, true, 0, 7)
	g := tensor.NewGraph(1)
	out, final := lstm.Forward(g, x, lengths, nil)
	W := 8
	for b := 0; b < B; b++ {
		L := lengths[b]
		xb := g.Const(x.Data[b*T*In:(b*T+L)*In], 1, L, In)
		ob, fb := lstm.Forward(g, xb, nil, nil)
		for s := 0; s < T; s++ {
			for j := 0; j < W; j++ {
				got := out.Data[(b*T+s)*W+j]
				want := float32(0)
				if s < L {
					want = ob.Data[s*W+j]
				}
				if math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("seq %d: out[%d][%d] = %v, alone %v", b, s, j, got, want)
				}
			}
		}
		for k := range final.H {
			for j := 0; j < 4; j++ {
				if d := final.H[k].Data[b*4+j] - fb.H[k].Data[j]; math.Abs(float64(d)) > 1e-6 {
					t.Fatalf("seq %d: final h[%d] differs by %v", b, k, d)
				}
				if d := final.C[k].Data[b*4+j] - fb.C[k].Data[j]; math.Abs(float64(d)) > 1e-6 {
					t.Fatalf("seq %d: final c[%d] differs by %v", b, k, d)
				}
			}
		}
	}
}

// Step by step equals the whole sequence at once.
func TestLSTMStepEqualsForward(t *testing.T) {
	B, T, In := 2, 4, 3
	x := gradcheck.Param("x", 1, -1, 1, B, T, In)
	lstm := nn.NewLSTM("l", In, 5, 3, false, 0, 3)
	g := tensor.NewGraph(1)
	out, final := lstm.Forward(g, x, nil, nil)
	var st nn.LSTMState
	for s := 0; s < T; s++ {
		xt := g.Reshape(g.Slice(x, 1, s, s+1), B, In)
		st = lstm.Step(g, xt, st)
		for b := 0; b < B; b++ {
			for j := 0; j < 5; j++ {
				if d := st.Top().Data[b*5+j] - out.Data[(b*T+s)*5+j]; math.Abs(float64(d)) > 1e-6 {
					t.Fatalf("step %d differs by %v", s, d)
				}
			}
		}
	}
	for k := range st.C {
		for i, v := range st.C[k].Data {
			if math.Abs(float64(v-final.C[k].Data[i])) > 1e-6 {
				t.Fatalf("final c[%d] differs", k)
			}
		}
	}
}

// Incremental decoding with the KV cache equals full causal self-attention,
// and cross-attention over precomputed K/V equals Forward.
func TestMultiHeadAttentionIncrementalEqualsFull(t *testing.T) {
	B, T, D := 2, 5, 8
	x := gradcheck.Param("x", 1, -1, 1, B, T, D)
	mem := gradcheck.Param("mem", 2, -1, 1, B, 3, D)
	memPad := []bool{false, false, true, false, false, false}
	self := nn.NewMultiHeadAttention("self", D, 4, 1)
	cross := nn.NewMultiHeadAttention("cross", D, 4, 1)
	g := tensor.NewGraph(1)
	g.SetNoGrad(true)
	full, fullProbs := self.Forward(g, x, x, nil, true)
	fullCross, _ := cross.Forward(g, full, mem, memPad, false)
	var cache nn.KVCache
	kv := cross.ProjectKV(g, mem) // once per source
	for s := 0; s < T; s++ {
		xt := g.Slice(x, 1, s, s+1) // (B, 1, D)
		y, probs := self.Step(g, xt, &cache, nil)
		if cache.Len() != s+1 {
			t.Fatalf("cache holds %d positions after step %d", cache.Len(), s)
		}
		z, _ := cross.Attend(g, y, kv, memPad, false)
		for b := 0; b < B; b++ {
			for j := 0; j < D; j++ {
				if d := y.Data[b*D+j] - full.Data[(b*T+s)*D+j]; math.Abs(float64(d)) > 1e-5 {
					t.Fatalf("step %d: self-attention differs by %v", s, d)
				}
				if d := z.Data[b*D+j] - fullCross.Data[(b*T+s)*D+j]; math.Abs(float64(d)) > 1e-5 {
					t.Fatalf("step %d: cross-attention differs by %v", s, d)
				}
			}
			for h := 0; h < 4; h++ { // probabilities (B, H, 1, s+1) vs row s of (B, H, T, T)
				for j := 0; j <= s; j++ {
					got := probs[(b*4+h)*(s+1)+j]
					want := fullProbs[((b*4+h)*T+s)*T+j]
					if math.Abs(float64(got-want)) > 1e-6 {
						t.Fatalf("step %d head %d: probability %v, want %v", s, h, got, want)
					}
				}
			}
		}
	}
	// Beam reordering keeps and duplicates rows.
	before := append([]float32(nil), cache.K.Data[T*D:2*T*D]...)
	cache.Reorder(g, []int32{1, 1, 0})
	if cache.K.Shape[0] != 3 || cache.Len() != T {
		t.Fatalf("reordered cache %v", cache.K.Shape)
	}
	for i, v := range before {
		if cache.K.Data[i] != v || cache.K.Data[T*D+i] != v {
			t.Fatal("reordered cache rows are not copies of row 1")
		}
	}
}

// Inference (no gradient recording) computes the same values.
func TestNoGradGivesSameValues(t *testing.T) {
	x := gradcheck.Param("x", 1, -1, 1, 2, 4, 3)
	lstm := nn.NewLSTM("l", 3, 4, 2, true, 0, 1)
	add := nn.NewAdditiveAttention("a", 3, 8, 5, 1)
	pad := []bool{false, false, false, false, false, false, true, true}
	run := func(noGrad bool) []float32 {
		g := tensor.NewGraph(1)
		g.SetNoGrad(noGrad)
		out, _ := lstm.Forward(g, x, []int{4, 2}, nil)
		ctx, w := add.Forward(g, g.Reshape(g.Slice(x, 1, 0, 1), 2, 3), add.PrecomputeKeys(g, out), out, pad)
		return append(append(append([]float32(nil), out.Data...), ctx.Data...), w.Data...)
	}
	a, b := run(false), run(true)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: %v with gradients, %v without", i, a[i], b[i])
		}
	}
}
