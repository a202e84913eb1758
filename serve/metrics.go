package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are what GET /metrics shows, in Prometheus' text format. Each
// server has its own registry, so tests can run several servers.
type metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec   // endpoint, code
	latency  *prometheus.HistogramVec // endpoint
	inFlight prometheus.Gauge

	queue         *prometheus.GaugeVec     // model: inputs waiting
	batchInputs   *prometheus.HistogramVec // model: inputs per decoding batch
	decodeSeconds *prometheus.CounterVec   // model
	inputs        *prometheus.CounterVec   // model, outcome: decoded, failed, dropped
	inTokens      *prometheus.CounterVec   // model
	outTokens     *prometheus.CounterVec   // model
	tokensPerSec  *prometheus.GaugeVec     // model: output tokens a second in the last batch
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qkv_http_requests_total", Help: "HTTP requests answered, by endpoint and status code (499: the client went away).",
	}, []string{"endpoint", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "qkv_http_request_duration_seconds", Help: "Time to answer a request, by endpoint.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"endpoint"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "qkv_http_requests_in_flight", Help: "Requests being answered now.",
	})
	m.queue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "qkv_queue_inputs", Help: "Inputs waiting to be decoded, by model.",
	}, []string{"model"})
	m.batchInputs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "qkv_batch_inputs", Help: "Inputs decoded together in one batch, by model.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
	}, []string{"model"})
	m.decodeSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qkv_decode_seconds_total", Help: "Time spent decoding batches, by model.",
	}, []string{"model"})
	m.inputs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qkv_inputs_total", Help: "Inputs by model and outcome: decoded, failed (an error of the input), dropped (its request was gone before it was decoded).",
	}, []string{"model", "outcome"})
	m.inTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qkv_input_tokens_total", Help: "Source tokens decoded, by model.",
	}, []string{"model"})
	m.outTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qkv_output_tokens_total", Help: "Output tokens produced (EOS included, every n-best entry), by model; rate() of it is tokens/s.",
	}, []string{"model"})
	m.tokensPerSec = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "qkv_last_batch_tokens_per_second", Help: "Output tokens a second of the last batch decoded, by model.",
	}, []string{"model"})
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.queue, m.batchInputs, m.decodeSeconds,
		m.inputs, m.inTokens, m.outTokens, m.tokensPerSec,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
