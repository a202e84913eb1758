package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/explain"
)

func TestExplainText(t *testing.T) {
	model, _ := trainedModel(t)
	stdout, stderr, err := qkv(t, "", "explain", "--model", model, "--input", "abc", "--query-token", "1", "--top", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{
		"decoder layer 1, head 0 of 4: cross-attention", // defaults: cross, the last layer, head 0
		explain.RoleQuery, explain.RoleKey, explain.RoleValue,
		"post-norm", "the model's own greedy output", "query: decoder step 1, which reads",
		"… 1 more keys", "Σ_j w_j v_j", "this head's share",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	stdout, stderr, err = qkv(t, "", "explain", "--model", model, "--input", "abc", "--kind", "enc-self", "--layer", "0", "--head", "3", "--query-token", "2")
	if err != nil || !strings.Contains(stdout, "encoder layer 0, head 3 of 4: encoder self-attention") || !strings.Contains(stdout, `query: source token 2 "c"`) {
		t.Errorf("enc-self: %v %s\n%s", err, stderr, stdout)
	}
}

// TestExplainJSONRecomputesTheLayer: from the numbers qkv explain --json
// prints for each head, Σ_h (Σ_j w_j v_j)·W_O[h] + b_O is the output the
// forward pass produced, for every kind, with a given --target too.
func TestExplainJSONRecomputesTheLayer(t *testing.T) {
	model, _ := trainedModel(t)
	for _, args := range [][]string{
		{"--kind", "enc-self", "--query-token", "1"},
		{"--kind", "dec-self", "--query-token", "2", "--target", "AH BH CH"},
		{"--kind", "cross", "--query-token", "0", "--layer", "0"},
	} {
		sum := make([]float64, 64)
		var w explain.Walkthrough
		for h := range 4 {
			stdout, stderr, err := qkv(t, "", append([]string{"explain", "--model", model, "--input", "abc", "--json", "--head", string(rune('0' + h))}, args...)...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, stderr)
			}
			w = explain.Walkthrough{}
			if err := json.Unmarshal([]byte(stdout), &w); err != nil {
				t.Fatal(err)
			}
			for o := range sum {
				sum[o] += float64(w.OutShare[o])
				if h == 0 {
					sum[o] += float64(w.OutBias[o])
				}
			}
			var total float64
			for _, k := range w.Keys {
				total += float64(k.Weight)
			}
			if math.Abs(total-1) > 1e-5 {
				t.Errorf("%v head %d: weights sum to %g", args, h, total)
			}
		}
		if len(w.ForwardOutput) != 64 {
			t.Fatalf("%v: forward output of %d numbers", args, len(w.ForwardOutput))
		}
		for o := range sum {
			if math.Abs(sum[o]-float64(w.ForwardOutput[o])) > 1e-4*(1+math.Abs(sum[o])) {
				t.Fatalf("%v: recomputed output [%d] = %g, the forward pass gave %g", args, o, sum[o], w.ForwardOutput[o])
			}
		}
		if args[1] == "dec-self" && (w.TargetFrom != "given" || strings.Join(w.Target, " ") != "AH BH CH" || len(w.Keys) != 3) {
			t.Errorf("dec-self on --target: from %q, target %v, %d keys (want <s> AH BH)", w.TargetFrom, w.Target, len(w.Keys))
		}
	}
}

func TestExplainErrors(t *testing.T) {
	model, _ := trainedModel(t)
	for _, c := range []struct {
		model string
		args  []string
		want  string
	}{
		{model, []string{"--query-token", "9"}, "--query-token 9 is out of range: the decoder's queries are its"},
		{model, []string{"--kind", "enc-self", "--query-token", "3"}, "--query-token 3 is out of range: the encoder's queries are the 3 source tokens (0 to 2)"},
		{model, []string{"--layer", "2"}, "--layer 2 is out of range: the decoder has 2 layers (0 to 1)"},
		{model, []string{"--head", "4"}, "--head 4 is out of range: each layer has 4 heads (0 to 3)"},
		{model, []string{"--kind", "values"}, `--kind "values" is not a kind of attention`},
		{model, []string{"--kind", "enc-self", "--target", "AH"}, "--target sets the decoder's side"},
		{model, []string{"--target", "AH QQ"}, `--target: token 1, "QQ", is not in the model's target vocabulary`},
		{model, []string{"--top", "-1"}, "--top -1 is out of range"},
		{recurrentModel(t, "seq2seq"), nil, "needs a Transformer; this model is seq2seq"},
		{recurrentModel(t, "rnnsearch"), nil, "needs a Transformer; this model is rnnsearch, which has additive attention"},
	} {
		_, stderr, err := qkv(t, "", append([]string{"explain", "--model", c.model, "--input", "abc"}, c.args...)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: %v %q, want %q", c.args, err, stderr, c.want)
		}
	}
	_, stderr, err := qkv(t, "", "explain", "--model", model)
	if err == nil || !strings.Contains(stderr, "--input is required") {
		t.Errorf("no --input: %v %s", err, stderr)
	}
	_, stderr, err = qkv(t, "", "explain", "--model", model, "--input", " ")
	if err == nil || !strings.Contains(stderr, "--input: empty input") {
		t.Errorf("blank --input: %v %s", err, stderr)
	}
}

// TestExplainEmptyTarget: --target "" (an unset shell variable) is refused;
// it ran on the model's own output as if --target were not given.
func TestExplainEmptyTarget(t *testing.T) {
	for _, target := range []string{"", " "} {
		stdout, stderr, err := qkv(t, "", "explain", "--model", "builtin:g2p-en", "--input", "photo", "--target", target)
		if err == nil || stdout != "" || !strings.Contains(stderr, "--target is empty") {
			t.Errorf("--target %q: %v, stdout %.80q, stderr %q", target, err, stdout, stderr)
		}
	}
}
