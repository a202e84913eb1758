package nn

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/tensor"
)

// LSTMWeights are one layer and direction of an LSTM, in torch.nn.LSTM's
// layout: the four gates stacked in the order i, f, g, o.
type LSTMWeights struct {
	WeightIH *tensor.Tensor // (4H, In), "<name>.weight_ih_l<k>[_reverse]"
	WeightHH *tensor.Tensor // (4H, H),  "<name>.weight_hh_l<k>[_reverse]"
	BiasIH   *tensor.Tensor // (4H),     "<name>.bias_ih_l<k>[_reverse]"
	BiasHH   *tensor.Tensor // (4H),     "<name>.bias_hh_l<k>[_reverse]"
}

// LSTM is a multi-layer, optionally bidirectional LSTM over batch-first
// sequences, equivalent to torch.nn.LSTM(batch_first=True) with packed
// variable-length sequences (Sutskever et al. 2014 use a 4-layer
// unidirectional one; Bahdanau et al. 2014 a bidirectional encoder).
//
// Per layer and direction, the input projection x·W_ihᵀ + b_ih + b_hh of
// every time step is one GEMM before the recurrence; each step then adds
// h·W_hhᵀ (one GEMM for the four gates) and applies the fused cell
// (tensor.Graph.LSTMGates, tensor.Graph.LSTMCell).
type LSTM struct {
	Input, Hidden, Layers int
	Bidirectional         bool
	Dropout               float32          // on the outputs of every layer but the last, as torch
	Weights               [][]*LSTMWeights // [layer][direction]
}

// NewLSTM returns an LSTM with PyTorch's initialization U(±1/√hidden).
func NewLSTM(name string, input, hidden, layers int, bidirectional bool, dropout float32, seed uint64) *LSTM {
	m := &LSTM{Input: input, Hidden: hidden, Layers: layers, Bidirectional: bidirectional, Dropout: dropout}
	dirs := m.Dirs()
	a := 1 / math.Sqrt(float64(hidden))
	for l := 0; l < layers; l++ {
		in := input
		if l > 0 {
			in = hidden * dirs
		}
		var row []*LSTMWeights
		for d := 0; d < dirs; d++ {
			sfx := fmt.Sprintf("_l%d", l)
			if d == 1 {
				sfx += "_reverse"
			}
			w := &LSTMWeights{
				WeightIH: tensor.NewParam(Join(name, "weight_ih"+sfx), 4*hidden, in),
				WeightHH: tensor.NewParam(Join(name, "weight_hh"+sfx), 4*hidden, hidden),
				BiasIH:   tensor.NewParam(Join(name, "bias_ih"+sfx), 4*hidden),
				BiasHH:   tensor.NewParam(Join(name, "bias_hh"+sfx), 4*hidden),
			}
			for _, p := range w.params() {
				Uniform(p, a, seed)
			}
			row = append(row, w)
		}
		m.Weights = append(m.Weights, row)
	}
	return m
}

func (w *LSTMWeights) params() []*tensor.Tensor {
	return []*tensor.Tensor{w.WeightIH, w.WeightHH, w.BiasIH, w.BiasHH}
}

// Dirs is 2 for a bidirectional LSTM, 1 otherwise.
func (m *LSTM) Dirs() int {
	if m.Bidirectional {
		return 2
	}
	return 1
}

// Params returns every weight in torch's order (layer, direction, then
// weight_ih, weight_hh, bias_ih, bias_hh).
func (m *LSTM) Params() []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, row := range m.Weights {
		for _, w := range row {
			out = append(out, w.params()...)
		}
	}
	return out
}

// LSTMState is the recurrent state: H[k] and C[k] (B, H) for k = layer·dirs
// + direction, the order of torch's h_n and c_n. A nil tensor is a zero
// state.
type LSTMState struct {
	H, C []*tensor.Tensor
}

// Top is the last entry of H: for a unidirectional LSTM the top layer's
// hidden state, a decoder's output at this step (for a bidirectional one,
// the top layer's backward direction).
func (s LSTMState) Top() *tensor.Tensor { return s.H[len(s.H)-1] }

// Forward runs the LSTM over x (B, T, In). lengths (B), or nil for all T,
// gives each sequence's length: padded steps carry the state, their outputs
// are 0, and the backward direction of a sequence starts at its own last
// token, exactly as torch's pack_padded_sequence. init is the initial state
// or nil for zeros. It returns the outputs (B, T, dirs·H), the forward and
// backward states concatenated per step, and the final state of every layer
// and direction (after each sequence's last token).
func (m *LSTM) Forward(g *tensor.Graph, x *tensor.Tensor, lengths []int, init *LSTMState) (*tensor.Tensor, LSTMState) {
	if len(x.Shape) != 3 || x.Shape[2] != m.Input {
		panic(fmt.Sprintf("nn.LSTM: input %v is not (B, T, %d)", x.Shape, m.Input))
	}
	B, T := x.Shape[0], x.Shape[1]
	if lengths != nil && len(lengths) != B {
		panic(fmt.Sprintf("nn.LSTM: %d lengths for a batch of %d", len(lengths), B))
	}
	dirs := m.Dirs()
	final := LSTMState{H: make([]*tensor.Tensor, m.Layers*dirs), C: make([]*tensor.Tensor, m.Layers*dirs)}
	// pad is reused at every step: LSTMCell reads it before returning.
	var pad []bool
	if lengths != nil {
		pad = make([]bool, B)
	}
	input := x
	for l := 0; l < m.Layers; l++ {
		if l > 0 {
			input = g.Dropout(input, m.Dropout)
		}
		steps := make([][]*tensor.Tensor, dirs)
		for d := 0; d < dirs; d++ {
			w := m.Weights[l][d]
			// x·W_ihᵀ + b_ih + b_hh for all steps: (B, T, 4H)
			xproj := g.Add(g.Linear(input, w.WeightIH, w.BiasIH), w.BiasHH)
			var h, c *tensor.Tensor
			if init != nil {
				h, c = init.H[l*dirs+d], init.C[l*dirs+d]
			}
			seq := make([]*tensor.Tensor, T)
			for s := 0; s < T; s++ {
				t := s
				if d == 1 {
					t = T - 1 - s
				}
				for b := range pad {
					pad[b] = t >= lengths[b]
				}
				h, c = g.LSTMCell(g.LSTMGates(xproj, t, h, w.WeightHH), h, c, pad)
				seq[t] = h
			}
			final.H[l*dirs+d], final.C[l*dirs+d] = h, c
			steps[d] = seq
		}
		input = g.StackSteps(steps, lengths)
	}
	return input, final
}

// Step advances a unidirectional LSTM by one time step, as a decoder does:
// x (B, In); state from the previous step, the encoder, or nil tensors for
// zeros. The new top hidden state is the step's output (State.Top).
// Dropout between layers applies as in Forward.
func (m *LSTM) Step(g *tensor.Graph, x *tensor.Tensor, state LSTMState) LSTMState {
	if m.Bidirectional {
		panic("nn.LSTM.Step: a bidirectional LSTM cannot run step by step")
	}
	if len(x.Shape) != 2 || x.Shape[1] != m.Input {
		panic(fmt.Sprintf("nn.LSTM.Step: input %v is not (B, %d)", x.Shape, m.Input))
	}
	next := LSTMState{H: make([]*tensor.Tensor, m.Layers), C: make([]*tensor.Tensor, m.Layers)}
	input := x
	for l := 0; l < m.Layers; l++ {
		if l > 0 {
			input = g.Dropout(input, m.Dropout)
		}
		w := m.Weights[l][0]
		var h, c *tensor.Tensor
		if state.H != nil {
			h, c = state.H[l], state.C[l]
		}
		xproj := g.Add(g.Linear(input, w.WeightIH, w.BiasIH), w.BiasHH) // (B, 4H)
		h, c = g.LSTMCell(g.LSTMGates(xproj, 0, h, w.WeightHH), h, c, nil)
		next.H[l], next.C[l] = h, c
		input = h
	}
	return next
}
