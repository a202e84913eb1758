package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/train"
)

// TestConfigTimeBudget: a config file's train.time_budget reads as a flag
// does ("30m") or as config.json records it (nanoseconds); anything else is
// an error naming the key, and the other keys stay strictly checked.
func TestConfigTimeBudget(t *testing.T) {
	for _, c := range []struct {
		yaml    string
		want    string // the budget, or a word of the error
		wantErr bool
	}{
		{"time_budget: 30m\nwarmup: 10\n", "30m0s", false},
		{"time_budget: 1h30m\n", "1h30m0s", false},
		{"time_budget: 1800000000000\n", "30m0s", false},
		{"time_budget: soon\n", "time_budget \"soon\" is not a duration", true},
		{"time_budget: 30m\nwarmpu: 10\n", "warmpu", true},
	} {
		raw, err := yaml.YAMLToJSON([]byte(c.yaml))
		if err != nil {
			t.Fatal(err)
		}
		var o train.Options
		fixed, err := durationsAsNanoseconds(raw, "time_budget")
		if err == nil {
			err = yaml.UnmarshalStrict(fixed, &o)
		}
		switch {
		case c.wantErr && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: err %v, want one naming %q", c.yaml, err, c.want)
		case !c.wantErr && err != nil:
			t.Errorf("%q: %v", c.yaml, err)
		case !c.wantErr && o.TimeBudget.String() != c.want:
			t.Errorf("%q: budget %v, want %s", c.yaml, o.TimeBudget, c.want)
		}
	}
	if got, err := durationsAsNanoseconds(json.RawMessage(`[1]`), "time_budget"); err != nil || string(got) != `[1]` {
		t.Errorf("a non-mapping changed: %s, %v", got, err)
	}
}

// TestSpreadSample: the validation metric's sample is spread over the whole
// file, every pair at most once, in file order.
func TestSpreadSample(t *testing.T) {
	pairs := make([]corpus.Pair, 2562)
	for i := range pairs {
		pairs[i] = corpus.Pair{Source: fmt.Sprint(i), Target: "x"}
	}
	s := spreadSample(pairs, 500)
	if len(s) != 500 || s[0].Source != "0" {
		t.Fatalf("%d pairs from %s", len(s), s[0].Source)
	}
	last := -1
	for _, p := range s {
		var i int
		fmt.Sscan(p.Source, &i)
		if i <= last {
			t.Fatalf("pair %d after %d: not in order or repeated", i, last)
		}
		last = i
	}
	if last < 2500 {
		t.Errorf("the sample ends at pair %d of 2562: it does not reach the end of the file", last)
	}
	if got := spreadSample(pairs, 0); len(got) != len(pairs) {
		t.Errorf("n = 0 gave %d pairs, want all", len(got))
	}
	if got := spreadSample(pairs[:10], 500); len(got) != 10 {
		t.Errorf("10 pairs, n = 500: %d", len(got))
	}
}

// TestSpreadSampleKeepsEveryReference: a source chosen for the sample brings
// all its pairs (a word's other pronunciations are references too), even
// when they are not next to each other; the sample counts sources, not pairs.
func TestSpreadSampleKeepsEveryReference(t *testing.T) {
	var pairs []corpus.Pair
	for i := range 100 {
		pairs = append(pairs, corpus.Pair{Source: fmt.Sprint("w", i), Target: "a"})
		if i%2 == 0 {
			pairs = append(pairs, corpus.Pair{Source: fmt.Sprint("w", i), Target: "b"})
		}
	}
	pairs = append(pairs, corpus.Pair{Source: "w0", Target: "c"}) // far from w0's other pairs
	s := spreadSample(pairs, 10)
	targets := make(map[string][]string)
	var order []string
	for _, p := range s {
		if _, ok := targets[p.Source]; !ok {
			order = append(order, p.Source)
		}
		targets[p.Source] = append(targets[p.Source], p.Target)
	}
	if len(order) != 10 {
		t.Fatalf("%d sources in the sample, want 10: %v", len(order), order)
	}
	for _, src := range order {
		var i int
		fmt.Sscan(strings.TrimPrefix(src, "w"), &i)
		want := 1
		if i%2 == 0 {
			want = 2
		}
		if i == 0 {
			want = 3
		}
		if len(targets[src]) != want {
			t.Errorf("source %s has %d of its %d pairs in the sample: %v", src, len(targets[src]), want, targets[src])
		}
	}
	if order[0] != "w0" || order[9] != "w90" {
		t.Errorf("sources %v: want every tenth, w0 to w90", order)
	}
}
