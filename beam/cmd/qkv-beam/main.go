// Command qkv-beam runs qkv's corpus-scale work as Apache Beam pipelines:
// decoding (predict), scoring (eval, score) and corpus preparation, on one
// machine (the in-process Prism runner) or on Flink, Spark or Google Cloud
// Dataflow through Beam's portable runner. `qkv beam …` runs it; it is a
// binary of its own so that qkv itself does not carry the Beam SDK.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/kernels"
)

var rootCmd = &cobra.Command{
	Use:   "qkv-beam",
	Short: "qkv's decoding, scoring and corpus preparation as Apache Beam pipelines",
	Long: `qkv-beam runs qkv predict, eval and score, and corpus preparation, as Apache
Beam pipelines: on this machine by default (Beam's Prism runner, in-process),
or on a Flink or Spark job server or Google Cloud Dataflow.

Runners:
  --runner prism       in this process, on every core (the default)
  --runner universal --endpoint HOST:PORT
                       a Beam job server: Flink's or Spark's (see docs/scaling.md)
  --runner dataflow    Google Cloud Dataflow
Beam's own pipeline options go after "--", as Beam spells them, e.g.
  qkv beam predict … --runner dataflow -- --project=P --region=europe-west1 \
      --temp_location=gs://B/tmp --staging_location=gs://B/staging
  qkv beam predict … --runner universal --endpoint localhost:8099 -- --environment_type=LOOPBACK

Paths may be local or gs://bucket/… (every file is read and written through
Beam's filesystem). Outputs are written whole or not at all; none may be an
input. Run "qkv beam COMMAND --help" for each command.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// runFlags are every pipeline command's runner flags.
type runFlags struct {
	runner, endpoint string
	threads          int
	verbose          bool
}

func (r *runFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.runner, "runner", "prism", "Beam runner: prism (in this process), universal (a job server: --endpoint) or dataflow")
	f.StringVar(&r.endpoint, "endpoint", "", "job server address for --runner universal, e.g. localhost:8099")
	f.IntVar(&r.threads, "threads", 0, "cores this process uses (default: all)")
	f.BoolVar(&r.verbose, "verbose", false, "show the runner's log")
}

// run executes the pipeline on the chosen runner. beamArgs are the
// arguments after "--", handed to Beam's flags.
func (r *runFlags) run(ctx context.Context, p *beam.Pipeline, beamArgs []string) error {
	_, err := r.runResult(ctx, p, beamArgs)
	return err
}

// runResult is run, returning the pipeline's result (its counters).
func (r *runFlags) runResult(ctx context.Context, p *beam.Pipeline, beamArgs []string) (beam.PipelineResult, error) {
	if r.threads < 0 {
		return nil, fmt.Errorf("--threads %d: give a positive number of cores, or leave it out for all", r.threads)
	}
	if r.threads > 0 {
		runtime.GOMAXPROCS(min(r.threads, runtime.NumCPU()))
		kernels.SetThreads(min(r.threads, runtime.NumCPU()))
	}
	if !slices.Contains([]string{"prism", "universal", "dataflow"}, r.runner) {
		return nil, fmt.Errorf("--runner %q: want prism, universal or dataflow", r.runner)
	}
	if r.runner == "universal" && r.endpoint == "" {
		return nil, errors.New("--runner universal needs --endpoint HOST:PORT, the address of a Beam job server (Flink's or Spark's; see docs/scaling.md)")
	}
	if err := flag.CommandLine.Parse(beamArgs); err != nil {
		return nil, fmt.Errorf("Beam options after --: %w", err)
	}
	if r.endpoint != "" {
		if err := flag.Set("endpoint", r.endpoint); err != nil {
			return nil, err
		}
	}
	level := "error"
	if r.verbose {
		level = "info"
	}
	beamlog.SetupLogging(level, "text")
	if !r.verbose { // the error comes back from Run; the runner's log lines repeat it at length
		beamlog.SetLogger(quietLogger{})
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	beam.Init()
	res, err := beam.Run(ctx, r.runner, p)
	return res, rootCause(err)
}

// rootCause shortens a runner's error, which carries the whole execution
// plan, to what went wrong.
func rootCause(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "caused by:\n"); i >= 0 {
		msg = msg[i+len("caused by:\n"):]
		if j := strings.Index(msg, " failed:\n"); j >= 0 && strings.HasPrefix(msg, "DoFn[") {
			msg = msg[j+len(" failed:\n"):]
		}
		return errors.New(strings.TrimSpace(msg))
	}
	return err
}

// quietLogger drops the SDK's own log lines (the error comes back from Run).
type quietLogger struct{}

func (quietLogger) Log(context.Context, beamlog.Severity, int, string) {}

// counter sums a "qkv" counter over the pipeline's steps (0 when the
// runner reports no metrics).
func counter(res beam.PipelineResult, name string) int64 {
	if res == nil {
		return 0
	}
	var n int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == "qkv" && c.Key.Name == name {
			n += c.Result()
		}
	}
	return n
}

// splitBeamArgs separates Beam's options (after "--") from qkv-beam's.
func splitBeamArgs(cmd *cobra.Command, args []string) []string {
	if n := cmd.ArgsLenAtDash(); n >= 0 {
		return args[n:]
	}
	return nil
}

func main() {
	// A runner starts this binary as its worker (--worker and Beam's own
	// flags): Beam's harness takes over and never returns.
	if slices.ContainsFunc(os.Args[1:], func(a string) bool { return a == "--worker" || strings.HasPrefix(a, "--worker=") }) {
		flag.Parse()
		beam.Init()
		return
	}
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "qkv beam: %v\n", err)
		os.Exit(1)
	}
}
