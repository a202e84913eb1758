package serve

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/explain"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/model"
)

// ExplainRequest is the body of POST /v1/explain: which query token of
// which head to walk through (qkv explain's flags, as JSON).
type ExplainRequest struct {
	Model string `json:"model"` // a name from GET /v1/models; may be left out when one model is served
	Input string `json:"input"` // the source text
	// The decoder's side, for dec-self and cross: the output tokens as
	// /v1/translate returned them (target_tokens), or a text the model
	// tokenizes (target); neither: the model's own greedy output.
	Target       string   `json:"target"`
	TargetTokens []string `json:"target_tokens"`
	Kind         string   `json:"kind"`        // "enc-self", "dec-self" or "cross" (the default)
	Layer        *int     `json:"layer"`       // 0-based; default the last layer
	Head         int      `json:"head"`        // 0-based
	QueryToken   *int     `json:"query_token"` // the query: a source token (enc-self) or a decoder step (dec-self, cross); required
}

// ExplainResponse is the answer to POST /v1/explain: the model's name and
// the walk-through (explain.Walkthrough's fields).
type ExplainResponse struct {
	Model string `json:"model"`
	*explain.Walkthrough
}

var explainSchema = schema{
	fields: "model, input, target, target_tokens, kind, layer, head, query_token",
	typeName: func(field string) string {
		switch {
		case field == "model" || field == "input" || field == "target" || field == "kind" || strings.HasPrefix(field, "target_tokens["):
			return "a string"
		case field == "target_tokens":
			return `a list of strings (the output tokens of /v1/translate)`
		}
		return "a whole number"
	},
	example: `{"input": "hello", "kind": "cross", "layer": 0, "head": 0, "query_token": 0}`,
}

// explainSlots bounds the walk-throughs computed at once: each is a
// forward pass (and, without a target, a greedy decode) outside the
// batchers, so it must not crowd out decoding.
const explainSlots = 2

// walkFlags maps the flags that explain.Walk names to the request's fields.
var walkFlags = []struct{ flag, field string }{
	{"--query-token", "query_token"}, {"--layer", "layer"}, {"--head", "head"}, {"--kind", "kind"},
	{"--input", "input"}, {"--target", "target"},
}

// handleExplain answers POST /v1/explain.
func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) int {
	fail := func(e *httpError) int {
		if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		return writeError(w, e.status, e.APIError)
	}
	if s.draining.Load() {
		return fail(refuse(http.StatusServiceUnavailable, CodeShuttingDown, "", "the server is shutting down: send the request to another one"))
	}
	req := new(ExplainRequest)
	if herr := s.readJSON(w, r, req, explainSchema); herr != nil {
		return fail(herr)
	}
	m, herr := s.model(req.Model)
	if herr != nil {
		return fail(herr)
	}
	q, herr := s.walkQuery(m, req)
	if herr != nil {
		return fail(herr)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	select {
	case s.walks <- struct{}{}:
		defer func() { <-s.walks }()
	case <-ctx.Done():
		if r.Context().Err() != nil {
			return 499
		}
		return fail(refuse(http.StatusGatewayTimeout, CodeTimeout, "",
			"no walk-through could start within %v (--timeout): the server is busy explaining; retry later", s.cfg.Timeout))
	}
	wt, err := explain.Walk(m.Pipeline, req.Input, q)
	if err != nil {
		return fail(walkError(err))
	}
	return writeJSON(w, http.StatusOK, ExplainResponse{Model: m.Name, Walkthrough: wt})
}

// walkQuery checks the request against the model and returns the query.
func (s *Server) walkQuery(m *served, req *ExplainRequest) (explain.Query, *httpError) {
	cfg := m.Pipeline.Config.Model
	if e, ok := m.Pipeline.Model.(*model.Ensemble); ok {
		return explain.Query{}, refuse(http.StatusBadRequest, CodeUnsupported, "model",
			"the Q·K·V walk-through follows one Transformer's attention; model %s is an ensemble of %d models, whose attentions are not averaged: serve one of its members on its own (--model NAME=DIR) to walk through it",
			m.Name, len(e.Members()))
	}
	if cfg.Arch != model.ArchTransformer {
		what := "no attention at all: its encoder hands the decoder one vector"
		if cfg.Arch == model.ArchRNNSearch {
			what = "additive attention (a small network scores each source token), not queries, keys and values; /v1/translate with \"attention\": true returns its weights"
		}
		return explain.Query{}, refuse(http.StatusBadRequest, CodeUnsupported, "model",
			"the Q·K·V walk-through needs a Transformer; model %s is %s, which has %s", m.Name, cfg.Arch, what)
	}
	if req.Kind == "" {
		req.Kind = explain.Cross
	}
	var layers int
	switch req.Kind {
	case explain.EncSelf:
		layers = cfg.EncLayers
	case explain.DecSelf, explain.Cross:
		layers = cfg.DecLayers
	default:
		return explain.Query{}, refuse(http.StatusBadRequest, CodeOutOfRange, "kind",
			"kind %s is not a kind of attention: use \"enc-self\", \"dec-self\" or \"cross\"", excerpt.Quote(req.Kind))
	}
	if strings.TrimSpace(req.Input) == "" {
		return explain.Query{}, refuse(http.StatusBadRequest, CodeMissingField, "input",
			"input is missing or blank: give the source text, e.g. %s", explainSchema.example)
	}
	if n := utf8.RuneCountInString(req.Input); n > s.cfg.MaxInputChars {
		return explain.Query{}, refuse(http.StatusBadRequest, CodeOutOfRange, "input",
			"input is %d characters long; this server takes at most %d (--max-input-chars)", n, s.cfg.MaxInputChars)
	}
	if req.QueryToken == nil {
		return explain.Query{}, refuse(http.StatusBadRequest, CodeMissingField, "query_token",
			"query_token is missing: give the query's position, 0-based (a source token for enc-self, a decoder step for dec-self and cross)")
	}
	if req.Kind == explain.EncSelf && (req.Target != "" || req.TargetTokens != nil) {
		field := "target"
		if req.TargetTokens != nil {
			field = "target_tokens"
		}
		return explain.Query{}, refuse(http.StatusBadRequest, CodeOutOfRange, field,
			"%s sets the decoder's side, which enc-self does not use: leave it out, or use kind dec-self or cross", field)
	}
	if req.Target != "" && req.TargetTokens != nil {
		return explain.Query{}, refuse(http.StatusBadRequest, CodeOutOfRange, "target_tokens",
			"target and target_tokens both set the decoder's side: give one")
	}
	layer := layers - 1
	if req.Layer != nil {
		layer = *req.Layer
	}
	if layer < 0 || layer >= layers {
		where := "decoder"
		if req.Kind == explain.EncSelf {
			where = "encoder"
		}
		return explain.Query{}, refuse(http.StatusBadRequest, CodeOutOfRange, "layer",
			"layer %d is out of range: the %s of model %s has %d layers (0 to %d)", layer, where, m.Name, layers, layers-1)
	}
	if req.Head < 0 || req.Head >= cfg.Heads {
		return explain.Query{}, refuse(http.StatusBadRequest, CodeOutOfRange, "head",
			"head %d is out of range: each layer of model %s has %d heads (0 to %d)", req.Head, m.Name, cfg.Heads, cfg.Heads-1)
	}
	if n := len(req.TargetTokens); n >= cfg.MaxLen {
		return explain.Query{}, refuse(http.StatusBadRequest, CodeOutOfRange, "target_tokens",
			"target_tokens holds %d tokens; model %s has %d positions, so at most %d", n, m.Name, cfg.MaxLen, cfg.MaxLen-1)
	}
	return explain.Query{Kind: req.Kind, Layer: layer, Head: req.Head, Token: *req.QueryToken,
		Target: req.Target, TargetTokens: req.TargetTokens}, nil
}

// walkError turns an error of explain.Walk into a refusal naming the
// request field: Walk names qkv explain's flags.
func walkError(err error) *httpError {
	msg := err.Error()
	field, at := "", len(msg)
	for _, f := range walkFlags {
		if i := strings.Index(msg, f.flag); i >= 0 && i < at {
			field, at = f.field, i
		}
	}
	if field == "" {
		return refuse(http.StatusInternalServerError, CodeInternal, "", "the walk-through failed: %v", err)
	}
	for _, f := range walkFlags {
		msg = strings.ReplaceAll(msg, f.flag, f.field)
	}
	code := CodeOutOfRange
	if field == "input" || field == "target" {
		code = CodeBadInput
	}
	if strings.HasPrefix(msg, "target: token") {
		// The tokens were given as a list: name the list.
		field = "target_tokens"
	}
	return refuse(http.StatusBadRequest, code, field, "%s", msg)
}
