package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// Which problems refuse a request and which are an error of one input:
//
//   - The request is refused (4xx, nothing decoded) when the request itself
//     is wrong: its method, content type or size; a body that is not one
//     JSON object of the API's fields with the right types; text that is
//     not UTF-8; no inputs or more than --max-inputs; an unknown model; an
//     option out of range.
//   - An input the model cannot read — empty or blank, longer than
//     --max-input-chars characters or than the model's max_src_len tokens,
//     holding a symbol the model never saw when strict — is an error of
//     that input: its result has "error" and no outputs, and the other
//     inputs are decoded (200). When no input of a request can be read,
//     the request is refused (400, code bad_input, field of the first).

// httpError is a refusal of a request: a status code and what to say.
type httpError struct {
	status int
	APIError
}

func (e *httpError) Error() string { return e.Message }

func refuse(status int, code, field, format string, args ...any) *httpError {
	return &httpError{status, APIError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}}
}

// decodeRequest reads and checks the body of a translate request.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request) (*TranslateRequest, *httpError) {
	req := new(TranslateRequest)
	if herr := s.readJSON(w, r, req, translateSchema); herr != nil {
		return nil, herr
	}
	return req, nil
}

// schema is what readJSON says of a request type in its errors: its
// fields, what each holds, and an example body.
type schema struct {
	fields   string              // "model, inputs, beam, …"
	typeName func(string) string // what a field holds, by its path
	example  string
}

var translateSchema = schema{
	fields:   "model, inputs, beam, nbest, alpha, max_len, max_len_a, max_len_b, sample, temperature, top_k, seed, strict, allow_unk, attention",
	typeName: typeName, example: example,
}

// readJSON reads the body of r into v: one JSON object of v's fields, in
// UTF-8, within --max-body, as Content-Type application/json (or none).
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any, sc schema) *httpError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return refuse(http.StatusUnsupportedMediaType, CodeContentType, "",
				"the body must be JSON sent as Content-Type: application/json, not %s (with curl: -H 'Content-Type: application/json')", excerpt.Quote(ct))
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return refuse(http.StatusUnsupportedMediaType, CodeContentType, "",
				"the body must be UTF-8, not charset %s", excerpt.Quote(cs))
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "",
				"the body is over %d bytes (--max-body): send fewer or shorter inputs a request", s.cfg.MaxBodyBytes)
		}
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "reading the body: %v", err)
	}
	if !utf8.Valid(body) {
		field, at := locateInvalidUTF8(body)
		return refuse(http.StatusBadRequest, CodeInvalidUTF8, field,
			"the body is not valid UTF-8 (byte %d%s): JSON text must be UTF-8", at, inField(field))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, body, sc)
	}
	if _, err := dec.Token(); err != io.EOF {
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "",
			"the body holds more than one JSON value (at byte %d): send one object", dec.InputOffset())
	}
	return nil
}

func inField(field string) string {
	if field == "" {
		return ""
	}
	return ", in " + field
}

// example is a request to show in error messages.
const example = `{"inputs": ["hello"]}`

// jsonError turns a decoding error into a refusal naming the field.
func jsonError(err error, body []byte, sc schema) *httpError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body is empty: send a JSON object such as %s", sc.example)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body ends in the middle of its JSON: send a whole object such as %s", sc.example)
	case errors.As(err, &syn):
		return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body is not valid JSON: %v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		field, value := fieldPath(typ.Field), typ.Value
		if field == "inputs" {
			// The decoder names the list, not the element at fault.
			var raw struct{ Inputs []json.RawMessage }
			if json.Unmarshal(body, &raw) == nil {
				for i, in := range raw.Inputs {
					if v := jsonKind(in); v != "string" {
						field, value = fmt.Sprintf("inputs[%d]", i), v
						break
					}
				}
			}
		}
		if field == "" {
			return refuse(http.StatusBadRequest, CodeWrongType, "", "the body must be a JSON object such as %s, not a JSON %s", sc.example, typ.Value)
		}
		return refuse(http.StatusBadRequest, CodeWrongType, field, "%s must be %s, not a JSON %s", field, sc.typeName(field), value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f, err := strconv.Unquote(name); err == nil {
			name = f
		}
		return refuse(http.StatusBadRequest, CodeUnknownField, name,
			"unknown field %s: the fields are %s", excerpt.Quote(name), sc.fields)
	}
	return refuse(http.StatusBadRequest, CodeInvalidJSON, "", "the body is not valid JSON: %v", err)
}

// jsonKind names the kind of a JSON value as the decoder's errors do.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "value"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// fieldPath writes the decoder's "inputs.2" as "inputs[2]".
func fieldPath(f string) string {
	parts := strings.Split(f, ".")
	var b strings.Builder
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			fmt.Fprintf(&b, "[%s]", p)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// typeName says what a field of TranslateRequest holds.
func typeName(field string) string {
	switch {
	case field == "inputs":
		return `a list of strings, e.g. ["hello", "world"]`
	case strings.HasPrefix(field, "inputs["):
		return "a string"
	case field == "model":
		return "a string"
	case field == "alpha" || field == "temperature" || field == "max_len_a":
		return "a number"
	case field == "sample" || field == "strict" || field == "allow_unk" || field == "attention":
		return "true or false"
	case field == "seed":
		return "a whole number ≥ 0"
	}
	return "a whole number"
}

// locateInvalidUTF8 returns the field holding the first byte that is not
// UTF-8 ("inputs[1]", "input", or "" when it is outside the fields' values)
// and that byte's offset.
func locateInvalidUTF8(body []byte) (field string, at int) {
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n <= 1 {
			at = i
			break
		}
		i += n
	}
	// Invalid bytes inside strings do not stop the decoder.
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return "", at
	}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		v := raw[name]
		if utf8.Valid(v) {
			continue
		}
		var list []json.RawMessage
		if json.Unmarshal(v, &list) == nil {
			for i, in := range list {
				if !utf8.Valid(in) {
					return fmt.Sprintf("%s[%d]", name, i), at
				}
			}
		}
		return name, at
	}
	return "", at
}

// options turns the request's decoding fields into pipeline options,
// checked by pipeline.Options.Check (the ranges of qkv predict) and by the
// server's own bound on the beam. A search that gives no beam takes the
// model's default decoding (def), and a beam over 1 with no alpha the
// model's α, as qkv predict does for a built-in model.
func (s *Server) options(req *TranslateRequest, def Decoding) (pipeline.Options, *httpError) {
	beam, alpha, temp, seed := 1, 0.0, 1.0, uint64(1)
	if !req.Sample && def.Beam > 0 {
		beam = def.Beam
	}
	if req.Beam != nil {
		beam = *req.Beam
	}
	if !req.Sample && beam > 1 {
		alpha = def.Alpha
	}
	if req.Alpha != nil {
		alpha = *req.Alpha
	}
	if req.Temperature != nil {
		temp = *req.Temperature
	}
	if req.Seed != nil {
		seed = *req.Seed
	}
	opt := pipeline.Options{BatchSize: 1, Strict: req.Strict, Search: search.Options{
		Beam: beam, NBest: req.NBest, LengthPenalty: alpha, MaxLen: req.MaxLen, Sample: req.Sample,
		Temperature: temp, TopK: req.TopK, Seed: seed, AllowUnk: req.AllowUnk, Attention: req.Attention,
	}, MaxLenA: s.cfg.MaxLenA, MaxLenB: s.cfg.MaxLenB}
	if req.MaxLenA != nil {
		opt.MaxLenA = req.MaxLenA
	}
	if req.MaxLenB != nil {
		opt.MaxLenB = req.MaxLenB
	}
	if err := opt.Check(); err != nil {
		return opt, optionError(err)
	}
	if req.Strict && req.AllowUnk {
		return opt, refuse(http.StatusBadRequest, CodeOutOfRange, "allow_unk",
			"strict and allow_unk do not go together: strict refuses inputs with unknown symbols, allow_unk lets outputs hold <unk>")
	}
	if beam > s.cfg.MaxBeam {
		return opt, refuse(http.StatusBadRequest, CodeOutOfRange, "beam",
			"beam %d is out of range: this server takes beams of 1 to %d (--max-beam)", beam, s.cfg.MaxBeam)
	}
	if req.Sample && req.NBest > s.cfg.MaxBeam {
		return opt, refuse(http.StatusBadRequest, CodeOutOfRange, "nbest",
			"nbest %d is out of range: this server draws 1 to %d samples per input (--max-beam)", req.NBest, s.cfg.MaxBeam)
	}
	// Options that do not change the result must not keep requests apart.
	if !opt.Search.Sample {
		opt.Search.Temperature, opt.Search.TopK, opt.Search.Seed = 0, 0, 0
	}
	return opt, nil
}

// flagFields maps the flags that pipeline.Options.Check names to the
// request's fields.
var flagFields = []struct{ flag, field string }{
	{"--beam", "beam"}, {"--nbest", "nbest"}, {"--alpha", "alpha"}, {"--max-len-a", "max_len_a"}, {"--max-len-b", "max_len_b"}, {"--max-len", "max_len"},
	{"--sample", "sample"}, {"--temperature", "temperature"}, {"--top-k", "top_k"}, {"--batch-size", "batch_size"},
}

// optionError rewrites Check's error in the API's words: "beam" for
// "--beam", and the field it starts with.
func optionError(err error) *httpError {
	msg := err.Error()
	field := ""
	at := len(msg)
	for _, f := range flagFields {
		if i := strings.Index(msg, f.flag); i >= 0 && i < at {
			field, at = f.field, i
		}
	}
	for _, f := range flagFields {
		msg = strings.ReplaceAll(msg, f.flag, f.field)
	}
	return refuse(http.StatusBadRequest, CodeOutOfRange, field, "%s", msg)
}

// handleTranslate answers POST /v1/translate.
func (s *Server) handleTranslate(w http.ResponseWriter, r *http.Request) int {
	start := time.Now()
	fail := func(e *httpError) int {
		if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		return writeError(w, e.status, e.APIError)
	}
	if s.draining.Load() {
		return fail(refuse(http.StatusServiceUnavailable, CodeShuttingDown, "", "the server is shutting down: send the request to another one"))
	}
	req, herr := s.decodeRequest(w, r)
	if herr != nil {
		return fail(herr)
	}
	m, herr := s.model(req.Model)
	if herr != nil {
		return fail(herr)
	}
	if len(req.Inputs) == 0 {
		return fail(refuse(http.StatusBadRequest, CodeMissingField, "inputs", "inputs is missing or empty: send a list of texts, e.g. %s", example))
	}
	if len(req.Inputs) > s.cfg.MaxInputs {
		return fail(refuse(http.StatusBadRequest, CodeOutOfRange, "inputs",
			"%d inputs: this server takes at most %d a request (--max-inputs); send them in several requests", len(req.Inputs), s.cfg.MaxInputs))
	}
	opt, herr := s.options(req, m.Decoding)
	if herr != nil {
		return fail(herr)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	jr := &request{ctx: ctx, key: keyOf(opt), opt: opt,
		results: make([]pipeline.Result, len(req.Inputs)), done: make(chan struct{})}
	// Inputs the model cannot read are errors of their own and never queued.
	var idx []int
	var lines []string
	for i, in := range req.Inputs {
		if err := s.checkInput(m, in, opt.Strict); err != nil {
			jr.results[i] = pipeline.Result{Source: in, Err: err}
			continue
		}
		idx = append(idx, i)
		lines = append(lines, in)
	}
	if len(lines) == 0 {
		return fail(refuse(http.StatusBadRequest, CodeBadInput, "inputs[0]", "no input could be read: inputs[0]: %v", jr.results[0].Err))
	}
	jr.pending = len(lines)
	jr.arrived = time.Now()
	if err := m.b.submit(jr, idx, lines); err != nil {
		if errors.Is(err, errClosed) {
			return fail(refuse(http.StatusServiceUnavailable, CodeShuttingDown, "", "the server is shutting down: send the request to another one"))
		}
		return fail(refuse(http.StatusTooManyRequests, CodeOverloaded, "",
			"model %s has %d inputs waiting already (--max-queue %d); retry later", strconv.Quote(m.Name), s.cfg.MaxQueue, s.cfg.MaxQueue))
	}
	select {
	case <-jr.done:
	case <-ctx.Done():
		select {
		case <-jr.done: // finished just in time
		default:
			m.b.cancel(jr)
			if r.Context().Err() != nil {
				return 499 // the client went away: nobody to answer
			}
			return fail(refuse(http.StatusGatewayTimeout, CodeTimeout, "",
				"the request was not decoded within %v (--timeout): send fewer or shorter inputs, a smaller beam, or retry when the server is less busy", s.cfg.Timeout))
		}
	}
	resp := TranslateResponse{Model: m.Name, Results: make([]Result, len(req.Inputs))}
	jr.mu.Lock()
	started := jr.started
	jr.mu.Unlock()
	for i, res := range jr.results {
		resp.Results[i] = result(req.Inputs[i], res, req.Attention)
		var ie *internalError
		if errors.As(res.Err, &ie) {
			return fail(refuse(http.StatusInternalServerError, CodeInternal, "", "%v; it is logged", ie))
		}
	}
	now := time.Now()
	resp.Timing = Timing{QueueMS: ms(started.Sub(jr.arrived)), DecodeMS: ms(now.Sub(started)), TotalMS: ms(now.Sub(start))}
	return writeJSON(w, http.StatusOK, resp)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// model returns the model a request names (the default when none).
func (s *Server) model(name string) (*served, *httpError) {
	if name == "" {
		return s.models[s.order[0]], nil
	}
	m, ok := s.models[name]
	if !ok {
		return nil, refuse(http.StatusBadRequest, CodeUnknownModel, "model",
			"no model named %s: this server has %s (GET /v1/models lists them)", excerpt.Quote(name), s.modelNames())
	}
	return m, nil
}

// checkInput returns why the model cannot read in, or nil.
func (s *Server) checkInput(m *served, in string, strict bool) error {
	if n := utf8.RuneCountInString(in); n > s.cfg.MaxInputChars {
		return fmt.Errorf("input is %d characters long; this server takes at most %d (--max-input-chars)", n, s.cfg.MaxInputChars)
	}
	var err error
	if strict {
		_, err = m.Pipeline.EncodeSource(in)
	} else {
		_, _, err = m.Pipeline.EncodeSourceUnk(in)
	}
	return err
}

// result is the API's form of one input's result.
func result(input string, r pipeline.Result, attention bool) Result {
	out := Result{Input: input, SourceTokens: r.SourceTokens, Unknown: r.Unknown, Outputs: []Output{}}
	if r.Err != nil {
		out.Error = r.Err.Error()
		if errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded) {
			out.Error = "not decoded: the request was cancelled"
		}
		return out
	}
	for _, h := range r.Hyps {
		o := Output{Text: h.Text, Tokens: h.Tokens, Score: jsonFloat(h.Score), LogProb: jsonFloat(h.LogProb), Finished: h.Finished}
		if o.Tokens == nil {
			o.Tokens = []string{}
		}
		// A model with no attention (seq2seq, an ensemble) leaves it out
		// rather than giving an empty map per token.
		if attention && slices.ContainsFunc(h.Attention, func(step []search.Map) bool { return len(step) > 0 }) {
			for _, step := range h.Attention {
				mods := make(map[string][][]float32, len(step))
				for _, m := range step {
					mods[m.Name] = rows(m.Weights, m.Heads, m.Keys)
					if m.Copies {
						o.CopyProb, o.CopyModule = append(o.CopyProb, m.PCopy), m.Name
					}
				}
				o.Attention = append(o.Attention, mods)
			}
		}
		out.Outputs = append(out.Outputs, o)
	}
	if attention && len(r.EncoderAttn) > 0 {
		out.EncoderAttention = map[string][][][]float32{}
		for _, m := range r.EncoderAttn {
			// Heads counts (head, query) rows; queries and keys are the source tokens.
			n := m.Keys
			if n == 0 {
				continue
			}
			flat := rows(m.Weights, m.Heads, n)
			var heads [][][]float32
			for h := 0; h+n <= len(flat); h += n {
				heads = append(heads, flat[h:h+n])
			}
			out.EncoderAttention[m.Name] = heads
		}
	}
	return out
}

// rows splits weights into n rows of k.
func rows(weights []float32, n, k int) [][]float32 {
	out := make([][]float32, 0, n)
	for i := 0; i < n && (i+1)*k <= len(weights); i++ {
		out = append(out, weights[i*k:(i+1)*k:(i+1)*k])
	}
	return out
}
