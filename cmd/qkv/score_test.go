package main

import (
	"bytes"
	"encoding/json"
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
	for _, c := range []*cobra.Command{scoreCmd, gettextCmd, bpeCmd} {
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
