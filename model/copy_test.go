package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/internal/gradcheck"
	"github.com/qkv-dev/qkv/optim"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// copyConfigs are small copy-attention models of both architectures that
// support it, over one vocabulary of V ids, with dropout (which inference
// must switch off).
func copyConfigs(V int) map[string]Config {
	return map[string]Config{
		ArchRNNSearch: {Arch: ArchRNNSearch, SrcVocab: V, TgtVocab: V, Embed: 8, Hidden: 12, Layers: 2, AttnDim: 10, Dropout: 0.3, Copy: true, Seed: 5},
		ArchTransformer: {Arch: ArchTransformer, SrcVocab: V, TgtVocab: V, DModel: 16, Heads: 4, EncLayers: 2, DecLayers: 2, DFF: 32, MaxLen: 40,
			Dropout: 0.3, AttnDropout: 0.3, Copy: true, Seed: 5},
	}
}

func newModel(t testing.TB, cfg Config) Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyMap returns the one map of maps that carries the copy distribution.
func copyMap(t *testing.T, maps []search.Map) search.Map {
	t.Helper()
	var found []search.Map
	for _, m := range maps {
		if m.Copies {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d maps carry the copy distribution, want 1: %+v", len(found), maps)
	}
	return found[0]
}

// TestCopyIncrementalEqualsForward decodes the teacher-forced targets step
// by step and compares every step's log-probabilities with Forward's (the
// mixture's log-probabilities, rows that sum to one), and checks that each
// step reports its copy probability on the map it copied through.
func TestCopyIncrementalEqualsForward(t *testing.T) {
	for arch, cfg := range copyConfigs(13) {
		t.Run(arch, func(t *testing.T) {
			m := newModel(t, cfg)
			b := recBatch(t, 6, cfg.SrcVocab, 1)
			V := cfg.TgtVocab
			g := tensor.NewGraph(1)
			g.SetTraining(false)
			g.SetNoGrad(true)
			full := slices.Clone(m.Forward(g, b).Data) // (B·T, V)
			for n := range b.B * b.T {
				var s float64
				for _, l := range full[n*V : (n+1)*V] {
					s += math.Exp(float64(l))
				}
				if math.Abs(s-1) > 1e-4 {
					t.Fatalf("Forward row %d: probabilities sum to %g, want log-probabilities of a distribution", n, s)
				}
			}
			st, err := m.Start(tensor.NewGraph(2), b)
			if err != nil {
				t.Fatal(err)
			}
			tokens := make([]int32, b.B)
			for pos := 0; pos < b.T; pos++ {
				for r := range tokens {
					tokens[r] = b.TgtIn[r*b.T+pos]
				}
				lp, err := st.Step(tokens)
				if err != nil {
					t.Fatal(err)
				}
				for r := 0; r < b.B; r++ {
					if pos >= b.TgtLen[r] {
						continue // padding inputs past this row's target
					}
					for v := 0; v < V; v++ {
						w := full[(r*b.T+pos)*V+v]
						if d := math.Abs(float64(lp[r*V+v] - w)); d > 1e-4*(1+math.Abs(float64(w))) {
							t.Fatalf("row %d position %d token %d: step %g, forward %g", r, pos, v, lp[r*V+v], w)
						}
					}
					cm := copyMap(t, st.LastAttention(r))
					if !(cm.PCopy > 0 && cm.PCopy < 1) || cm.Keys != b.SrcLen[r] {
						t.Fatalf("row %d: copy map %s with P(copy) %g over %d keys, want in (0, 1) over %d", r, cm.Name, cm.PCopy, cm.Keys, b.SrcLen[r])
					}
				}
			}
		})
	}
}

// TestCopyMixesAsSpecified recomputes one decoding step's distribution from
// what the state reports (P(copy) and the copy map's head mean) and the
// same model without its copy gate's say: log P(w) must be
// log(p_gen·P_vocab(w) + (1 − p_gen)·Σ_{i: x_i = w} a_i). P_vocab comes
// from a twin model whose gate is pushed to p_gen = 1.
func TestCopyMixesAsSpecified(t *testing.T) {
	for arch, cfg := range copyConfigs(11) {
		t.Run(arch, func(t *testing.T) {
			m, gen := newModel(t, cfg), newModel(t, cfg)
			for _, p := range gen.Params() {
				if strings.HasPrefix(p.Name, "decoder.copy_gate") {
					clear(p.Data)
					if strings.HasSuffix(p.Name, "bias") {
						p.Data[0] = 60 // σ(60) = 1 in float32
					}
				}
			}
			src := []int32{5, 7, 5, 9, 4}
			V := cfg.TgtVocab
			st, lp := recAlone(t, m, src, []int32{batch.BOS, 7})
			_, pv := recAlone(t, gen, src, []int32{batch.BOS, 7})
			cm := copyMap(t, st.(search.Attender).LastAttention(0))
			a := make([]float64, cm.Keys) // the head mean
			for h := range cm.Heads {
				for j := range cm.Keys {
					a[j] += float64(cm.Weights[h*cm.Keys+j]) / float64(cm.Heads)
				}
			}
			pc := float64(cm.PCopy)
			for w := range V {
				want := (1 - pc) * math.Exp(float64(pv[w]))
				for i, x := range src {
					if int(x) == w {
						want += pc * a[i]
					}
				}
				if d := math.Abs(float64(lp[w]) - math.Log(want)); d > 1e-4 {
					t.Errorf("token %d: log P %g, want %g", w, lp[w], math.Log(want))
				}
			}
		})
	}
}

// TestCopySelect steps a batch, rebuilds its rows with repeats and drops
// (as beam search does), steps on, and compares every row's
// log-probabilities and copy probability with decoding its source alone.
func TestCopySelect(t *testing.T) {
	for arch, cfg := range copyConfigs(13) {
		t.Run(arch, func(t *testing.T) {
			m := newModel(t, cfg)
			V := cfg.TgtVocab
			srcs := [][]int32{{4, 5, 6}, {7}, {8, 9, 10, 4, 5, 6, 7}, {5, 5}}
			st, err := m.Start(tensor.NewGraph(3), batch.Sources(srcs))
			if err != nil {
				t.Fatal(err)
			}
			type row struct {
				src  int
				toks []int32
			}
			rows := []row{{0, nil}, {1, nil}, {2, nil}, {3, nil}}
			feed := func(tokens []int32) []float32 {
				for i := range rows {
					rows[i].toks = append(slices.Clone(rows[i].toks), tokens[i])
				}
				lp, err := st.Step(tokens)
				if err != nil {
					t.Fatal(err)
				}
				return lp
			}
			sel := func(keep []int32) {
				st.Select(keep)
				next := make([]row, len(keep))
				for i, k := range keep {
					next[i] = rows[k]
				}
				rows = next
			}
			feed([]int32{1, 1, 1, 1})
			feed([]int32{4, 7, 9, 12})
			sel([]int32{2, 0, 2, 3, 2})
			feed([]int32{5, 6, 7, 8, 9})
			sel([]int32{4, 1, 0})
			// The copy probabilities after a Select, before the next step,
			// are those of the rows selected.
			for i, r := range rows {
				alone, _ := recAlone(t, m, srcs[r.src], r.toks)
				got, want := copyMap(t, st.LastAttention(i)).PCopy, copyMap(t, alone.(search.Attender).LastAttention(0)).PCopy
				if math.Abs(float64(got-want)) > 1e-5 {
					t.Fatalf("after Select, row %d: P(copy) %g, alone %g", i, got, want)
				}
			}
			lp := feed([]int32{10, 11, 4})
			for i, r := range rows {
				alone, want := recAlone(t, m, srcs[r.src], r.toks)
				for v := range V {
					if d := math.Abs(float64(lp[i*V+v] - want[v])); d > 1e-5 {
						t.Fatalf("row %d (source %d, tokens %v) token %d: batched %g, alone %g", i, r.src, r.toks, v, lp[i*V+v], want[v])
					}
				}
				got, exp := copyMap(t, st.LastAttention(i)).PCopy, copyMap(t, alone.(search.Attender).LastAttention(0)).PCopy
				if math.Abs(float64(got-exp)) > 1e-5 {
					t.Fatalf("row %d: P(copy) %g, alone %g", i, got, exp)
				}
			}
		})
	}
}

// TestCopyGradients checks the gradient of the whole label-smoothed loss
// of a copy model, with dropout and padding, against finite differences
// for every parameter.
func TestCopyGradients(t *testing.T) {
	cfgs := map[string]Config{
		ArchRNNSearch: {Arch: ArchRNNSearch, SrcVocab: 7, TgtVocab: 7, Embed: 3, Hidden: 4, Layers: 2, AttnDim: 3, Dropout: 0.2, Copy: true, Seed: 3},
		ArchTransformer: {Arch: ArchTransformer, SrcVocab: 7, TgtVocab: 7, DModel: 8, Heads: 2, EncLayers: 1, DecLayers: 2, DFF: 12, MaxLen: 16,
			GELU: true, Dropout: 0.2, AttnDropout: 0.2, FinalNorm: true, Copy: true, Seed: 3},
	}
	for arch, cfg := range cfgs {
		t.Run(arch, func(t *testing.T) {
			m := newModel(t, cfg)
			b := recBatch(t, 3, 7, 4)
			gradcheck.Check(t, arch, m.Params(), func(g *tensor.Graph, _ []*tensor.Tensor) *tensor.Tensor {
				return g.CrossEntropy(m.Forward(g, b), b.TgtOut, batch.PAD, 0.1)
			}, gradcheck.Options{Seed: 9})
		})
	}
}

// TestCopyConfig: copy is refused where it cannot work, and a model
// without it is what it was before copy attention existed: no "copy" key
// in its config.json, no copy_gate parameter.
func TestCopyConfig(t *testing.T) {
	bad := []Config{
		{Arch: ArchSeq2Seq, SrcVocab: 9, TgtVocab: 9, Embed: 4, Hidden: 4, Layers: 1, Copy: true},
		{Arch: ArchRNNSearch, SrcVocab: 9, TgtVocab: 10, Embed: 4, Hidden: 4, Layers: 1, AttnDim: 4, Copy: true},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "copy") {
			t.Errorf("%+v: Validate gave %v, want an error about copy", c, err)
		}
	}
	for arch, cfg := range copyConfigs(9) {
		cfg.Copy = false
		raw, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "copy") {
			t.Errorf("%s: config without copy attention is written as %s", arch, raw)
		}
		var back Config
		if err := json.Unmarshal(raw, &back); err != nil || back != cfg {
			t.Errorf("%s: config read back as %+v (%v)", arch, back, err)
		}
		for _, p := range newModel(t, cfg).Params() {
			if strings.Contains(p.Name, "copy") {
				t.Errorf("%s: a model without copy attention has parameter %s", arch, p.Name)
			}
		}
	}
}

// rareCopyTask draws n examples of a task only copying can learn from few
// examples: the source is 5–8 tokens, common filler words (ids 4..13) with
// two or three identifiers from a pool of `pool` rare ids (14..) at random
// places; the target is the identifiers in source order. With 800
// training examples over a pool of 1000, each identifier occurs about twice
// in training; a model without copying must learn every identifier's
// output embedding from those, a copying model only where to point.
func rareCopyTask(rng *rand.Rand, n, pool int) []batch.Example {
	const filler = 10
	ex := make([]batch.Example, n)
	for e := range ex {
		L := 5 + rng.IntN(4)
		src := make([]int32, L)
		for i := range src {
			src[i] = int32(recSpecials + rng.IntN(filler))
		}
		k := 2 + rng.IntN(2)
		var tgt []int32
		for _, i := range rng.Perm(L)[:k] {
			src[i] = int32(recSpecials + filler + rng.IntN(pool))
		}
		for _, x := range src {
			if x >= recSpecials+filler {
				tgt = append(tgt, x)
			}
		}
		ex[e] = batch.Example{Src: src, Tgt: tgt}
	}
	return ex
}

// TestCopyLearnsRareTokens trains the same RNNsearch with and without copy
// attention for the same steps on rareCopyTask and compares exact
// outputs on held-out examples: copying must win by a wide margin.
func TestCopyLearnsRareTokens(t *testing.T) {
	const pool, steps = 1000, 300
	V := recSpecials + 10 + pool
	rng := rand.New(rand.NewPCG(21, 5))
	train := rareCopyTask(rng, 800, pool)
	test := rareCopyTask(rng, 300, pool)
	acc := map[bool]float64{}
	for _, withCopy := range []bool{false, true} {
		start := time.Now()
		cfg := Config{Arch: ArchRNNSearch, SrcVocab: V, TgtVocab: V, Embed: 32, Hidden: 64, Layers: 1, AttnDim: 32, Copy: withCopy, Seed: 1}
		m := newModel(t, cfg)
		fitSteps(t, m, train, steps, 3e-3)
		acc[withCopy] = recAccuracy(t, m, test)
		t.Logf("copy %v: held-out exact %.3f after %d steps (%v)", withCopy, acc[withCopy], steps, time.Since(start).Round(time.Millisecond))
	}
	if acc[true] < 0.8 || acc[true] < acc[false]+0.5 {
		t.Errorf("held-out exact outputs: %.3f with copy attention, %.3f without; want ≥ 0.8 and ahead by ≥ 0.5", acc[true], acc[false])
	}
}

// fitSteps trains m on examples for steps Adam updates (constant rate lr,
// gradients clipped to norm 1), in shuffled batches of about batchTokens.
func fitSteps(t *testing.T, m Model, examples []batch.Example, steps int, lr float64) {
	t.Helper()
	opt, err := optim.NewAdam(m.Params(), optim.AdamConfig{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	plan := batch.Plan(examples, batchTokens)
	g := tensor.NewGraph(7)
	for step, epoch := 0, 0; step < steps; epoch++ {
		for _, bi := range batch.Shuffled(len(plan), 11, epoch) {
			if step == steps {
				break
			}
			b, err := batch.Make(examples, plan[bi])
			if err != nil {
				t.Fatal(err)
			}
			g.Reset()
			loss := g.CrossEntropy(m.Forward(g, b), b.TgtOut, batch.PAD, 0)
			optim.ZeroGrad(m.Params())
			g.Backward(loss)
			optim.ClipGradNorm(m.Params(), 1)
			opt.Step()
			step++
		}
	}
}

// TestCopyInEnsemble: an ensemble of copy-attention models (and one
// without) decodes with the mean of their mixed distributions.
func TestCopyInEnsemble(t *testing.T) {
	var ms []Model
	for _, cfg := range copyConfigs(13) {
		ms = append(ms, newModel(t, cfg))
	}
	plain := copyConfigs(13)[ArchTransformer]
	plain.Copy, plain.Seed = false, 8
	ms = append(ms, newModel(t, plain))
	e, err := NewEnsemble(ms...)
	if err != nil {
		t.Fatal(err)
	}
	srcs := [][]int32{{4, 5, 4, 7}, {8, 9}}
	st, err := e.Start(tensor.NewGraph(0), batch.Sources(srcs))
	if err != nil {
		t.Fatal(err)
	}
	var alone []search.State
	for _, m := range ms {
		s, err := m.Start(tensor.NewGraph(0), batch.Sources(srcs))
		if err != nil {
			t.Fatal(err)
		}
		alone = append(alone, s)
	}
	V := 13
	for _, toks := range [][]int32{{batch.BOS, batch.BOS}, {4, 9}, {5, 5}} {
		got, err := st.Step(toks)
		if err != nil {
			t.Fatal(err)
		}
		mean := make([]float64, len(got))
		for _, s := range alone {
			lp, err := s.Step(toks)
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range lp {
				mean[i] += math.Exp(float64(l)) / float64(len(alone))
			}
		}
		for i := range got {
			if d := math.Abs(float64(got[i]) - math.Log(mean[i])); d > 1e-4 {
				t.Fatalf("row %d token %d: ensemble %g, mean of members %g", i/V, i%V, got[i], math.Log(mean[i]))
			}
		}
	}
}
