package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// ensembleMembers returns three small untrained models of different
// architectures over one pair of vocabularies (11 source, 13 target).
func ensembleMembers(t *testing.T) []Model {
	t.Helper()
	var ms []Model
	for _, cfg := range []Config{
		{Arch: ArchTransformer, SrcVocab: 11, TgtVocab: 13, DModel: 16, Heads: 2, EncLayers: 1, DecLayers: 2, DFF: 32, MaxLen: 40, Seed: 3},
		{Arch: ArchRNNSearch, SrcVocab: 11, TgtVocab: 13, Embed: 8, Hidden: 12, Layers: 1, AttnDim: 10, Seed: 4},
		{Arch: ArchSeq2Seq, SrcVocab: 11, TgtVocab: 13, Embed: 8, Hidden: 12, Layers: 2, ReverseSource: true, Seed: 5},
	} {
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

var ensembleSources = [][]int32{{4, 5, 6, 7}, {8, 9}, {10, 4, 4}}

func start(t *testing.T, m Model) Decoder {
	t.Helper()
	g := tensor.NewGraph(0)
	d, err := m.Start(g, batch.Sources(ensembleSources))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEnsembleAveragesProbabilities: at every step, with rows dropped and
// duplicated by Select in between, the ensemble's log-probabilities are
// log((p_1 + … + p_n)/n) of its members' log-probabilities, computed here
// by hand in float64 from members decoding on their own.
func TestEnsembleAveragesProbabilities(t *testing.T) {
	ms := ensembleMembers(t)
	for _, members := range [][]Model{ms[:2], ms} {
		ens, err := NewEnsemble(members...)
		if err != nil {
			t.Fatal(err)
		}
		es := start(t, ens)
		alone := make([]Decoder, len(members))
		for k, m := range members {
			alone[k] = start(t, m)
		}
		V := es.VocabSize()
		tokens := []int32{1, 1, 1} // BOS
		selects := [][]int32{{0, 0, 1, 2}, {3, 1}, {1, 1, 0}}
		for step := range 4 {
			got, err := es.Step(tokens)
			if err != nil {
				t.Fatal(err)
			}
			each := make([][]float32, len(alone))
			for k, d := range alone {
				lp, err := d.Step(tokens)
				if err != nil {
					t.Fatal(err)
				}
				each[k] = slices.Clone(lp)
			}
			if len(got) != len(tokens)*V {
				t.Fatalf("step %d: %d log-probabilities for %d rows of %d", step, len(got), len(tokens), V)
			}
			for i := range got {
				var p float64
				for k := range each {
					p += math.Exp(float64(each[k][i]))
				}
				want := math.Log(p / float64(len(each)))
				if math.Abs(float64(got[i])-want) > 1e-5 {
					t.Fatalf("%d members, step %d, entry %d: %v, want log of the mean probability %v", len(members), step, i, got[i], want)
				}
			}
			if step == len(selects) {
				break
			}
			rows := selects[step]
			es.Select(rows)
			for _, d := range alone {
				d.Select(rows)
			}
			tokens = make([]int32, len(rows))
			for i := range tokens {
				tokens[i] = int32(4 + (step+i)%9)
			}
		}
	}
}

// TestEnsembleOfOneIsTheModel: an ensemble of one model decodes with the
// model's own state, bit for bit; a model with itself gives the model's
// log-probabilities (log((p+p)/2) = log p, to rounding) and the same
// outputs, greedy and with a beam.
func TestEnsembleOfOneIsTheModel(t *testing.T) {
	m := ensembleMembers(t)[0]
	one, err := NewEnsemble(m)
	if err != nil {
		t.Fatal(err)
	}
	two, err := NewEnsemble(m, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []search.Options{{MaxLen: 8}, {MaxLen: 8, Beam: 3, NBest: 3}} {
		want, err := search.Decode(start(t, m), len(ensembleSources), special, opt)
		if err != nil {
			t.Fatal(err)
		}
		for name, e := range map[string]*Ensemble{"one": one, "itself": two} {
			got, err := search.Decode(start(t, e), len(ensembleSources), special, opt)
			if err != nil {
				t.Fatal(err)
			}
			for s := range want {
				if len(got[s]) != len(want[s]) {
					t.Fatalf("%s, beam %d: source %d: %d hypotheses, want %d", name, opt.Beam, s, len(got[s]), len(want[s]))
				}
				for h := range want[s] {
					g, w := got[s][h], want[s][h]
					if !slices.Equal(g.Tokens, w.Tokens) || math.Abs(g.LogProb-w.LogProb) > 1e-4 || (name == "one" && g.LogProb != w.LogProb) {
						t.Errorf("%s, beam %d: source %d hypothesis %d: %v (%v), want %v (%v)", name, opt.Beam, s, h, g.Tokens, g.LogProb, w.Tokens, w.LogProb)
					}
				}
			}
		}
	}
}

var special = search.Special{PAD: 0, BOS: 1, EOS: 2, UNK: 3}

func TestEnsembleRefusesOtherVocabularies(t *testing.T) {
	ms := ensembleMembers(t)
	other, err := New(Config{Arch: ArchRNNSearch, SrcVocab: 11, TgtVocab: 14, Embed: 8, Hidden: 12, Layers: 1, AttnDim: 10, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewEnsemble(ms[0], other); err == nil || !strings.Contains(err.Error(), "member 2 has vocabularies of 11/14 symbols, member 1 11/13") {
		t.Errorf("err = %v", err)
	}
	if _, err := NewEnsemble(); err == nil {
		t.Error("an empty ensemble was made")
	}
	e, _ := NewEnsemble(ms...)
	if e.Config().MaxLen != 40 || e.Config().Arch != ArchTransformer {
		t.Errorf("config: MaxLen %d, arch %s; want the transformer's 40", e.Config().MaxLen, e.Config().Arch)
	}
}

// TestEnsembleParamCount: an ensemble's parameter count is the number of
// weights its members hold, counted from the tensors themselves.
func TestEnsembleParamCount(t *testing.T) {
	ms := ensembleMembers(t)
	e, err := NewEnsemble(ms...)
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for _, p := range e.Params() {
		want += uint64(len(p.Data))
	}
	if got := e.ParamCount(); got != want || want == 0 {
		t.Errorf("ParamCount %d, the members' tensors hold %d", got, want)
	}
	one, _ := NewEnsemble(ms[1])
	if got, want := one.ParamCount(), ms[1].Config().ParamCount(); got != want {
		t.Errorf("an ensemble of one: %d parameters, its model %d", got, want)
	}
}
