package serve

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// TestTrainedModelServes: the tiny model has learnt its task, so the tests
// below compare real outputs, not noise.
func TestTrainedModelServes(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	resp := translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc", "fed"}})
	if resp.Model != "g2p" || len(resp.Results) != 2 {
		t.Fatalf("%+v", resp)
	}
	for i, want := range []string{"AH BH CH", "FH EH DH"} {
		r := resp.Results[i]
		if r.Error != "" || len(r.Outputs) != 1 || r.Outputs[0].Text != want || !r.Outputs[0].Finished {
			t.Errorf("input %d: %+v, want %q", i, r, want)
		}
		if strings.Join(r.SourceTokens, " ") != strings.Join(strings.Split(r.Input, ""), " ") {
			t.Errorf("input %d: source tokens %q", i, r.SourceTokens)
		}
	}
	if resp.Timing.TotalMS <= 0 || resp.Timing.TotalMS < resp.Timing.DecodeMS {
		t.Errorf("timing %+v", resp.Timing)
	}
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestModelsHealthMetrics(t *testing.T) {
	p := tiny(t)
	_, hs := newTestServer(t, Config{}, Model{Name: "second", Pipeline: p})

	code, hdr, body := get(t, hs.URL+"/v1/models")
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("models: %d %s", code, hdr.Get("Content-Type"))
	}
	var models ModelsResponse
	if err := json.Unmarshal(body, &models); err != nil {
		t.Fatal(err)
	}
	if len(models.Models) != 2 || models.Models[0].Name != "g2p" || !models.Models[0].Default || models.Models[1].Default {
		t.Fatalf("models: %s", body)
	}
	m := models.Models[0]
	if m.Arch != "transformer" || m.Parameters != p.Config.Model.ParamCount() || m.Parameters == 0 ||
		m.SrcVocab != p.Src.Len() || m.TgtVocab != p.Tgt.Len() || m.SrcTokenizer != "char" || m.TgtTokenizer != "word" ||
		m.MaxSrcLen != 12 || len(m.Attention) != 3 {
		t.Errorf("model info %+v", m)
	}
	var cfg map[string]any
	if err := json.Unmarshal(m.Config, &cfg); err != nil || cfg["d_model"] != 32.0 || cfg["heads"] != 2.0 {
		t.Errorf("config %s: %v", m.Config, err)
	}

	code, _, body = get(t, hs.URL+"/healthz")
	if code != 200 || !strings.Contains(string(body), `"status":"ok"`) {
		t.Errorf("healthz: %d %s", code, body)
	}

	// A request to the second model by name, then the metrics.
	// The server must answer what the library decodes for the same request
	// (the tiny model's beam-2 output depends on the CPU's kernels, so it is
	// not written out here).
	resp := translate(t, hs.URL, TranslateRequest{Model: "second", Inputs: []string{"abc"}, Beam: ptr(2)})
	opt := pipeline.Options{Search: search.Options{Beam: 2}, BatchSize: 1} // as the server builds it
	lib := p.Translate([]string{"abc"}, opt)
	if lib[0].Err != nil || len(lib[0].Hyps) == 0 {
		t.Fatalf("library decode: %+v", lib[0])
	}
	want := lib[0].Hyps[0].Text
	if resp.Model != "second" || resp.Results[0].Outputs[0].Text != want {
		t.Errorf("second model: %+v, the library says %q", resp, want)
	}
	outTokens := len(lib[0].Hyps[0].Tokens) + 1 // and </s>
	post(t, hs.URL+"/v1/translate", `{"inputs": 1}`)
	code, hdr, body = get(t, hs.URL+"/metrics")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`qkv_http_requests_total{code="200",endpoint="translate"} 1`,
		`qkv_http_requests_total{code="400",endpoint="translate"} 1`,
		`qkv_http_requests_total{code="200",endpoint="models"} 1`,
		`qkv_http_request_duration_seconds_bucket{endpoint="translate",le="+Inf"} 2`,
		`qkv_batch_inputs_count{model="second"} 1`,
		`qkv_inputs_total{model="second",outcome="decoded"} 1`,
		fmt.Sprintf(`qkv_output_tokens_total{model="second"} %d`, outTokens),
		`qkv_input_tokens_total{model="second"} 3`,
		`qkv_queue_inputs{model="second"} 0`,
		`qkv_decode_seconds_total{model="second"}`,
		`qkv_last_batch_tokens_per_second{model="second"}`,
		`qkv_http_requests_in_flight 1`, // this one
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestRoutes: unknown paths are 404 and wrong methods 405, both in JSON.
func TestRoutes(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v1/translate", 405, "POST"},
		{"PUT", "/v1/translate", 405, "POST"},
		{"POST", "/v1/models", 405, "GET"},
		{"DELETE", "/healthz", 405, "GET"},
		{"POST", "/metrics", 405, "GET"},
		{"GET", "/v2/translate", 404, ""},
		{"GET", "/index.html", 404, ""},
		{"POST", "/", 405, "GET"},
		{"GET", "/static/", 404, ""},
	} {
		req, _ := http.NewRequest(tc.method, hs.URL+tc.path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.code, tc.allow)
			continue
		}
		e := apiError(t, body)
		if (tc.code == 405) != (e.Code == CodeMethod) || !strings.Contains(e.Message, tc.path) {
			t.Errorf("%s %s: %+v", tc.method, tc.path, e)
		}
	}
}

// TestBadRequests: each refusal has its status, code and field, and the
// server goes on serving.
func TestBadRequests(t *testing.T) {
	_, hs := newTestServer(t, Config{MaxInputs: 3, MaxInputChars: 20, MaxBodyBytes: 4096, MaxBeam: 8})
	big := `{"inputs": ["` + strings.Repeat("a", 5000) + `"]}`
	for _, tc := range []struct {
		name, body  string
		ctype       string // default application/json
		code        int
		errCode     string
		field, word string // word: in the message
	}{
		{"not JSON", `{"inputs": [abc]}`, "", 400, CodeInvalidJSON, "", "byte"},
		{"cut short", `{"inputs": ["abc"`, "", 400, CodeInvalidJSON, "", "middle"},
		{"empty body", ``, "", 400, CodeInvalidJSON, "", "empty"},
		{"two objects", `{"inputs": ["abc"]} {}`, "", 400, CodeInvalidJSON, "", "more than one"},
		{"not an object", `["abc"]`, "", 400, CodeWrongType, "", "object"},
		{"inputs a string", `{"inputs": "abc"}`, "", 400, CodeWrongType, "inputs", "list of strings"},
		{"input a number", `{"inputs": ["abc", 5]}`, "", 400, CodeWrongType, "inputs[1]", "a string, not a JSON number"},
		{"input a list", `{"inputs": ["abc", "d", ["e"]]}`, "", 400, CodeWrongType, "inputs[2]", "a string, not a JSON array"},
		{"beam a string", `{"inputs": ["abc"], "beam": "4"}`, "", 400, CodeWrongType, "beam", "whole number"},
		{"beam a fraction", `{"inputs": ["abc"], "beam": 2.5}`, "", 400, CodeWrongType, "beam", "whole number"},
		{"attention a number", `{"inputs": ["abc"], "attention": 1}`, "", 400, CodeWrongType, "attention", "true or false"},
		{"seed negative", `{"inputs": ["abc"], "seed": -1}`, "", 400, CodeWrongType, "seed", "≥ 0"},
		{"unknown field", `{"inputs": ["abc"], "beam_size": 4}`, "", 400, CodeUnknownField, "beam_size", "the fields are"},
		{"invalid UTF-8", "{\"inputs\": [\"abc\", \"a\xffb\"]}", "", 400, CodeInvalidUTF8, "inputs[1]", "byte 21"},
		{"invalid UTF-8 in model", "{\"model\": \"\xff\", \"inputs\": [\"abc\"]}", "", 400, CodeInvalidUTF8, "model", "UTF-8"},
		{"invalid UTF-8 in a key", "{\"in\xffputs\": [\"abc\"]}", "", 400, CodeInvalidUTF8, "", "UTF-8"},
		{"no inputs", `{"beam": 2}`, "", 400, CodeMissingField, "inputs", "missing"},
		{"inputs empty", `{"inputs": []}`, "", 400, CodeMissingField, "inputs", "missing or empty"},
		{"inputs null", `{"inputs": null}`, "", 400, CodeMissingField, "inputs", "missing"},
		{"too many inputs", `{"inputs": ["a", "b", "c", "d"]}`, "", 400, CodeOutOfRange, "inputs", "--max-inputs"},
		{"only input empty", `{"inputs": [""]}`, "", 400, CodeBadInput, "inputs[0]", "empty input"},
		{"only input blank", `{"inputs": ["  \t"]}`, "", 400, CodeBadInput, "inputs[0]", "empty input"},
		{"only input too long", `{"inputs": ["` + strings.Repeat("a", 21) + `"]}`, "", 400, CodeBadInput, "inputs[0]", "--max-input-chars"},
		{"only input over the model's length", `{"inputs": ["` + strings.Repeat("a", 13) + `"]}`, "", 400, CodeBadInput, "inputs[0]", "at most 12"},
		{"strict unknown symbol", `{"inputs": ["abz"], "strict": true}`, "", 400, CodeBadInput, "inputs[0]", `"z"`},
		{"unknown model", `{"model": "fr-en", "inputs": ["abc"]}`, "", 400, CodeUnknownModel, "model", `"g2p"`},
		{"beam 0", `{"inputs": ["abc"], "beam": 0}`, "", 400, CodeOutOfRange, "beam", "beam 0 is out of range"},
		{"beam 300", `{"inputs": ["abc"], "beam": 300}`, "", 400, CodeOutOfRange, "beam", "beam 300"},
		{"beam over the server's", `{"inputs": ["abc"], "beam": 9}`, "", 400, CodeOutOfRange, "beam", "--max-beam"},
		{"nbest over beam", `{"inputs": ["abc"], "beam": 2, "nbest": 3}`, "", 400, CodeOutOfRange, "nbest", "raise beam"},
		{"samples over the server's", `{"inputs": ["abc"], "sample": true, "nbest": 9}`, "", 400, CodeOutOfRange, "nbest", "--max-beam"},
		{"beam with sample", `{"inputs": ["abc"], "sample": true, "beam": 2}`, "", 400, CodeOutOfRange, "beam", "sample"},
		{"negative temperature", `{"inputs": ["abc"], "temperature": -1}`, "", 400, CodeOutOfRange, "temperature", "≥ 0"},
		{"negative top_k", `{"inputs": ["abc"], "top_k": -1}`, "", 400, CodeOutOfRange, "top_k", "top_k -1"},
		{"max_len too big", `{"inputs": ["abc"], "max_len": 100000}`, "", 400, CodeOutOfRange, "max_len", "max_len 100000"},
		{"strict and allow_unk", `{"inputs": ["abc"], "strict": true, "allow_unk": true}`, "", 400, CodeOutOfRange, "allow_unk", "strict"},
		{"form content type", `{"inputs": ["abc"]}`, "application/x-www-form-urlencoded", 415, CodeContentType, "", "Content-Type: application/json"},
		{"other charset", `{"inputs": ["abc"]}`, "application/json; charset=latin1", 415, CodeContentType, "", "UTF-8"},
		{"body too large", big, "", 413, CodeBodyTooLarge, "", "--max-body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ctype
			if ct == "" {
				ct = "application/json"
			}
			resp, err := http.Post(hs.URL+"/v1/translate", ct, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			e := apiError(t, body)
			if e.Code != tc.errCode || e.Field != tc.field || !strings.Contains(e.Message, tc.word) {
				t.Errorf("got %+v\nwant code %s field %q and %q in the message", e, tc.errCode, tc.field, tc.word)
			}
			if len(e.Message) > 300 {
				t.Errorf("a %d-byte message", len(e.Message))
			}
		})
	}
	// Still serving.
	if r := translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}}); r.Results[0].Outputs[0].Text != "AH BH CH" {
		t.Errorf("after the bad requests: %+v", r)
	}
	// No Content-Type at all is taken as JSON.
	resp, err := http.Post(hs.URL+"/v1/translate", "", strings.NewReader(`{"inputs": ["abc"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("without Content-Type: %d", resp.StatusCode)
	}
}

// TestPerInputErrors: inputs the model cannot read are errors of their
// own; the others are decoded.
func TestPerInputErrors(t *testing.T) {
	_, hs := newTestServer(t, Config{MaxInputChars: 20})
	resp := translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc", "", strings.Repeat("a", 21), strings.Repeat("a", 13), "abz", "fed"}})
	wantErr := []string{"", "empty input", "--max-input-chars", "at most 12", "", ""}
	for i, r := range resp.Results {
		switch {
		case wantErr[i] == "" && (r.Error != "" || len(r.Outputs) != 1):
			t.Errorf("input %d: %+v", i, r)
		case wantErr[i] != "" && (!strings.Contains(r.Error, wantErr[i]) || len(r.Outputs) != 0 || r.Outputs == nil):
			t.Errorf("input %d: %+v, want an error with %q and outputs []", i, r, wantErr[i])
		}
	}
	if u := resp.Results[4].Unknown; len(u) != 1 || u[0] != "z" {
		t.Errorf("unknown symbols of abz: %q", u)
	}
	// With strict, abz is an error of its input.
	resp = translate(t, hs.URL, TranslateRequest{Inputs: []string{"abz", "abc"}, Strict: true})
	if !strings.Contains(resp.Results[0].Error, `unknown symbol "z"`) || resp.Results[1].Outputs[0].Text != "AH BH CH" {
		t.Errorf("strict: %+v", resp.Results)
	}
}

// TestConfig: zero fields take the defaults in New, Check refuses values
// out of range by their flag, and NoWait is a wait of none.
func TestConfig(t *testing.T) {
	s, _ := newTestServer(t, Config{MaxWait: NoWait})
	if c := s.Config(); c.MaxWait != NoWait || c.MaxBatch != DefaultConfig().MaxBatch || c.Timeout != DefaultConfig().Timeout {
		t.Errorf("config %+v", c)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxBatch: 5000}, "--max-batch 5000"},
		{Config{MaxWait: 2 * time.Second}, "--max-wait 2s"},
		{Config{MaxWait: -2}, "--max-wait -2ns"},
		{Config{MaxBeam: 1000}, "--max-beam 1000"},
		{Config{MaxBodyBytes: 10}, "--max-body 10"},
		{Config{Timeout: -time.Second}, "--timeout -1s"},
	} {
		if _, err := New([]Model{{Name: "g2p", Pipeline: tiny(t)}}, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (Config{}).Check(); err == nil {
		t.Error("Check passed a zero config")
	}
	p := tiny(t)
	for _, models := range [][]Model{nil, {{Name: "a b", Pipeline: p}}, {{Name: "a", Pipeline: p}, {Name: "a", Pipeline: p}}, {{Name: "a"}}} {
		if _, err := New(models, Config{}); err == nil {
			t.Errorf("New(%v) passed", models)
		}
	}
}

// TestAnswersKeepAngleBrackets: tokens such as </s> read as themselves in
// an answer, not as \u003c/s\u003e.
func TestAnswersKeepAngleBrackets(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, map[string]string{"token": "</s> & <unk>"})
	if got, want := rec.Body.String(), "{\"token\":\"</s> & <unk>\"}\n"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}
