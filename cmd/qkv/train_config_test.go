package main

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

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
