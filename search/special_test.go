package search

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// specialsFirst is a state whose most likely tokens are, in this order, PAD
// (0), BOS (1) and UNK (3); then, from the third step on, EOS (2); then one
// ordinary token (4 to 7) that depends on the source and the step.
type specialsFirst struct {
	rows  []toyRow
	out   []float32
	noEOS bool // EOS never likely: hypotheses run to MaxLen
}

const specialsV = 8

var spAll = Special{PAD: 0, BOS: 1, EOS: 2, UNK: 3}

func newSpecialsFirst(srcs []int) *specialsFirst {
	m := &specialsFirst{}
	for _, s := range srcs {
		m.rows = append(m.rows, toyRow{src: s})
	}
	return m
}

func (m *specialsFirst) VocabSize() int { return specialsV }

func (m *specialsFirst) Select(rows []int32) {
	next := make([]toyRow, len(rows))
	for i, r := range rows {
		next[i] = toyRow{src: m.rows[r].src, prefix: slices.Clone(m.rows[r].prefix)}
	}
	m.rows = next
}

func (m *specialsFirst) Step(tokens []int32) ([]float32, error) {
	m.out = m.out[:0]
	for i := range m.rows {
		r := &m.rows[i]
		r.prefix = append(r.prefix, tokens[i])
		logits := []float64{10, 9, 0, 8, 1, 1, 1, 1}
		if len(r.prefix) >= 3 && !m.noEOS {
			logits[2] = 7
		}
		logits[4+(r.src+len(r.prefix))%4] = 6
		var z float64
		for _, l := range logits {
			z += math.Exp(l - 10)
		}
		for _, l := range logits {
			m.out = append(m.out, float32(l-10-math.Log(z)))
		}
	}
	return m.out, nil
}

func TestSearchNeverEmitsPadBosUnk(t *testing.T) {
	srcs := []int{0, 1, 2, 3, 4}
	for _, opt := range []Options{
		{MaxLen: 8},
		{MaxLen: 8, Beam: 1},
		{MaxLen: 8, Beam: 4, NBest: 4},
		{MaxLen: 8, Sample: true, Temperature: 1, NBest: 5, Seed: 1},
		{MaxLen: 8, Sample: true, Temperature: 3, TopK: 2, NBest: 5, Seed: 2},
		{MaxLen: 8, Sample: true, Temperature: 0},
	} {
		for _, noEOS := range []bool{false, true} {
			m := newSpecialsFirst(srcs)
			m.noEOS = noEOS
			out, err := Decode(m, len(srcs), spAll, opt)
			if err != nil {
				t.Fatal(err)
			}
			for s, hs := range out {
				if len(hs) != max(opt.NBest, 1) {
					t.Errorf("%+v: source %d: %d hypotheses", opt, s, len(hs))
				}
				for _, h := range hs {
					for _, tok := range h.Tokens {
						if tok < 4 {
							t.Errorf("%+v noEOS %v: source %d emitted special token %d: %v", opt, noEOS, s, tok, h.Tokens)
						}
					}
					if !noEOS && !h.Finished {
						t.Errorf("%+v: source %d: %v never ended though EOS was the likeliest allowed token", opt, s, h.Tokens)
					}
				}
			}
		}
	}
	// With AllowUnk, <unk> is the likeliest allowed token: greedy emits it.
	out, err := Decode(newSpecialsFirst([]int{0}), 1, spAll, Options{MaxLen: 5, AllowUnk: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0][0].Tokens; len(got) == 0 || got[0] != 3 {
		t.Errorf("AllowUnk: greedy gave %v, want <unk> (3) first", got)
	}
	// Masking keeps beam 1 equal to greedy.
	g, _ := Decode(newSpecialsFirst(srcs), len(srcs), spAll, Options{MaxLen: 8})
	for i, s := range srcs {
		b, err := beam(newSpecialsFirst([]int{s}), 1, spAll, Options{MaxLen: 8, Beam: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(b[0][0].Tokens, g[i][0].Tokens) || math.Abs(b[0][0].LogProb-g[i][0].LogProb) > 1e-9 {
			t.Errorf("source %d: beam 1 %v, greedy %v", s, b[0][0].Tokens, g[i][0].Tokens)
		}
	}
}

func TestTemperatureZeroIsGreedy(t *testing.T) {
	srcs := []int{0, 1, 2, 3, 4, 5}
	g := decode(t, srcs, Options{MaxLen: 10})
	for _, seed := range []uint64{1, 2, 3} {
		s := decode(t, srcs, Options{MaxLen: 10, Sample: true, Temperature: 0, Seed: seed, TopK: 3})
		for i := range srcs {
			if !slices.Equal(s[i][0].Tokens, g[i][0].Tokens) || s[i][0].LogProb != g[i][0].LogProb {
				t.Errorf("seed %d source %d: temperature 0 gave %v, greedy %v", seed, i, s[i][0].Tokens, g[i][0].Tokens)
			}
		}
	}
	if _, err := Decode(newToy(7, srcs), len(srcs), sp, Options{MaxLen: 10, Sample: true, Temperature: 0, NBest: 2}); err == nil || !strings.Contains(err.Error(), "--temperature 0") {
		t.Errorf("temperature 0 with 2 samples: %v", err)
	}
}

// TestSamplesFollowTheLine: a source's samples depend on the seed and its
// line number, not on its place in the batch, and identical sources on
// different lines get different samples.
func TestSamplesFollowTheLine(t *testing.T) {
	same := []int{7, 7, 7, 7, 7, 7, 7, 7}
	opt := Options{MaxLen: 10, Sample: true, Temperature: 2, Seed: 9}
	out := decode(t, same, opt)
	distinct := map[string]bool{}
	for _, hs := range out {
		distinct[fmt.Sprint(hs[0].Tokens)] = true
	}
	if len(distinct) < 4 {
		t.Errorf("8 identical sources gave only %d distinct samples: %v", len(distinct), distinct)
	}
	// The same lines in another order (and batch) give the same samples.
	srcs := []int{3, 1, 4, 1, 5}
	lines := []int{10, 11, 12, 13, 14}
	opt.Lines = lines
	fwd := decode(t, srcs, opt)
	rev := slices.Clone(srcs)
	slices.Reverse(rev)
	opt.Lines = slices.Clone(lines)
	slices.Reverse(opt.Lines)
	bwd := decode(t, rev, opt)
	for i := range srcs {
		if !slices.Equal(fwd[i][0].Tokens, bwd[len(srcs)-1-i][0].Tokens) {
			t.Errorf("line %d: %v in one batch order, %v in the other", lines[i], fwd[i][0].Tokens, bwd[len(srcs)-1-i][0].Tokens)
		}
	}
	opt.Lines = []int{1, 2}
	if _, err := Decode(newToy(7, srcs), len(srcs), sp, opt); err == nil {
		t.Error("2 line numbers for 5 sources accepted")
	}
}

func TestOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		opt  Options
		want string // "" when valid
	}{
		{Options{Beam: 1}, ""},
		{Options{}, "--beam 0"},
		{Options{Beam: 256, NBest: 256, LengthPenalty: 1.2, MaxLen: 10000}, ""},
		{Options{Beam: 1, Sample: true, NBest: 1024, Temperature: 0.7, TopK: 10}, ""},
		{Options{Beam: -1}, "--beam -1"},
		{Options{Beam: 257}, "--beam 257"},
		{Options{Beam: 100000}, "1 (greedy) to 256"},
		{Options{Beam: 1, NBest: -1}, "--nbest -1"},
		{Options{Beam: 4, NBest: 5}, "--nbest 5"},
		{Options{Beam: 1, NBest: 2}, "--nbest 2"},
		{Options{Beam: 1, Sample: true, Temperature: 1, NBest: 1025}, "--nbest 1025"},
		{Options{Beam: 1, Sample: true, Temperature: 1, NBest: -1}, "--nbest -1"},
		{Options{Sample: true, Beam: 4, Temperature: 1}, "--sample"},
		{Options{Beam: 1, LengthPenalty: math.NaN()}, "--alpha NaN"},
		{Options{Beam: 1, LengthPenalty: math.Inf(1)}, "--alpha +Inf"},
		{Options{Beam: 1, MaxLen: -1}, "--max-len -1"},
		{Options{Beam: 1, MaxLen: 10001}, "--max-len 10001"},
		{Options{Beam: 1, Temperature: -0.5}, "--temperature -0.5"},
		{Options{Beam: 1, Temperature: math.NaN()}, "--temperature NaN"},
		{Options{Beam: 1, Temperature: math.Inf(1)}, "--temperature +Inf"},
		{Options{Beam: 1, Sample: true, NBest: 3}, "--temperature 0"},
		{Options{Beam: 1, TopK: -5}, "--top-k -5"},
	} {
		err := tc.opt.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.opt, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one with %q", tc.opt, err, tc.want)
		}
	}
	// Decode checks too: a beam of 100000 never allocates.
	if _, err := Decode(newToy(7, []int{0}), 1, sp, Options{MaxLen: 5, Beam: 100000}); err == nil {
		t.Error("Decode accepted --beam 100000")
	}
}
