package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
)

// serveLog is a qkv serve's standard error, read on in the background.
type serveLog struct {
	mu   sync.Mutex
	b    strings.Builder
	done chan struct{} // closed when the pipe is read to its end (the process has exited)
}

func (l *serveLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line + "\n")
}

// String is what was read so far.
func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs qkv serve with args on a free port and returns its base
// URL, the process, and its standard error so far (read on). Wait for the
// log's done before cmd.Wait, which closes the pipe and could lose the
// last lines.
func startServe(t *testing.T, args ...string) (string, *exec.Cmd, *serveLog) {
	t.Helper()
	cmd := exec.Command(qkvBin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	log := &serveLog{done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		defer close(log.done)
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			log.add(sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		close(urls)
	}()
	select {
	case url, ok := <-urls:
		if !ok {
			t.Fatalf("qkv serve did not start:\n%s", log.String())
		}
		return url, cmd, log
	case <-time.After(30 * time.Second):
		t.Fatalf("qkv serve did not start in 30s:\n%s", log.String())
	}
	return "", nil, nil
}

// TestServeCommand: qkv serve answers the API for two names of one model
// and stops on SIGTERM with status 0.
func TestServeCommand(t *testing.T) {
	model, _ := trainedModel(t)
	url, cmd, log := startServe(t, "--model", model, "--model", "second="+model, "--max-wait", "0")
	if !strings.Contains(log.String(), "batching up to 64 inputs without waiting") {
		t.Errorf("--max-wait 0:\n%s", log.String())
	}
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var models struct {
		Models []struct{ Name, Arch string }
	}
	json.NewDecoder(resp.Body).Decode(&models)
	resp.Body.Close()
	if len(models.Models) != 2 || models.Models[0].Name != filepath.Base(model) || models.Models[1].Name != "second" || models.Models[0].Arch != "transformer" {
		t.Errorf("models: %+v", models)
	}
	resp, err = http.Post(url+"/v1/translate", "application/json", strings.NewReader(`{"model": "second", "inputs": ["abc", ""], "beam": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tr struct {
		Model   string
		Results []struct {
			Outputs []struct{ Text string }
			Error   string
		}
	}
	if err := json.Unmarshal(body, &tr); err != nil || resp.StatusCode != 200 || tr.Model != "second" || len(tr.Results) != 2 ||
		len(tr.Results[0].Outputs) != 1 || tr.Results[0].Outputs[0].Text == "" || tr.Results[1].Error != "empty input" {
		t.Errorf("translate: %d %s", resp.StatusCode, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		<-log.done // every line read: Wait closes the pipe
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("qkv serve after SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("qkv serve did not stop on SIGTERM")
	}
	if !strings.Contains(log.String(), "stopped; every request in flight was answered") {
		t.Errorf("stderr:\n%s", log.String())
	}
}

// TestServeEnsembles: a built-in ensemble and an ensemble of directories
// (NAME=DIR1,DIR2) are served as such: described with their members,
// decoding what qkv predict decodes with the same models. A built-in
// model decodes as its card says, as in qkv predict.
func TestServeEnsembles(t *testing.T) {
	model, _ := trainedModel(t)
	card, err := models.ReadCard("g2p-en-rnnsearch")
	if err != nil || card.Beam < 2 {
		t.Fatalf("the test needs a built-in model decoding with a beam: %+v %v", card, err)
	}
	url, _, log := startServe(t, "--model", "builtin:g2p-en-ensemble", "--model", "mine="+model+","+model, "--model", "builtin:g2p-en-rnnsearch")
	if want := fmt.Sprintf("requests decode with beam %d, α %v unless they say otherwise", card.Beam, card.Alpha); !strings.Contains(log.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, log.String())
	}
	ens, err := models.ReadCard("g2p-en-ensemble")
	if err != nil || len(ens.Members) < 2 {
		t.Fatalf("the test needs the built-in ensemble: %+v %v", ens, err)
	}
	var archs []string
	for _, m := range ens.Members {
		raw, err := fs.ReadFile(models.FS, m+"/config.json")
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Model struct{ Arch string } }
		if err := json.Unmarshal(raw, &c); err != nil || c.Model.Arch == "" {
			t.Fatalf("%s/config.json: %v", m, err)
		}
		archs = append(archs, c.Model.Arch)
	}
	if !strings.Contains(log.String(), fmt.Sprintf("model g2p-en-ensemble: an ensemble of %d models (%s)", len(archs), strings.Join(archs, ", "))) ||
		!strings.Contains(log.String(), "model mine: an ensemble of 2 models (transformer, transformer)") {
		t.Errorf("stderr:\n%s", log.String())
	}
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var served struct {
		Models []struct {
			Name, Arch string
			Members    []struct{ Arch string }
			Decoding   struct {
				Beam  int
				Alpha float64
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&served)
	resp.Body.Close()
	if m := served.Models; len(m) != 3 || m[0].Arch != "ensemble" || len(m[0].Members) != len(archs) ||
		m[1].Arch != "ensemble" || len(m[1].Members) != 2 || m[1].Decoding.Beam != 1 ||
		m[2].Decoding.Beam != card.Beam || m[2].Decoding.Alpha != card.Alpha {
		t.Errorf("models: %+v", served)
	}
	for _, tc := range []struct{ name, predict string }{
		{"g2p-en-ensemble", "builtin:g2p-en-ensemble"}, {"mine", model + "," + model}, {"g2p-en-rnnsearch", "builtin:g2p-en-rnnsearch"},
	} {
		resp, err := http.Post(url+"/v1/translate", "application/json", strings.NewReader(`{"model": "`+tc.name+`", "inputs": ["qubit", "cromulent"]}`))
		if err != nil {
			t.Fatal(err)
		}
		var tr struct {
			Results []struct{ Outputs []struct{ Text string } }
		}
		json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		want, stderr, err := qkv(t, "qubit\ncromulent\n", "predict", "--model", tc.predict)
		if err != nil {
			t.Fatalf("predict: %v\n%s", err, stderr)
		}
		var got []string
		for _, r := range tr.Results {
			for _, o := range r.Outputs {
				got = append(got, o.Text)
			}
		}
		if strings.Join(got, "\n")+"\n" != want || len(got) != 2 {
			t.Errorf("%s: served %q, qkv predict --model %s says %q", tc.name, got, tc.predict, want)
		}
	}
}

// TestServeRefusals: bad flags are refused before anything listens, with
// the flag named.
func TestServeRefusals(t *testing.T) {
	model, _ := trainedModel(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notModel := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--model is required"},
		{[]string{"--model", ""}, `--model ""`},
		{[]string{"--model", notModel}, "--model " + notModel + ": "},
		{[]string{"--model", "x=" + filepath.Join(notModel, "none")}, "model directory"},
		{[]string{"--model", "x="}, "no directory after"},
		{[]string{"--model", "a b=" + model}, "model name"},
		{[]string{"--model", model, "--model", model}, "both named"},
		{[]string{"--model", model, "--max-batch", "0"}, "--max-batch 0 is out of range"},
		{[]string{"--model", model, "--max-wait", "5s"}, "--max-wait 5s is out of range"},
		{[]string{"--model", model, "--max-beam", "1000"}, "--max-beam 1000 is out of range"},
		{[]string{"--model", model, "--timeout", "-1s"}, "--timeout -1s"},
		{[]string{"--model", model, "--timeout", "0s"}, "--timeout 0s is out of range"},
		{[]string{"--model", model, "--max-inputs", "0"}, "--max-inputs 0 is out of range"},
		{[]string{"--model", model, "--drain-timeout", "0s"}, "--drain-timeout 0s"},
		{[]string{"--model", model, "--decode-threads", "-1"}, "--decode-threads -1 is out of range"},
		{[]string{"--model", model, "--threads", "1", "--decode-threads", "2"}, "--decode-threads 2 is out of range: this process has 1 core "},
		{[]string{"--model", model, "--addr", busy.Addr().String()}, "--addr " + busy.Addr().String()},
		{[]string{"--model", model, "--weights", "nope.safetensors"}, "nope.safetensors"},
		{[]string{"--model", "x=" + model + ",," + model}, "an empty directory name"},
		{[]string{"--model", "x=" + model + "," + notModel}, "--model x=" + model + "," + notModel + ": "},
		{[]string{"--model", "builtin:g2p-en-ensemble", "--weights", "last.safetensors"}, "is a built-in ensemble"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...)
		_, stderr, err := qkvTimeout(t, 30*time.Second, args...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("qkv %s: %v\n%s\nwant an error with %q", strings.Join(args, " "), err, stderr, tc.want)
		}
	}
}

// qkvTimeout is qkv with a deadline: a serve that wrongly started is
// killed rather than hanging the test.
func qkvTimeout(t *testing.T, d time.Duration, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(qkvBin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Signal(os.Interrupt) })
	defer timer.Stop()
	err := cmd.Wait()
	return out.String(), errb.String(), err
}

func TestParseModelFlag(t *testing.T) {
	dir := t.TempDir()
	eq := filepath.Join(dir, "a=b")
	if err := os.Mkdir(eq, 0o755); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(run, "average.safetensors")
	if err := os.WriteFile(weights, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, name, dir, err string }{
		{"runs/g2p", "g2p", "runs/g2p", ""},
		{weights, "run", weights, ""}, // a weights file serves under its directory's name
		{"avg=" + weights, "avg", weights, ""},
		{"runs/g2p/", "g2p", "runs/g2p/", ""},
		{"en-de=runs/x", "en-de", "runs/x", ""},
		{"builtin:g2p-en", "g2p-en", "builtin:g2p-en", ""},
		{"g2p=builtin:g2p-en", "g2p", "builtin:g2p-en", ""},
		{eq, "a=b", eq, "cannot name the model"}, // an existing directory with '=' is a DIR
		{"=runs/x", "", "", "no model name"},
		{"a b=runs/x", "", "", "model name"},
		{".", "", "", "cannot name the model"},
		{"builtin:g2p-en-ensemble", "g2p-en-ensemble", "builtin:g2p-en-ensemble", ""},
		{"ens=runs/a,runs/b", "ens", "runs/a,runs/b", ""},
		{"runs/a,runs/b", "", "", "give it one, --model NAME=runs/a,runs/b"},
	} {
		name, d, err := parseModelFlag(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %q %q %v, want an error with %q", tc.in, name, d, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || d != tc.dir {
			t.Errorf("%q: %q %q %v, want %q %q", tc.in, name, d, err, tc.name, tc.dir)
		}
	}
}

// TestBenchServe: a short run prints a JSON line per mode and client
// count, and a summary with the speed-up of batching.
func TestBenchServe(t *testing.T) {
	model, corpusFile := trainedModel(t)
	stdout, stderr, err := qkv(t, "", "bench", "serve", "--model", model, "--input", corpusFile,
		"--clients", "1,4", "--duration", "300ms", "--warmup", "50ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), stdout)
	}
	for i, line := range lines[:4] {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		wantBatching, wantClients := i >= 2, []float64{1, 4}[i%2]
		if r["batching"] != wantBatching || r["clients"] != wantClients || r["failed"] != 0.0 ||
			r["sentences_per_s"].(float64) <= 0 || r["p99_ms"].(float64) < r["p50_ms"].(float64) {
			t.Errorf("line %d: %s", i, line)
		}
	}
	if !strings.Contains(lines[4], `"batching_speedup_4_clients"`) {
		t.Errorf("summary: %s", lines[4])
	}
	if _, stderr, err := qkv(t, "", "bench", "serve", "--model", model, "--clients", "0"); err == nil || !strings.Contains(stderr, "--clients 0") {
		t.Errorf("--clients 0: %v %s", err, stderr)
	}
}

// TestBenchServeBeamChecked: a --beam the server would refuse is an error
// before any run (it ran every run with all requests failing, then said
// "no request answered").
func TestBenchServeBeamChecked(t *testing.T) {
	for _, beam := range []string{"0", "17"} {
		stdout, stderr, err := qkv(t, "", "bench", "serve", "--model", "builtin:g2p-en", "--beam", beam,
			"--clients", "1", "--duration", "100ms", "--warmup", "0s")
		if err == nil || stdout != "" || !strings.Contains(stderr, "--beam "+beam+" is out of range") {
			t.Errorf("--beam %s: %v, stdout %q, stderr %q", beam, err, stdout, stderr)
		}
	}
}

// TestServeAddrChecked: a malformed --addr is refused before any model is
// loaded (here the model does not even exist), without the hint about a
// busy port, which is kept for a port another server holds.
func TestServeAddrChecked(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-model")
	for _, addr := range []string{"nonsense", "127.0.0.1", "[::1"} {
		_, stderr, err := qkvTimeout(t, 30*time.Second, "serve", "--model", missing, "--addr", addr)
		if err == nil || !strings.Contains(stderr, "--addr "+addr+":") || strings.Contains(stderr, "another server") {
			t.Errorf("--addr %q: %v, stderr %q", addr, err, stderr)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, stderr, err := qkvTimeout(t, 30*time.Second, "serve", "--model", "builtin:g2p-en", "--addr", busy.Addr().String())
	if err == nil || !strings.Contains(stderr, "another server holds that port") {
		t.Errorf("a busy port: %v, stderr %q", err, stderr)
	}
}

// TestLoadModelOrEnsembleWeightsFile: serve's --model DIR/FILE loads the
// directory with that file's weights, as --weights FILE does; both at once
// are refused.
func TestLoadModelOrEnsembleWeightsFile(t *testing.T) {
	tr, _ := trainedModel(t)
	dir := copyWithTgtVocab(t, tr, func([]string, int) {})
	p, err := pipeline.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range p.Model.Params() {
		for i := range w.Data {
			w.Data[i] *= 0.5
		}
	}
	if err := checkpoint.Save(filepath.Join(dir, "other.safetensors"), p.Model.Params(), nil); err != nil {
		t.Fatal(err)
	}
	viaFlag, err := loadModelOrEnsemble(dir, "other.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	viaFile, err := loadModelOrEnsemble(filepath.Join(dir, "other.safetensors"), "")
	if err != nil {
		t.Fatal(err)
	}
	best, err := loadModelOrEnsemble(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := viaFlag.Model.Params()[0].Data, viaFile.Model.Params()[0].Data, best.Model.Params()[0].Data
	if !slices.Equal(a, b) {
		t.Errorf("--model DIR/other.safetensors loaded other weights than --weights other.safetensors")
	}
	if slices.Equal(a, c) {
		t.Errorf("other.safetensors loaded as the best weights")
	}
	if _, err := loadModelOrEnsemble(filepath.Join(dir, "other.safetensors"), "best.safetensors"); err == nil || !strings.Contains(err.Error(), "is a weights file already") {
		t.Errorf("a weights file and --weights: %v", err)
	}
}
