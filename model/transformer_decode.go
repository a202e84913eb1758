package model

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// transformerState decodes step by step. Everything that outlives a step
// lives here, outside the graph, which is reset at every step: per layer,
// the keys and values of the positions decoded so far (the cache of §3.2's
// masked self-attention) and the source's cross-attention keys and values,
// projected once in Start. What belongs to a source (its cross-attention
// keys and values, padding and length) stays per batch row and is reached
// through origin, so a beam's hypotheses share it and Select never copies it.
type transformerState struct {
	m    *Transformer
	g    *tensor.Graph
	rows int // live hypotheses
	S    int // padded source length
	t    int // positions decoded so far
	cap  int // positions the self-attention caches hold

	selfK, selfV   [][]float32 // per layer (rows, cap, D)
	crossK, crossV [][]float32 // per layer (B, S, D), by batch row
	srcPad         []bool      // (B, S), by batch row
	srcLen         []int       // (B), by batch row
	origin         []int       // (rows): the batch row each hypothesis decodes

	encProbs      [][]float32 // per encoder layer (B, H, S, S), by batch row
	logp          []float32   // (rows, V): the last step's log-probabilities
	selfP, crossP [][]float32 // per decoder layer: the last step's (rows, H, t) and (rows, H, S)

	spares [][]float32 // buffers Select gathered out of, reused by the next gathers
}

// Start encodes b's sources and projects the encoder output to every
// decoder layer's cross-attention keys and values, once.
func (m *Transformer) Start(g *tensor.Graph, b *batch.Batch) (Decoder, error) {
	if err := m.checkLengths(b); err != nil {
		return nil, err
	}
	g.SetNoGrad(true)
	g.SetTraining(false)
	g.Reset()
	D := m.cfg.DModel
	s := &transformerState{m: m, g: g, rows: b.B, S: b.S, srcPad: b.SrcPad(), srcLen: append([]int(nil), b.SrcLen...)}
	s.origin = make([]int, b.B)
	for i := range s.origin {
		s.origin[i] = i
	}
	var probs [][]float32
	mem := m.encode(g, b, s.srcPad, &probs)
	for _, p := range probs {
		s.encProbs = append(s.encProbs, append([]float32(nil), p...))
	}
	for _, l := range m.dec {
		kv := l.cross.ProjectKV(g, mem)
		s.crossK = append(s.crossK, append([]float32(nil), kv.K.Data...))
		s.crossV = append(s.crossV, append([]float32(nil), kv.V.Data...))
	}
	s.cap = 16
	for range m.dec {
		s.selfK = append(s.selfK, make([]float32, b.B*s.cap*D))
		s.selfV = append(s.selfV, make([]float32, b.B*s.cap*D))
		s.selfP = append(s.selfP, nil)
		s.crossP = append(s.crossP, make([]float32, b.B*m.cfg.Heads*b.S))
	}
	g.Reset()
	return s, nil
}

func (s *transformerState) VocabSize() int { return s.m.cfg.TgtVocab }

// grow doubles the self-attention caches until they hold n positions.
func (s *transformerState) grow(n int) {
	if n <= s.cap {
		return
	}
	D := s.m.cfg.DModel
	newCap := s.cap
	for newCap < n {
		newCap *= 2
	}
	for l := range s.selfK {
		for _, buf := range []*[]float32{&s.selfK[l], &s.selfV[l]} {
			nb := make([]float32, s.rows*newCap*D)
			for r := 0; r < s.rows; r++ {
				copy(nb[r*newCap*D:r*newCap*D+s.t*D], (*buf)[r*s.cap*D:r*s.cap*D+s.t*D])
			}
			*buf = nb
		}
	}
	s.cap = newCap
}

// Step feeds one token per row and returns the next-token log-probabilities.
func (s *transformerState) Step(tokens []int32) ([]float32, error) {
	if len(tokens) != s.rows {
		return nil, fmt.Errorf("model: %d tokens for %d rows", len(tokens), s.rows)
	}
	m, g := s.m, s.g
	if s.t >= m.cfg.MaxLen {
		return nil, fmt.Errorf("model: output longer than the model's %d positions", m.cfg.MaxLen)
	}
	g.Reset()
	s.grow(s.t + 1)
	D, H := m.cfg.DModel, m.cfg.Heads
	y := m.embed(g, m.tgtEmb, tokens, s.rows, 1, s.t)
	for li, l := range m.dec {
		y = m.sublayer(g, y, l.ln1, func(h *tensor.Tensor) *tensor.Tensor {
			q := l.self.Q.Forward(g, h)
			k, v := l.self.K.Forward(g, h), l.self.V.Forward(g, h)
			for r := 0; r < s.rows; r++ {
				copy(s.selfK[li][(r*s.cap+s.t)*D:], k.Data[r*D:(r+1)*D])
				copy(s.selfV[li][(r*s.cap+s.t)*D:], v.Data[r*D:(r+1)*D])
			}
			s.selfP[li] = grow(s.selfP[li], s.rows*H*(s.t+1))
			a := g.Zeros(s.rows, 1, D)
			attendCached(a.Data, q.Data, s.selfK[li], s.selfV[li], s.rows, s.t+1, s.cap, H, D, nil, nil, s.selfP[li])
			return l.self.Out.Forward(g, a)
		})
		y = m.sublayer(g, y, l.ln2, func(h *tensor.Tensor) *tensor.Tensor {
			q := l.cross.Q.Forward(g, h)
			a := g.Zeros(s.rows, 1, D)
			attendCached(a.Data, q.Data, s.crossK[li], s.crossV[li], s.rows, s.S, s.S, H, D, s.origin, s.srcPad, s.crossP[li])
			return l.cross.Out.Forward(g, a)
		})
		y = m.sublayer(g, y, l.ln3, func(h *tensor.Tensor) *tensor.Tensor { return l.ff.Forward(g, h) })
	}
	if m.decLN != nil {
		y = m.decLN.Forward(g, y)
	}
	lp := g.LogSoftmax(m.logits(g, g.Reshape(y, s.rows, D)), nil)
	s.logp = append(s.logp[:0], lp.Data...)
	s.t++
	return s.logp, nil
}

// attendCached is multi-head attention of one new query per row over n
// cached positions: out (rows, D) = softmax(q·Kᵀ/√Dh)·V per head, with the
// probabilities written to probs (rows, H, n). Row r reads K and V
// (·, capacity, D) at their row kv[r] (r itself when kv is nil), and, when
// pad (·, capacity) is not nil, skips the keys pad marks in that row.
func attendCached(out, q, K, V []float32, rows, n, capacity, H, D int, kv []int, pad []bool, probs []float32) {
	dh := D / H
	scale := float32(1 / math.Sqrt(float64(dh)))
	for r := 0; r < rows; r++ {
		kr := r
		if kv != nil {
			kr = kv[r]
		}
		for h := 0; h < H; h++ {
			qh := q[r*D+h*dh : r*D+(h+1)*dh]
			p := probs[(r*H+h)*n : (r*H+h+1)*n]
			mx := float32(math.Inf(-1))
			for j := 0; j < n; j++ {
				if pad != nil && pad[kr*capacity+j] {
					p[j] = float32(math.Inf(-1))
					continue
				}
				off := (kr*capacity+j)*D + h*dh
				p[j] = kernels.Dot(qh, K[off:off+dh]) * scale
				mx = max(mx, p[j])
			}
			oh := out[r*D+h*dh : r*D+(h+1)*dh]
			if math.IsInf(float64(mx), -1) { // nothing to attend to
				clear(p)
				continue
			}
			var z float32
			for j := range p {
				p[j] = float32(math.Exp(float64(p[j] - mx)))
				z += p[j]
			}
			inv := 1 / z
			for j := range p {
				p[j] *= inv
				if p[j] != 0 {
					off := (kr*capacity+j)*D + h*dh
					kernels.Axpy(p[j], V[off:off+dh], oh)
				}
			}
		}
	}
}

// Select keeps, duplicates or drops hypotheses: new row i is old rows[i].
func (s *transformerState) Select(rows []int32) {
	D, H := s.m.cfg.DModel, s.m.cfg.Heads
	n := len(rows)
	for l := range s.selfK {
		s.selfK[l] = s.gather(s.selfK[l], rows, s.cap*D, s.t*D)
		s.selfV[l] = s.gather(s.selfV[l], rows, s.cap*D, s.t*D)
		s.selfP[l] = s.gather(s.selfP[l], rows, H*s.t, H*s.t)
		s.crossP[l] = s.gather(s.crossP[l], rows, H*s.S, H*s.S)
	}
	origin := make([]int, n)
	for i, r := range rows {
		origin[i] = s.origin[r]
	}
	s.origin, s.rows = origin, n
	s.logp = s.logp[:0]
}

// gather returns buf with row i replaced by old row rows[i] (the first used
// values of each stride-long row). The result comes from the spare buffers
// when one is large enough, and buf becomes a spare: after the first steps
// of a search, Select allocates nothing.
func (s *transformerState) gather(buf []float32, rows []int32, stride, used int) []float32 {
	dst := s.takeSpare(len(rows) * stride)
	for i, r := range rows {
		copy(dst[i*stride:i*stride+used], buf[int(r)*stride:int(r)*stride+used])
	}
	s.spares = append(s.spares, buf)
	return dst
}

// takeSpare returns the smallest spare buffer that holds n values, or a new
// one.
func (s *transformerState) takeSpare(n int) []float32 {
	best := -1
	for i, b := range s.spares {
		if cap(b) >= n && (best < 0 || cap(b) < cap(s.spares[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := s.spares[best]
	last := len(s.spares) - 1
	s.spares[best], s.spares[last] = s.spares[last], nil
	s.spares = s.spares[:last]
	return b[:n]
}

// grow returns buf resized to n, reallocated only when too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// LastAttention reports the last step's decoder self-attention (over the
// positions decoded so far) and cross-attention (over the row's source
// tokens) of every layer.
func (s *transformerState) LastAttention(row int) []search.Map {
	H := s.m.cfg.Heads
	maps := make([]search.Map, 0, 2*len(s.selfP))
	n := s.srcLen[s.origin[row]]
	for l := range s.selfP {
		maps = append(maps, search.Map{Name: nn.Join("decoder", l, "self_attn"), Heads: H, Keys: s.t,
			Weights: s.selfP[l][row*H*s.t : (row+1)*H*s.t]})
		w := make([]float32, H*n)
		for h := 0; h < H; h++ {
			copy(w[h*n:(h+1)*n], s.crossP[l][(row*H+h)*s.S:])
		}
		maps = append(maps, search.Map{Name: nn.Join("decoder", l, "cross_attn"), Heads: H, Keys: n, Weights: w})
	}
	return maps
}

// EncoderAttention reports every encoder layer's self-attention over the
// row's source tokens: one map per layer, (H·n, n) with n the source
// length, query-major within each head.
func (s *transformerState) EncoderAttention(row int) []search.Map {
	H, S := s.m.cfg.Heads, s.S
	b := s.origin[row]
	n := s.srcLen[b]
	maps := make([]search.Map, len(s.encProbs))
	for l, p := range s.encProbs {
		w := make([]float32, H*n*n)
		for h := 0; h < H; h++ {
			for i := 0; i < n; i++ {
				copy(w[(h*n+i)*n:(h*n+i+1)*n], p[((b*H+h)*S+i)*S:])
			}
		}
		maps[l] = search.Map{Name: nn.Join("encoder", l, "self_attn"), Heads: H * n, Keys: n, Weights: w}
	}
	return maps
}
