package serve

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/explain"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
)

// untrained returns a model of arch, untrained, over the vocabularies of
// the tiny model: enough to be served and refused a walk-through.
func untrained(t *testing.T, arch string) *pipeline.Pipeline {
	t.Helper()
	p := tiny(t)
	cfg := model.Config{Arch: arch, SrcVocab: p.Src.Len(), TgtVocab: p.Tgt.Len(), Embed: 8, Hidden: 8, Layers: 1, Seed: 1}
	if arch == model.ArchRNNSearch {
		cfg.AttnDim = 8
	}
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Pipeline{Config: pipeline.Config{Model: cfg, Data: p.Config.Data}, Model: m,
		Src: p.Src, Tgt: p.Tgt, SrcTok: p.SrcTok, TgtTok: p.TgtTok}
}

// explainOK posts a request that must succeed and returns the answer.
func explainOK(t *testing.T, url string, req any) ExplainResponse {
	t.Helper()
	code, body := post(t, url+"/v1/explain", req)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var resp ExplainResponse
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return resp
}

// TestExplain: the walk-through of a query token of the output that
// /v1/translate returned uses that output, its softmax weights sum to 1
// and are the weights the decoder used for that token (as /v1/translate
// returned them), and the defaults are qkv explain's (cross, last layer).
func TestExplain(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	p := tiny(t)
	const input = "fedcba"
	tr := translate(t, hs.URL, TranslateRequest{Inputs: []string{input}, Beam: ptr(3), Attention: true})
	out := tr.Results[0].Outputs[0]
	if len(out.Tokens) < 2 {
		t.Fatalf("output %q is too short to test", out.Text)
	}
	for _, kind := range []string{explain.Cross, explain.DecSelf} {
		for head := range p.Config.Model.Heads {
			step := len(out.Tokens) - 1
			resp := explainOK(t, hs.URL, map[string]any{"model": "g2p", "input": input, "target_tokens": out.Tokens,
				"kind": kind, "layer": 0, "head": head, "query_token": step})
			w := resp.Walkthrough
			if resp.Model != "g2p" || w.Kind != kind || w.Head != head || w.Layer != 0 || w.TargetFrom != "given" ||
				strings.Join(w.Target, " ") != strings.Join(out.Tokens, " ") || w.Query.Index != step || w.Query.Token != out.Tokens[step] {
				t.Fatalf("%s head %d: %+v", kind, head, w)
			}
			module := "decoder.0.cross_attn"
			keys := len(tr.Results[0].SourceTokens)
			if kind == explain.DecSelf {
				module, keys = "decoder.0.self_attn", step+1
			}
			used := out.Attention[step][module][head]
			if len(w.Keys) != keys || len(used) != keys {
				t.Fatalf("%s head %d: %d keys, the decoder used %d, want %d", kind, head, len(w.Keys), len(used), keys)
			}
			sum := 0.0
			for j, k := range w.Keys {
				sum += float64(k.Weight)
				if math.Abs(float64(k.Weight-used[j])) > 1e-4 || math.Abs(float64(k.Weight-w.ForwardWeights[j])) > 1e-5 {
					t.Errorf("%s head %d key %d: weight %v, the decoder used %v, the forward pass %v", kind, head, j, k.Weight, used[j], w.ForwardWeights[j])
				}
				if len(k.K) != w.DK || len(k.V) != w.DK {
					t.Errorf("key %d: k %d, v %d numbers, want d_k %d", j, len(k.K), len(k.V), w.DK)
				}
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("%s head %d: weights sum to %v", kind, head, sum)
			}
		}
	}
	// The defaults: cross-attention, the last layer, head 0, the model's greedy output.
	resp := explainOK(t, hs.URL, map[string]any{"input": input, "query_token": 0})
	direct, err := explain.Walk(p, input, explain.Query{Kind: explain.Cross, Layer: p.Config.Model.DecLayers - 1, Token: 0})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Kind != explain.Cross || resp.Layer != p.Config.Model.DecLayers-1 || resp.TargetFrom != "greedy" ||
		strings.Join(resp.Target, " ") != strings.Join(direct.Target, " ") || len(resp.Keys) != len(direct.Keys) || resp.Keys[0].Score != direct.Keys[0].Score {
		t.Errorf("defaults: %+v, want %+v", resp.Walkthrough, direct)
	}
	// A target as text is tokenized by the model.
	resp = explainOK(t, hs.URL, map[string]any{"input": input, "target": out.Text, "kind": "dec-self", "query_token": 1})
	if strings.Join(resp.Target, " ") != strings.Join(out.Tokens, " ") || len(resp.Keys) != 2 {
		t.Errorf("target text: %v with %d keys", resp.Target, len(resp.Keys))
	}
	// Encoder self-attention: the query is a source token, every source token a key.
	resp = explainOK(t, hs.URL, map[string]any{"input": input, "kind": "enc-self", "head": 1, "query_token": 5})
	if resp.Query.Token != "a" || len(resp.Keys) != 6 || resp.Target != nil || resp.Roles[0] != explain.RoleQuery {
		t.Errorf("enc-self: %+v", resp.Walkthrough)
	}
}

// TestExplainBadRequests: every bad request is refused with its status,
// code and field, and the server goes on serving.
func TestExplainBadRequests(t *testing.T) {
	_, hs := newTestServer(t, Config{MaxInputChars: 20, MaxBodyBytes: 4096},
		Model{Name: "s2s", Pipeline: untrained(t, model.ArchSeq2Seq)}, Model{Name: "rnn", Pipeline: untrained(t, model.ArchRNNSearch)})
	for _, tc := range []struct {
		name, body  string
		code        int
		errCode     string
		field, word string // word: in the message
	}{
		{"not JSON", `{"input": abc}`, 400, CodeInvalidJSON, "", "byte"},
		{"empty body", ``, 400, CodeInvalidJSON, "", "query_token"},
		{"unknown field", `{"input": "abc", "query_token": 0, "token": 1}`, 400, CodeUnknownField, "token", "query_token"},
		{"wrong type", `{"input": "abc", "query_token": 0, "layer": "0"}`, 400, CodeWrongType, "layer", "whole number"},
		{"wrong type of target_tokens", `{"input": "abc", "query_token": 0, "target_tokens": "AH"}`, 400, CodeWrongType, "target_tokens", "list"},
		{"invalid UTF-8", "{\"input\": \"ab\xff\", \"query_token\": 0}", 400, CodeInvalidUTF8, "input", "UTF-8"},
		{"unknown model", `{"model": "nope", "input": "abc", "query_token": 0}`, 400, CodeUnknownModel, "model", `"g2p"`},
		{"seq2seq", `{"model": "s2s", "input": "abc", "query_token": 0}`, 400, CodeUnsupported, "model", "no attention"},
		{"RNNsearch", `{"model": "rnn", "input": "abc", "query_token": 0}`, 400, CodeUnsupported, "model", "additive"},
		{"bad kind", `{"input": "abc", "query_token": 0, "kind": "self"}`, 400, CodeOutOfRange, "kind", "enc-self"},
		{"no input", `{"query_token": 0}`, 400, CodeMissingField, "input", "source text"},
		{"blank input", `{"input": "  ", "query_token": 0}`, 400, CodeMissingField, "input", "blank"},
		{"long input", `{"input": "` + strings.Repeat("a", 21) + `", "query_token": 0}`, 400, CodeOutOfRange, "input", "--max-input-chars"},
		{"no query_token", `{"input": "abc"}`, 400, CodeMissingField, "query_token", "position"},
		{"layer too high", `{"input": "abc", "query_token": 0, "layer": 1}`, 400, CodeOutOfRange, "layer", "(0 to 0)"},
		{"layer negative", `{"input": "abc", "query_token": 0, "kind": "enc-self", "layer": -1}`, 400, CodeOutOfRange, "layer", "encoder"},
		{"head too high", `{"input": "abc", "query_token": 0, "head": 2}`, 400, CodeOutOfRange, "head", "(0 to 1)"},
		{"source query out of range", `{"input": "abc", "query_token": 3, "kind": "enc-self"}`, 400, CodeOutOfRange, "query_token", "(0 to 2)"},
		{"decoder query out of range", `{"input": "abc", "query_token": 3, "target_tokens": ["AH"]}`, 400, CodeOutOfRange, "query_token", "(0 to 1)"},
		{"negative query", `{"input": "abc", "query_token": -1}`, 400, CodeOutOfRange, "query_token", "out of range"},
		{"unknown target token", `{"input": "abc", "query_token": 0, "target_tokens": ["AH", "ZZ"]}`, 400, CodeBadInput, "target_tokens", `"ZZ"`},
		{"special target token", `{"input": "abc", "query_token": 0, "target_tokens": ["</s>"]}`, 400, CodeBadInput, "target_tokens", "vocabulary"},
		{"target and tokens", `{"input": "abc", "query_token": 0, "target": "AH", "target_tokens": ["AH"]}`, 400, CodeOutOfRange, "target_tokens", "give one"},
		{"target with enc-self", `{"input": "abc", "query_token": 0, "kind": "enc-self", "target": "AH"}`, 400, CodeOutOfRange, "target", "enc-self"},
		{"target too long", `{"input": "abc", "query_token": 0, "target_tokens": [` + strings.Repeat(`"AH",`, 40) + `"AH"]}`, 400, CodeOutOfRange, "target_tokens", "positions"},
		{"body too large", `{"input": "` + strings.Repeat("a", 5000) + `", "query_token": 0}`, 413, CodeBodyTooLarge, "", "--max-body"},
	} {
		code, body := post(t, hs.URL+"/v1/explain", tc.body)
		if code != tc.code {
			t.Errorf("%s: status %d, want %d: %s", tc.name, code, tc.code, body)
			continue
		}
		e := apiError(t, body)
		if e.Code != tc.errCode || e.Field != tc.field || !strings.Contains(e.Message, tc.word) || strings.Contains(e.Message, "--query-token") {
			t.Errorf("%s: %+v, want code %s field %q and %q in the message", tc.name, e, tc.errCode, tc.field, tc.word)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/explain", nil)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/explain: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// Still serving.
	if r := explainOK(t, hs.URL, map[string]any{"input": "abc", "query_token": 0}); len(r.Keys) != 3 {
		t.Errorf("after the bad requests: %+v", r.Walkthrough)
	}
}
