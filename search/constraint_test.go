package search

import (
	"slices"
	"testing"
)

// placeholderOf maps the toy vocabulary's ids 8–11 to placeholders 1–4.
var placeholderOf = map[int32]int{8: 1, 9: 2, 10: 3, 11: 4}

// emitted lists the placeholders of a hypothesis, in order.
func emitted(h Hypothesis) []int {
	var out []int
	for _, t := range h.Tokens {
		if k, ok := placeholderOf[t]; ok {
			out = append(out, k)
		}
	}
	return out
}

func TestPlaceholdersComeOutExactly(t *testing.T) {
	srcs := []int{3, 17, 40, 41, 99, 123}
	need := [][]int{{1}, {2, 1}, {}, {1, 2, 3, 4}, {4}, {3, 1}}
	members := func() State { return Ensemble(newToy(12, srcs), newToy(12, []int{5, 6, 7, 8, 9, 10})) }
	for _, ordered := range []bool{false, true} {
		c, err := NewPlaceholders(placeholderOf, sp.EOS, need, ordered)
		if err != nil {
			t.Fatal(err)
		}
		for name, opt := range map[string]Options{
			"greedy":   {MaxLen: 40},
			"beam":     {MaxLen: 40, Beam: 4, NBest: 4, LengthPenalty: 0.6},
			"sample":   {MaxLen: 400, Sample: true, Temperature: 1.5, NBest: 5, Seed: 3},
			"top-k":    {MaxLen: 400, Sample: true, Temperature: 1, TopK: 3, NBest: 3, Seed: 4},
			"ensemble": {MaxLen: 40, Beam: 3},
		} {
			opt.Constraint = c
			var st State = newToy(12, srcs)
			if name == "ensemble" {
				st = members()
			}
			out, err := Decode(st, len(srcs), sp, opt)
			if err != nil {
				t.Fatal(err)
			}
			for s, hs := range out {
				for _, h := range hs {
					if !h.Finished {
						t.Errorf("%s ordered=%v source %d: unfinished %v", name, ordered, s, h.Tokens)
						continue
					}
					got := emitted(h)
					want := slices.Clone(need[s])
					if !ordered {
						slices.Sort(got)
						slices.Sort(want)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s ordered=%v source %d: placeholders %v, want %v (tokens %v)", name, ordered, s, emitted(h), need[s], h.Tokens)
					}
				}
			}
		}
	}
	// Without the constraint the toy model drops and repeats placeholders:
	// the check above can fail.
	bad := 0
	for s, hs := range decode(t, srcs, Options{MaxLen: 40, Beam: 4, NBest: 4}) {
		for _, h := range hs {
			got, want := emitted(h), slices.Clone(need[s])
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				bad++
			}
		}
	}
	if bad == 0 {
		t.Fatal("the unconstrained toy model already gets every placeholder right: the test proves nothing")
	}
}

// TestPlaceholdersFitBeforeMaxLen: a hypothesis cut off at MaxLen still
// holds every placeholder of its source, emitted in its last steps.
func TestPlaceholdersFitBeforeMaxLen(t *testing.T) {
	srcs := []int{3, 17, 41}
	need := [][]int{{1}, {2, 1}, {1, 2, 3, 4}}
	for _, ordered := range []bool{false, true} {
		c, err := NewPlaceholders(placeholderOf, sp.EOS, need, ordered)
		if err != nil {
			t.Fatal(err)
		}
		for _, opt := range []Options{{MaxLen: 5}, {MaxLen: 4, Beam: 3, NBest: 3}, {MaxLen: 6, Sample: true, Temperature: 1, NBest: 4}} {
			opt.Constraint = c
			m := newToy(12, srcs)
			m.eosBias = 0 // so hypotheses run to MaxLen
			out, err := Decode(m, len(srcs), sp, opt)
			if err != nil {
				t.Fatal(err)
			}
			for s, hs := range out {
				for _, h := range hs {
					got, want := emitted(h), slices.Clone(need[s])
					if !ordered {
						slices.Sort(got)
						slices.Sort(want)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%+v ordered=%v source %d: placeholders %v, want %v (tokens %v, finished %v)", opt, ordered, s, emitted(h), need[s], h.Tokens, h.Finished)
					}
				}
			}
		}
	}
}

// TestKeepInside: a placeholder kept inside is never the first token nor
// the last before EOS.
func TestKeepInside(t *testing.T) {
	srcs := []int{3, 17, 40, 41, 99, 123, 5, 6}
	need := [][]int{{1}, {2, 1}, {1}, {1, 2}, {2}, {1}, {1}, {2}}
	c, err := NewPlaceholders(placeholderOf, sp.EOS, need, false)
	if err != nil {
		t.Fatal(err)
	}
	for s := range srcs {
		c.KeepInside(s, []int{1})
	}
	for _, opt := range []Options{{MaxLen: 40}, {MaxLen: 40, Beam: 4, NBest: 4}, {MaxLen: 400, Sample: true, Temperature: 1, NBest: 4, Seed: 9}} {
		opt.Constraint = c
		out, err := Decode(newToy(12, srcs), len(srcs), sp, opt)
		if err != nil {
			t.Fatal(err)
		}
		for s, hs := range out {
			for _, h := range hs {
				n := len(h.Tokens)
				if n > 0 && (h.Tokens[0] == 8 || (h.Finished && h.Tokens[n-1] == 8)) {
					t.Errorf("%+v source %d: placeholder 1 at an end of %v", opt, s, h.Tokens)
				}
				if got := emitted(h); h.Finished && len(got) != len(need[s]) {
					t.Errorf("%+v source %d: placeholders %v, want %v", opt, s, got, need[s])
				}
			}
		}
	}
}

func TestNewPlaceholdersChecks(t *testing.T) {
	if _, err := NewPlaceholders(map[int32]int{2: 1}, 2, nil, false); err == nil {
		t.Error("EOS as a placeholder token was accepted")
	}
	if _, err := NewPlaceholders(map[int32]int{5: 1, 6: 1}, 2, nil, false); err == nil {
		t.Error("two tokens for one placeholder were accepted")
	}
	if _, err := NewPlaceholders(placeholderOf, 2, [][]int{{1, 1}}, false); err == nil {
		t.Error("a placeholder listed twice was accepted")
	}
	// A placeholder without a token is not required (else EOS could never come).
	c, err := NewPlaceholders(placeholderOf, 2, [][]int{{1, 7}}, false)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, 12)
	c.Restrict(0, []int32{8}, 10, row)
	if row[2] != 0 {
		t.Error("EOS masked although the only placeholder with a token was emitted")
	}
	if row[8] == 0 || row[9] == 0 {
		t.Error("placeholder tokens left open: 8 was emitted, 9 is not in the source")
	}
}
