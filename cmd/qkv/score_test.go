package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runQKV runs the qkv command with args and returns its standard output.
// Flags of the text commands are reset first, since cobra keeps them
// between runs.
func runQKV(t *testing.T, args ...string) (string, error) {
	t.Helper()
	for _, c := range []*cobra.Command{scoreCmd, gettextCmd, godocCmd, bpeCmd} {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				sv.Replace(nil)
			} else {
				f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
	}
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&bytes.Buffer{})
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	return out.String(), err
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScore(t *testing.T) {
	dir := t.TempDir()
	// sacreBLEU's README example: BLEU 48.53, chrF2 59.73.
	hyp := writeFile(t, dir, "hyp", "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n")
	r1 := writeFile(t, dir, "r1", "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n")
	r2 := writeFile(t, dir, "r2", "The dog had bit the man.\r\nNo one was surprised.\r\nThe man had bitten the dog.\r\n")
	for metric, want := range map[string]float64{"bleu": 48.5308, "chrf": 59.7275} {
		out, err := runQKV(t, "score", "--metric", metric, "--hyp", hyp, "--ref", r1, "--ref", r2)
		if err != nil {
			t.Fatal(err)
		}
		var res scoreResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || strings.Count(out, "\n") != 1 {
			t.Fatalf("%s: not one JSON line: %q (%v)", metric, out, err)
		}
		if res.Score != want || res.NRefs != "2" || res.Segments != 3 {
			t.Errorf("%s: %+v, want score %v", metric, res, want)
		}
	}
	// G2P-style: one pronunciation a line, two reference files; the second
	// file's empty line means word 2 has one reference only.
	ph := writeFile(t, dir, "ph", "\uFEFFR IY D\nK AE T\n") // a byte-order mark is dropped
	p1 := writeFile(t, dir, "p1", "R EH D\nK AE T S\n")
	p2 := writeFile(t, dir, "p2", "R IY D\n\n")
	out, err := runQKV(t, "score", "--metric", "per", "--hyp", ph, "--ref", p1, "--ref", p2)
	if err != nil || !strings.Contains(out, `"score":14.2857`) || !strings.Contains(out, `"nrefs":"var"`) {
		t.Errorf("per: %s %v", out, err) // 0 + 1 errors over 3 + 4 phones
	}
	out, err = runQKV(t, "score", "--metric", "wer", "--hyp", ph, "--ref", p1, "--ref", p2)
	if err != nil || !strings.Contains(out, `"score":50`) {
		t.Errorf("wer: %s %v", out, err)
	}

	short := writeFile(t, dir, "short", "one line\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--hyp", short, "--ref", r1}, "r1 has 3 lines but " + short + " has 1"},
		{[]string{"--hyp", filepath.Join(dir, "missing"), "--ref", r1}, "no such file"},
		{[]string{"--hyp", hyp, "--ref", r1, "--metric", "ter"}, `unknown --metric "ter"`},
		{[]string{"--hyp", writeFile(t, dir, "bad", "ok\n\xff\n"), "--ref", r1}, "bad:2: invalid UTF-8"},
		{[]string{"--hyp", writeFile(t, dir, "empty", ""), "--ref", r1}, "empty: empty file: there is nothing to score"},
		{[]string{"--hyp", hyp, "--ref", writeFile(t, dir, "emptyref", "\n")}, "emptyref: empty file"},
		{[]string{"--hyp", short, "--ref", writeFile(t, dir, "blank", "\n\n")}, "blank has 2 lines but"},
		{[]string{"--hyp", ph, "--ref", p2, "--ref", writeFile(t, dir, "p3", "\n\n"), "--metric", "wer"}, "line 2 is empty in every --ref file"},
		{[]string{"--hyp", ph, "--ref", writeFile(t, dir, "p4", "R IY D\nK AE T\nEXTRA\n")}, "p4 has 3 lines but"},
	} {
		_, err := runQKV(t, append([]string{"score"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
}

func TestScoreRougeAndSmoothBLEU(t *testing.T) {
	dir := t.TempDir()
	// rouge-score's README pair, and a second pair: "the fox jumped" /
	// "The fox jumps" (rouge1 F 2/3, or 1 with the stemmer).
	hyp := writeFile(t, dir, "hyp", "The quick brown dog jumps on the log.\nthe fox jumped\n")
	ref := writeFile(t, dir, "ref", "The quick brown fox jumps over the lazy dog\nThe fox jumps\n")
	for _, c := range []struct {
		args []string
		name string
		want map[string]float64
	}{
		{[]string{"--metric", "rouge"}, "ROUGE-L", map[string]float64{"rouge1": 100 * (12./17 + 2./3) / 2, "rougeL": 100 * (10./17 + 2./3) / 2}},
		{[]string{"--metric", "rouge", "--rouge-stemmer"}, "ROUGE-L", map[string]float64{"rouge1": 100 * (12./17 + 1) / 2, "rougeL": 100 * (10./17 + 1) / 2}},
	} {
		out, err := runQKV(t, append([]string{"score", "--hyp", hyp, "--ref", ref}, c.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var res scoreResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %q: %v", c.args, out, err)
		}
		if res.Name != c.name || res.Segments != 2 || res.Score != res.Scores["rougeL"] {
			t.Errorf("%v: %+v", c.args, res)
		}
		for k, v := range c.want {
			if math.Abs(res.Scores[k]-v) > 1e-4 {
				t.Errorf("%v: %s = %v, want %.4f", c.args, k, res.Scores[k], v)
			}
		}
	}
	out, err := runQKV(t, "score", "--metric", "sbleu", "--hyp", hyp, "--ref", ref)
	var res scoreResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Name != "smoothed BLEU-4" || !(res.Score > 0 && res.Score < 100) {
		t.Errorf("sbleu: %s %v", out, err)
	}
	if _, err := runQKV(t, "score", "--metric", "bleu", "--rouge-stemmer", "--hyp", hyp, "--ref", ref); err == nil || !strings.Contains(err.Error(), "--rouge-stemmer") {
		t.Errorf("--rouge-stemmer with bleu: %v", err)
	}
}

// TestScoreHypFromStdin: --hyp - reads the system output from standard
// input (as sacreBLEU does, for qkv predict … | qkv score), with the same
// score as from a file; a mismatch in lines names standard input.
func TestScoreHypFromStdin(t *testing.T) {
	dir := t.TempDir()
	r1 := writeFile(t, dir, "r1", "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n")
	r2 := writeFile(t, dir, "r2", "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n")
	out, stderr, err := qkv(t, "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n", "score", "--hyp", "-", "--ref", r1, "--ref", r2)
	if err != nil || !strings.Contains(out, `"score":48.5308`) {
		t.Errorf("--hyp -: %s %s %v", out, stderr, err)
	}
	_, stderr, err = qkv(t, "one line\n", "score", "--hyp", "-", "--ref", r1)
	if err == nil || !strings.Contains(stderr, "standard input has 1") {
		t.Errorf("short stdin: %s %v", stderr, err)
	}
}
