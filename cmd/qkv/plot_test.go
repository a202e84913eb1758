package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/train"
)

// fakeEval writes an eval JSON line with by_length buckets of the given
// counts and WERs.
func fakeEval(t *testing.T, dir, name string, counts []int, wers []float64) string {
	t.Helper()
	edges := []int{4, 6, 8, 10, 12}
	// The keys as qkv wrote them before they were snake_case: still read.
	var b strings.Builder
	b.WriteString(`{"model":"m","wer":20,"by_length":[`)
	lo := 0
	for i, n := range counts {
		hi := -1
		if i < len(edges) {
			hi = edges[i]
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Lo":%d,"Hi":%d,"Count":%d,"WER":{"Errors":1,"Total":%d,"Rate":%g},"PER":{"Errors":1,"Total":9,"Rate":%g}}`, lo, hi, n, n, wers[i], wers[i]/4)
		lo = hi + 1
	}
	b.WriteString("]}\n")
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLengthSeries: each system's line has one point per length bucket
// that holds sources (empty buckets are left out), its values are the
// buckets' rates, and the x labels name the buckets with their counts.
func TestLengthSeries(t *testing.T) {
	dir := t.TempDir()
	counts := []int{100, 200, 0, 150, 50, 10}
	a := fakeEval(t, dir, "a.json", counts, []float64{10, 12, 0, 20, 30, 45})
	b := fakeEval(t, dir, "b.json", counts, []float64{9, 11, 0, 15, 18, 22})
	series, ticks, err := lengthSeries([]plotInput{{"seq2seq", a}, {"transformer", b}}, "wer")
	if err != nil {
		t.Fatal(err)
	}
	wantTicks := []string{"≤4\n100", "5–6\n200", "9–10\n150", "11–12\n50", "13+\n10"}
	if strings.Join(ticks, "|") != strings.Join(wantTicks, "|") {
		t.Errorf("ticks %q, want %q", ticks, wantTicks)
	}
	if len(series) != 2 || series[0].Label != "seq2seq" || fmt.Sprint(series[0].Y) != "[10 12 20 30 45]" || fmt.Sprint(series[1].Y) != "[9 11 15 18 22]" {
		t.Errorf("series %+v", series)
	}
	per, _, err := lengthSeries([]plotInput{{"a", a}}, "per")
	if err != nil || fmt.Sprint(per[0].Y) != "[2.5 3 5 7.5 11.25]" {
		t.Errorf("per: %+v %v", per, err)
	}
	other := fakeEval(t, dir, "other.json", []int{100, 201, 0, 150, 50, 10}, []float64{1, 1, 0, 1, 1, 1})
	if _, _, err := lengthSeries([]plotInput{{"a", a}, {"o", other}}, "wer"); err == nil || !strings.Contains(err.Error(), "do not score the same test set: length 5–6 holds 200 sources in one and 201") {
		t.Errorf("other test set: %v", err)
	}
	noBy := filepath.Join(dir, "noby.json")
	os.WriteFile(noBy, []byte(`{"model":"m","wer":20}`+"\n"), 0o644)
	if _, _, err := lengthSeries([]plotInput{{"a", noBy}}, "wer"); err == nil || !strings.Contains(err.Error(), "run qkv eval with --by-length") {
		t.Errorf("no by_length: %v", err)
	}
}

// TestPlotByLength: eval --by-length of a Transformer and an RNNsearch,
// drawn by qkv plot into an SVG and a PNG that decode, with both labels in
// the SVG; bad arguments are refused.
func TestPlotByLength(t *testing.T) {
	tr, corpusFile := trainedModel(t)
	rs := trainedRNNSearch(t)
	dir := t.TempDir()
	var args []string
	for label, m := range map[string]string{"Transformer": tr, "RNNsearch": rs} {
		out, stderr, err := qkv(t, "", "eval", "--model", m, "--test", corpusFile, "--by-length")
		if err != nil {
			t.Fatalf("eval: %v\n%s", err, stderr)
		}
		// Every key of the line is snake_case, the buckets' too.
		for _, k := range []string{`"by_length":[{"lo":0,"hi":4,"count":`, `"wer":{"errors":`, `"per":{"errors":`, `"total":`, `"rate":`} {
			if !strings.Contains(out, k) {
				t.Errorf("eval --by-length: no %s in %s", k, out)
			}
		}
		p := filepath.Join(dir, label+".json")
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, label+"="+p)
	}
	svg, pngFile := filepath.Join(dir, "fig.svg"), filepath.Join(dir, "fig.png")
	stdout, stderr, err := qkv(t, "", append([]string{"plot", "--out", svg, "--out", pngFile, "--title", "toy check"}, args...)...)
	if err != nil {
		t.Fatalf("plot: %v\n%s", err, stderr)
	}
	if stdout != svg+"\n"+pngFile+"\n" {
		t.Errorf("plot printed %q", stdout)
	}
	raw, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(raw))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the SVG does not parse: %v", err)
		}
	}
	for _, w := range []string{"Transformer", "RNNsearch", "toy check", "WER %"} {
		if !bytes.Contains(raw, []byte(w)) {
			t.Errorf("the SVG does not show %q", w)
		}
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the PNG does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 250 {
		t.Errorf("PNG is %v", b)
	}
	first := strings.SplitN(args[0], "=", 2)[1]
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", filepath.Join(dir, "x.pdf"), args[0]}, "end the name with .svg or .png"},
		{[]string{args[0]}, "--out is required"},
		{[]string{"--out", svg}, "give at least one LABEL=EVAL.json"},
		{[]string{"--out", first, args[0]}, "--out"},
		{[]string{"--out", svg, "--metric", "bleu", args[0]}, "use wer or per"},
		{[]string{"--out", svg, "=" + first}, "has an empty label"},
	} {
		_, stderr, err := qkv(t, "", append([]string{"plot"}, c.args...)...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("plot %v: %v, stderr %q, want %q", c.args, err, stderr, c.want)
		}
	}
}

// TestPlotLossCurves: qkv plot --kind loss draws a qkv --loss-log column
// by name and a header-less peer log's by number, smoothed over the last
// steps; a column that does not exist is named in the error.
func TestPlotLossCurves(t *testing.T) {
	dir := t.TempDir()
	qkvLog := filepath.Join(dir, "qkv.tsv")
	peerLog := filepath.Join(dir, "peer.log")
	var q, p strings.Builder
	q.WriteString(lossLogHeader)
	for s := 1; s <= 10; s++ {
		fmt.Fprintf(&q, "%d\t%g\t%g\t1e-4\t1.5\t900\n", s, 10-0.5*float64(s), 9-0.5*float64(s))
		fmt.Fprintf(&p, "%d\t%g\t1e-4\n", s, 11-0.5*float64(s))
	}
	q.WriteString("11\t4.") // a partial last line of a run still going
	os.WriteFile(qkvLog, []byte(q.String()), 0o644)
	os.WriteFile(peerLog, []byte(p.String()), 0o644)

	c, err := lossCurve(plotInput{"qkv", qkvLog + "#nll"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	// nll(s) = 9 − s/2; the mean of steps s−2 … s is nll(s−1).
	if fmt.Sprint(c.X) != "[3 4 5 6 7 8 9 10]" || c.Y[0] != 8 || c.Y[7] != 4.5 {
		t.Errorf("qkv nll curve %v %v", c.X, c.Y)
	}
	c, err = lossCurve(plotInput{"peer", peerLog}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.X) != 10 || c.Y[0] != 10.5 {
		t.Errorf("peer curve %v %v", c.X, c.Y)
	}
	for _, c := range []struct{ file, want string }{
		{qkvLog + "#bleu", `has no column "bleu": its columns are loss, nll, lr, grad_norm, tokens`},
		{peerLog + "#loss", "has no header line: give the column as a number from 2 to 3"},
		{peerLog + "#1", "has no header line"},
	} {
		if _, err := lossCurve(plotInput{"x", c.file}, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.file, err, c.want)
		}
	}
	if _, err := lossCurve(plotInput{"x", peerLog}, 11); err == nil || !strings.Contains(err.Error(), "fewer steps than --smooth 11") {
		t.Errorf("--smooth 11 over 10 steps: err %v", err)
	}

	fig := filepath.Join(dir, "loss.svg")
	out, stderr, err := qkv(t, "", "plot", "--kind", "loss", "--smooth", "2", "--out", fig, "qkv NLL="+qkvLog+"#nll", "PyTorch="+peerLog+"#2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	svg, _ := os.ReadFile(fig)
	if strings.TrimSpace(out) != fig || !strings.Contains(string(svg), "qkv NLL") || !strings.Contains(string(svg), "PyTorch") {
		t.Errorf("stdout %q; the SVG lacks a legend entry", out)
	}
	if _, stderr, err := qkv(t, "", "plot", "--kind", "losses", "--out", fig, qkvLog); err == nil || !strings.Contains(stderr, "use length or loss") {
		t.Errorf("--kind losses: err %v\n%s", err, stderr)
	}
}

// TestPlotLossNotALog: a file with no tab in its first line (a checkpoint
// given by mistake, a text file) is named as not a loss log; the error
// used to read "has no column "loss": its columns are " with nothing after.
func TestPlotLossNotALog(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"ckpt.safetensors": "\x08\x00\x00\x00{}\x00\x01\x02", "notes.txt": "my notes\nmore\n"} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o644)
		if _, err := lossCurve(plotInput{"x", path}, 1); err == nil || !strings.Contains(err.Error(), "is not a loss log") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPlotValidations: a run's validations.tsv (every validation, with its
// metric) draws as a validation curve, its axis and title named after the
// metric; a loss log's default column keeps the loss's.
func TestPlotValidations(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, train.ValidationsFile)
	hist := []train.Validation{{Step: 100, Loss: 1.2, Metric: "wer", Value: 60, Best: true}, {Step: 200, Epoch: 1, Loss: 0.9, Metric: "wer", Value: 41.5, Best: true}}
	if err := train.WriteValidations(table, hist); err != nil {
		t.Fatal(err)
	}
	c, err := lossCurve(plotInput{"x", table + "#wer"}, 1)
	if err != nil || !slices.Equal(c.X, []float64{100, 200}) || !slices.Equal(c.Y, []float64{60, 41.5}) {
		t.Fatalf("curve %v %v, err %v", c.X, c.Y, err)
	}
	fig := filepath.Join(dir, "wer.svg")
	if _, stderr, err := qkv(t, "", "plot", "--kind", "loss", "--out", fig, "run="+table+"#wer"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	svg, _ := os.ReadFile(fig)
	for _, want := range []string{"Validation WER by step", "WER %"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	if _, stderr, err := qkv(t, "", "plot", "--kind", "loss", "--out", fig, "run="+table); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if svg, _ := os.ReadFile(fig); !strings.Contains(string(svg), "Validation loss by step") {
		t.Error("the validation loss is not titled as one")
	}
}

// TestPlotBuiltin: builtin:NAME plots the line of a built-in model's own
// test scoring, kept beside its card: the length figure of the three
// architectures is drawn from the binary alone; no such model is refused
// by name.
func TestPlotBuiltin(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "fig.svg")
	if _, stderr, err := qkv(t, "", "plot", "--out", svg, "Transformer=builtin:g2p-en",
		"RNNsearch=builtin:g2p-en-rnnsearch", "seq2seq=builtin:g2p-en-seq2seq"); err != nil {
		t.Fatalf("plot the built-in models: %v\n%s", err, stderr)
	}
	raw, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Transformer", "RNNsearch", "seq2seq", "13+"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the figure lacks %q", want)
		}
	}
	if _, stderr, err := qkv(t, "", "plot", "--out", svg, "builtin:nope"); err == nil || !strings.Contains(stderr, "no such built-in model") {
		t.Errorf("plot builtin:nope: %v %q", err, stderr)
	}
}
