package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// Recurrent is one of the two LSTM encoder-decoders.
//
// seq2seq (Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning
// with Neural Networks", §2 and §3.4): a multi-layer LSTM reads the source
// embeddings (each source's real tokens reversed when cfg.ReverseSource is
// set, §3.3); its final (h, c) of every layer starts a multi-layer LSTM
// decoder, whose top hidden state gives the next-token distribution:
//
//	p(y_i | y_<i, x) = softmax(W_o · dropout(s_i) + b_o)
//
// rnnsearch (Bahdanau, Cho & Bengio 2014, "Neural Machine Translation by
// Jointly Learning to Align and Translate", §3 and appendix A, with LSTMs
// in place of the paper's gated units, as in joeynmt's RecurrentDecoder with
// Bahdanau attention): a bidirectional LSTM gives each source token an
// annotation h_j = [→h_j; ←h_j] (2H); the decoder starts from
// s_0 = tanh(W_s ←h_1) (appendix A.2.2; the top layer's backward state at
// the first token, given to every decoder layer, with zero cells), and at
// step i
//
//	e_ij = vᵀ tanh(W_a s_{i−1} + U_a h_j)    (U_a h_j computed once per source)
//	α_ij = softmax_j(e_ij)                   (over the real tokens only)
//	c_i  = Σ_j α_ij h_j
//	s_i  = LSTM([E y_{i−1}; c_i], s_{i−1})
//	t_i  = tanh(W_t [s_i; c_i; E y_{i−1}] + b_t)   (the paper's maxout
//	                                                layer, as a tanh layer)
//	p(y_i | y_<i, x) = softmax(W_o · dropout(t_i) + b_o)
//
// With copy attention (cfg.Copy; See, Liu & Manning 2017, eq. 8–9) that
// softmax is P_vocab, and the output mixes it with copying the source
// tokens through α_i:
//
//	p_gen = σ(w_c·[s_i; c_i; E y_{i−1}] + b_c)
//	P(w)  = p_gen·P_vocab(w) + (1 − p_gen)·Σ_{j: x_j = w} α_ij
//
// Dropout (cfg.Dropout) applies to the embeddings, between stacked LSTM
// layers and before the output projection, in training only.
type Recurrent struct {
	cfg    Config
	attend bool // rnnsearch

	srcEmb, tgtEmb *nn.Embedding
	encoder        *nn.LSTM // unidirectional (seq2seq) or bidirectional (rnnsearch)
	decoder        *nn.LSTM // unidirectional; input Embed (seq2seq) or Embed+2H (rnnsearch)

	// rnnsearch only.
	bridge    *nn.Linear // W_s: ←h_1 (H) → s_0 of every layer (Layers·H)
	attention *nn.AdditiveAttention
	readout   *nn.Linear // W_t: [s; c; e] (H+2H+Embed) → H

	output   *nn.Linear // W_o: H → target vocabulary
	copyGate *nn.Linear // copy attention: w_c, b_c: [s; c; e] (3H+E) → 1
	drop     nn.Dropout

	params []*tensor.Tensor
}

// newRecurrent builds seq2seq or rnnsearch (cfg is valid).
func newRecurrent(cfg Config) Model {
	m := &Recurrent{cfg: cfg, attend: cfg.Arch == ArchRNNSearch, drop: nn.Dropout{P: cfg.Dropout}}
	E, H, L, seed := cfg.Embed, cfg.Hidden, cfg.Layers, cfg.Seed
	m.srcEmb = nn.NewEmbedding("src_embed", cfg.SrcVocab, E, batch.PAD, seed)
	m.tgtEmb = nn.NewEmbedding("tgt_embed", cfg.TgtVocab, E, batch.PAD, seed)
	modules := []nn.Module{m.srcEmb, m.tgtEmb}
	if m.attend {
		m.encoder = nn.NewLSTM("encoder.rnn", E, H, L, true, cfg.Dropout, seed)
		m.bridge = nn.NewLinear("decoder.bridge", H, L*H, true, seed)
		m.attention = nn.NewAdditiveAttention("decoder.attention", H, 2*H, cfg.AttnDim, seed)
		m.decoder = nn.NewLSTM("decoder.rnn", E+2*H, H, L, false, cfg.Dropout, seed)
		m.readout = nn.NewLinear("decoder.readout", H+2*H+E, H, true, seed)
		modules = append(modules, m.encoder, m.bridge, m.attention, m.decoder, m.readout)
	} else {
		m.encoder = nn.NewLSTM("encoder.rnn", E, H, L, false, cfg.Dropout, seed)
		m.decoder = nn.NewLSTM("decoder.rnn", E, H, L, false, cfg.Dropout, seed)
		modules = append(modules, m.encoder, m.decoder)
	}
	m.output = nn.NewLinear("decoder.output", H, cfg.TgtVocab, true, seed)
	modules = append(modules, m.output)
	if cfg.Copy && m.attend {
		m.copyGate = nn.NewLinear("decoder.copy_gate", H+2*H+E, 1, true, seed)
		modules = append(modules, m.copyGate)
	}
	ps, err := nn.Collect(modules...)
	if err != nil {
		panic("model: " + err.Error()) // the names above are fixed and distinct
	}
	m.params = ps
	return m
}

// Config is the configuration the model was built from.
func (m *Recurrent) Config() Config { return m.cfg }

// Params returns every trainable tensor: src_embed, tgt_embed, encoder.rnn,
// (rnnsearch: decoder.bridge, decoder.attention,) decoder.rnn,
// (rnnsearch: decoder.readout,) decoder.output (, copy attention:
// decoder.copy_gate).
func (m *Recurrent) Params() []*tensor.Tensor { return m.params }

// sourceIDs returns b's source ids as the encoder reads them: each row's
// real tokens reversed when the configuration asks for it (Sutskever et al.
// 2014, §3.3), the padding left at the end.
func (m *Recurrent) sourceIDs(b *batch.Batch) []int32 {
	if !m.cfg.ReverseSource {
		return b.Src
	}
	ids := make([]int32, len(b.Src))
	for r := 0; r < b.B; r++ {
		row, n := b.Src[r*b.S:(r+1)*b.S], b.SrcLen[r]
		for j := 0; j < n; j++ {
			ids[r*b.S+j] = row[n-1-j]
		}
	}
	return ids
}

// encoded is the encoder's output on a graph.
type encoded struct {
	init nn.LSTMState   // the decoder's initial state: per layer h, c (B, H); a nil c is zeros
	ann  *tensor.Tensor // rnnsearch: annotations h_j (B, S, 2H)
	keys *tensor.Tensor // rnnsearch: U_a h_j (B, S, A)
	pad  []bool         // rnnsearch: (B, S), true at padding
}

// encode runs the encoder over b's sources.
func (m *Recurrent) encode(g *tensor.Graph, b *batch.Batch) encoded {
	if b.S == 0 {
		panic("model: a batch of empty sources")
	}
	x := m.drop.Forward(g, m.srcEmb.Forward(g, m.sourceIDs(b), b.B, b.S)) // (B, S, E)
	out, final := m.encoder.Forward(g, x, b.SrcLen, nil)                  // (B, S, dirs·H)
	if !m.attend {
		// Sutskever et al.: the encoder's last (h, c) of every layer is the
		// decoder's first.
		return encoded{init: final}
	}
	H, L := m.cfg.Hidden, m.cfg.Layers
	// s_0 = tanh(W_s ←h_1): the top layer's backward state after reading
	// the whole source down to its first token.
	s0 := g.Tanh(m.bridge.Forward(g, final.H[2*(L-1)+1])) // (B, L·H)
	init := nn.LSTMState{H: make([]*tensor.Tensor, L), C: make([]*tensor.Tensor, L)}
	for l := range L {
		init.H[l] = s0
		if L > 1 {
			init.H[l] = g.Slice(s0, 1, l*H, (l+1)*H)
		}
	}
	return encoded{init: init, ann: out, keys: m.attention.PrecomputeKeys(g, out), pad: b.SrcPad()}
}

// attendStep is one decoder step of rnnsearch: prev (B, E) the embedded previous
// token, st the state s_{i−1}, attend the attention from s_{i−1} (B, H) to
// the context c_i (B, 2H) and α_i (B, S). It returns s_i, the readout input
// [s_i; c_i; E y_{i−1}] (B, 3H+E) and α_i.
func (m *Recurrent) attendStep(g *tensor.Graph, prev *tensor.Tensor, st nn.LSTMState, attend func(query *tensor.Tensor) (ctx, alpha *tensor.Tensor)) (nn.LSTMState, *tensor.Tensor, *tensor.Tensor) {
	ctx, alpha := attend(st.Top())
	next := m.decoder.Step(g, g.Concat(1, prev, ctx), st)
	return next, g.Concat(1, next.Top(), ctx, prev), alpha
}

// logits maps decoder features to output scores: for seq2seq the top
// hidden states (…, H), for rnnsearch the readout inputs (…, 3H+E).
func (m *Recurrent) logits(g *tensor.Graph, feat *tensor.Tensor) *tensor.Tensor {
	if m.attend {
		feat = g.Tanh(m.readout.Forward(g, feat))
	}
	return m.output.Forward(g, m.drop.Forward(g, feat))
}

// Forward returns the logits (B·T, V) of every target position, rows in
// (b, t) order as b.TgtOut, decoding TgtIn with teacher forcing; with copy
// attention, the log-probabilities of the mixed distribution.
func (m *Recurrent) Forward(g *tensor.Graph, b *batch.Batch) *tensor.Tensor {
	enc := m.encode(g, b)
	B, T, V := b.B, b.T, m.cfg.TgtVocab
	if !m.attend {
		// The decoder is an LSTM over the whole shifted target, started
		// from the encoder's state.
		y := m.drop.Forward(g, m.tgtEmb.Forward(g, b.TgtIn, B, T)) // (B, T, E)
		s, _ := m.decoder.Forward(g, y, nil, &enc.init)            // (B, T, H)
		return g.Reshape(m.logits(g, s), B*T, V)
	}
	// rnnsearch: the query of step i is s_{i−1}, so the steps run one by
	// one; the readout and output layers then run over all steps at once.
	st := enc.init
	feats := make([]*tensor.Tensor, T)
	alphas := make([]*tensor.Tensor, T)
	ids := make([]int32, B)
	for t := range T {
		for r := range B {
			ids[r] = b.TgtIn[r*T+t]
		}
		prev := m.drop.Forward(g, m.tgtEmb.Forward(g, ids, B)) // (B, E)
		var f, alpha *tensor.Tensor
		st, f, alpha = m.attendStep(g, prev, st, func(q *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
			return m.attention.Forward(g, q, enc.keys, enc.ann, enc.pad)
		})
		feats[t] = g.Reshape(f, B, 1, f.Shape[1])
		alphas[t] = g.Reshape(alpha, B, 1, b.S)
	}
	feat := g.Concat(1, feats...)                  // (B, T, 3H+E)
	logits := g.Reshape(m.logits(g, feat), B*T, V) // (B, T, ·) → (B·T, V)
	if m.copyGate == nil {
		return logits
	}
	gate := g.Reshape(m.copyGate.Forward(g, feat), B*T, 1) // scores of p_gen
	alpha := g.Reshape(g.Concat(1, alphas...), B*T, b.S)   // copy distribution α_i
	return g.CopyMix(logits, gate, alpha, m.sourceIDs(b), outputRows(B, T))
}

// outputRows maps each of the B·T output rows of a teacher-forced pass to
// its source row: row b·T+t copies from source b.
func outputRows(B, T int) []int {
	rows := make([]int, B*T)
	for i := range rows {
		rows[i] = i / T
	}
	return rows
}

// Start encodes b's sources and returns their decoding state, one row per
// source. g is set to inference (no gradients, no dropout) and belongs to
// the state from now on: every Step resets it.
func (m *Recurrent) Start(g *tensor.Graph, b *batch.Batch) (Decoder, error) {
	if b.B == 0 {
		return nil, errors.New("model: no sources to decode")
	}
	if b.S == 0 {
		return nil, errors.New("model: every source is empty")
	}
	for r, id := range b.Src {
		if id < 0 || int(id) >= m.cfg.SrcVocab {
			return nil, fmt.Errorf("model: source %d has token id %d outside the vocabulary of %d", r/b.S, id, m.cfg.SrcVocab)
		}
	}
	g.SetNoGrad(true)
	g.SetTraining(false)
	g.Reset()
	enc := m.encode(g, b)
	H, L := m.cfg.Hidden, m.cfg.Layers
	s := &recurrentState{m: m, g: g, rows: b.B, S: b.S}
	s.h = make([]rowBuf, L)
	s.c = make([]rowBuf, L)
	for l := range L {
		s.h[l] = newRowBuf(b.B, H, enc.init.H[l])
		s.c[l] = newRowBuf(b.B, H, enc.init.C[l])
	}
	if m.attend {
		s.B = b.B
		s.ann = append([]float32(nil), enc.ann.Data...)
		s.keys = append([]float32(nil), enc.keys.Data...)
		s.alpha = newRowBuf(b.B, b.S, nil)
		s.pad = enc.pad
		s.srcLen = append([]int(nil), b.SrcLen...)
		if m.copyGate != nil {
			s.src = append([]int32(nil), m.sourceIDs(b)...)
			s.pcopy = newRowBuf(b.B, 1, nil)
		}
		s.origin = make([]int, b.B)
		for i := range s.origin {
			s.origin[i] = i
		}
	}
	g.Reset()
	return s, nil
}

// rowBuf is a per-row buffer on the heap, outside any graph: rows of width
// floats, with a spare of the same kind that Select gathers into.
type rowBuf struct {
	cur, spare []float32
	width      int
}

// newRowBuf copies t's data (rows × width), or zeros if t is nil.
func newRowBuf(rows, width int, t *tensor.Tensor) rowBuf {
	r := rowBuf{cur: make([]float32, rows*width), width: width}
	if t != nil {
		copy(r.cur, t.Data)
	}
	return r
}

// gather makes new row i a copy of old row rows[i].
func (r *rowBuf) gather(rows []int32) {
	w := r.width
	need := len(rows) * w
	if cap(r.spare) < need {
		r.spare = make([]float32, need)
	}
	dst := r.spare[:need]
	for i, o := range rows {
		copy(dst[i*w:(i+1)*w], r.cur[int(o)*w:(int(o)+1)*w])
	}
	r.cur, r.spare = dst, r.cur
}

// recurrentState decodes step by step. Everything a later step needs lives
// in heap buffers, one row per hypothesis: the decoder's h and c of every
// layer and, for rnnsearch, the last step's α. rnnsearch's annotations,
// their precomputed keys U_a h_j, the source padding and lengths belong to
// the sources: they stay per batch row, reached through origin, so a beam's
// hypotheses share them and Select never copies them. Each Step resets the
// graph and wraps these buffers as constant tensors, so memory stays what
// one step needs however long the output grows.
type recurrentState struct {
	m    *Recurrent
	g    *tensor.Graph
	rows int
	S    int // padded source length

	h, c []rowBuf // per layer (rows, H)

	B         int       // sources
	ann, keys []float32 // (B, S, 2H), (B, S, A), by batch row
	pad       []bool    // (B, S), by batch row
	srcLen    []int     // (B), by batch row
	origin    []int     // (rows): the batch row each hypothesis decodes
	alpha     rowBuf    // (rows, S)
	src       []int32   // copy attention: (B, S) the source ids as the encoder read them, by batch row
	pcopy     rowBuf    // copy attention: (rows, 1) the last step's 1 − p_gen

	logp    []float32 // (rows, V), returned by Step
	stepped bool      // alpha holds a step's weights
}

// VocabSize is the target vocabulary size.
func (s *recurrentState) VocabSize() int { return s.m.cfg.TgtVocab }

// Step feeds one token per row and returns the next token's
// log-probabilities (rows × V), valid until the next Step or Select.
func (s *recurrentState) Step(tokens []int32) ([]float32, error) {
	if len(tokens) != s.rows {
		return nil, fmt.Errorf("model: %d tokens for %d rows", len(tokens), s.rows)
	}
	m, g := s.m, s.g
	V, H, L := m.cfg.TgtVocab, m.cfg.Hidden, m.cfg.Layers
	for i, t := range tokens {
		if t < 0 || int(t) >= V {
			return nil, fmt.Errorf("model: token %d of row %d outside the vocabulary of %d", t, i, V)
		}
	}
	g.Reset()
	if s.rows == 0 {
		s.logp = s.logp[:0]
		return s.logp, nil
	}
	st := nn.LSTMState{H: make([]*tensor.Tensor, L), C: make([]*tensor.Tensor, L)}
	for l := range L {
		st.H[l] = tensor.FromData(s.h[l].cur, s.rows, H)
		st.C[l] = tensor.FromData(s.c[l].cur, s.rows, H)
	}
	prev := m.drop.Forward(g, m.tgtEmb.Forward(g, tokens, s.rows)) // (rows, E); no dropout at inference
	var feat, alpha *tensor.Tensor
	if m.attend {
		ann := tensor.FromData(s.ann, s.B, s.S, 2*H)
		keys := tensor.FromData(s.keys, s.B, s.S, m.cfg.AttnDim)
		st, feat, alpha = m.attendStep(g, prev, st, func(q *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
			return m.attention.ForwardShared(g, q, keys, ann, s.pad, s.origin)
		})
	} else {
		st = m.decoder.Step(g, prev, st)
		feat = st.Top()
	}
	var lp *tensor.Tensor // (rows, V)
	if m.copyGate != nil {
		gate := m.copyGate.Forward(g, feat) // (rows, 1)
		lp = g.CopyMix(m.logits(g, feat), gate, alpha, s.src, s.origin)
		for r, x := range gate.Data {
			s.pcopy.cur[r] = 1 / (1 + float32(math.Exp(float64(x)))) // 1 − σ(x)
		}
	} else {
		lp = g.LogSoftmax(m.logits(g, feat), nil)
	}
	// Keep what the next step needs before the graph is reset.
	for l := range L {
		copy(s.h[l].cur, st.H[l].Data)
		copy(s.c[l].cur, st.C[l].Data)
	}
	if alpha != nil {
		copy(s.alpha.cur, alpha.Data)
		s.stepped = true
	}
	s.logp = append(s.logp[:0], lp.Data...)
	return s.logp, nil
}

// Select keeps old row rows[i] as new row i; rows may repeat or be left
// out.
func (s *recurrentState) Select(rows []int32) {
	for _, r := range rows {
		if r < 0 || int(r) >= s.rows {
			panic(fmt.Sprintf("model: Select of row %d among %d", r, s.rows))
		}
	}
	for l := range s.h {
		s.h[l].gather(rows)
		s.c[l].gather(rows)
	}
	if s.m.attend {
		s.alpha.gather(rows)
		if s.m.copyGate != nil {
			s.pcopy.gather(rows)
		}
		origin := make([]int, len(rows))
		for i, r := range rows {
			origin[i] = s.origin[r]
		}
		s.origin = origin
	}
	s.rows = len(rows)
}

// LastAttention returns RNNsearch's alignment α of row r at the last Step,
// over the row's real source tokens (nil for seq2seq, or before the first
// Step); with copy attention α is also the copy distribution, and the map
// carries the step's probability of copying. The weights alias the state's
// buffer: they stay valid until the next Step or Select.
func (s *recurrentState) LastAttention(row int) []search.Map {
	if !s.m.attend || !s.stepped || row < 0 || row >= s.rows {
		return nil
	}
	n := s.srcLen[s.origin[row]]
	mp := search.Map{Name: "attention", Heads: 1, Keys: n, Weights: s.alpha.cur[row*s.S : row*s.S+n]}
	if s.m.copyGate != nil {
		mp.Copies, mp.PCopy = true, s.pcopy.cur[row]
	}
	return []search.Map{mp}
}

// EncoderAttention is nil: the recurrent encoders have no self-attention.
func (s *recurrentState) EncoderAttention(int) []search.Map { return nil }
