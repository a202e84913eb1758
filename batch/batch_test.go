package batch

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func randomExamples(n int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 1))
	ex := make([]Example, n)
	for i := range ex {
		s := make([]int32, 1+rng.IntN(20))
		t := make([]int32, 1+rng.IntN(20))
		for j := range s {
			s[j] = 4 + rng.Int32N(30)
		}
		for j := range t {
			t[j] = 4 + rng.Int32N(30)
		}
		ex[i] = Example{Src: s, Tgt: t}
	}
	return ex
}

func TestPlanCoversEveryExampleOnceWithinBudget(t *testing.T) {
	ex := randomExamples(1000, 1)
	const budget = 400
	plan := Plan(ex, budget)
	seen := make([]int, len(ex))
	for _, idx := range plan {
		m := 0
		for _, i := range idx {
			seen[i]++
			m = max(m, len(ex[i].Src), len(ex[i].Tgt)+2)
		}
		if len(idx) > 1 && 2*m*len(idx) > budget {
			t.Errorf("batch of %d rows, longest %d: %d tokens > %d", len(idx), m, 2*m*len(idx), budget)
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("example %d in %d batches", i, n)
		}
	}
	// Sorting by length keeps padding low: most slots hold real tokens.
	var real, padded int
	for _, idx := range plan {
		b, err := Make(ex, idx)
		if err != nil {
			t.Fatal(err)
		}
		real += b.SrcTokens
		padded += b.B * b.S
	}
	if float64(real)/float64(padded) < 0.9 {
		t.Errorf("only %.2f of source slots are real tokens", float64(real)/float64(padded))
	}
}

func TestMakePadsAndShifts(t *testing.T) {
	ex := []Example{{Src: []int32{5, 6, 7}, Tgt: []int32{8}}, {Src: []int32{9}, Tgt: []int32{10, 11, 12}}}
	b, err := Make(ex, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if b.S != 3 || b.T != 4 {
		t.Fatalf("S, T = %d, %d; want 3, 4", b.S, b.T)
	}
	if want := []int32{5, 6, 7, 9, 0, 0}; !slices.Equal(b.Src, want) {
		t.Errorf("Src %v, want %v", b.Src, want)
	}
	if want := []int32{1, 8, 0, 0, 1, 10, 11, 12}; !slices.Equal(b.TgtIn, want) {
		t.Errorf("TgtIn %v, want %v", b.TgtIn, want)
	}
	if want := []int32{8, 2, 0, 0, 10, 11, 12, 2}; !slices.Equal(b.TgtOut, want) {
		t.Errorf("TgtOut %v, want %v", b.TgtOut, want)
	}
	if b.SrcTokens != 4 || b.TgtTokens != 3+5 {
		t.Errorf("token counts %d, %d; want 4, 8", b.SrcTokens, b.TgtTokens)
	}
	if want := []bool{false, false, false, false, true, true}; !slices.Equal(b.SrcPad(), want) {
		t.Errorf("SrcPad %v", b.SrcPad())
	}
	if _, err := Make(ex, []int{2}); err == nil {
		t.Error("index out of range accepted")
	}
}

func TestShuffledIsAReproduciblePermutation(t *testing.T) {
	a, b, c := Shuffled(50, 7, 3), Shuffled(50, 7, 3), Shuffled(50, 7, 4)
	if !slices.Equal(a, b) {
		t.Error("same seed and epoch gave different orders")
	}
	if slices.Equal(a, c) {
		t.Error("another epoch gave the same order")
	}
	s := slices.Clone(a)
	slices.Sort(s)
	for i, v := range s {
		if v != i {
			t.Fatalf("not a permutation: %v", a)
		}
	}
}
