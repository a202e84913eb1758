package search

import (
	"hash/fnv"
	"math"
	"slices"
	"testing"
)

// toyModel is a deterministic autoregressive "model": the next-token
// distribution is a pseudo-random function of the source id and the prefix,
// so the search's bookkeeping (rows, Select, finishing) is what is tested.
type toyModel struct {
	V       int
	eosBias float32 // added to EOS's logit per generated token, so sequences end
	rows    []toyRow
	out     []float32
	steps   int
}

type toyRow struct {
	src    int
	prefix []int32
}

func newToy(V int, srcs []int) *toyModel {
	m := &toyModel{V: V, eosBias: 0.7}
	for _, s := range srcs {
		m.rows = append(m.rows, toyRow{src: s})
	}
	return m
}

func (m *toyModel) VocabSize() int { return m.V }

func (m *toyModel) Select(rows []int32) {
	next := make([]toyRow, len(rows))
	for i, r := range rows {
		next[i] = toyRow{src: m.rows[r].src, prefix: slices.Clone(m.rows[r].prefix)}
	}
	m.rows = next
}

func (m *toyModel) Step(tokens []int32) ([]float32, error) {
	m.steps++
	if len(tokens) != len(m.rows) {
		panic("toyModel: token count differs from rows")
	}
	m.out = m.out[:0]
	for i := range m.rows {
		r := &m.rows[i]
		r.prefix = append(r.prefix, tokens[i])
		logits := make([]float64, m.V)
		for v := range logits {
			h := fnv.New64a()
			var buf [8]byte
			for _, x := range append([]int32{int32(r.src)}, r.prefix...) {
				buf[0], buf[1], buf[2], buf[3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
				h.Write(buf[:4])
			}
			buf[0] = byte(v)
			h.Write(buf[:1])
			logits[v] = float64(h.Sum64()%1000) / 250
		}
		logits[2] += float64(m.eosBias) * float64(len(r.prefix)) // EOS (id 2) grows likelier
		logits[0], logits[1] = math.Inf(-1), math.Inf(-1)        // PAD and BOS are never produced
		var z float64
		mx := math.Inf(-1)
		for _, l := range logits {
			mx = math.Max(mx, l)
		}
		for _, l := range logits {
			z += math.Exp(l - mx)
		}
		for _, l := range logits {
			m.out = append(m.out, float32(l-mx-math.Log(z)))
		}
	}
	return m.out, nil
}

// LastAttention reports a one-key "map" holding the row's source id and
// prefix length, so a test can check which step and row it came from.
func (m *toyModel) LastAttention(row int) []Map {
	r := m.rows[row]
	return []Map{{Name: "toy", Heads: 1, Keys: 2, Weights: []float32{float32(r.src), float32(len(r.prefix))}}}
}

var sp = Special{BOS: 1, EOS: 2}

func decode(t *testing.T, srcs []int, opt Options) [][]Hypothesis {
	t.Helper()
	out, err := Decode(newToy(7, srcs), len(srcs), sp, opt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBeamOneEqualsGreedy(t *testing.T) {
	srcs := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	g := decode(t, srcs, Options{MaxLen: 12})
	b := decode(t, srcs, Options{MaxLen: 12, Beam: 1})
	for i := range srcs {
		if !slices.Equal(g[i][0].Tokens, b[i][0].Tokens) || g[i][0].LogProb != b[i][0].LogProb {
			t.Errorf("src %d: greedy %v (%g), beam 1 %v (%g)", i, g[i][0].Tokens, g[i][0].LogProb, b[i][0].Tokens, b[i][0].LogProb)
		}
	}
	// Beam 1 through the beam code path itself (Decode sends Beam 1 to greedy).
	for i, s := range srcs {
		out, err := beam(newToy(7, []int{s}), 1, sp, Options{MaxLen: 12, Beam: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out[0][0].Tokens, g[i][0].Tokens) || math.Abs(out[0][0].LogProb-g[i][0].LogProb) > 1e-9 {
			t.Errorf("src %d: beam code with K=1 gives %v, greedy %v", s, out[0][0].Tokens, g[i][0].Tokens)
		}
	}
}

func TestBatchedEqualsOneByOne(t *testing.T) {
	srcs := []int{3, 1, 4, 1, 5, 9, 2, 6}
	for _, opt := range []Options{
		{MaxLen: 10},
		{MaxLen: 10, Beam: 4, NBest: 3, LengthPenalty: 0.6},
		{MaxLen: 10, Sample: true, TopK: 3, Seed: 5, Temperature: 1},
		{MaxLen: 10, Sample: true, NBest: 3, Seed: 5, Temperature: 1.5},
	} {
		all := decode(t, srcs, opt)
		for i, s := range srcs {
			alone := opt
			alone.Lines = []int{i} // a sampled source's stream follows its line, not its batch
			one := decode(t, []int{s}, alone)
			if len(one[0]) != len(all[i]) {
				t.Fatalf("opt %+v src %d: %d hypotheses alone, %d in a batch", opt, s, len(one[0]), len(all[i]))
			}
			for j := range one[0] {
				if !slices.Equal(one[0][j].Tokens, all[i][j].Tokens) || one[0][j].Score != all[i][j].Score {
					t.Errorf("opt %+v src %d hyp %d: alone %v, batched %v", opt, s, j, one[0][j].Tokens, all[i][j].Tokens)
				}
			}
		}
	}
}

// exhaustive enumerates every sequence up to maxLen steps and returns the
// most probable finished one.
func exhaustive(src, V, maxLen int) (best []int32, bestLP float64) {
	bestLP = math.Inf(-1)
	var rec func(prefix []int32, lp float64)
	rec = func(prefix []int32, lp float64) {
		if len(prefix) == maxLen {
			return
		}
		m := newToy(V, []int{src})
		var logp []float32
		for _, tok := range append([]int32{sp.BOS}, prefix...) {
			logp, _ = m.Step([]int32{tok})
		}
		for v := 2; v < V; v++ {
			l := lp + float64(logp[v])
			if int32(v) == sp.EOS {
				if l > bestLP {
					best, bestLP = slices.Clone(prefix), l
				}
				continue
			}
			rec(append(slices.Clone(prefix), int32(v)), l)
		}
	}
	rec(nil, 0)
	return best, bestLP
}

func TestWideBeamFindsTheMostProbableSequence(t *testing.T) {
	const V, maxLen = 5, 5
	for src := 0; src < 6; src++ {
		want, wantLP := exhaustive(src, V, maxLen)
		out, err := Decode(newToy(V, []int{src}), 1, sp, Options{MaxLen: maxLen, Beam: 200})
		if err != nil {
			t.Fatal(err)
		}
		h := out[0][0]
		if !h.Finished || !slices.Equal(h.Tokens, want) || math.Abs(h.LogProb-wantLP) > 1e-5 {
			t.Errorf("src %d: beam %v (%.5f), exhaustive %v (%.5f)", src, h.Tokens, h.LogProb, want, wantLP)
		}
	}
}

func TestNBestIsSortedAndDistinct(t *testing.T) {
	out := decode(t, []int{0, 1, 2}, Options{MaxLen: 10, Beam: 5, NBest: 5, LengthPenalty: 1})
	for s, hs := range out {
		if len(hs) != 5 {
			t.Fatalf("src %d: %d hypotheses, want 5", s, len(hs))
		}
		for i := 1; i < len(hs); i++ {
			if hs[i].Score > hs[i-1].Score {
				t.Errorf("src %d: scores not descending: %g then %g", s, hs[i-1].Score, hs[i].Score)
			}
			for j := 0; j < i; j++ {
				if slices.Equal(hs[i].Tokens, hs[j].Tokens) {
					t.Errorf("src %d: hypothesis %v twice", s, hs[i].Tokens)
				}
			}
		}
		for _, h := range hs {
			var sum float64
			for _, lp := range h.TokenLP {
				sum += float64(lp)
			}
			if math.Abs(sum-h.LogProb) > 1e-4 {
				t.Errorf("token log-probs sum to %g, LogProb %g", sum, h.LogProb)
			}
			if want := h.LogProb / math.Pow((5+float64(len(h.TokenLP)))/6, 1); math.Abs(h.Score-want) > 1e-9 {
				t.Errorf("score %g, want %g", h.Score, want)
			}
		}
	}
}

func TestSampling(t *testing.T) {
	srcs := []int{0, 1, 2, 3}
	greedyOut := decode(t, srcs, Options{MaxLen: 10})
	// top-1 sampling and a near-zero temperature are greedy.
	for _, opt := range []Options{{MaxLen: 10, Sample: true, TopK: 1}, {MaxLen: 10, Sample: true, Temperature: 1e-4}} {
		out := decode(t, srcs, opt)
		for i := range srcs {
			if !slices.Equal(out[i][0].Tokens, greedyOut[i][0].Tokens) {
				t.Errorf("%+v: src %d sampled %v, greedy %v", opt, i, out[i][0].Tokens, greedyOut[i][0].Tokens)
			}
		}
	}
	a := decode(t, srcs, Options{MaxLen: 10, Sample: true, NBest: 4, Seed: 3, Temperature: 1})
	b := decode(t, srcs, Options{MaxLen: 10, Sample: true, NBest: 4, Seed: 3, Temperature: 1})
	c := decode(t, srcs, Options{MaxLen: 10, Sample: true, NBest: 4, Seed: 4, Temperature: 1})
	same, differ := true, false
	for i := range srcs {
		if len(a[i]) != 4 {
			t.Fatalf("src %d: %d samples, want 4", i, len(a[i]))
		}
		for j := range a[i] {
			same = same && slices.Equal(a[i][j].Tokens, b[i][j].Tokens)
			differ = differ || !slices.Equal(a[i][j].Tokens, c[i][j].Tokens)
		}
	}
	if !same {
		t.Error("sampling with the same seed gave different outputs")
	}
	if !differ {
		t.Error("sampling with another seed gave the same 16 samples")
	}
}

func TestMaxLenLeavesHypothesesUnfinished(t *testing.T) {
	m := newToy(7, []int{0})
	m.eosBias = -100 // EOS never wins
	out, err := Decode(m, 1, sp, Options{MaxLen: 4, Beam: 3, NBest: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range out[0] {
		if h.Finished || len(h.Tokens) != 4 {
			t.Errorf("got %+v, want 4 unfinished tokens", h)
		}
	}
	if _, err := Decode(newToy(7, []int{0}), 1, sp, Options{}); err == nil {
		t.Error("MaxLen 0 accepted")
	}
	if _, err := Decode(newToy(7, []int{0}), 1, sp, Options{MaxLen: 5, NBest: 2}); err == nil {
		t.Error("greedy with NBest 2 accepted")
	}
}

func TestAttentionFollowsTheHypothesis(t *testing.T) {
	for _, opt := range []Options{{MaxLen: 8, Attention: true}, {MaxLen: 8, Beam: 3, Attention: true}} {
		out := decode(t, []int{4, 7}, opt)
		for s, hs := range out {
			h := hs[0]
			if len(h.Attention) != len(h.TokenLP) {
				t.Fatalf("%d attention steps for %d tokens", len(h.Attention), len(h.TokenLP))
			}
			for step, maps := range h.Attention {
				w := maps[0].Weights
				if int(w[0]) != []int{4, 7}[s] || int(w[1]) != step+1 {
					t.Errorf("beam %d src %d step %d: attention came from src %g step %g", opt.Beam, s, step, w[0], w[1]-1)
				}
			}
		}
	}
}

func TestGreedyDropsFinishedRows(t *testing.T) {
	m := newToy(7, []int{0, 1, 2, 3, 4, 5, 6, 7})
	out, err := Decode(m, 8, sp, Options{MaxLen: 30})
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, hs := range out {
		longest = max(longest, len(hs[0].TokenLP))
	}
	if m.steps != longest {
		t.Errorf("%d steps for a longest output of %d", m.steps, longest)
	}
	if len(m.rows) >= 8 {
		t.Errorf("finished rows were kept: %d rows at the end", len(m.rows))
	}
}
