package search

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// shifted returns a toy model that reads every source id shifted by off:
// another "model", with other distributions, of the same vocabulary.
func shifted(V int, srcs []int, off int) *toyModel {
	s := slices.Clone(srcs)
	for i := range s {
		s[i] += off
	}
	return newToy(V, s)
}

// TestEnsembleStepIsTheMeanProbability: each step's log-probabilities are
// log of the members' mean probability, by hand in float64, through a
// Select that drops and duplicates rows; each member sees every Step and
// Select.
func TestEnsembleStepIsTheMeanProbability(t *testing.T) {
	srcs := []int{0, 1, 2}
	a, b, c := shifted(7, srcs, 0), shifted(7, srcs, 100), shifted(7, srcs, 200)
	ra, rb, rc := shifted(7, srcs, 0), shifted(7, srcs, 100), shifted(7, srcs, 200)
	e := Ensemble(a, b, c)
	tokens := []int32{1, 1, 1}
	for step, rows := range [][]int32{{2, 0, 0, 1}, {3, 3}, {0, 1}} {
		got, err := e.Step(tokens)
		if err != nil {
			t.Fatal(err)
		}
		var each [][]float32
		for _, m := range []*toyModel{ra, rb, rc} {
			lp, _ := m.Step(tokens)
			each = append(each, slices.Clone(lp))
		}
		for i := range got {
			var p float64
			for _, lp := range each {
				p += math.Exp(float64(lp[i]))
			}
			want := math.Log(p / 3)
			if math.IsInf(want, -1) != math.IsInf(float64(got[i]), -1) || (!math.IsInf(want, -1) && math.Abs(float64(got[i])-want) > 1e-6) {
				t.Fatalf("step %d entry %d: %v, want %v", step, i, got[i], want)
			}
		}
		e.Select(rows)
		for _, m := range []*toyModel{ra, rb, rc} {
			m.Select(rows)
		}
		tokens = make([]int32, len(rows))
		for i := range tokens {
			tokens[i] = int32(3 + (i+step)%4)
		}
	}
	for _, m := range []*toyModel{a, b, c} {
		if m.steps != 3 || len(m.rows) != 2 {
			t.Errorf("a member took %d steps and holds %d rows, want 3 and 2", m.steps, len(m.rows))
		}
	}
}

// TestEnsembleBeamOneEqualsGreedy: the beam code with K = 1 over an
// ensemble finds the greedy outputs, as it does for one model; an ensemble
// of one toy is the toy itself.
func TestEnsembleBeamOneEqualsGreedy(t *testing.T) {
	srcs := []int{0, 1, 2, 3, 4, 5, 6, 7}
	ens := func() State { return Ensemble(shifted(7, srcs, 0), shifted(7, srcs, 100)) }
	g, err := Decode(ens(), len(srcs), sp, Options{MaxLen: 12})
	if err != nil {
		t.Fatal(err)
	}
	b, err := beam(ens(), len(srcs), sp, Options{MaxLen: 12, Beam: 1})
	if err != nil {
		t.Fatal(err)
	}
	single, _ := Decode(newToy(7, srcs), len(srcs), sp, Options{MaxLen: 12})
	differs := false
	for i := range srcs {
		if !slices.Equal(g[i][0].Tokens, b[i][0].Tokens) || math.Abs(g[i][0].LogProb-b[i][0].LogProb) > 1e-9 {
			t.Errorf("src %d: greedy %v (%g), beam 1 %v (%g)", i, g[i][0].Tokens, g[i][0].LogProb, b[i][0].Tokens, b[i][0].LogProb)
		}
		differs = differs || !slices.Equal(g[i][0].Tokens, single[i][0].Tokens)
	}
	if !differs {
		t.Error("the ensemble decodes exactly as its first member: the test shows nothing")
	}
	toy := newToy(7, srcs)
	if Ensemble(toy) != State(toy) {
		t.Error("an ensemble of one state is not that state")
	}
}

// badVocab is a state whose vocabulary differs from the toy's.
type badVocab struct{ *toyModel }

func (badVocab) VocabSize() int { return 9 }

func TestEnsembleRefusesAnotherVocabularySize(t *testing.T) {
	_, err := Ensemble(newToy(7, []int{0}), badVocab{newToy(7, []int{0})}).Step([]int32{1})
	if err == nil || !strings.Contains(err.Error(), "member 2 has 9 target symbols, member 1 7") {
		t.Errorf("err = %v", err)
	}
}
