package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/serve"
)

var sf struct {
	models  []string
	weights string
	addr    string
	drain   time.Duration
	threads int
	cfg     serve.Config
	lengths lengthFlags
}

var serveCmd = &cobra.Command{
	Use:   "serve --model DIR [--model NAME=DIR …] [--addr 127.0.0.1:8080]",
	Short: "Serve trained models over HTTP: a JSON API with dynamic batching and Prometheus metrics",
	Long: `Serve one or more trained models over HTTP:

  GET  /              a web page: type an input, see the output and its attention
  POST /v1/translate  {"inputs": ["hello"], "model": "NAME", "beam": 4, "attention": true, …}
  POST /v1/explain    {"input": "hello", "kind": "cross", "layer": 0, "head": 0, "query_token": 0}
  GET  /v1/models     the models served: architecture, sizes, vocabularies
  GET  /healthz       200 while serving, 503 while shutting down
  GET  /metrics       Prometheus' text format: requests, latency, batch sizes, tokens

--model DIR serves DIR under its base name; --model NAME=DIR under NAME.
Repeat it for more models; the first is used when a request names none.
--model NAME=DIR1,DIR2,… serves an ensemble (as qkv predict --model A,B):
the models decode together, averaging their predictions at every step; a
built-in ensemble (builtin:g2p-en-ensemble, see qkv models) is one too.
An ensemble shows no attention: its members' maps differ in shape.

Requests from different clients with the same decoding options are decoded
together: an input waits at most --max-wait for others to join it, up to
--max-batch inputs (--no-batching decodes one request at a time). Every
bound is a flag; past a bound the answer is an error at once (429 when the
server is full), never a longer queue. A client that disconnects has its
inputs dropped. Ctrl-C or SIGTERM stops accepting connections, answers the
requests in flight (for at most --drain-timeout) and exits.

The API is described in docs/serving.md.`,
	Args: cobra.NoArgs,
	RunE: runServe,
}

func init() {
	f := serveCmd.Flags()
	d := serve.DefaultConfig()
	f.StringArrayVar(&sf.models, "model", nil, "model directory to serve, as DIR (named by its base name; DIR may be a weights file of one, DIR/average.safetensors) or NAME=DIR, or builtin:NAME; NAME=DIR1,DIR2 serves an ensemble; repeat for more")
	f.StringVar(&sf.weights, "weights", "", "weights file in each model directory or a path (default: best.safetensors, else last.safetensors)")
	f.StringVar(&sf.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one; 0.0.0.0:PORT for every interface)")
	f.DurationVar(&sf.drain, "drain-timeout", 30*time.Second, "on Ctrl-C or SIGTERM, how long to finish the requests in flight")
	f.IntVar(&sf.threads, "decode-threads", 0, "cores one decoding batch uses (default: half the cores, at least 1, leaving the rest to HTTP and JSON)")
	registerServeConfig(f, &sf.cfg, d)
	sf.lengths.register(f)
	rootCmd.AddCommand(serveCmd)
}

// setDecodeThreads sets the cores the kernels use: n, or by default half
// of GOMAXPROCS (at least 1). A server spends much of its time outside the
// model — reading and writing JSON, tokenizing, scheduling clients — and
// on a small machine a decoder that takes every core makes all of that
// wait: on 2 cores, one decoding thread serves more sentences a second
// than two (docs/serving.md).
func setDecodeThreads(n int) error {
	procs := runtime.GOMAXPROCS(0)
	switch {
	case n < 0:
		return fmt.Errorf("--decode-threads %d is out of range: give 1 to %d cores, or 0 for half of them", n, procs)
	case n == 0:
		n = max(1, procs/2)
	case n > procs:
		cores := "cores"
		if procs == 1 {
			cores = "core"
		}
		return fmt.Errorf("--decode-threads %d is out of range: this process has %d %s (--threads); give 1 to %d", n, procs, cores, procs)
	}
	kernels.SetThreads(n)
	return nil
}

// registerServeConfig adds the server's bounds and batching flags, which
// qkv bench serve shares.
func registerServeConfig(f *pflag.FlagSet, c *serve.Config, d serve.Config) {
	f.IntVar(&c.MaxBatch, "max-batch", d.MaxBatch, fmt.Sprintf("inputs decoded together at most, 1 to %d", pipeline.MaxBatchSize))
	f.DurationVar(&c.MaxWait, "max-wait", d.MaxWait, "how long an input waits for others to fill its batch (0 to 1s)")
	f.BoolVar(&c.NoBatching, "no-batching", false, "decode one request at a time instead of batching concurrent requests together")
	f.IntVar(&c.MaxInputs, "max-inputs", d.MaxInputs, "inputs in one request at most")
	f.IntVar(&c.MaxInputChars, "max-input-chars", d.MaxInputChars, "characters in one input at most (the model's max_src_len also bounds its tokens)")
	f.Int64Var(&c.MaxBodyBytes, "max-body", d.MaxBodyBytes, "bytes in one request body at most (413 past it)")
	f.IntVar(&c.MaxQueue, "max-queue", d.MaxQueue, "inputs waiting to be decoded, per model, at most (429 past it)")
	f.IntVar(&c.MaxConcurrent, "max-concurrent", d.MaxConcurrent, "requests answered at once at most (429 past it)")
	f.IntVar(&c.MaxBeam, "max-beam", d.MaxBeam, "largest beam, and most samples per input, a request may ask for")
	f.DurationVar(&c.Timeout, "timeout", d.Timeout, "time to answer one request (504 past it)")
}

// checkServeConfig refuses flags out of range; --max-wait 0 means no wait.
func checkServeConfig(c *serve.Config) error {
	if c.MaxWait == 0 {
		c.MaxWait = serve.NoWait
	}
	return c.Check()
}

// parseModelFlag reads one --model value: DIR, or NAME=DIR, where DIR may
// also be a weights file of a model directory (served under the
// directory's name). A value that names an existing directory is a DIR
// even if it holds '='.
func parseModelFlag(v string) (name, dir string, err error) {
	if v == "" {
		return "", "", errors.New("--model \"\": give a model directory, as DIR or NAME=DIR")
	}
	if st, err := os.Stat(v); err == nil && st.IsDir() {
		dir = v
	} else if n, d, ok := strings.Cut(v, "="); ok {
		name, dir = n, d
		if name == "" {
			return "", "", fmt.Errorf("--model %s: no model name before '=': give NAME=DIR, or the directory alone", v)
		}
		if dir == "" {
			return "", "", fmt.Errorf("--model %s: no directory after %q=: give NAME=DIR", v, n)
		}
	} else {
		dir = v
	}
	if name == "" && len(ensembleDirs(dir)) > 1 {
		return "", "", fmt.Errorf("--model %s: several models decode as an ensemble under one name: give it one, --model NAME=%s", v, dir)
	}
	if name == "" && pipeline.IsBuiltin(dir) {
		name = strings.TrimPrefix(dir, pipeline.BuiltinPrefix) // builtin:g2p-en serves as g2p-en
	} else if name == "" {
		name = filepath.Base(filepath.Clean(dir))
		if st, err := os.Stat(dir); err == nil && st.Mode().IsRegular() {
			name = filepath.Base(filepath.Dir(filepath.Clean(dir))) // run/average.safetensors serves as run
		}
		if err := serve.CheckName(name); err != nil {
			return "", "", fmt.Errorf("--model %s: the directory's name cannot name the model (%v); name it yourself: --model NAME=%s", v, err, dir)
		}
	} else if err := serve.CheckName(name); err != nil {
		return "", "", fmt.Errorf("--model %s: %v", v, err)
	}
	return name, dir, nil
}

// ensembleDirs splits a --model directory into the models it names: DIR
// (or an existing directory whose name holds ','), or DIR1,DIR2,… that
// decode as an ensemble. builtin:NAME of a built-in ensemble is one value
// here; pipeline.LoadEnsemble expands it.
func ensembleDirs(dir string) []string {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return []string{dir}
	}
	return strings.Split(dir, ",")
}

// loadModelOrEnsemble loads what one --model of serve and the benches names: a model, or an ensemble
// (several directories, or a built-in ensemble), each member with weights.
func loadModelOrEnsemble(dir, weights string) (*pipeline.Pipeline, error) {
	var members []pipeline.Member
	for _, d := range ensembleDirs(dir) {
		if d == "" {
			return nil, fmt.Errorf("an empty directory name in %q: separate the models of an ensemble with single commas", dir)
		}
		m := pipeline.MemberNamed(d) // a directory, builtin:NAME, or a weights file of a directory
		if weights != "" {
			if m.Weights != "" {
				return nil, fmt.Errorf("%s is a weights file already: drop --weights %s, or give its directory", excerpt.Quote(d), excerpt.Quote(weights))
			}
			m.Weights = weights
		}
		members = append(members, m)
	}
	return pipeline.LoadEnsemble(members)
}

// describeServed is the line qkv serve prints for a model it serves.
func describeServed(name, from string, p *pipeline.Pipeline, dec serve.Decoding) string {
	decoding := ""
	if dec.Beam > 1 {
		decoding = fmt.Sprintf("; requests decode with beam %d, α %v unless they say otherwise (its card)", dec.Beam, dec.Alpha)
	}
	e, ok := p.Model.(*model.Ensemble)
	if !ok {
		mc := p.Config.Model
		return fmt.Sprintf("model %s: %s, %d parameters, from %s%s", name, mc.Arch, mc.ParamCount(), p.Dir, decoding)
	}
	var archs []string
	for _, m := range e.Members() {
		archs = append(archs, m.Config().Arch)
	}
	return fmt.Sprintf("model %s: an ensemble of %d models (%s), %d parameters, from %s; it shows no attention (serve a member for that)%s",
		name, len(archs), strings.Join(archs, ", "), e.ParamCount(), from, decoding)
}

func runServe(cmd *cobra.Command, _ []string) error {
	if len(sf.models) == 0 {
		return errors.New("serve: --model is required: the directory of a trained model (qkv train --out, or qkv demo), as DIR or NAME=DIR")
	}
	var lim pipeline.Options
	sf.lengths.set(&lim)
	sf.cfg.MaxLenA, sf.cfg.MaxLenB = lim.MaxLenA, lim.MaxLenB
	if err := checkServeConfig(&sf.cfg); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := setDecodeThreads(sf.threads); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if sf.drain <= 0 {
		return fmt.Errorf("serve: --drain-timeout %v is out of range: give a positive time", sf.drain)
	}
	// A malformed --addr is refused before the models are loaded.
	if _, _, err := net.SplitHostPort(sf.addr); err != nil {
		return fmt.Errorf("serve: --addr %s: %v: give HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)", sf.addr, err)
	}
	var models []serve.Model
	var froms []string // what each --model named
	seen := map[string]string{}
	for _, v := range sf.models {
		name, dir, err := parseModelFlag(v)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("serve: --model %s and --model %s are both named %q: name them apart with --model NAME=DIR", prev, v, name)
		}
		seen[name] = v
		p, err := loadModelOrEnsemble(dir, sf.weights)
		if err != nil {
			return fmt.Errorf("serve: --model %s: %w", v, err)
		}
		m := serve.Model{Name: name, Pipeline: p}
		// A built-in model decodes as chosen for it (its card), as in qkv predict.
		if card, ok := builtinCard([]pipeline.Member{{Dir: dir}}); ok && sf.weights == "" {
			m.Decoding = serve.Decoding{Beam: min(card.Beam, sf.cfg.MaxBeam), Alpha: card.Alpha}
			if card.Beam == 1 {
				m.Decoding.Alpha = 0
			}
		}
		models = append(models, m)
		froms = append(froms, dir)
	}
	s, err := serve.New(models, sf.cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	l, err := net.Listen("tcp", sf.addr)
	if err != nil {
		s.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("serve: --addr %s: %w (another server holds that port: pick another, or port 0 for a free one)", sf.addr, err)
		}
		return fmt.Errorf("serve: --addr %s: %w", sf.addr, err)
	}
	stderr := cmd.ErrOrStderr()
	for i, m := range models {
		fmt.Fprintf(stderr, "qkv serve: %s\n", describeServed(m.Name, froms[i], m.Pipeline, m.Decoding))
	}
	if host, _, err := net.SplitHostPort(l.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
			fmt.Fprintf(stderr, "qkv serve: listening on %s, not only on this machine: anyone who can reach it can use the models\n", host)
		}
	}
	wait := fmt.Sprintf("waiting at most %v", s.Config().MaxWait)
	if s.Config().MaxWait <= 0 {
		wait = "without waiting"
	}
	batching := fmt.Sprintf("batching up to %d inputs %s, decoding on %d of %d cores", s.Config().MaxBatch, wait, kernels.Threads(), runtime.GOMAXPROCS(0))
	if s.Config().NoBatching {
		batching = "one request at a time (--no-batching)"
	}
	fmt.Fprintf(stderr, "qkv serve: listening on http://%s (%s); open it in a browser to see attention; Ctrl-C or SIGTERM stops\n", l.Addr(), batching)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	told := make(chan struct{})
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C stops at once
		fmt.Fprintf(stderr, "qkv serve: stopping: answering the requests in flight (at most %v; Ctrl-C again stops at once)\n", sf.drain)
		close(told)
	}()
	err = s.Serve(ctx, l, sf.drain)
	if ctx.Err() != nil {
		<-told
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(stderr, "qkv serve: stopped; every request in flight was answered")
	return nil
}
