package search

import (
	"slices"
	"strings"
	"testing"
)

// TestSourceMaxLenStopsALoop: a model that never ends (EOS never likely)
// stops every hypothesis of source i at exactly SourceMaxLen[i] tokens,
// unfinished, in greedy decoding, beam search, sampling and an ensemble;
// with EOS likely, no hypothesis is longer than its source's limit; and
// limits equal to MaxLen change nothing.
func TestSourceMaxLenStopsALoop(t *testing.T) {
	srcs := []int{0, 1, 2}
	limits := []int{2, 5, 9}
	sp := Special{PAD: 0, BOS: 1, EOS: 2, UNK: 3}
	for _, c := range []struct {
		name string
		opt  Options
		ens  bool
	}{
		{"greedy", Options{Beam: 1}, false},
		{"beam", Options{Beam: 4, NBest: 3}, false},
		{"sample", Options{Sample: true, Temperature: 1, NBest: 3, Seed: 7}, false},
		{"ensemble beam", Options{Beam: 3, NBest: 2}, true},
	} {
		state := func(eosBias float32) State {
			m := newToy(12, srcs)
			m.eosBias = eosBias
			if !c.ens {
				return m
			}
			m2 := newToy(12, srcs)
			m2.eosBias = eosBias
			return Ensemble(m, m2)
		}
		opt := c.opt
		opt.MaxLen, opt.SourceMaxLen = 20, limits
		hyps, err := Decode(state(-100), len(srcs), sp, opt)
		if err != nil {
			t.Fatal(err)
		}
		for s, hs := range hyps {
			if len(hs) == 0 {
				t.Fatalf("%s: source %d has no hypothesis", c.name, s)
			}
			for _, h := range hs {
				if h.Finished || len(h.Tokens) != limits[s] {
					t.Errorf("%s: source %d (limit %d): a looping hypothesis has %d tokens, finished %v", c.name, s, limits[s], len(h.Tokens), h.Finished)
				}
			}
		}
		hyps, err = Decode(state(0.7), len(srcs), sp, opt)
		if err != nil {
			t.Fatal(err)
		}
		for s, hs := range hyps {
			for _, h := range hs {
				n := len(h.Tokens)
				if h.Finished {
					n++ // EOS is a step too, as with MaxLen
				}
				if n > limits[s] {
					t.Errorf("%s: source %d: %d steps, over its limit %d", c.name, s, n, limits[s])
				}
			}
		}
		opt.SourceMaxLen = []int{20, 20, 20}
		with, err := Decode(state(0.3), len(srcs), sp, opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.SourceMaxLen = nil
		without, err := Decode(state(0.3), len(srcs), sp, opt)
		if err != nil {
			t.Fatal(err)
		}
		for s := range with {
			for i := range with[s] {
				if !slices.Equal(with[s][i].Tokens, without[s][i].Tokens) || with[s][i].Score != without[s][i].Score {
					t.Errorf("%s: limits of MaxLen changed source %d's output", c.name, s)
				}
			}
		}
	}
	// Limits that do not fit are refused.
	for _, bad := range [][]int{{2, 5}, {0, 5, 9}, {2, 5, 21}} {
		_, err := Decode(newToy(12, srcs), len(srcs), sp, Options{Beam: 1, MaxLen: 20, SourceMaxLen: bad})
		if err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("limits %v: %v", bad, err)
		}
	}
}

// TestPlaceholdersBeforeTheLengthLimit: a hypothesis that loops until its
// source's limit (SourceMaxLen, not only MaxLen) still holds every
// placeholder of its source: the constraint is told the steps left before
// that limit, and makes the placeholders owed come, in order when ordered.
func TestPlaceholdersBeforeTheLengthLimit(t *testing.T) {
	srcs := []int{3, 17, 41, 99}
	need := [][]int{{1}, {2, 1}, {1, 2, 3, 4}, {}}
	limits := []int{3, 4, 6, 2}
	for _, ordered := range []bool{false, true} {
		c, err := NewPlaceholders(placeholderOf, sp.EOS, need, ordered)
		if err != nil {
			t.Fatal(err)
		}
		for name, opt := range map[string]Options{
			"greedy": {Beam: 1},
			"beam":   {Beam: 4, NBest: 3},
			"sample": {Sample: true, Temperature: 1, NBest: 3, Seed: 2},
		} {
			opt.MaxLen, opt.SourceMaxLen, opt.Constraint = 20, limits, c
			m := newToy(12, srcs)
			m.eosBias = -100 // never ends: every hypothesis runs to its limit
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
					if len(h.Tokens) > limits[s] || !slices.Equal(got, want) {
						t.Errorf("%s ordered=%v source %d (limit %d): tokens %v hold placeholders %v, want %v", name, ordered, s, limits[s], h.Tokens, emitted(h), need[s])
					}
				}
			}
		}
	}
}
