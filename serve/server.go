// Package serve is qkv's HTTP service: a JSON API that decodes text with
// one or more trained models (POST /v1/translate), walks through what one
// attention head computes for one token (POST /v1/explain), describes the
// models (GET /v1/models), and reports its health (GET /healthz) and
// metrics (GET /metrics, Prometheus' text format); and a web page (GET /,
// page.go) that shows the outputs and their attention.
//
// Requests from different clients are decoded together: a batcher per
// model gathers the inputs of every request with the same decoding options
// for a few milliseconds, or until a batch is full, and decodes them in one
// call (see batcher.go). Everything a client can make the server hold is
// bounded — the body, the inputs of a request, each input's length, the
// requests in flight, the inputs queued — and past a bound the answer is an
// error at once (413, 400, 429), never a longer queue. A request that takes
// longer than Config.Timeout is answered 504, and a request whose client
// goes away has its inputs dropped from the queue; a batch whose every
// request is gone stops decoding.
package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// Config bounds and tunes a server. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	MaxBatch   int           // inputs decoded together at most
	MaxWait    time.Duration // how long an input may wait for others to fill its batch (NoWait: never)
	NoBatching bool          // decode each request alone, one at a time (for comparison)

	MaxInputs     int           // inputs in one request
	MaxInputChars int           // characters in one input
	MaxBodyBytes  int64         // bytes in one request body
	MaxQueue      int           // inputs waiting per model
	MaxConcurrent int           // requests being answered at once (all endpoints but /healthz and /metrics)
	MaxBeam       int           // beam size, and samples per input
	Timeout       time.Duration // time to answer one translate request

	// MaxLenA and MaxLenB are the decoding limit that follows the source
	// (pipeline.Options.MaxLenA) for requests that give no max_len_a or
	// max_len_b; nil takes each model's own (data.max_len_a/b).
	MaxLenA *float64
	MaxLenB *int
}

// NoWait as Config.MaxWait decodes what is queued without waiting for more
// (a zero MaxWait takes the default).
const NoWait time.Duration = -1

// DefaultConfig is what the zero fields of a Config become.
func DefaultConfig() Config {
	return Config{
		MaxBatch: 64, MaxWait: 5 * time.Millisecond,
		MaxInputs: 64, MaxInputChars: 2000, MaxBodyBytes: 1 << 20, MaxQueue: 1024,
		MaxConcurrent: 256, MaxBeam: 16, Timeout: 30 * time.Second,
	}
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBatch == 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxWait == 0 {
		c.MaxWait = d.MaxWait
	}
	if c.MaxInputs == 0 {
		c.MaxInputs = d.MaxInputs
	}
	if c.MaxInputChars == 0 {
		c.MaxInputChars = d.MaxInputChars
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = d.MaxQueue
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = d.MaxConcurrent
	}
	if c.MaxBeam == 0 {
		c.MaxBeam = d.MaxBeam
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	return c
}

// Check returns an error naming the first setting out of range, by the
// flag of qkv serve that sets it. It checks a configuration as given: a
// zero is out of range (New fills zero fields with the defaults first).
func (c Config) Check() error {
	bad := func(flag string, v any, want string) error {
		return fmt.Errorf("%s %v is out of range: %s", flag, v, want)
	}
	switch {
	case c.MaxBatch < 1 || c.MaxBatch > pipeline.MaxBatchSize:
		return bad("--max-batch", c.MaxBatch, fmt.Sprintf("decode 1 to %d inputs together", pipeline.MaxBatchSize))
	case (c.MaxWait < 0 && c.MaxWait != NoWait) || c.MaxWait > time.Second:
		return bad("--max-wait", c.MaxWait, "wait 0 to 1s for a batch to fill (a few milliseconds is usual)")
	case c.MaxInputs < 1:
		return bad("--max-inputs", c.MaxInputs, "allow at least 1 input a request")
	case c.MaxInputChars < 1:
		return bad("--max-input-chars", c.MaxInputChars, "allow at least 1 character an input")
	case c.MaxBodyBytes < 64:
		return bad("--max-body", c.MaxBodyBytes, "allow at least 64 bytes a request body")
	case c.MaxQueue < 1:
		return bad("--max-queue", c.MaxQueue, "allow at least 1 queued input")
	case c.MaxConcurrent < 1:
		return bad("--max-concurrent", c.MaxConcurrent, "allow at least 1 request at a time")
	case c.MaxBeam < 1 || c.MaxBeam > search.MaxBeam:
		return bad("--max-beam", c.MaxBeam, fmt.Sprintf("allow beams of 1 to %d", search.MaxBeam))
	case c.Timeout <= 0:
		return bad("--timeout", c.Timeout, "give a positive time")
	}
	return pipeline.Options{Search: search.Options{Beam: 1}, BatchSize: 1, MaxLenA: c.MaxLenA, MaxLenB: c.MaxLenB}.Check()
}

// ArchEnsemble is the architecture GET /v1/models gives an ensemble
// (pipeline.LoadEnsemble): several models decoding as one.
const ArchEnsemble = "ensemble"

// Model is a model to serve under a name.
type Model struct {
	Name     string
	Pipeline *pipeline.Pipeline
	// Decoding is what a request that gives no beam (or no alpha, with a
	// beam over 1) decodes with; the zero value is greedy.
	Decoding Decoding
}

// namePattern is what a model name may hold: it appears in URLs, JSON and
// metric labels.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName refuses a model name the API could not carry cleanly.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("model name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Server serves models over HTTP. Build it with New, mount Handler, and
// call Close once the HTTP server has shut down.
type Server struct {
	cfg      Config
	models   map[string]*served
	order    []string // names in the order given; the first is the default
	met      *metrics
	slots    chan struct{} // one per request in flight (MaxConcurrent)
	walks    chan struct{} // one per Q·K·V walk-through being computed (explainSlots)
	draining atomic.Bool
	handler  http.Handler
}

// served is a model with its batcher.
type served struct {
	Model
	info ModelInfo
	b    *batcher
}

// New starts a batcher for every model. The first model is the default of
// requests that name none.
func New(models []Model, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if len(models) == 0 {
		return nil, errors.New("serve: no model to serve")
	}
	s := &Server{cfg: cfg, models: map[string]*served{}, met: newMetrics(), slots: make(chan struct{}, cfg.MaxConcurrent),
		walks: make(chan struct{}, explainSlots)}
	for _, m := range models {
		if err := CheckName(m.Name); err != nil {
			return nil, err
		}
		if _, dup := s.models[m.Name]; dup {
			return nil, fmt.Errorf("two models are named %q: give each its own name (--model NAME=DIR)", m.Name)
		}
		if m.Pipeline == nil {
			return nil, fmt.Errorf("model %q has no pipeline", m.Name)
		}
		if m.Decoding.Beam == 0 {
			m.Decoding.Beam = 1
		}
		if m.Decoding.Beam < 1 || m.Decoding.Beam > cfg.MaxBeam || m.Decoding.Alpha < 0 {
			return nil, fmt.Errorf("model %q: its default decoding, beam %d and α %v, is out of range: beams of 1 to %d (--max-beam), α ≥ 0",
				m.Name, m.Decoding.Beam, m.Decoding.Alpha, cfg.MaxBeam)
		}
		s.models[m.Name] = &served{Model: m, info: describe(m, len(s.order) == 0)}
		s.order = append(s.order, m.Name)
	}
	for _, name := range s.order {
		m := s.models[name]
		m.b = newBatcher(name, m.Pipeline, &s.cfg, s.met)
	}
	s.handler = s.routes()
	return s, nil
}

// Config returns the server's settings, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Stats counts what the batcher of a model has done.
type Stats struct {
	Batches int64 // decoding batches
	Inputs  int64 // inputs given to the decoder
	Dropped int64 // inputs dropped from the queue, their request gone
	Stopped int64 // inputs of batches stopped, their requests gone
}

// Stats returns the counts of the model called name (zero if none).
func (s *Server) Stats(name string) Stats {
	m, ok := s.models[name]
	if !ok {
		return Stats{}
	}
	return Stats{Batches: m.b.batches.Load(), Inputs: m.b.decoded.Load(), Dropped: m.b.dropped.Load(), Stopped: m.b.stopped.Load()}
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain makes the server refuse new translate requests (503) and report
// itself unhealthy, as it does while shutting down; requests already in
// flight go on.
func (s *Server) Drain() { s.draining.Store(true) }

// Close stops the batchers once their queues are decoded. Call it after
// http.Server.Shutdown has returned, so no handler still waits on them.
func (s *Server) Close() {
	s.Drain()
	for _, name := range s.order {
		s.models[name].b.close()
	}
}

// Serve answers requests on l until ctx is done, then shuts down
// gracefully: it stops accepting connections, answers the requests in
// flight (for at most drain), stops the batchers and returns nil; past
// drain it closes the connections left and says so.
func (s *Server) Serve(ctx context.Context, l net.Listener, drain time.Duration) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.Timeout + 10*time.Second,
		WriteTimeout:      s.cfg.Timeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0), // clients that go away are not the server's errors
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	select {
	case err := <-served:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
		err = fmt.Errorf("requests still in flight after %v (--drain-timeout) were cut off", drain)
	}
	s.Close()
	return err
}

// routes is the one place that lists the endpoints.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.handle(mux, "/v1/translate", "translate", http.MethodPost, true, s.handleTranslate)
	s.handle(mux, "/v1/explain", "explain", http.MethodPost, true, s.handleExplain)
	s.handle(mux, "/v1/models", "models", http.MethodGet, true, s.handleModels)
	s.handle(mux, "/healthz", "healthz", http.MethodGet, false, s.handleHealth)
	metrics := promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{})
	s.handle(mux, "/metrics", "metrics", http.MethodGet, false, func(w http.ResponseWriter, r *http.Request) int {
		sw := &statusWriter{ResponseWriter: w}
		metrics.ServeHTTP(sw, r)
		return sw.status()
	})
	// The web page: GET / and its files under /static/ (page.go).
	s.handle(mux, "/static/", "page", http.MethodGet, false, s.handleStatic)
	s.handle(mux, "/", "other", "", false, func(w http.ResponseWriter, r *http.Request) int {
		if r.URL.Path == "/" {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", http.MethodGet)
				return writeError(w, http.StatusMethodNotAllowed, APIError{Code: CodeMethod, Message: fmt.Sprintf("/ is the web page: it takes GET, not %s", r.Method)})
			}
			return s.handlePage(w, r)
		}
		return writeError(w, http.StatusNotFound, APIError{Code: CodeNotFound,
			Message: fmt.Sprintf("no endpoint %s: the API has POST /v1/translate, POST /v1/explain, GET /v1/models, GET /healthz and GET /metrics; the web page is at /", strconv.Quote(r.URL.Path))})
	})
	return mux
}

// handlerFunc answers a request and returns the status code it wrote.
type handlerFunc func(w http.ResponseWriter, r *http.Request) int

// handle mounts h at path for method (any when ""), counting and timing it
// under endpoint, answering 405 to other methods, turning a panic into a
// 500, and, when limited, refusing it with 429 once MaxConcurrent requests
// are in flight.
func (s *Server) handle(mux *http.ServeMux, path, endpoint, method string, limited bool, h handlerFunc) {
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := 0
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Printf("qkv serve: %s %s panicked: %v\n%s", r.Method, r.URL.Path, v, debug.Stack())
				code = writeError(w, http.StatusInternalServerError, APIError{Code: CodeInternal, Message: "the server failed answering this request; it is logged"})
			}
			s.met.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
			s.met.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		}()
		if method != "" && r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			code = writeError(w, http.StatusMethodNotAllowed, APIError{Code: CodeMethod,
				Message: fmt.Sprintf("%s takes %s, not %s", path, method, r.Method)})
			return
		}
		if limited {
			select {
			case s.slots <- struct{}{}:
				defer func() { <-s.slots }()
			default:
				w.Header().Set("Retry-After", "1")
				code = writeError(w, http.StatusTooManyRequests, APIError{Code: CodeOverloaded,
					Message: fmt.Sprintf("the server is answering %d requests already (--max-concurrent); retry later", s.cfg.MaxConcurrent)})
				return
			}
		}
		s.met.inFlight.Inc()
		defer s.met.inFlight.Dec()
		code = h(w, r)
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) int {
	if s.draining.Load() {
		return writeError(w, http.StatusServiceUnavailable, APIError{Code: CodeShuttingDown, Message: "the server is shutting down"})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "models": s.order})
}

func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) int {
	var resp ModelsResponse
	for _, name := range s.order {
		resp.Models = append(resp.Models, s.models[name].info)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// describe is what GET /v1/models says of m.
func describe(m Model, isDefault bool) ModelInfo {
	p := m.Pipeline
	mc := p.Config.Model
	raw, _ := json.Marshal(mc)
	info := ModelInfo{Name: m.Name, Default: isDefault, Arch: mc.Arch, Parameters: mc.ParamCount(), Config: raw,
		SrcVocab: p.Src.Len(), TgtVocab: p.Tgt.Len(), SrcTokenizer: p.Config.Data.SrcTokenizer, TgtTokenizer: p.Config.Data.TgtTokenizer,
		Lowercase: p.Config.Data.Lowercase, MaxSrcLen: p.Config.Data.MaxSrcLen, MaxTgtLen: p.Config.Data.MaxTgtLen, Attention: []string{},
		Decoding: m.Decoding}
	if e, ok := p.Model.(*model.Ensemble); ok {
		// Its members' attentions differ in shape and are not averaged:
		// it decodes with no attention to show.
		info.Arch, info.Config, info.Parameters = ArchEnsemble, json.RawMessage("null"), e.ParamCount()
		for _, mm := range e.Members() {
			c := mm.Config()
			raw, _ := json.Marshal(c)
			info.Members = append(info.Members, MemberInfo{Arch: c.Arch, Parameters: c.ParamCount(), Config: raw})
		}
		return info
	}
	switch mc.Arch {
	case model.ArchTransformer:
		info.Attention = []string{"encoder", "decoder", "cross"}
	case model.ArchRNNSearch:
		info.Attention = []string{"cross"}
	}
	return info
}

// writeJSON writes v with status code and returns the code.
func writeJSON(w http.ResponseWriter, code int, v any) int {
	body, err := marshal(v)
	if err != nil {
		log.Printf("qkv serve: encoding an answer: %v", err)
		code = http.StatusInternalServerError
		body, _ = marshal(ErrorResponse{APIError{Code: CodeInternal, Message: "the server could not encode its answer; it is logged"}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(body)
	return code
}

// marshal encodes v as one line of JSON, keeping <, > and & as they are:
// tokens such as </s> read as themselves in curl's output, and the answer
// is served as application/json with nosniff, never as HTML.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeError(w http.ResponseWriter, code int, e APIError) int {
	return writeJSON(w, code, ErrorResponse{e})
}

// statusWriter records the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// modelNames lists the served models for error messages.
func (s *Server) modelNames() string {
	names := slices.Clone(s.order)
	for i, n := range names {
		names[i] = strconv.Quote(n)
	}
	return fmt.Sprint(names)
}
