package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/qkv-dev/qkv/beam/internal/testmodel"
)

// The portable path a Flink or Spark job server takes: qkv beam predict
// submits to a Beam job service at --endpoint (here Prism's, started as a
// server on a local port) through the universal runner, with its workers
// in LOOPBACK mode, and writes what qkv predict writes.
func TestUniversalRunnerAgainstAJobServer(t *testing.T) {
	l, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := prism.CreateJobServer(ctx, prism.Options{Port: port}); err != nil {
		t.Fatalf("starting a job server: %v", err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "words.txt")
	os.WriteFile(in, []byte("abc\nfed\ncafe\n"), 0o644)
	_, stderr, err := testmodel.Run(beamBin, "", "predict", "--model", modelDir, "--input", in, "--output", dir+"/out-",
		"--runner", "universal", "--endpoint", "localhost:"+strconv.Itoa(port), "--", "--environment_type=LOOPBACK")
	if err != nil {
		t.Fatalf("qkv-beam predict --runner universal: %v\n%s", err, stderr)
	}
	want, _, err := testmodel.Run(qkvBin, "", "predict", "--model", modelDir, "--input", in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dir + "/out-words.txt")
	if err != nil || string(got) != want {
		t.Errorf("through the job server: %q (%v), qkv predict: %q", got, err, want)
	}
}
