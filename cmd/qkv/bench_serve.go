package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/serve"
)

var bsf struct {
	model, weights, input string
	clients               []int
	duration, warmup      time.Duration
	beam, kernelThreads   int
	cfg                   serve.Config
}

var benchServeCmd = &cobra.Command{
	Use:   "serve --model DIR",
	Short: "Measure qkv serve: sentences/s and p50/p99 latency at 1, 8 and 50 clients, with and without batching",
	Long: `Start the HTTP server in this process on a free loopback port, twice: with
dynamic batching and with --no-batching (one request decoded at a time).
For each, and each --clients count, that many clients send single-input
requests back to back for --duration (after --warmup), each waiting for its
answer before it sends the next. One JSON line per run: sentences_per_s,
p50_ms, p99_ms, the mean inputs per decoding batch; then a line with the
speed-up of batching at each client count.

Inputs are the lines of --input (the first column of a TSV), or by default
the held-out words of the built-in CMU Pronouncing Dictionary (qkv demo's),
in a fixed order.`,
	Args: cobra.NoArgs,
	RunE: runBenchServe,
}

func init() {
	f := benchServeCmd.Flags()
	f.StringVar(&bsf.model, "model", "", "model directory, builtin:NAME, or DIR1,DIR2,… for an ensemble")
	f.StringVar(&bsf.weights, "weights", "", "weights file in the model directory or a path")
	f.StringVar(&bsf.input, "input", "", "inputs, one a line (a TSV's first column); default: held-out CMUdict words")
	f.IntSliceVar(&bsf.clients, "clients", []int{1, 8, 50}, "concurrent clients of each run")
	f.DurationVar(&bsf.duration, "duration", 5*time.Second, "measuring time of each run")
	f.DurationVar(&bsf.warmup, "warmup", 500*time.Millisecond, "time before measuring in each run")
	f.IntVar(&bsf.beam, "beam", 1, "beam size of the requests")
	f.IntVar(&bsf.kernelThreads, "decode-threads", 0, "cores one decoding batch uses (default: half the cores, at least 1)")
	registerServeConfig(f, &bsf.cfg, serve.DefaultConfig())
	f.MarkHidden("no-batching") // the bench runs both
	benchCmd.AddCommand(benchServeCmd)
}

// benchInputs returns the inputs of the bench.
func benchInputs(path string) ([]string, error) {
	if path == "" {
		_, held, err := demoSplit()
		if err != nil {
			return nil, err
		}
		words := make([]string, len(held))
		for i, p := range held {
			words[i] = p.Word
		}
		return words, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "\t")
		if strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("--input %s holds no input", path)
	}
	return lines, nil
}

func runBenchServe(cmd *cobra.Command, _ []string) error {
	if bsf.model == "" {
		return errors.New("bench serve: --model is required (a trained model; qkv demo makes a G2P one)")
	}
	if err := checkServeConfig(&bsf.cfg); err != nil {
		return fmt.Errorf("bench serve: %w", err)
	}
	for _, c := range bsf.clients {
		if c < 1 || c > 1000 {
			return fmt.Errorf("bench serve: --clients %d is out of range: use 1 to 1000 clients", c)
		}
	}
	// Every request of a run with a beam the server refuses would fail,
	// after the whole --duration of each run: say so now.
	if bsf.beam < 1 || bsf.beam > bsf.cfg.MaxBeam {
		return fmt.Errorf("bench serve: --beam %d is out of range: use 1 (greedy) to --max-beam (%d)", bsf.beam, bsf.cfg.MaxBeam)
	}
	if bsf.duration <= 0 || bsf.warmup < 0 {
		return errors.New("bench serve: --duration must be positive and --warmup not negative")
	}
	if err := setDecodeThreads(bsf.kernelThreads); err != nil {
		return fmt.Errorf("bench serve: %w", err)
	}
	p, err := loadModelOrEnsemble(bsf.model, bsf.weights)
	if err != nil {
		return err
	}
	inputs, err := benchInputs(bsf.input)
	if err != nil {
		return fmt.Errorf("bench serve: %w", err)
	}
	enc := json.NewEncoder(os.Stdout)
	speed := map[bool]map[int]float64{true: {}, false: {}}
	for _, batching := range []bool{false, true} {
		cfg := bsf.cfg
		cfg.NoBatching = !batching
		cfg.MaxConcurrent = max(cfg.MaxConcurrent, slices.Max(bsf.clients))
		cfg.MaxQueue = max(cfg.MaxQueue, slices.Max(bsf.clients))
		for _, clients := range bsf.clients {
			r, err := benchServeRun(p, cfg, inputs, clients)
			if err != nil {
				return fmt.Errorf("bench serve: %w", err)
			}
			speed[batching][clients] = r["sentences_per_s"].(float64)
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	summary := map[string]any{"peer": "qkv", "bench": "serve", "summary": true}
	for _, c := range bsf.clients {
		if s := speed[false][c]; s > 0 {
			summary[fmt.Sprintf("batching_speedup_%d_clients", c)] = round(speed[true][c]/s, 2)
		}
	}
	return enc.Encode(summary)
}

// benchServeRun serves p with cfg and measures clients closed-loop clients.
func benchServeRun(p *pipeline.Pipeline, cfg serve.Config, inputs []string, clients int) (map[string]any, error) {
	s, err := serve.New([]serve.Model{{Name: "bench", Pipeline: p}}, cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l, 10*time.Second) }()
	defer func() {
		stop()
		<-served
	}()
	url := "http://" + l.Addr().String() + "/v1/translate"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: time.Minute}
	var next atomic.Int64
	var measuring, done atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	var failures, answered atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for !done.Load() {
				in := inputs[int(next.Add(1)-1)%len(inputs)]
				body, _ := json.Marshal(serve.TranslateRequest{Inputs: []string{in}, Beam: &bsf.beam})
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				d := time.Since(t0)
				if !measuring.Load() || done.Load() {
					continue
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, d)
				answered.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	time.Sleep(bsf.warmup)
	before := s.Stats("bench")
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(bsf.duration)
	// On a loaded machine one request can take longer than the whole
	// window: the window then stays open until a request is answered (or
	// the client's own timeout has passed), so the figures are slow but
	// real rather than an error; "seconds" reports the window as it was.
	for answered.Load() == 0 && failures.Load() == 0 && time.Since(t0) < bsf.duration+client.Timeout {
		time.Sleep(time.Millisecond)
	}
	done.Store(true)
	elapsed := time.Since(t0)
	after := s.Stats("bench")
	wg.Wait()
	if len(lat) == 0 {
		return nil, fmt.Errorf("no request answered in %v (%d failed: %v)", elapsed.Round(time.Millisecond), failures.Load(), firstErr.Load())
	}
	slices.Sort(lat)
	pct := func(q float64) float64 {
		return round(float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds())/1000, 2)
	}
	batches := after.Batches - before.Batches
	out := map[string]any{
		"peer": "qkv", "bench": "serve", "batching": !cfg.NoBatching, "clients": clients, "beam": bsf.beam,
		"requests": len(lat), "failed": failures.Load(), "seconds": round(elapsed.Seconds(), 2),
		"sentences_per_s": round(float64(len(lat))/elapsed.Seconds(), 1),
		"p50_ms":          pct(0.50), "p99_ms": pct(0.99), "max_ms": round(float64(lat[len(lat)-1].Microseconds())/1000, 2),
		"max_batch": cfg.MaxBatch, "max_wait_ms": round(float64(max(0, cfg.MaxWait).Microseconds())/1000, 2),
		"decode_threads": kernels.Threads(), "gomaxprocs": runtime.GOMAXPROCS(0), "load1": loadAverage(),
	}
	if batches > 0 {
		out["mean_batch_inputs"] = round(float64(after.Inputs-before.Inputs)/float64(batches), 2)
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	return out, nil
}

// loadAverage is the one-minute load of the machine (-1 where unknown):
// others' work on a shared machine skews the numbers.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(raw), &l); err != nil {
		return -1
	}
	return l
}
