package serve

import (
	"context"
	"errors"
	"fmt"
	"log"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qkv-dev/qkv/pipeline"
)

// Dynamic batching. Each model has one batcher, and its goroutine is the
// only one that decodes with the model: handlers queue the inputs of their
// requests and wait. The batcher takes the oldest queued input and, with
// it, every queued input of any request with the same decoding options (the
// same key), oldest first, up to MaxBatch inputs; when it has fewer, it
// waits until MaxWait has passed since the oldest arrived or the batch is
// full, so inputs that arrive while the model is busy are decoded together
// without waiting. Waiting only pays when others are coming: the batcher
// waits only after a batch that held the inputs of more than one request,
// so a lone client is never kept waiting, and under concurrent load an
// input waits at most MaxWait. This is what CTranslate2's buffered wrapper and
// text-generation-inference do. With batching off (Config.NoBatching) a
// batch holds the inputs of one request only, as OpenNMT-py's server
// decodes one request at a time.
//
// A request whose client is gone (or whose time is up) has its queued
// inputs dropped, and a batch whose every request is gone stops at its next
// decoding step (pipeline.TranslateContext).

// optKey is what must be equal for inputs to be decoded together.
type optKey struct {
	beam, nbest, maxLen, topK, maxLenB  int
	alpha, temperature, maxLenA         float64
	seed                                uint64
	sample, allowUnk, attention, strict bool
}

func keyOf(opt pipeline.Options) optKey {
	o := opt.Search
	k := optKey{beam: o.Beam, nbest: o.NBest, maxLen: o.MaxLen, topK: o.TopK, alpha: o.LengthPenalty,
		temperature: o.Temperature, seed: o.Seed, sample: o.Sample, allowUnk: o.AllowUnk, attention: o.Attention, strict: opt.Strict,
		maxLenA: -1, maxLenB: -1} // -1: the model's
	if opt.MaxLenA != nil {
		k.maxLenA = *opt.MaxLenA
	}
	if opt.MaxLenB != nil {
		k.maxLenB = *opt.MaxLenB
	}
	return k
}

// request is one translate request as the batcher sees it.
type request struct {
	ctx     context.Context
	key     optKey
	opt     pipeline.Options
	arrived time.Time

	mu      sync.Mutex
	results []pipeline.Result // by input index
	pending int               // inputs not yet decoded
	started time.Time         // when its first input entered a batch
	done    chan struct{}     // closed when pending reaches 0
}

// job is one input of a request.
type job struct {
	req  *request
	idx  int // index of the input in its request
	line string
}

func (r *request) deliver(idx int, res pipeline.Result, start time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results[idx] = res
	if r.started.IsZero() || start.Before(r.started) {
		r.started = start
	}
	r.pending--
	if r.pending == 0 {
		close(r.done)
	}
}

// errQueueFull and errClosed are refusals of submit.
var (
	errQueueFull = errors.New("queue full")
	errClosed    = errors.New("server shutting down")
)

// batcher decodes the inputs of one model.
type batcher struct {
	name string
	p    *pipeline.Pipeline
	cfg  *Config
	met  *metrics

	mu     sync.Mutex
	queue  []*job
	closed bool
	wake   chan struct{} // a job was queued (capacity 1: a pending wake-up is enough)
	shared bool          // the last batch held inputs of several requests (read and written by run only)
	quit   chan struct{} // closed by close: finish the queue, then stop
	exited chan struct{} // closed when the goroutine has stopped

	// Counters the tests read.
	batches atomic.Int64 // Translate calls
	decoded atomic.Int64 // inputs given to Translate
	dropped atomic.Int64 // inputs dropped from the queue because their request was gone
	stopped atomic.Int64 // inputs of batches stopped because all their requests were gone

	// beforeDecode, when set (by tests), is called with each batch's lines
	// before it is decoded.
	beforeDecode func(lines []string)
}

func newBatcher(name string, p *pipeline.Pipeline, cfg *Config, met *metrics) *batcher {
	b := &batcher{name: name, p: p, cfg: cfg, met: met,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{})}
	go b.run()
	return b
}

// submit queues the inputs lines[i] of req (at indices idx[i]), or refuses
// them all when the queue would grow past its bound.
func (b *batcher) submit(req *request, idx []int, lines []string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	if len(b.queue)+len(lines) > b.cfg.MaxQueue {
		b.mu.Unlock()
		return errQueueFull
	}
	for i, line := range lines {
		b.queue = append(b.queue, &job{req: req, idx: idx[i], line: line})
	}
	b.met.queue.WithLabelValues(b.name).Set(float64(len(b.queue)))
	b.mu.Unlock()
	b.signal()
	return nil
}

func (b *batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// cancel drops the queued inputs of req (its client is gone or its time is
// up) and returns how many.
func (b *batcher) cancel(req *request) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.queue[:0]
	for _, j := range b.queue {
		if j.req != req {
			kept = append(kept, j)
		}
	}
	n := len(b.queue) - len(kept)
	clear(b.queue[len(kept):])
	b.queue = kept
	b.drop(n)
	return n
}

// drop counts n inputs dropped; call it holding mu.
func (b *batcher) drop(n int) {
	if n == 0 {
		return
	}
	b.dropped.Add(int64(n))
	b.met.inputs.WithLabelValues(b.name, "dropped").Add(float64(n))
	b.met.queue.WithLabelValues(b.name).Set(float64(len(b.queue)))
}

// close stops taking inputs; the goroutine decodes what is queued and
// stops.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.quit)
	}
	b.mu.Unlock()
	<-b.exited
}

func (b *batcher) run() {
	defer close(b.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		jobs, wait, quit := b.take()
		if jobs != nil {
			b.decode(jobs)
			continue
		}
		if quit {
			return
		}
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-b.wake:
		case <-tc:
		case <-b.quit:
		}
		if wait > 0 && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// take removes the next batch from the queue, or says how long to wait for
// one (0: until woken), or that the batcher is closed and its queue empty.
func (b *batcher) take() (jobs []*job, wait time.Duration, quit bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Inputs of requests already gone are dropped, not decoded.
	kept := b.queue[:0]
	for _, j := range b.queue {
		if j.req.ctx.Err() == nil {
			kept = append(kept, j)
		}
	}
	n := len(b.queue) - len(kept)
	clear(b.queue[len(kept):])
	b.queue = kept
	b.drop(n)
	if len(b.queue) == 0 {
		return nil, 0, b.closed
	}
	first := b.queue[0]
	same := func(j *job) bool {
		if b.cfg.NoBatching {
			return j.req == first.req
		}
		return j.req.key == first.req.key
	}
	count := 0
	for _, j := range b.queue {
		if same(j) {
			count++
			if count == b.cfg.MaxBatch {
				break
			}
		}
	}
	if !b.cfg.NoBatching && b.shared && b.cfg.MaxWait > 0 && count < b.cfg.MaxBatch && !b.closed {
		if w := time.Until(first.req.arrived.Add(b.cfg.MaxWait)); w > 0 {
			return nil, w, false
		}
	}
	kept = b.queue[:0]
	for _, j := range b.queue {
		if len(jobs) < count && same(j) {
			jobs = append(jobs, j)
		} else {
			kept = append(kept, j)
		}
	}
	clear(b.queue[len(kept):])
	b.queue = kept
	b.met.queue.WithLabelValues(b.name).Set(float64(len(b.queue)))
	return jobs, 0, false
}

// decode translates one batch and hands each result to its request.
func (b *batcher) decode(jobs []*job) {
	// The batch stops once every request in it is gone.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var live atomic.Int64
	var stops []func() bool
	seen := map[*request]bool{}
	for _, j := range jobs {
		if !seen[j.req] {
			seen[j.req] = true
			live.Add(1)
		}
	}
	b.shared = len(seen) > 1
	for r := range seen {
		stops = append(stops, context.AfterFunc(r.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	lines := make([]string, len(jobs))
	nums := make([]int, len(jobs))
	for i, j := range jobs {
		lines[i], nums[i] = j.line, j.idx
	}
	opt := jobs[0].req.opt
	opt.Lines = nums
	opt.BatchSize = min(len(jobs), pipeline.MaxBatchSize)
	start := time.Now()
	b.batches.Add(1)
	b.decoded.Add(int64(len(jobs)))
	if b.beforeDecode != nil {
		b.beforeDecode(lines)
	}
	results := b.translate(ctx, lines, opt)
	elapsed := time.Since(start)
	var outTokens, inTokens int
	for i, j := range jobs {
		r := results[i]
		outcome := "decoded"
		switch {
		case r.Err != nil && ctx.Err() != nil:
			outcome = "dropped"
			b.stopped.Add(1)
		case r.Err != nil:
			outcome = "failed"
		}
		b.met.inputs.WithLabelValues(b.name, outcome).Inc()
		inTokens += len(r.SourceTokens)
		for _, h := range r.Hyps {
			outTokens += len(h.Tokens) + 1
		}
		j.req.deliver(j.idx, r, start)
	}
	b.met.batchInputs.WithLabelValues(b.name).Observe(float64(len(jobs)))
	b.met.decodeSeconds.WithLabelValues(b.name).Add(elapsed.Seconds())
	b.met.outTokens.WithLabelValues(b.name).Add(float64(outTokens))
	b.met.inTokens.WithLabelValues(b.name).Add(float64(inTokens))
	if s := elapsed.Seconds(); s > 0 {
		b.met.tokensPerSec.WithLabelValues(b.name).Set(float64(outTokens) / s)
	}
}

// translate is Translate turning a panic into an error of every line, so a
// bug in decoding answers 500 to the requests of one batch instead of
// stopping the server.
func (b *batcher) translate(ctx context.Context, lines []string, opt pipeline.Options) (results []pipeline.Result) {
	defer func() {
		if v := recover(); v != nil {
			log.Printf("qkv serve: model %s: decoding panicked: %v\n%s", b.name, v, debug.Stack())
			results = make([]pipeline.Result, len(lines))
			for i := range results {
				results[i] = pipeline.Result{Source: lines[i], Err: &internalError{fmt.Sprint(v)}}
			}
		}
	}()
	return b.p.TranslateContext(ctx, lines, opt)
}

// internalError is a failure of the server, not of the input.
type internalError struct{ what string }

func (e *internalError) Error() string { return "internal error while decoding: " + e.what }
