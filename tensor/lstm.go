package tensor

import (
	"fmt"

	"github.com/qkv-dev/qkv/kernels"
)

// The LSTM's recurrence, fused (Hochreiter & Schmidhuber 1997; the form of
// Graves 2013 without peepholes, as used by Sutskever et al. 2014 and
// torch.nn.LSTM), with PyTorch's gate order i, f, g, o:
//
//	gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh            (B, 4H)
//	i = σ(gates[0:H])   f = σ(gates[H:2H])   g = tanh(gates[2H:3H])   o = σ(gates[3H:4H])
//	c' = f⊙c + i⊙g
//	h' = o⊙tanh(c')
//
// A layer computes x·W_ihᵀ + b_ih + b_hh for every time step in one GEMM
// before the recurrence; per step, LSTMGates adds the recurrent GEMM
// h·W_hhᵀ (one GEMM for the four gates) and LSTMCell does the rest
// elementwise. StackSteps gathers the per-step states into the (B, T, ·)
// output sequence.

// LSTMGates returns the pre-activation gates of step t:
// xproj[:, t, :] + h·W_hhᵀ, (B, 4H). xproj (B, T, 4H) holds the input
// projection of every step (x·W_ihᵀ + b_ih + b_hh); a (B, 4H) xproj is one
// step (t must be 0). h (B, H) is the previous hidden state, or nil for a
// zero state (the GEMM is then skipped); whh (4H, H).
func (g *Graph) LSTMGates(xproj *Tensor, t int, h, whh *Tensor) *Tensor {
	if len(whh.Shape) != 2 || whh.Shape[0] != 4*whh.Shape[1] {
		panic(fmt.Sprintf("tensor.LSTMGates: W_hh %v is not (4H, H)", whh.Shape))
	}
	G4, H := whh.Shape[0], whh.Shape[1]
	B, T := xproj.Shape[0], 1
	switch {
	case len(xproj.Shape) == 3 && xproj.Shape[2] == G4:
		T = xproj.Shape[1]
	case len(xproj.Shape) == 2 && xproj.Shape[1] == G4:
	default:
		panic(fmt.Sprintf("tensor.LSTMGates: input projection %v is not (B, T, %d) or (B, %d)", xproj.Shape, G4, G4))
	}
	if t < 0 || t >= T {
		panic(fmt.Sprintf("tensor.LSTMGates: step %d outside [0, %d)", t, T))
	}
	if h != nil && (len(h.Shape) != 2 || h.Shape[0] != B || h.Shape[1] != H) {
		panic(fmt.Sprintf("tensor.LSTMGates: hidden state %v is not (%d, %d)", h.Shape, B, H))
	}
	out := g.newTensor(g.anyNeedsGrad(xproj, h, whh), B, G4)
	for b := 0; b < B; b++ {
		copy(out.Data[b*G4:(b+1)*G4], xproj.Data[(b*T+t)*G4:])
	}
	if h != nil { // gates += h·W_hhᵀ: (B, H)·(H, 4H)
		g.gemm(false, true, B, G4, H, 1, h.Data, H, whh.Data, H, 1, out.Data, G4)
	}
	out.ints = [4]int{t, T, 0, 0}
	g.record(out, lstmGatesBackward, xproj, h, whh)
	return out
}

// lstmGatesBackward differentiates gates = xproj[:, t] + h·W_hhᵀ:
// dxproj[:, t] += dgates, dh += dgates·W_hh, dW_hh += dgatesᵀ·h.
func lstmGatesBackward(g *Graph, out *Tensor) {
	xproj, h, whh := out.in[0], out.in[1], out.in[2]
	G4, H := whh.Shape[0], whh.Shape[1]
	B := out.Shape[0]
	t, T := out.ints[0], out.ints[1]
	if xproj.needsGrad {
		for b := 0; b < B; b++ {
			axpy(1, out.Grad[b*G4:(b+1)*G4], xproj.Grad[(b*T+t)*G4:])
		}
	}
	if h == nil {
		return
	}
	if h.needsGrad {
		g.gemm(false, false, B, H, G4, 1, out.Grad, G4, whh.Data, H, 1, h.Grad, H)
	}
	if whh.needsGrad {
		g.gemm(true, false, G4, H, B, 1, out.Grad, G4, h.Data, H, 1, whh.Grad, H)
	}
}

// LSTMCell applies the LSTM's gates: gates (B, 4H) (pre-activation, order
// i, f, g, o), hPrev and cPrev (B, H) or nil for zeros; it returns the new
// hidden and cell states h, c (B, H).
//
// pad (B), or nil, marks rows whose step is padding (true): they carry the
// state through unchanged (h = hPrev, c = cPrev) and their gates get no
// gradient. Running a padded batch this way, a sequence's state after the
// last step equals its state after its own last token, as with PyTorch's
// packed sequences; run backwards in time it starts from the initial state
// at the sequence's own last token (the bidirectional encoder's backward
// direction).
//
// h and c are views of one tape entry (2, B, H), so their gradients meet in
// one backward pass.
func (g *Graph) LSTMCell(gates, hPrev, cPrev *Tensor, pad []bool) (h, c *Tensor) {
	if len(gates.Shape) != 2 || gates.Shape[1]%4 != 0 {
		panic(fmt.Sprintf("tensor.LSTMCell: gates %v are not (B, 4H)", gates.Shape))
	}
	B, H := gates.Shape[0], gates.Shape[1]/4
	for _, s := range []*Tensor{hPrev, cPrev} {
		if s != nil && (len(s.Shape) != 2 || s.Shape[0] != B || s.Shape[1] != H) {
			panic(fmt.Sprintf("tensor.LSTMCell: state %v is not (%d, %d)", s.Shape, B, H))
		}
	}
	if pad != nil && len(pad) != B {
		panic(fmt.Sprintf("tensor.LSTMCell: pad has %d entries for %d rows", len(pad), B))
	}
	st := g.newTensor(g.anyNeedsGrad(gates, hPrev, cPrev), 2, B, H)
	hs, cs := st.Data[:B*H], st.Data[B*H:]
	// saved for backward: activated gates (B, 4H), then tanh(c') (B, H)
	// Activated gates (B, 4H) and tanh(c') (B, H): saved for backward, or
	// scratch when there is no backward.
	buf := g.floats.alloc(5 * B * H)
	if st.needsGrad {
		st.saved = buf
	}
	acts, tc := buf[:4*B*H], buf[4*B*H:]
	for b := 0; b < B; b++ {
		row := b * H
		if pad != nil && pad[b] {
			lstmCarry(hs[row:row+H], hPrev, row)
			lstmCarry(cs[row:row+H], cPrev, row)
			continue
		}
		a := gates.Data[4*row : 4*row+4*H]
		act := acts[4*row : 4*row+4*H]
		kernels.Sigmoid(act[:2*H], a[:2*H]) // i, f
		kernels.Tanh(act[2*H:3*H], a[2*H:3*H])
		kernels.Sigmoid(act[3*H:], a[3*H:])
		ig, fg, gg, og := act[:H], act[H:2*H], act[2*H:3*H], act[3*H:]
		c := cs[row : row+H]
		if cPrev != nil {
			cp := cPrev.Data[row : row+H]
			for j := range c {
				c[j] = fg[j]*cp[j] + ig[j]*gg[j]
			}
		} else {
			kernels.Mul(c, ig, gg)
		}
		t := tc[row : row+H]
		kernels.Tanh(t, c)
		kernels.Mul(hs[row:row+H], og, t)
	}
	if st.needsGrad {
		if pad != nil {
			ids := g.ids.alloc(B)
			for b, p := range pad {
				ids[b] = int32(boolInt(p))
			}
			st.savedIDs = ids
		}
	}
	g.record(st, lstmCellBackward, gates, hPrev, cPrev)
	return g.lstmView(st, 0, B, H), g.lstmView(st, 1, B, H)
}

// lstmCarry copies the previous state's row (zeros if prev is nil) to dst.
func lstmCarry(dst []float32, prev *Tensor, row int) {
	if prev == nil {
		clear(dst)
		return
	}
	copy(dst, prev.Data[row:row+len(dst)])
}

// lstmView returns part k of st (2, B, H) as a (B, H) tensor sharing data
// and gradient.
func (g *Graph) lstmView(st *Tensor, k, B, H int) *Tensor {
	t := g.header()
	t.setShape([]int{B, H})
	g.view(t, st, k*B*H)
	return t
}

// lstmCellBackward differentiates the cell row by row (dh, dc' from the two
// views; t = tanh(c')):
//
//	dc  = dc' + dh·o·(1 − t²)          (h' = o⊙t)
//	da_o = dh·t·o(1 − o)
//	da_i = dc·g·i(1 − i)               (c' = f⊙c + i⊙g)
//	da_g = dc·i·(1 − g²)
//	da_f = dc·c·f(1 − f)
//	dcPrev += dc·f
//
// A padded row passes dh and dc' straight to hPrev and cPrev.
func lstmCellBackward(_ *Graph, st *Tensor) {
	gates, hPrev, cPrev := st.in[0], st.in[1], st.in[2]
	B, H := st.Shape[1], st.Shape[2]
	dhs, dcs := st.Grad[:B*H], st.Grad[B*H:]
	acts, tc := st.saved[:4*B*H], st.saved[4*B*H:]
	for b := 0; b < B; b++ {
		row := b * H
		if st.savedIDs != nil && st.savedIDs[b] != 0 {
			if hPrev != nil && hPrev.needsGrad {
				axpy(1, dhs[row:row+H], hPrev.Grad[row:])
			}
			if cPrev != nil && cPrev.needsGrad {
				axpy(1, dcs[row:row+H], cPrev.Grad[row:])
			}
			continue
		}
		s := acts[4*row : 4*row+4*H]
		var da []float32
		if gates.needsGrad {
			da = gates.Grad[4*row : 4*row+4*H]
		}
		for j := 0; j < H; j++ {
			ig, fg, gg, og := s[j], s[H+j], s[2*H+j], s[3*H+j]
			t := tc[row+j]
			dh := dhs[row+j]
			dc := dcs[row+j] + dh*og*(1-t*t)
			if cPrev != nil && cPrev.needsGrad {
				cPrev.Grad[row+j] += dc * fg
			}
			if da == nil {
				continue
			}
			var cp float32
			if cPrev != nil {
				cp = cPrev.Data[row+j]
			}
			da[j] += dc * gg * ig * (1 - ig)
			da[H+j] += dc * cp * fg * (1 - fg)
			da[2*H+j] += dc * ig * (1 - gg*gg)
			da[3*H+j] += dh * t * og * (1 - og)
		}
	}
}

// StackSteps gathers per-step states into a sequence: steps[d][t] (B, H) is
// direction d's state at time t (all directions indexed in source order);
// the result is (B, T, dirs·H) with out[b, t, d·H:(d+1)·H] = steps[d][t][b].
// Positions past a sequence's length (t ≥ lengths[b]) are 0, as in
// PyTorch's pad_packed_sequence; lengths nil means no padding.
func (g *Graph) StackSteps(steps [][]*Tensor, lengths []int) *Tensor {
	dirs := len(steps)
	if dirs == 0 || len(steps[0]) == 0 {
		panic("tensor.StackSteps: no steps")
	}
	T := len(steps[0])
	B, H := steps[0][0].Shape[0], steps[0][0].Shape[1]
	flat := make([]*Tensor, 0, dirs*T) // kept by the tape entry
	for d := range steps {
		if len(steps[d]) != T {
			panic(fmt.Sprintf("tensor.StackSteps: direction %d has %d steps, want %d", d, len(steps[d]), T))
		}
		for _, s := range steps[d] {
			if len(s.Shape) != 2 || s.Shape[0] != B || s.Shape[1] != H {
				panic(fmt.Sprintf("tensor.StackSteps: step %v, want (%d, %d)", s.Shape, B, H))
			}
		}
		flat = append(flat, steps[d]...)
	}
	if lengths != nil && len(lengths) != B {
		panic(fmt.Sprintf("tensor.StackSteps: %d lengths for %d rows", len(lengths), B))
	}
	out := g.newTensor(g.anyNeedsGrad(flat...), B, T, dirs*H)
	W := dirs * H
	for b := 0; b < B; b++ {
		L := T
		if lengths != nil {
			L = min(max(lengths[b], 0), T)
		}
		for t := 0; t < T; t++ {
			dst := out.Data[(b*T+t)*W : (b*T+t+1)*W]
			if t >= L {
				clear(dst)
				continue
			}
			for d := 0; d < dirs; d++ {
				copy(dst[d*H:(d+1)*H], flat[d*T+t].Data[b*H:(b+1)*H])
			}
		}
	}
	if out.needsGrad {
		out.ints = [4]int{dirs, T, 0, 0}
		if lengths != nil {
			ids := g.ids.alloc(B)
			for b, l := range lengths {
				ids[b] = int32(min(max(l, 0), T))
			}
			out.savedIDs = ids
		}
		g.record(out, stackStepsBackward)
		g.keepInputs(out, flat)
	}
	return out
}

// stackStepsBackward routes each unpadded (b, t) block of the output's
// gradient back to its step: dsteps[d][t][b] += dout[b, t, d·H:(d+1)·H].
func stackStepsBackward(_ *Graph, out *Tensor) {
	B, W := out.Shape[0], out.Shape[2]
	dirs, T := out.ints[0], out.ints[1]
	H := W / dirs
	for d := 0; d < dirs; d++ {
		for t := 0; t < T; t++ {
			s := inputAt(out, d*T+t)
			if !s.needsGrad {
				continue
			}
			for b := 0; b < B; b++ {
				if out.savedIDs != nil && t >= int(out.savedIDs[b]) {
					continue
				}
				axpy(1, out.Grad[(b*T+t)*W+d*H:(b*T+t)*W+(d+1)*H], s.Grad[b*H:])
			}
		}
	}
}
