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
//
// The self-attention cache costs what it holds: position j keeps one block
// of keys and one of values per layer, (rows_j, D) for the rows live when j
// was decoded, written once and never copied. Row r's position j is row
// path[r·t+j] of block j, so Select (a beam's reordering, duplication and
// pruning) rebuilds only that index of t int32 a row, not rows × t × D
// floats, and finished hypotheses stop adding blocks.
type transformerState struct {
	m    *Transformer
	g    *tensor.Graph
	rows int // live hypotheses
	S    int // padded source length
	t    int // positions decoded so far

	selfK, selfV   [][][]float32 // per layer, per position j: (rows_j, D)
	path           []int32       // (rows, t): the row of block j that holds row r's position j
	crossK, crossV [][]float32   // per layer (B, S, D), by batch row
	srcPad         []bool        // (B, S), by batch row
	src            []int32       // copy attention: (B, S) the source ids, by batch row
	srcLen         []int         // (B), by batch row
	origin         []int         // (rows): the batch row each hypothesis decodes

	encProbs      [][]float32 // per encoder layer (B, H, S, S), by batch row
	logp          []float32   // (rows, V): the last step's log-probabilities
	selfP, crossP [][]float32 // per decoder layer: the last step's (rows, H, t) and (rows, H, S)
	pcopy         []float32   // copy attention: the last step's 1 − p_gen (rows)

	spares    [][]float32 // buffers Select gathered out of, reused by the next gathers
	pathSpare []int32     // the index buffer path was rebuilt out of, reused

	carried [3]carried // what Step keeps across resets of the graph: the residual stream and the copy gate's inputs
}

// carried is a tensor Step keeps across a reset of its graph.
type carried struct {
	data  []float32
	shape []int
}

// between resets the graph but keeps the tensors ts point to (nil ones are
// skipped): each is copied out into its own buffer of s.carried and put
// back on the graph as a constant with the same values.
func (s *transformerState) between(ts ...**tensor.Tensor) {
	for i, t := range ts {
		if *t != nil {
			c := &s.carried[i]
			c.data, c.shape = append(c.data[:0], (*t).Data...), append(c.shape[:0], (*t).Shape...)
		}
	}
	s.g.Reset()
	for i, t := range ts {
		if *t != nil {
			*t = s.g.Const(s.carried[i].data, s.carried[i].shape...)
		}
	}
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
	s := &transformerState{m: m, g: g, rows: b.B, S: b.S, srcPad: b.SrcPad(), srcLen: append([]int(nil), b.SrcLen...)}
	s.origin = make([]int, b.B)
	for i := range s.origin {
		s.origin[i] = i
	}
	if m.copyGate != nil {
		s.src = append([]int32(nil), b.Src...)
		s.pcopy = make([]float32, b.B)
	}
	// No gradient is needed, so between sublayers the graph is reset and
	// only the sublayer's output (and its attention probabilities) kept:
	// the arena holds one sublayer's intermediates, not the whole
	// encoder's.
	var probs [][]float32
	keepProbs := func() {
		for _, p := range probs[len(s.encProbs):] {
			s.encProbs = append(s.encProbs, append([]float32(nil), p...))
		}
	}
	between := func(x *tensor.Tensor) *tensor.Tensor {
		keepProbs()
		s.between(&x)
		return x
	}
	mem := m.encodeTraced(g, b, s.srcPad, &probs, nil, between)
	for _, l := range m.dec {
		mem = between(mem) // one layer's keys and values at a time
		kv := l.cross.ProjectKV(g, mem)
		s.crossK = append(s.crossK, append([]float32(nil), kv.K.Data...))
		s.crossV = append(s.crossV, append([]float32(nil), kv.V.Data...))
	}
	s.selfK = make([][][]float32, len(m.dec))
	s.selfV = make([][][]float32, len(m.dec))
	for range m.dec {
		s.selfP = append(s.selfP, nil)
		s.crossP = append(s.crossP, make([]float32, b.B*m.cfg.Heads*b.S))
	}
	g.Trim() // from here on the arena's use is the steps' (see Step)
	return s, nil
}

func (s *transformerState) VocabSize() int { return s.m.cfg.TgtVocab }

// extendPath appends position t to every row's index: the new blocks hold
// row r at row r.
func (s *transformerState) extendPath() {
	t := s.t
	np := growInt32(s.pathSpare, s.rows*(t+1))
	for r := 0; r < s.rows; r++ {
		copy(np[r*(t+1):r*(t+1)+t], s.path[r*t:(r+1)*t])
		np[r*(t+1)+t] = int32(r)
	}
	s.path, s.pathSpare = np, s.path
}

// CacheFloats reports the floats the self-attention caches have allocated
// and the floats they hold: keys and values of the positions each live
// row's history went through (Σ_j rows_j × D per layer, twice).
func (s *transformerState) CacheFloats() (allocated, held int) {
	D := s.m.cfg.DModel
	for l := range s.selfK {
		for j := range s.selfK[l] {
			allocated += cap(s.selfK[l][j]) + cap(s.selfV[l][j])
			held += 2 * len(s.selfK[l][j]) / D * D
		}
	}
	return allocated, held
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
	if s.t == 2 {
		// The encoder's pass over the whole batch needed more arena than a
		// step's sublayer (for 256 words of G2P, 5× more); by now two
		// steps, the second over every beam row, have used what steps
		// need, so the rest goes back.
		g.Trim()
	} else {
		g.Reset()
	}
	s.extendPath()
	D, H := m.cfg.DModel, m.cfg.Heads
	y := m.embed(g, m.tgtEmb, tokens, s.rows, 1, s.t)
	var input, ctx *tensor.Tensor // x_t and the last layer's cross-attention output, for the copy gate
	if m.copyGate != nil {
		input = y
	}
	// A sublayer's intermediates are needed only for its output: between
	// sublayers the graph is reset and only the residual stream (and the
	// copy gate's inputs) kept, so the arena holds one sublayer's
	// intermediates, not the whole step's (for 3 layers, a ninth).
	for li, l := range m.dec {
		if li > 0 {
			s.between(&y, &input, &ctx)
		}
		y = m.sublayer(g, y, l.ln1, func(h *tensor.Tensor) *tensor.Tensor {
			q, k, v := l.self.ProjectQKV(g, h)
			s.selfK[li] = append(s.selfK[li], block(k.Data[:s.rows*D]))
			s.selfV[li] = append(s.selfV[li], block(v.Data[:s.rows*D]))
			s.selfP[li] = grow(s.selfP[li], s.rows*H*(s.t+1))
			a := g.Zeros(s.rows, 1, D)
			attendSelf(a.Data, q.Data, s.selfK[li], s.selfV[li], s.path, s.rows, s.t+1, H, D, s.selfP[li])
			return l.self.Out.Forward(g, a)
		})
		s.between(&y, &input, &ctx)
		y = m.sublayer(g, y, l.ln2, func(h *tensor.Tensor) *tensor.Tensor {
			q := l.cross.Q.Forward(g, h)
			a := g.Zeros(s.rows, 1, D)
			attendCached(a.Data, q.Data, s.crossK[li], s.crossV[li], s.rows, s.S, s.S, H, D, s.origin, s.srcPad, s.crossP[li])
			out := l.cross.Out.Forward(g, a)
			if m.copyGate != nil && li == len(m.dec)-1 {
				ctx = out
			}
			return out
		})
		s.between(&y, &input, &ctx)
		y = m.sublayer(g, y, l.ln3, func(h *tensor.Tensor) *tensor.Tensor { return l.ff.Forward(g, h) })
	}
	if m.decLN != nil {
		y = m.decLN.Forward(g, y)
	}
	logits := m.logits(g, g.Reshape(y, s.rows, D))
	var lp *tensor.Tensor
	if m.copyGate != nil {
		copyAttn := headMean(g, s.crossP[len(m.dec)-1], s.rows, H, s.S)
		gate := m.copyGate.Forward(g, g.Reshape(g.Concat(2, ctx, y, input), s.rows, 3*D)) // (rows, 1)
		lp = g.CopyMix(logits, gate, copyAttn, s.src, s.origin)
		for r, x := range gate.Data {
			s.pcopy[r] = 1 / (1 + float32(math.Exp(float64(x)))) // 1 − σ(x)
		}
	} else {
		lp = g.LogSoftmax(logits, nil)
	}
	s.logp = append(s.logp[:0], lp.Data...)
	s.t++
	return s.logp, nil
}

// headMean returns the cross-attention probabilities p (rows, H, S)
// averaged over the heads, as a (rows, S) tensor on g: the copy
// distribution, as tensor.Graph.AttentionHeadMean computes it in training.
func headMean(g *tensor.Graph, p []float32, rows, H, S int) *tensor.Tensor {
	mean := g.Zeros(rows, S)
	inv := 1 / float32(H)
	for r := range rows {
		for h := range H {
			kernels.Axpy(inv, p[(r*H+h)*S:(r*H+h+1)*S], mean.Data[r*S:(r+1)*S])
		}
	}
	return mean
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

// attendSelf is attendCached over the per-position blocks of the
// self-attention cache: row r's key and value at position j < n are row
// path[r·n+j] of K[j] and V[j] (each (rows_j, D)). It computes what
// attendCached computes, in the same order.
func attendSelf(out, q []float32, K, V [][]float32, path []int32, rows, n, H, D int, probs []float32) {
	dh := D / H
	scale := float32(1 / math.Sqrt(float64(dh)))
	for r := 0; r < rows; r++ {
		pr := path[r*n : (r+1)*n]
		for h := 0; h < H; h++ {
			qh := q[r*D+h*dh : r*D+(h+1)*dh]
			p := probs[(r*H+h)*n : (r*H+h+1)*n]
			mx := float32(math.Inf(-1))
			for j := 0; j < n; j++ {
				off := int(pr[j])*D + h*dh
				p[j] = kernels.Dot(qh, K[j][off:off+dh]) * scale
				mx = max(mx, p[j])
			}
			oh := out[r*D+h*dh : r*D+(h+1)*dh]
			var z float32
			for j := range p {
				p[j] = float32(math.Exp(float64(p[j] - mx)))
				z += p[j]
			}
			inv := 1 / z
			for j := range p {
				p[j] *= inv
				if p[j] != 0 {
					off := int(pr[j])*D + h*dh
					kernels.Axpy(p[j], V[j][off:off+dh], oh)
				}
			}
		}
	}
}

// Select keeps, duplicates or drops hypotheses: new row i is old rows[i].
func (s *transformerState) Select(rows []int32) {
	H := s.m.cfg.Heads
	n := len(rows)
	t := s.t
	np := growInt32(s.pathSpare, n*t)
	for i, r := range rows {
		copy(np[i*t:(i+1)*t], s.path[int(r)*t:(int(r)+1)*t])
	}
	s.path, s.pathSpare = np, s.path
	for l := range s.selfP {
		s.selfP[l] = s.gather(s.selfP[l], rows, H*s.t, H*s.t)
		s.crossP[l] = s.gather(s.crossP[l], rows, H*s.S, H*s.S)
	}
	origin := make([]int, n)
	for i, r := range rows {
		origin[i] = s.origin[r]
	}
	if s.pcopy != nil {
		pc := make([]float32, n)
		for i, r := range rows {
			pc[i] = s.pcopy[r]
		}
		s.pcopy = pc
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

// block returns a copy of x in a slice of exactly its length (append
// would round the capacity up to an allocation class).
func block(x []float32) []float32 {
	b := make([]float32, len(x))
	copy(b, x)
	return b
}

// growInt32 returns buf resized to n, reallocated only when too small.
func growInt32(buf []int32, n int) []int32 {
	if cap(buf) < n {
		return make([]int32, n)
	}
	return buf[:n]
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
		cross := search.Map{Name: nn.Join("decoder", l, "cross_attn"), Heads: H, Keys: n, Weights: w}
		if s.pcopy != nil && l == len(s.crossP)-1 {
			cross.Copies, cross.PCopy = true, s.pcopy[row] // its head mean is the copy distribution
		}
		maps = append(maps, cross)
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
