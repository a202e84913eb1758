package pipeline

import (
	"math"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
)

// TestDecodeLengthFollowsTheSource: an untrained model rarely ends, so its
// outputs run to the limit: with --max-len-a A --max-len-b B every output
// of a source of n tokens has at most ⌊A·n⌋+B steps (tokens, EOS counted),
// exactly that many when it did not end, and never more than the longest
// training target + 1; in greedy, beam and sampling decoding, and in an
// ensemble. Without the options the model's data.max_len_a/b apply, else
// the defaults.
func TestDecodeLengthFollowsTheSource(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 30}
	p := untrained(t, d)
	ens := untrained(t, d)
	m2, err := model.New(ens.Config.Model)
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewEnsemble(ens.Model, m2)
	if err != nil {
		t.Fatal(err)
	}
	ens.Model = e
	lines := []string{"Op", "Open", "Open the", "Open the file", "Open the window"}
	check := func(name string, p *Pipeline, opt Options, a float64, b int) {
		t.Helper()
		unfinished := 0
		for i, r := range p.Translate(lines, opt) {
			if r.Err != nil {
				t.Fatalf("%s: line %d: %v", name, i, r.Err)
			}
			n := len(r.SourceTokens)
			limit := min(int(math.Floor(a*float64(n)))+b, d.MaxTgtLen+1)
			for _, h := range r.Hyps {
				steps := len(h.Tokens)
				if h.Finished {
					steps++
				} else {
					unfinished++
					if steps != limit {
						t.Errorf("%s: %q (%d tokens): an output that did not end has %d tokens, want the limit %d", name, r.Source, n, steps, limit)
					}
				}
				if steps > limit {
					t.Errorf("%s: %q (%d tokens): %d steps, over the limit %d", name, r.Source, n, steps, limit)
				}
			}
		}
		if unfinished == 0 {
			t.Errorf("%s: every output ended: the test does not reach the limit", name)
		}
	}
	a, b := 1.5, 2
	for _, so := range []search.Options{{Beam: 1}, {Beam: 4, NBest: 2}, {Sample: true, Temperature: 1, NBest: 3, Seed: 5}} {
		check("flags", p, Options{Search: so, MaxLenA: &a, MaxLenB: &b}, a, b)
		check("ensemble", ens, Options{Search: so, MaxLenA: &a, MaxLenB: &b}, a, b)
	}
	check("defaults", p, Options{}, DefaultMaxLenA, DefaultMaxLenB)
	p.Config.Data.MaxLenA, p.Config.Data.MaxLenB = 0.5, 3
	check("the model's", p, Options{}, 0.5, 3)
	zero := 0.0
	check("a 0 given, b the model's", p, Options{MaxLenA: &zero}, 0, 3)
	// --max-len, when smaller, bounds every output.
	for _, r := range p.Translate(lines, Options{Search: search.Options{MaxLen: 2}}) {
		for _, h := range r.Hyps {
			if len(h.Tokens) > 2 {
				t.Errorf("--max-len 2: %d tokens", len(h.Tokens))
			}
		}
	}
}

// TestLengthOptionsCheck: out-of-range limits are errors naming the flag.
func TestLengthOptionsCheck(t *testing.T) {
	neg, big, nan, zero := -1.0, MaxLenAMax+1.0, math.NaN(), 0.0
	negB, bigB, zeroB := -1, search.MaxOutputSteps+1, 0
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{MaxLenA: &neg}, "--max-len-a -1"},
		{Options{MaxLenA: &big}, "--max-len-a"},
		{Options{MaxLenA: &nan}, "--max-len-a NaN"},
		{Options{MaxLenB: &negB}, "--max-len-b -1"},
		{Options{MaxLenB: &bigB}, "--max-len-b"},
		{Options{MaxLenA: &zero, MaxLenB: &zeroB}, "leave no room"},
	} {
		c.o.Search.Beam, c.o.BatchSize = 1, 1
		if err := c.o.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v", c.want, err)
		}
	}
	good := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord, MaxSrcLen: 10, MaxTgtLen: 10, MaxLenA: 2, MaxLenB: 10}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	good.MaxLenA = -2
	if err := good.Validate(); err == nil || !strings.Contains(err.Error(), "data.max_len_a") {
		t.Errorf("data.max_len_a -2: %v", err)
	}
}
