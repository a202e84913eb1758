package nn_test

import (
	"testing"

	"github.com/qkv-dev/qkv/internal/golden"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/tensor"
)

// Golden tests against PyTorch (internal/golden/gen_layers.py): the same
// weights, then forward outputs to 1e-5 and every gradient to 1e-4
// relative (absolute floors of 1e-6 for values near zero).

// load copies the case's inputs into the module's parameters by name and
// returns a parameter (with gradient) for each named input.
func load(t *testing.T, c *golden.Case, m nn.Module, inputs ...string) map[string]*tensor.Tensor {
	t.Helper()
	ps, err := nn.ParamMap(m)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range ps {
		a := c.In(t, name)
		if len(a.Data) != p.Len() {
			t.Fatalf("%s: %s has %d values, parameter %v", c.Name, name, len(a.Data), p.Shape)
		}
		copy(p.Data, a.Float32())
		p.ZeroGrad()
	}
	for _, name := range inputs {
		a := c.In(t, name)
		p := tensor.NewParam(name, a.Shape...)
		copy(p.Data, a.Float32())
		ps[name] = p
	}
	return ps
}

func mask(t *testing.T, c *golden.Case, name string) []bool {
	a := c.In(t, name)
	m := make([]bool, len(a.Data))
	for i, v := range a.Data {
		m[i] = v != 0
	}
	return m
}

// seed adds the case's upstream gradient of every output to its Grad and
// back-propagates once.
func seed(t *testing.T, g *tensor.Graph, c *golden.Case, outs map[string]*tensor.Tensor) {
	t.Helper()
	var ts []*tensor.Tensor
	var ups [][]float32
	for name, out := range outs {
		up, ok := c.Inputs["up_"+name]
		if !ok {
			continue
		}
		ts, ups = append(ts, out), append(ups, up.Float32())
	}
	g.BackwardFromAll(ts, ups)
}

func compare(t *testing.T, c *golden.Case, outs map[string][]float32, ps map[string]*tensor.Tensor) {
	t.Helper()
	for name, want := range c.Outputs {
		got, ok := outs[name]
		if !ok {
			t.Fatalf("%s: no output %q", c.Name, name)
		}
		golden.Close(t, c.Name+" "+name, got, want, 1e-5, 1e-6)
	}
	for name, want := range c.Grads {
		p, ok := ps[name]
		if !ok {
			t.Fatalf("%s: no parameter %q", c.Name, name)
		}
		golden.Close(t, c.Name+" d"+name, p.Grad, want, 1e-4, 1e-6)
	}
	if len(c.Grads) < len(ps) {
		t.Fatalf("%s: %d golden gradients for %d parameters", c.Name, len(c.Grads), len(ps))
	}
}

func TestMultiHeadAttentionMatchesTorch(t *testing.T) {
	for _, name := range []string{"mha_cross", "mha_self_causal"} {
		t.Run(name, func(t *testing.T) {
			c := golden.Load(t, name)
			D := c.In(t, "x").Shape[2]
			m := nn.NewMultiHeadAttention("", D, int(c.Attrs["heads"]), 1)
			inputs := []string{"x"}
			if _, ok := c.Inputs["mem"]; ok {
				inputs = append(inputs, "mem")
			}
			ps := load(t, c, m, inputs...)
			src := ps["x"]
			if m, ok := ps["mem"]; ok {
				src = m
			}
			g := tensor.NewGraph(1)
			out, probs := m.Forward(g, ps["x"], src, mask(t, c, "pad"), c.Attrs["causal"] != 0)
			seed(t, g, c, map[string]*tensor.Tensor{"out": out})
			compare(t, c, map[string][]float32{"out": out.Data, "probs": probs}, ps)
		})
	}
}

func TestLSTMMatchesTorch(t *testing.T) {
	for _, name := range []string{"lstm_packed_bidir", "lstm_init_state"} {
		t.Run(name, func(t *testing.T) {
			c := golden.Load(t, name)
			a := c.Attrs
			m := nn.NewLSTM("", int(a["input"]), int(a["hidden"]), int(a["layers"]), a["bidirectional"] != 0, 0, 1)
			inputs := []string{"x"}
			_, hasInit := c.Inputs["h0"]
			if hasInit {
				inputs = append(inputs, "h0", "c0")
			}
			ps := load(t, c, m, inputs...)
			var lengths []int
			if l, ok := c.Inputs["lengths"]; ok {
				for _, v := range l.Data {
					lengths = append(lengths, int(v))
				}
			}
			g := tensor.NewGraph(1)
			var init *nn.LSTMState
			if hasInit { // h0, c0 (layers·dirs, B, H) → per-layer views
				init = &nn.LSTMState{}
				for _, n := range []string{"h0", "c0"} {
					p := ps[n]
					L, B, H := p.Shape[0], p.Shape[1], p.Shape[2]
					parts := g.Split(g.Reshape(p, L*B, H), 0, repeat(B, L)...)
					if n == "h0" {
						init.H = parts
					} else {
						init.C = parts
					}
				}
			}
			out, final := m.Forward(g, ps["x"], lengths, init)
			hn := g.Concat(0, final.H...)
			cn := g.Concat(0, final.C...)
			seed(t, g, c, map[string]*tensor.Tensor{"out": out, "h_n": hn, "c_n": cn})
			compare(t, c, map[string][]float32{"out": out.Data, "h_n": hn.Data, "c_n": cn.Data}, ps)
		})
	}
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestAdditiveAttentionMatchesTorch(t *testing.T) {
	c := golden.Load(t, "nn_additive_attention")
	s, h := c.In(t, "s"), c.In(t, "h")
	m := nn.NewAdditiveAttention("", s.Shape[1], h.Shape[2], c.In(t, "v").Shape[0], 1)
	ps := load(t, c, m, "s", "h")
	g := tensor.NewGraph(1)
	keys := m.PrecomputeKeys(g, ps["h"])
	ctx, w := m.Forward(g, ps["s"], keys, ps["h"], mask(t, c, "pad"))
	seed(t, g, c, map[string]*tensor.Tensor{"context": ctx, "weights": w})
	compare(t, c, map[string][]float32{"context": ctx.Data, "weights": w.Data}, ps)
}

// The table equals the peer's PosEnc (computed there in float32, hence the
// tolerance: sin and cos of arguments up to 63 rounded to float32).
func TestSinusoidalPositionsMatchPeer(t *testing.T) {
	c := golden.Load(t, "sinusoidal_positions")
	pe := nn.NewSinusoidalPositions(int(c.Attrs["dim"]), 32) // rows past 32 are computed on demand
	golden.Close(t, "pe", pe.Rows(0, int(c.Attrs["max_len"]), nil), c.Outputs["pe"], 0, 1e-5)
}
