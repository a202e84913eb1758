// Package bench_test checks the promises of bench/g2p_accuracy.sh, the G2P
// protocol of docs/g2p.md (issue 13), by running it end to end on a few
// hundred words of the embedded CMU dictionary through a qkv that logs every
// call: every choice (weights, beam, length penalty) is made on the
// validation split, never on the test file; the test file is decoded once
// per system, and running the script again reuses that score; choosing
// again among more candidates (ENDS) and training on test words (EXTRA) are
// refused; missing data is named.
//
// The script needs bash, python3, flock and column (Debian's python3,
// util-linux and bsdextrautils, which .ci/run installs); without them the
// test is skipped.
package bench_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/data/cmudict"
	"github.com/qkv-dev/qkv/text/corpus"
)

// protocolEnv is what every call of the script in the test shares.
type protocolEnv struct {
	repo, data, out, qkvLog string
	env                     []string
}

// run runs bench/g2p_accuracy.sh with extra environment and arguments and
// returns its stdout, stderr and exit error.
func (p *protocolEnv) run(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(p.repo, "bench", "g2p_accuracy.sh")}, args...)...)
	cmd.Env = append(append(os.Environ(), p.env...), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// calls returns the logged qkv calls, one argument list each.
func (p *protocolEnv) calls(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open(p.qkvLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		calls = append(calls, strings.Fields(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

// flag returns the value of --name in args, or "".
func flag(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// evalsOf returns the --test file of every logged `qkv eval`.
func evalsOf(calls [][]string) []string {
	var files []string
	for _, c := range calls {
		if len(c) > 0 && c[0] == "eval" {
			files = append(files, flag(c, "test"))
		}
	}
	return files
}

func count(files []string, want string) int {
	n := 0
	for _, f := range files {
		if f == want {
			n++
		}
	}
	return n
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// writeSplit writes a small "standard split": every 250th word of the
// embedded dictionary for training, every 250th from an offset for test,
// upper case and without stress, as cmudict-g014b2b.
func writeSplit(t *testing.T, dir string) (train, test []corpus.Pronunciation) {
	t.Helper()
	entries, err := cmudict.Entries(corpus.CMUOptions{StripStress: true, Case: corpus.UpperCase})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		switch {
		case i%250 == 0 && len(train) < 400:
			train = append(train, e)
		case i%250 == 125 && len(test) < 60:
			test = append(test, e)
		}
	}
	write := func(name string, ps []corpus.Pronunciation) {
		var b strings.Builder
		for _, p := range ps {
			for _, ph := range p.Phones {
				fmt.Fprintf(&b, "%s\t%s\n", p.Word, strings.Join(ph, " "))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cmudict-g014b2b.train.tsv", train)
	write("cmudict-g014b2b.test.tsv", test)
	return train, test
}

func TestG2PProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small models (about half a minute)")
	}
	for _, tool := range []string{"bash", "python3", "flock", "column", "awk", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("bench/g2p_accuracy.sh needs %s (Debian: python3, util-linux, bsdextrautils; .ci/run installs them)", tool)
		}
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	p := &protocolEnv{repo: repo, data: filepath.Join(tmp, "data"), out: filepath.Join(tmp, "out"), qkvLog: filepath.Join(tmp, "qkv.log")}
	for _, d := range []string{p.data, p.out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	realQKV := filepath.Join(tmp, "qkv-real")
	build := exec.Command("go", "build", "-o", realQKV, "./cmd/qkv")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building qkv: %v\n%s", err, out)
	}
	// The qkv the script runs: logs its arguments, then runs the real one.
	wrapper := filepath.Join(tmp, "qkv")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >>%s\nexec %s \"$@\"\n", p.qkvLog, realQKV)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	train, test := writeSplit(t, p.data)
	p.env = []string{"DATA=" + p.data, "OUT=" + p.out, "QKV=" + wrapper, "THREADS=1",
		"VALID_PERCENT=20", "BEAMS=1 2", "ALPHAS=0 1"}
	testFile := filepath.Join(p.data, "cmudict-g014b2b.test.tsv")
	validFile := filepath.Join(p.out, "split", "valid.tsv")
	// 12 steps, a snapshot every 2: six snapshots, so "the average of the
	// last 5" is among the candidates.
	short := []string{"TRAIN_FLAGS=--max-steps 12 --valid-every 2"}

	_, stderr, err := p.run(t, short, "rnnsearch", "2m")
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr)
	}

	t.Run("split", func(t *testing.T) {
		trainSplit, validSplit := lines(t, filepath.Join(p.out, "split", "train.tsv")), lines(t, validFile)
		want := 0
		for _, e := range train {
			want += len(e.Phones)
		}
		if len(trainSplit)+len(validSplit) != want {
			t.Errorf("split: %d + %d lines, want the training file's %d", len(trainSplit), len(validSplit), want)
		}
		inTrain := map[string]bool{}
		for _, l := range trainSplit {
			inTrain[strings.Split(l, "\t")[0]] = true
		}
		for _, l := range validSplit {
			if w := strings.Split(l, "\t")[0]; inTrain[w] {
				t.Errorf("word %s is on both sides of the split", w)
			}
		}
		if len(validSplit) < len(trainSplit)/10 || len(validSplit) > len(trainSplit)/2 {
			t.Errorf("validation split %d lines against %d for training: want about 20%% of the words (VALID_PERCENT=20)", len(validSplit), len(trainSplit))
		}
	})

	calls := p.calls(t)
	t.Run("choices on validation, test once", func(t *testing.T) {
		evals := evalsOf(calls)
		if n := count(evals, testFile); n != 1 {
			t.Fatalf("the test file was decoded %d times, want once: %q", n, evals)
		}
		if evals[len(evals)-1] != testFile {
			t.Errorf("the test file was decoded before the choices were made: %q", evals)
		}
		// weights (best, last, average5) + decodings (greedy, beam 2 with α 0 and 1)
		if n := count(evals, validFile); n < 5 {
			t.Errorf("%d decodes of the validation split, want at least 5 (3 weights, 2 more decodings): %q", n, evals)
		}
		for _, f := range evals {
			if f != testFile && f != validFile {
				t.Errorf("qkv eval on %s: only the validation split and the test file are decoded", f)
			}
		}
		for _, c := range calls {
			if len(c) > 0 && c[0] == "train" {
				for _, a := range c {
					if a == testFile {
						t.Errorf("qkv train was given the test file: %q", c)
					}
				}
				if flag(c, "valid") != validFile {
					t.Errorf("qkv train validates on %q, want %s", flag(c, "valid"), validFile)
				}
			}
		}
	})

	t.Run("the choice is the best on validation and is what was scored", func(t *testing.T) {
		sels, _ := filepath.Glob(filepath.Join(p.out, "rnnsearch", "choose-*"))
		if len(sels) != 1 {
			t.Fatalf("selection directories %q, want one", sels)
		}
		sel := sels[0]
		// notBeaten: the chosen line of a candidates file ("wer per what…")
		// has no rival with a lower WER, or the same WER and a lower PER.
		notBeaten := func(file, chosen string) {
			var cw, cp float64
			if _, err := fmt.Sscan(chosen, &cw, &cp); err != nil {
				t.Fatalf("%s: chosen %q: %v", file, chosen, err)
			}
			for _, l := range lines(t, file) {
				var w, p float64
				if _, err := fmt.Sscan(l, &w, &p); err != nil {
					t.Fatalf("%s: %q: %v", file, l, err)
				}
				if w < cw || (w == cw && p < cp) {
					t.Errorf("%s: chose %q, but %q is better on validation", file, chosen, l)
				}
			}
		}
		weights := lines(t, filepath.Join(sel, "weights"))[0]
		cands := lines(t, filepath.Join(sel, "weights.cands"))
		if len(cands) < 3 {
			t.Errorf("weights candidates %q: want best, last and the average of the last 5", cands)
		}
		chosen := ""
		for _, l := range cands {
			if f := strings.Fields(l); len(f) == 3 && f[2] == weights {
				chosen = l
			}
		}
		if chosen == "" {
			t.Fatalf("chose weights %s, not among the candidates %q", weights, cands)
		}
		notBeaten(filepath.Join(sel, "weights.cands"), chosen)
		decLine := lines(t, filepath.Join(sel, "decoding"))[0]
		notBeaten(filepath.Join(sel, "decoding.cands"), decLine)
		dec := strings.Fields(decLine) // wer per beam alpha
		var scored []string
		for _, c := range calls {
			if len(c) > 0 && c[0] == "eval" && flag(c, "test") == testFile {
				scored = c
			}
		}
		if flag(scored, "weights") != weights || flag(scored, "beam") != dec[2] || flag(scored, "alpha") != dec[3] {
			t.Errorf("the test file was decoded with %q; chosen: weights %s, beam %s, alpha %s", scored, weights, dec[2], dec[3])
		}
		results := lines(t, filepath.Join(p.out, "results.tsv"))
		if len(results) != 1 || !strings.HasPrefix(results[0], "rnnsearch\t") {
			t.Errorf("results.tsv %q: want one line for rnnsearch", results)
		}
	})

	t.Run("a second run reuses every score", func(t *testing.T) {
		before := len(p.calls(t))
		results := lines(t, filepath.Join(p.out, "results.tsv"))
		out, stderr, err := p.run(t, nil, "rnnsearch", "2m")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		after := p.calls(t)[before:]
		for _, c := range after {
			if len(c) > 0 && (c[0] == "eval" || c[0] == "train") {
				t.Errorf("the second run called qkv %q: every choice and score was already made", c)
			}
		}
		if again := lines(t, filepath.Join(p.out, "results.tsv")); !slices.Equal(again, results) {
			t.Errorf("results.tsv changed: %q, then %q", results, again)
		}
		if !strings.Contains(out, "rnnsearch") || !strings.Contains(out, "test WER") {
			t.Errorf("the table is not printed: %q", out)
		}
	})

	t.Run("more candidates after the test file was scored are refused", func(t *testing.T) {
		before := len(p.calls(t))
		end := filepath.Join(p.out, "rnnsearch", "run", "best.safetensors")
		_, stderr, err := p.run(t, []string{"ENDS=" + end}, "rnnsearch", "2m")
		if err == nil || !strings.Contains(stderr, "ENDS differs") {
			t.Errorf("ENDS after the choice: err %v, stderr %q; want a refusal", err, stderr)
		}
		if n := count(evalsOf(p.calls(t)[before:]), testFile); n != 0 {
			t.Errorf("the test file was decoded again (%d times)", n)
		}
	})

	t.Run("extra training words that are test words are refused", func(t *testing.T) {
		extra := filepath.Join(tmp, "extra.tsv")
		pair := fmt.Sprintf("%s\t%s\n", test[0].Word, strings.Join(test[0].Phones[0], " "))
		if err := os.WriteFile(extra, []byte(pair), 0o644); err != nil {
			t.Fatal(err)
		}
		before := len(p.calls(t))
		_, stderr, err := p.run(t, []string{"EXTRA=" + extra, "NAME=leak"}, "rnnsearch", "2m")
		if err == nil || !strings.Contains(stderr, "holds words of the validation split or the test file") || !strings.Contains(stderr, test[0].Word) {
			t.Errorf("EXTRA with a test word: err %v, stderr %q; want a refusal naming the word", err, stderr)
		}
		for _, c := range p.calls(t)[before:] {
			if len(c) > 0 && c[0] == "train" {
				t.Errorf("trained anyway: %q", c)
			}
		}
	})

	t.Run("missing data is named", func(t *testing.T) {
		_, stderr, err := p.run(t, []string{"DATA=" + filepath.Join(tmp, "nowhere")}, "rnnsearch", "2m")
		if err == nil || !strings.Contains(stderr, "cmudict-g014b2b.train.tsv") || !strings.Contains(stderr, "DATA") {
			t.Errorf("no data: err %v, stderr %q; want an error naming the file and DATA", err, stderr)
		}
	})
}
