package serve

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// ensembleOf returns a pipeline decoding with every model of ps at once,
// as pipeline.LoadEnsemble builds it.
func ensembleOf(t *testing.T, ps ...*pipeline.Pipeline) *pipeline.Pipeline {
	t.Helper()
	var ms []model.Model
	for _, p := range ps {
		ms = append(ms, p.Model)
	}
	ens, err := model.NewEnsemble(ms...)
	if err != nil {
		t.Fatal(err)
	}
	out := *ps[0]
	out.Model, out.Config.Model = ens, ens.Config()
	return &out
}

// TestServesAnEnsemble: an ensemble is described as one (its members,
// their parameters summed, no attention), decodes what the library
// decodes with it, answers "attention": true with no maps rather than
// empty ones (as a seq2seq model does), and is refused a walk-through by
// name.
func TestServesAnEnsemble(t *testing.T) {
	trained, rnn, s2s := tiny(t), untrained(t, model.ArchRNNSearch), untrained(t, model.ArchSeq2Seq)
	ens := ensembleOf(t, trained, rnn)
	_, hs := newTestServer(t, Config{}, Model{Name: "ens", Pipeline: ens}, Model{Name: "s2s", Pipeline: s2s})

	_, _, body := get(t, hs.URL+"/v1/models")
	var models ModelsResponse
	if err := json.Unmarshal(body, &models); err != nil {
		t.Fatal(err)
	}
	info := models.Models[1]
	wantParams := trained.Config.Model.ParamCount() + rnn.Config.Model.ParamCount()
	if info.Name != "ens" || info.Arch != ArchEnsemble || info.Parameters != wantParams || len(info.Attention) != 0 ||
		len(info.Members) != 2 || info.Members[0].Arch != model.ArchTransformer || info.Members[1].Arch != model.ArchRNNSearch ||
		info.Members[1].Parameters != rnn.Config.Model.ParamCount() || string(info.Config) != "null" {
		t.Errorf("ensemble info: %s", body)
	}
	if models.Models[0].Members != nil || models.Models[2].Members != nil {
		t.Errorf("single models list members: %s", body)
	}

	inputs := []string{"abc", "fedcba"}
	resp := translate(t, hs.URL, TranslateRequest{Model: "ens", Inputs: inputs, Beam: ptr(2), Attention: true})
	lib := ens.Translate(inputs, pipeline.Options{Search: search.Options{Beam: 2}, BatchSize: 2})
	alone := trained.Translate(inputs, pipeline.Options{Search: search.Options{Beam: 2}, BatchSize: 2})
	differs := false
	for i, r := range resp.Results {
		if lib[i].Err != nil || len(r.Outputs) == 0 || r.Outputs[0].Text != lib[i].Hyps[0].Text {
			t.Errorf("input %q: served %+v, the library decodes %+v", inputs[i], r.Outputs, lib[i])
			continue
		}
		if r.Outputs[0].Attention != nil || r.EncoderAttention != nil {
			t.Errorf("input %q: the ensemble returned attention %v %v", inputs[i], r.Outputs[0].Attention, r.EncoderAttention)
		}
		differs = differs || r.Outputs[0].Score != jsonFloat(alone[i].Hyps[0].Score)
	}
	if !differs {
		t.Error("the ensemble scores its outputs as its first member alone does: the second member is not used")
	}
	resp = translate(t, hs.URL, TranslateRequest{Model: "s2s", Inputs: inputs[:1], Attention: true})
	if o := resp.Results[0].Outputs[0]; o.Attention != nil {
		t.Errorf("seq2seq returned attention %v", o.Attention)
	}

	code, body := post(t, hs.URL+"/v1/explain", ExplainRequest{Model: "ens", Input: "abc"})
	if e := apiError(t, body); code != http.StatusBadRequest || e.Code != CodeUnsupported || e.Field != "model" {
		t.Errorf("explain on an ensemble: %d %s", code, body)
	}
}

// TestDefaultDecoding: a model served with a default decoding (a built-in
// model's card) decodes a request that gives no beam with it, and its α
// with a beam over 1; a request's own beam and alpha win, greedy takes no
// α, sampling keeps its own; GET /v1/models says it; New refuses one out
// of range.
func TestDefaultDecoding(t *testing.T) {
	p := tiny(t)
	def := Decoding{Beam: 3, Alpha: 0.6}
	_, hs := newTestServer(t, Config{}, Model{Name: "carded", Pipeline: p, Decoding: def})
	_, _, body := get(t, hs.URL+"/v1/models")
	var models ModelsResponse
	if err := json.Unmarshal(body, &models); err != nil {
		t.Fatal(err)
	}
	if models.Models[0].Decoding != (Decoding{Beam: 1}) || models.Models[1].Decoding != def {
		t.Errorf("decodings: %s", body)
	}
	in := []string{"fedcba"}
	score := func(o search.Options) float64 {
		r := p.Translate(in, pipeline.Options{Search: o, BatchSize: 1})
		if r[0].Err != nil {
			t.Fatal(r[0].Err)
		}
		return r[0].Hyps[0].Score
	}
	withCard, greedy, beam3 := score(search.Options{Beam: 3, LengthPenalty: 0.6}), score(search.Options{Beam: 1}), score(search.Options{Beam: 3})
	if withCard == greedy || withCard == beam3 {
		t.Fatalf("the test needs scores that differ: card %v, greedy %v, beam 3 α 0 %v", withCard, greedy, beam3)
	}
	for _, tc := range []struct {
		what string
		req  TranslateRequest
		want float64
	}{
		{"no beam", TranslateRequest{Model: "carded"}, withCard},
		{"beam 1", TranslateRequest{Model: "carded", Beam: ptr(1)}, greedy},
		{"alpha 0", TranslateRequest{Model: "carded", Alpha: ptr(0.0)}, beam3},
		{"beam 3, no alpha", TranslateRequest{Model: "carded", Beam: ptr(3)}, withCard},
		{"another model", TranslateRequest{Model: "g2p"}, greedy},
	} {
		tc.req.Inputs = in
		r := translate(t, hs.URL, tc.req)
		if got := r.Results[0].Outputs[0].Score; got != jsonFloat(tc.want) {
			t.Errorf("%s: score %v, want %v", tc.what, got, tc.want)
		}
	}
	if r := translate(t, hs.URL, TranslateRequest{Model: "carded", Inputs: in, Sample: true, NBest: 2}); len(r.Results[0].Outputs) != 2 {
		t.Errorf("sampling: %+v", r.Results[0])
	}
	if _, err := New([]Model{{Name: "x", Pipeline: p, Decoding: Decoding{Beam: 99}}}, Config{}); err == nil {
		t.Error("New took a default beam of 99 with --max-beam 16")
	}
}
