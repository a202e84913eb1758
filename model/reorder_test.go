package model

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/tensor"
)

// permutedTwin returns a model of m's configuration whose vocabulary
// tables are m's with their rows moved: outer source id j is the twin's
// src[j], outer target id j its tgt[j]; every other parameter is m's.
func permutedTwin(t *testing.T, m Model, src, tgt []int32) Model {
	t.Helper()
	twin, err := New(m.Config())
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Config()
	for i, p := range m.Params() {
		q := twin.Params()[i]
		copy(q.Data, p.Data)
		var order []int32
		switch {
		case strings.HasPrefix(p.Name, "src_embed") || strings.HasPrefix(p.Name, "encoder.embed"):
			order = src
		case strings.HasPrefix(p.Name, "tgt_embed") || strings.HasPrefix(p.Name, "decoder.embed") ||
			strings.HasPrefix(p.Name, "decoder.out.") || strings.HasPrefix(p.Name, "decoder.output."):
			order = tgt
		default:
			continue
		}
		if p.Shape[0] != len(order) {
			t.Fatalf("%s %v: not a table of %d rows (vocabularies %d/%d)", p.Name, p.Shape, len(order), cfg.SrcVocab, cfg.TgtVocab)
		}
		row := len(p.Data) / p.Shape[0]
		for j, k := range order {
			copy(q.Data[int(k)*row:int(k+1)*row], p.Data[j*row:(j+1)*row])
		}
	}
	return twin
}

// shuffledOrder is a random permutation of n ids that keeps the special
// ids (PAD, BOS, EOS, UNK: 0–3) where they are, as vocabularies do.
func shuffledOrder(n int, r *rand.Rand) []int32 {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	r.Shuffle(n-4, func(i, j int) { order[4+i], order[4+j] = order[4+j], order[4+i] })
	return order
}

// TestReorderedDecodesAsTheOriginal: a model whose vocabulary rows were
// moved, wrapped in Reordered with the same moves, gives at every step the
// log-probabilities the original gives (bit for bit: the same arithmetic on
// the same numbers), for every architecture, with rows reselected between
// steps; as an ensemble member it is the original.
func TestReorderedDecodesAsTheOriginal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range ensembleMembers(t) {
		cfg := m.Config()
		src, tgt := shuffledOrder(cfg.SrcVocab, r), shuffledOrder(cfg.TgtVocab, r)
		twin := permutedTwin(t, m, src, tgt)
		re, err := NewReordered(twin, src, tgt)
		if err != nil {
			t.Fatal(err)
		}
		a, b := start(t, m), start(t, re)
		plain := start(t, twin) // the twin unwrapped reads other ids: it must differ
		tokens := []int32{1, 1, 1}
		selects := [][]int32{{0, 0, 1, 2}, {3, 1}, {1, 1, 0}}
		differs := false
		for step := range 4 {
			want, err := a.Step(tokens)
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.Step(tokens)
			if err != nil {
				t.Fatal(err)
			}
			other, err := plain.Step(tokens)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s step %d: log-probability %d is %v, the original's %v", cfg.Arch, step, i, got[i], want[i])
				}
				differs = differs || other[i] != want[i]
			}
			sel := selects[step%len(selects)]
			a.Select(sel)
			b.Select(sel)
			plain.Select(sel)
			next := make([]int32, len(sel))
			for i := range next {
				next[i] = int32(4 + (step+3*i)%(cfg.TgtVocab-4))
			}
			tokens = next
		}
		if !differs {
			t.Errorf("%s: the twin without Reordered decodes as the original: the rows were not moved", cfg.Arch)
		}
		if _, err := NewEnsemble(m, re); err != nil {
			t.Errorf("%s: an ensemble of the model and its reordered twin: %v", cfg.Arch, err)
		}
	}
}

// TestNewReorderedRefusesNonPermutations: a map of the wrong length, with
// an id outside the vocabulary or with a repeated id is refused by name.
func TestNewReorderedRefusesNonPermutations(t *testing.T) {
	m := ensembleMembers(t)[1] // 11 source, 13 target symbols
	id := func(n int) []int32 { return shuffledOrder(n, rand.New(rand.NewPCG(0, 0))) }
	rep := id(13)
	rep[5] = rep[6]
	out := id(11)
	out[4] = 11
	for _, c := range []struct {
		name     string
		src, tgt []int32
		want     string
	}{
		{"short", id(10), id(13), "source vocabulary: 10 ids for a vocabulary of 11"},
		{"outside", out, id(13), "outside the vocabulary of 11"},
		{"repeated", id(11), rep, "target vocabulary: id 6 maps to"},
	} {
		_, err := NewReordered(m, c.src, c.tgt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestReorderedForwardPanics: a reordered model decodes only.
func TestReorderedForwardPanics(t *testing.T) {
	m := ensembleMembers(t)[0]
	re, err := NewReordered(m, shuffledOrder(11, rand.New(rand.NewPCG(3, 4))), shuffledOrder(13, rand.New(rand.NewPCG(5, 6))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Forward did not panic")
		}
	}()
	re.Forward(tensor.NewGraph(0), batch.Sources(ensembleSources))
}
