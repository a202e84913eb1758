package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeFlagRanges: every decoding flag of predict and eval is checked
// by one function, before the model is loaded, with a message naming the
// flag; predict and eval agree (eval --beam 0 used to run).
func TestDecodeFlagRanges(t *testing.T) {
	model, _ := trainedModel(t)
	test := filepath.Join(t.TempDir(), "test.tsv")
	os.WriteFile(test, []byte("abc\tAH BH CH\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--beam", "0"}, "--beam 0 is out of range: use 1 (greedy) to 256"},
		{[]string{"--beam", "-2"}, "--beam -2"},
		{[]string{"--beam", "100000"}, "--beam 100000 is out of range"},
		{[]string{"--batch-size", "0"}, "--batch-size 0 is out of range: decode 1 to 4096"},
		{[]string{"--batch-size", "5000"}, "--batch-size 5000"},
		{[]string{"--max-len", "-1"}, "--max-len -1"},
		{[]string{"--max-len", "100000"}, "--max-len 100000"},
		{[]string{"--alpha", "NaN"}, "--alpha NaN"},
		{[]string{"--alpha", "+Inf"}, "--alpha +Inf"},
		{[]string{"--strict", "--allow-unk"}, "--strict and --allow-unk"},
		{[]string{"--max-len-a", "-1"}, "--max-len-a -1 is out of range"},
		{[]string{"--max-len-a", "NaN"}, "--max-len-a NaN"},
		{[]string{"--max-len-b", "-2"}, "--max-len-b -2 is out of range"},
		{[]string{"--max-len-a", "0", "--max-len-b", "0"}, "leave no room for any output"},
	} {
		for _, cmd := range []string{"predict", "eval"} {
			args := append([]string{cmd, "--model", model, "--test", test}, tc.args...)
			if cmd == "predict" {
				args = append([]string{cmd, "--model", model}, tc.args...)
			}
			_, stderr, err := qkv(t, "abc\n", args...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s %q: err %v, stderr %q; want %q", cmd, tc.args, err, stderr, tc.want)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nbest", "-1"}, "--nbest -1"},
		{[]string{"--beam", "4", "--nbest", "5"}, "--nbest 5 is out of range: beam search returns 0 to --beam (4)"},
		{[]string{"--sample", "--nbest", "1025"}, "--nbest 1025"},
		{[]string{"--sample", "--temperature", "-1"}, "--temperature -1"},
		{[]string{"--sample", "--temperature", "NaN"}, "--temperature NaN"},
		{[]string{"--sample", "--temperature", "0", "--nbest", "3"}, "--temperature 0 is greedy"},
		{[]string{"--sample", "--top-k", "-5"}, "--top-k -5"},
		{[]string{"--sample", "--beam", "4"}, "--beam 4 and --sample"},
	} {
		_, stderr, err := qkv(t, "abc\n", append([]string{"predict", "--model", model}, tc.args...)...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("predict %q: err %v, stderr %q; want %q", tc.args, err, stderr, tc.want)
		}
	}
	// bench decode and serve check them too.
	if _, stderr, err := qkv(t, "", "bench", "decode", "--model", model, "--test", test, "--max-len-b", "-1"); err == nil || !strings.Contains(stderr, "--max-len-b -1") {
		t.Errorf("bench decode --max-len-b -1: err %v, stderr %q", err, stderr)
	}
	if _, stderr, err := qkv(t, "", "serve", "--model", model, "--max-len-a", "-3"); err == nil || !strings.Contains(stderr, "--max-len-a -3") {
		t.Errorf("serve --max-len-a -3: err %v, stderr %q", err, stderr)
	}
	// --max-len-a 0 --max-len-b 2: one token and </s> at most.
	if out, stderr, err := qkv(t, "abcabc\n", "predict", "--model", model, "--max-len-a", "0", "--max-len-b", "2"); err != nil || len(strings.Fields(out)) > 2 {
		t.Errorf("predict --max-len-a 0 --max-len-b 2: %q, err %v\n%s", out, err, stderr)
	}
	// The bounds themselves are accepted.
	if _, stderr, err := qkv(t, "abc\n", "predict", "--model", model, "--beam", "256", "--nbest", "256", "--max-len", "3", "--batch-size", "4096"); err != nil {
		t.Errorf("beam 256: %v\n%s", err, stderr)
	}
	if _, stderr, err := qkv(t, "", "eval", "--model", model, "--test", test, "--beam", "256", "--batch-size", "1"); err != nil {
		t.Errorf("eval beam 256: %v\n%s", err, stderr)
	}
}

func TestThreadsFlag(t *testing.T) {
	for _, tc := range []struct {
		asked, cpus, want int
		note, err         string
	}{
		{0, 4, 0, "", ""},
		{3, 4, 3, "", ""},
		{4, 4, 4, "", ""},
		{100000, 4, 4, "--threads 100000: this machine has 4 CPUs; using 4", ""},
		{-1, 4, 0, "", "--threads -1 is out of range"},
	} {
		n, note, err := checkThreads(tc.asked, tc.cpus)
		if n != tc.want || !strings.Contains(note, tc.note) || (tc.note == "") != (note == "") ||
			(tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkThreads(%d, %d) = %d, %q, %v", tc.asked, tc.cpus, n, note, err)
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("hello world\nhello there\n"), 0o644)
	_, stderr, err := qkv(t, "", "--threads", "100000", "data", "bpe", "--merges", "3", "--min-freq", "1", "--input", in)
	if err != nil || !strings.Contains(stderr, "--threads 100000: this machine has") {
		t.Errorf("--threads 100000: err %v, stderr %q", err, stderr)
	}
	if _, stderr, err := qkv(t, "", "--threads", "-3", "data", "bpe", "--merges", "3", "--input", in); err == nil || !strings.Contains(stderr, "--threads -3") {
		t.Errorf("--threads -3: err %v, stderr %q", err, stderr)
	}
}

// TestSamplingCLI: --temperature 0 is greedy; each line's samples come from
// its own stream, so they do not depend on --batch-size, the same seed
// repeats them, and identical lines get different samples.
func TestSamplingCLI(t *testing.T) {
	model, _ := trainedModel(t)
	greedy, _, err := qkv(t, "abc\nfed\n", "predict", "--model", model)
	if err != nil {
		t.Fatal(err)
	}
	zero, stderr, err := qkv(t, "abc\nfed\n", "predict", "--model", model, "--sample", "--temperature", "0", "--seed", "9")
	if err != nil || zero != greedy {
		t.Errorf("--temperature 0 gave %q (%v %s), greedy %q", zero, err, stderr, greedy)
	}
	input := strings.Repeat("abc\nde\nabc\nfaced\n", 6)
	var first string
	for _, bs := range []string{"1", "3", "64"} {
		out, stderr, err := qkv(t, input, "predict", "--model", model, "--sample", "--temperature", "3", "--seed", "5", "--nbest", "2", "--batch-size", bs)
		if err != nil {
			t.Fatalf("--batch-size %s: %v\n%s", bs, err, stderr)
		}
		// Scores may differ in the last printed digit (batched arithmetic
		// rounds differently); the samples may not.
		out = stripScores(out)
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("--batch-size %s gave other samples:\n%s\nthan --batch-size 1:\n%s", bs, out, first)
		}
	}
	lines := strings.Split(strings.TrimSpace(first), "\n")
	if len(lines) != 48 {
		t.Fatalf("%d output lines for 24 inputs × 2 samples", len(lines))
	}
	distinct := map[string]bool{}
	for i := 0; i < 24; i += 2 { // "abc" is every other input: 12 lines, 24 samples
		distinct[lines[2*i]] = true
	}
	if len(distinct) < 4 {
		t.Errorf("12 identical lines sampled only %d distinct outputs: %v", len(distinct), distinct)
	}
	other, _, _ := qkv(t, input, "predict", "--model", model, "--sample", "--temperature", "3", "--seed", "6", "--nbest", "2")
	if stripScores(other) == first {
		t.Error("another --seed gave the same samples")
	}
}

// TestUnknownInputSymbols: a symbol the model never saw is read as <unk>
// with a count at the end; --strict makes it an error of its line; a
// byte-order mark is dropped; empty lines and invalid UTF-8 stay errors.
func TestUnknownInputSymbols(t *testing.T) {
	model, _ := trainedModel(t)
	out, stderr, err := qkv(t, "abz\nzz\nabc\n", "predict", "--model", model)
	if err != nil {
		t.Fatalf("unknown symbols: %v\n%s", err, stderr)
	}
	if n := strings.Count(out, "\n"); n != 3 || strings.Contains(out, "<unk>") {
		t.Errorf("output %q: want 3 lines without <unk>", out)
	}
	if want := `qkv predict: 2 input lines held 3 symbols the model never saw, e.g. "z"; they were read as <unk> (--strict refuses such lines)`; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	out, stderr, err = qkv(t, "abz\nabc\n", "predict", "--model", model, "--strict")
	if err == nil || !strings.Contains(stderr, `line 1: vocab: unknown symbol "z" at position 2`) || strings.Count(out, "\n") != 2 {
		t.Errorf("--strict: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	// A byte-order mark at the start is not a symbol.
	bom, stderr, err := qkv(t, "\uFEFFabc\n", "predict", "--model", model)
	plain, _, _ := qkv(t, "abc\n", "predict", "--model", model)
	if err != nil || bom != plain || strings.Contains(stderr, "never saw") {
		t.Errorf("BOM: %q (%v, %q), without %q", bom, err, stderr, plain)
	}
	out, stderr, err = qkv(t, "abc\n\n\xff\xfe\n", "predict", "--model", model)
	if err == nil || !strings.Contains(stderr, "line 2: empty input") || !strings.Contains(stderr, "line 3: invalid UTF-8") || strings.Count(out, "\n") != 3 {
		t.Errorf("bad lines: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	// eval reads unknown symbols as <unk> too, instead of stopping.
	test := filepath.Join(t.TempDir(), "test.tsv")
	os.WriteFile(test, []byte("abc\tAH BH CH\nabz\tAH BH ZH\n"), 0o644)
	out, stderr, err = qkv(t, "", "eval", "--model", model, "--test", test)
	if err != nil || !strings.Contains(stderr, "1 input line held 1 symbol the model never saw") || !strings.Contains(out, `"sentences":2`) {
		t.Errorf("eval with an unknown symbol: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	if _, stderr, err := qkv(t, "", "eval", "--model", model, "--test", test, "--strict"); err != nil || !strings.Contains(stderr, "1 of 2 test sources could not be decoded") {
		t.Errorf("eval --strict: err %v, stderr %q", err, stderr)
	}
}

// TestEvalRefusesNothingToScore: an empty test set, or one whose every
// source fails, is an error, never a perfect score; a source that fails
// among good ones is scored as an empty output and counted. A source
// longer than the model takes is not a failure: it is decoded from its
// first max_src_len tokens (fairseq's --truncate-source), counted, and
// scored against its full reference.
func TestEvalRefusesNothingToScore(t *testing.T) {
	model, _ := trainedModel(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.tsv")
	os.WriteFile(empty, nil, 0o644)
	out, stderr, err := qkv(t, "", "eval", "--model", model, "--test", empty)
	if err == nil || strings.Contains(out, "wer") || !strings.Contains(stderr, "nothing to score") {
		t.Errorf("empty test set: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	unknown := filepath.Join(dir, "unknown.tsv")
	os.WriteFile(unknown, []byte("zq\tAH\nqz\tAH\n"), 0o644)
	out, stderr, err = qkv(t, "", "eval", "--model", model, "--test", unknown, "--strict")
	if err == nil || strings.Contains(out, "wer") || !strings.Contains(stderr, "none of the 2 test sources could be decoded") {
		t.Errorf("every source refused by --strict: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	tooLong := strings.Repeat("abcdef", 3) // 18 > --max-src-len 12
	allLong := filepath.Join(dir, "alllong.tsv")
	os.WriteFile(allLong, []byte(tooLong+"\tAH\n"+tooLong+"a\tAH\n"), 0o644)
	out, stderr, err = qkv(t, "", "eval", "--model", model, "--test", allLong)
	var res map[string]any
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res["truncated"] != 2.0 || res["undecodable"] != nil ||
		!strings.Contains(stderr, "2 of 2 sources are longer than the model's 12 tokens") {
		t.Errorf("every source too long: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	// One good source and a 5 MB one: the long one is truncated, scored
	// (wrong) against its reference, and the note does not quote it.
	huge := strings.Repeat("a", 5<<20)
	mixed := filepath.Join(dir, "mixed.tsv")
	os.WriteFile(mixed, []byte("abc\tAH BH CH\n"+huge+"\tAH\n"), 0o644)
	out, stderr, err = qkv(t, "", "eval", "--model", model, "--test", mixed)
	if err != nil {
		t.Fatalf("eval with one over-long source: %v\n%.500s", err, stderr)
	}
	res = nil
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["truncated"] != 1.0 || res["wer"].(float64) < 50 {
		t.Errorf("eval output %q (%v): want truncated 1 and the long line counted wrong", out, err)
	}
	if len(stderr) > 400 {
		t.Errorf("a %d-byte message about a 5 MB line: %.500q", len(stderr), stderr)
	}
	// A 5 MB source that cannot be decoded (unknown symbols, --strict)
	// counts as wrong, and the message quotes 40 characters of it.
	os.WriteFile(mixed, []byte("abc\tAH BH CH\n"+strings.Repeat("z", 5<<20)+"\tAH\n"), 0o644)
	out, stderr, err = qkv(t, "", "eval", "--model", model, "--test", mixed, "--strict")
	res = nil
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res["undecodable"] != 1.0 || res["wer"].(float64) < 50 {
		t.Errorf("eval --strict with a 5 MB line of unknown symbols: err %v, out %q", err, out)
	}
	if len(stderr) > 400 || !strings.Contains(stderr, "(5242880 bytes)") {
		t.Errorf("a %d-byte message about a 5 MB line: %.500q", len(stderr), stderr)
	}
	// predict's message about the same line is short too.
	_, stderr, err = qkv(t, huge+"\n", "predict", "--model", model)
	if err == nil || len(stderr) > 400 || !strings.Contains(stderr, "line 1: input is 5242880 tokens long") {
		t.Errorf("predict a 5 MB line: err %v, %d-byte stderr %.500q", err, len(stderr), stderr)
	}
	_, stderr, err = qkv(t, strings.Repeat("z", 5<<20)+"\n", "predict", "--model", model, "--max-len", "2")
	if err == nil || len(stderr) > 400 {
		t.Errorf("predict a 5 MB line of unknown symbols: err %v, %d-byte stderr %.500q", err, len(stderr), stderr)
	}
}

// stripScores drops the "score<TAB>" of every n-best line.
func stripScores(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if _, text, ok := strings.Cut(l, "\t"); ok {
			lines[i] = text
		}
	}
	return strings.Join(lines, "\n")
}

// TestUnknownNoteNamesOnlyFlagsTheCommandHas: predict and eval can refuse
// such lines with --strict; train's validation metric has no such flag, so
// its note must not send the user looking for one.
func TestUnknownNoteNamesOnlyFlagsTheCommandHas(t *testing.T) {
	u := unknownTally{lines: 1, symbols: 2, example: "ḍ"}
	if n := u.note("eval"); !strings.Contains(n, "--strict") {
		t.Errorf("eval: %s", n)
	}
	if n := u.note("train: validation metric"); strings.Contains(n, "--strict") || !strings.Contains(n, `"ḍ"`) {
		t.Errorf("train: %s", n)
	}
}

// TestSamplingFlagsNeedSample: --temperature, --top-k and --seed without
// --sample are refused; they did nothing, and the greedy output looked
// like a sample.
func TestSamplingFlagsNeedSample(t *testing.T) {
	for _, flag := range [][]string{{"--temperature", "0.5"}, {"--top-k", "3"}, {"--seed", "7"}} {
		args := append([]string{"predict", "--model", "builtin:g2p-en"}, flag...)
		stdout, stderr, err := qkv(t, "hello\n", args...)
		if err == nil || stdout != "" || !strings.Contains(stderr, flag[0]+" applies to sampling") {
			t.Errorf("%v: %v, stdout %q, stderr %q", flag, err, stdout, stderr)
		}
		stdout, stderr, err = qkv(t, "hello\n", append(args, "--sample")...)
		if err != nil || strings.Count(stdout, "\n") != 1 {
			t.Errorf("%v --sample: %v, stdout %q, stderr %q", flag, err, stdout, stderr)
		}
	}
}
