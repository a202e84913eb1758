package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// TestConcurrentClientsEqualOneByOne: 50 clients at once, with greedy,
// beam and sampling requests mixed, get what decoding each request alone
// gives, and the server decoded them in far fewer batches than requests.
func TestConcurrentClientsEqualOneByOne(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxWait: 50 * time.Millisecond})
	p := tiny(t)
	const clients = 50
	in := words(2 * clients)
	reqs := make([]TranslateRequest, clients)
	for c := range reqs {
		switch c % 3 {
		case 0:
			reqs[c] = TranslateRequest{Inputs: in[2*c : 2*c+1]}
		case 1:
			reqs[c] = TranslateRequest{Inputs: in[2*c : 2*c+2], Beam: ptr(3), NBest: 2, Alpha: ptr(0.6)}
		case 2:
			reqs[c] = TranslateRequest{Inputs: in[2*c : 2*c+2], Sample: true, NBest: 2, Temperature: ptr(2.0), Seed: ptr(uint64(c % 2))}
		}
	}
	got := make([]TranslateResponse, clients)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range reqs {
		wg.Go(func() {
			<-start
			got[c] = translate(t, hs.URL, reqs[c])
		})
	}
	close(start)
	wg.Wait()
	for c, req := range reqs {
		opt, herr := s.options(&req, s.models["g2p"].Decoding)
		if herr != nil {
			t.Fatal(herr)
		}
		want := p.Translate(req.Inputs, opt) // this request alone, as qkv predict would decode it
		for i, w := range want {
			r := got[c].Results[i]
			if w.Err != nil || r.Error != "" || len(r.Outputs) != len(w.Hyps) {
				t.Fatalf("client %d input %d: %+v, alone: %+v", c, i, r, w)
			}
			for k, h := range w.Hyps {
				o := r.Outputs[k]
				if o.Text != h.Text || math.Abs(float64(o.Score)-h.Score) > 1e-4 || math.Abs(float64(o.LogProb)-h.LogProb) > 1e-4 || o.Finished != h.Finished {
					t.Errorf("client %d input %d output %d: %q %.6f, alone: %q %.6f", c, i, k, o.Text, o.Score, h.Text, h.Score)
				}
			}
		}
	}
	b := s.models["g2p"].b
	if n := b.batches.Load(); n > clients/3 {
		t.Errorf("%d requests were decoded in %d batches: not batched", clients, n)
	}
	t.Logf("%d requests, %d inputs, %d batches", clients, b.decoded.Load(), b.batches.Load())
}

// TestNoBatchingDecodesRequestsApart: with batching off, each batch holds
// one request's inputs, and the answers are the same.
func TestNoBatchingDecodesRequestsApart(t *testing.T) {
	s, hs := newTestServer(t, Config{NoBatching: true})
	inputs := []string{"abc", "fed"}
	var want [2][]pipeline.Result
	for beam := range 2 {
		want[beam] = tiny(t).Translate(inputs, pipeline.Options{Search: search.Options{Beam: 1 + beam}})
	}
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			r := translate(t, hs.URL, TranslateRequest{Inputs: inputs, Beam: ptr(1 + c%2)})
			for i, w := range want[c%2] {
				if r.Results[i].Outputs[0].Text != w.Hyps[0].Text {
					t.Errorf("client %d input %d: %q, alone %q", c, i, r.Results[i].Outputs[0].Text, w.Hyps[0].Text)
				}
			}
		})
	}
	wg.Wait()
	if n := s.models["g2p"].b.batches.Load(); n != 8 {
		t.Errorf("8 requests in %d batches without batching", n)
	}
}

// TestAttention: the attention returned has one map per output token and
// module, rows that sum to 1 over the real tokens only (padding and future
// positions are left out, so they weigh 0), and the weights are those the
// decoder used: the same as decoding the input alone, without padding.
func TestAttention(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	p := tiny(t)
	inputs := []string{"ab", "fedcba", "ccc"}
	resp := translate(t, hs.URL, TranslateRequest{Inputs: inputs, Attention: true})
	sumsTo1 := func(where string, rows [][]float32, keys int) {
		for h, row := range rows {
			if len(row) != keys {
				t.Fatalf("%s head %d: %d keys, want %d", where, h, len(row), keys)
			}
			sum := 0.0
			for _, w := range row {
				if w < 0 || w > 1 {
					t.Errorf("%s head %d: weight %v", where, h, w)
				}
				sum += float64(w)
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("%s head %d: row sums to %v", where, h, sum)
			}
		}
	}
	for i, r := range resp.Results {
		n := len(r.SourceTokens)
		alone := p.Translate(inputs[i:i+1], pipeline.Options{Search: search.Options{Attention: true}})[0]
		h := alone.Hyps[0]
		o := r.Outputs[0]
		if o.Text != h.Text || len(o.Attention) != len(o.Tokens)+1 || len(h.Attention) != len(o.Attention) {
			t.Fatalf("input %d: %q with %d attention steps; alone %q with %d", i, o.Text, len(o.Attention), h.Text, len(h.Attention))
		}
		for step, mods := range o.Attention {
			if len(mods) != 2 {
				t.Fatalf("input %d step %d: modules %v", i, step, mods)
			}
			sumsTo1("cross", mods["decoder.0.cross_attn"], n)
			sumsTo1("self", mods["decoder.0.self_attn"], step+1) // <s> and the earlier outputs
			for _, m := range h.Attention[step] {
				flat := []float32{}
				for _, row := range mods[m.Name] {
					flat = append(flat, row...)
				}
				if len(flat) != len(m.Weights) {
					t.Fatalf("input %d step %d %s: %d weights, alone %d", i, step, m.Name, len(flat), len(m.Weights))
				}
				for k := range flat {
					if math.Abs(float64(flat[k]-m.Weights[k])) > 1e-5 {
						t.Fatalf("input %d step %d %s weight %d: %v, alone %v", i, step, m.Name, k, flat[k], m.Weights[k])
					}
				}
			}
		}
		enc := r.EncoderAttention["encoder.0.self_attn"]
		if len(r.EncoderAttention) != 1 || len(enc) != 2 {
			t.Fatalf("input %d: encoder attention %v", i, r.EncoderAttention)
		}
		for _, head := range enc {
			if len(head) != n {
				t.Fatalf("input %d: %d query rows, want %d", i, len(head), n)
			}
			sumsTo1("encoder", head, n)
		}
	}
	// Without asking, no attention.
	resp = translate(t, hs.URL, TranslateRequest{Inputs: inputs})
	if resp.Results[0].Outputs[0].Attention != nil || resp.Results[0].EncoderAttention != nil {
		t.Error("attention returned unasked")
	}
}

// gate blocks the batcher of the g2p model before each batch until
// released, and reports each batch it holds.
type gate struct {
	entered chan []string
	release chan struct{}
	once    sync.Once
}

func block(s *Server) *gate {
	g := &gate{entered: make(chan []string, 100), release: make(chan struct{})}
	s.models["g2p"].b.beforeDecode = func(lines []string) {
		g.entered <- lines
		<-g.release
	}
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func queued(b *batcher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// async posts a request in the background; the answer comes on the
// channel.
type answer struct {
	code int
	body []byte
}

func async(t *testing.T, url string, req any) chan answer {
	ch := make(chan answer, 1)
	go func() {
		raw, _ := json.Marshal(req)
		resp, err := http.Post(url+"/v1/translate", "application/json", bytes.NewReader(raw))
		if err != nil {
			ch <- answer{0, []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		ch <- answer{resp.StatusCode, buf.Bytes()}
	}()
	return ch
}

// TestOverload: past the queue bound and past the requests-in-flight bound
// the answer is 429 with a JSON error at once; health and metrics still
// answer; the requests admitted are answered.
func TestOverload(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxQueue: 2})
	g := block(s)
	defer g.open()
	b := s.models["g2p"].b
	first := async(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}})
	<-g.entered
	second := async(t, hs.URL, TranslateRequest{Inputs: []string{"abc", "fed"}})
	waitFor(t, "2 queued inputs", func() bool { return queued(b) == 2 })
	code, body := post(t, hs.URL+"/v1/translate", TranslateRequest{Inputs: []string{"abc"}})
	if e := apiError(t, body); code != http.StatusTooManyRequests || e.Code != CodeOverloaded || !strings.Contains(e.Message, "--max-queue") {
		t.Errorf("a third request: %d %+v", code, e)
	}
	if code, _, _ := get(t, hs.URL+"/healthz"); code != 200 {
		t.Errorf("healthz while overloaded: %d", code)
	}
	g.open()
	for _, ch := range []chan answer{first, second} {
		if a := <-ch; a.code != 200 {
			t.Errorf("an admitted request: %d %s", a.code, a.body)
		}
	}

	s, hs = newTestServer(t, Config{MaxConcurrent: 1})
	g = block(s)
	defer g.open()
	first = async(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}})
	<-g.entered
	resp, err := http.Post(hs.URL+"/v1/translate", "application/json", strings.NewReader(`{"inputs": ["abc"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if e := apiError(t, buf.Bytes()); resp.StatusCode != 429 || e.Code != CodeOverloaded || !strings.Contains(e.Message, "--max-concurrent") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a second request in flight: %d %+v", resp.StatusCode, e)
	}
	if code, _, body := get(t, hs.URL+"/metrics"); code != 200 || !strings.Contains(string(body), `qkv_http_requests_total{code="429",endpoint="translate"} 1`) {
		t.Errorf("metrics while saturated: %d", code)
	}
	g.open()
	if a := <-first; a.code != 200 {
		t.Errorf("the admitted request: %d %s", a.code, a.body)
	}
}

// TestTimeout: a request not answered within the timeout gets 504 with a
// JSON error; its inputs, queued or in a batch, are not decoded.
func TestTimeout(t *testing.T) {
	s, hs := newTestServer(t, Config{Timeout: 200 * time.Millisecond})
	g := block(s)
	defer g.open()
	b := s.models["g2p"].b
	first := async(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}})
	<-g.entered
	code, body := post(t, hs.URL+"/v1/translate", TranslateRequest{Inputs: []string{"abc", "fed"}, Beam: ptr(2)})
	if e := apiError(t, body); code != http.StatusGatewayTimeout || e.Code != CodeTimeout || !strings.Contains(e.Message, "--timeout") {
		t.Errorf("queued request: %d %+v", code, e)
	}
	if a := <-first; a.code != http.StatusGatewayTimeout {
		t.Errorf("request in the blocked batch: %d %s", a.code, a.body)
	}
	if n := b.dropped.Load(); n != 2 {
		t.Errorf("%d queued inputs dropped, want 2", n)
	}
	g.open()
	waitFor(t, "the stopped batch", func() bool { return b.stopped.Load() == 1 })
	if n := b.decoded.Load(); n != 1 {
		t.Errorf("%d inputs reached the decoder, want 1 (the blocked batch)", n)
	}
	// And the server goes on.
	s.models["g2p"].b.beforeDecode = nil
	if r := translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}}); r.Results[0].Outputs[0].Text != "AH BH CH" {
		t.Errorf("after timeouts: %+v", r)
	}
}

// TestDisconnectStopsWork: a client that goes away has its queued inputs
// dropped, and a batch whose every client has gone stops.
func TestDisconnectStopsWork(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	g := block(s)
	defer g.open()
	b := s.models["g2p"].b
	gone := func(inputs ...string) (cancel func(), done chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done = make(chan error, 1)
		go func() {
			raw, _ := json.Marshal(TranslateRequest{Inputs: inputs})
			req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/translate", bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		return cancel, done
	}
	// A client whose input is in the (blocked) batch, and one queued behind it.
	cancelA, doneA := gone("abc")
	<-g.entered
	cancelB, doneB := gone("abc", "fed", "ab")
	waitFor(t, "3 queued inputs", func() bool { return queued(b) == 3 })
	cancelB()
	if err := <-doneB; !errors.Is(err, context.Canceled) {
		t.Errorf("client B: %v", err)
	}
	waitFor(t, "B's inputs dropped", func() bool { return b.dropped.Load() == 3 && queued(b) == 0 })
	cancelA()
	<-doneA
	waitFor(t, "A's request to end", func() bool {
		return testutil.ToFloat64(s.met.requests.WithLabelValues("translate", "499")) == 2
	})
	g.open()
	waitFor(t, "the batch to stop", func() bool { return b.stopped.Load() == 1 })
	if n := b.decoded.Load(); n != 1 {
		t.Errorf("%d inputs reached the decoder, want A's 1", n)
	}
	if v := testutil.ToFloat64(s.met.inputs.WithLabelValues("g2p", "dropped")); v != 4 {
		t.Errorf("qkv_inputs_total{outcome=dropped} is %v, want 4", v)
	}
}

// TestGracefulDrain: once Serve's context is done, new connections are
// refused, the request in flight is answered, and Serve returns nil; with
// a drain deadline too short, it says so.
func TestGracefulDrain(t *testing.T) {
	for _, tc := range []struct {
		drain   time.Duration
		wantErr string
	}{{10 * time.Second, ""}, {100 * time.Millisecond, "--drain-timeout"}} {
		s, err := New([]Model{{Name: "g2p", Pipeline: tiny(t)}}, Config{})
		must(t, err)
		g := block(s)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		url := "http://" + l.Addr().String()
		ctx, stop := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx, l, tc.drain) }()
		inFlight := async(t, url, TranslateRequest{Inputs: []string{"abc"}})
		<-g.entered
		stop()
		waitFor(t, "the listener to close", func() bool {
			c, err := net.Dial("tcp", l.Addr().String())
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		if tc.wantErr == "" {
			g.open()
			if a := <-inFlight; a.code != 200 || !strings.Contains(string(a.body), "AH BH CH") {
				t.Errorf("request in flight during shutdown: %d %s", a.code, a.body)
			}
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		} else {
			time.Sleep(2 * tc.drain)
			g.open()
			if err := <-served; err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Serve past the drain deadline: %v", err)
			}
			<-inFlight
		}
		if !s.draining.Load() {
			t.Error("not draining after Serve")
		}
		if err := s.models["g2p"].b.submit(&request{ctx: context.Background()}, []int{0}, []string{"abc"}); !errors.Is(err, errClosed) {
			t.Errorf("submit after Serve: %v", err)
		}
	}
}

// TestLoneRequestDoesNotWait: on an idle server a request is decoded at
// once, not after the batching window; the window is used once batches
// have held several requests.
func TestLoneRequestDoesNotWait(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxWait: time.Second})
	for range 3 {
		if r := translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc", "fed"}}); r.Timing.QueueMS > 300 {
			t.Errorf("a lone request waited %.1f ms for company", r.Timing.QueueMS)
		}
	}
	// Two requests in one batch: the next lone request waits for company.
	g := block(s)
	first := async(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}})
	<-g.entered
	second, third := async(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}}), async(t, hs.URL, TranslateRequest{Inputs: []string{"fed"}})
	waitFor(t, "2 queued inputs", func() bool { return queued(s.models["g2p"].b) == 2 })
	s.models["g2p"].b.beforeDecode = func([]string) {}
	g.open()
	for _, ch := range []chan answer{first, second, third} {
		if a := <-ch; a.code != 200 {
			t.Fatalf("%d %s", a.code, a.body)
		}
	}
	if r := translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}}); r.Timing.QueueMS < 900 {
		t.Errorf("after a shared batch, a request waited %.1f ms, want the 1 s window", r.Timing.QueueMS)
	}
}

// TestDrainRefusesNewRequests: while draining, translate answers 503 and
// /healthz reports it, so a load balancer sends traffic elsewhere.
func TestDrainRefusesNewRequests(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	s.Drain()
	code, body := post(t, hs.URL+"/v1/translate", TranslateRequest{Inputs: []string{"abc"}})
	if e := apiError(t, body); code != http.StatusServiceUnavailable || e.Code != CodeShuttingDown {
		t.Errorf("translate while draining: %d %+v", code, e)
	}
	if code, _, body := get(t, hs.URL+"/healthz"); code != http.StatusServiceUnavailable || apiError(t, body).Code != CodeShuttingDown {
		t.Errorf("healthz while draining: %d %s", code, body)
	}
}
