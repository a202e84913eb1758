package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
)

// TestG2P: words the CMU dictionary holds are pronounced from it (no
// stress marks), others by the model exactly as qkv predict decodes them;
// punctuation around words is dropped; a word the model cannot read is an
// error on stderr that does not stop the others.
func TestG2P(t *testing.T) {
	m, _ := trainedModel(t)
	// "cat" and "bed" are in the dictionary; "abcfed" and "ddfa" are not.
	out, stderr, err := qkv(t, "Cat, abcfed!\n\n  ddfa bed\n", "g2p", "--model", m, "--source")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	pred, stderr, err := qkv(t, "abcfed\nddfa\n", "predict", "--model", m, "--beam", "4")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	p := strings.Split(strings.TrimSpace(pred), "\n")
	want := []string{"Cat\tK AE T\tdict", "abcfed\t" + p[0] + "\tmodel", "ddfa\t" + p[1] + "\tmodel", "bed\tB EH D\tdict"}
	if got := strings.Split(strings.TrimSpace(out), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("g2p printed\n%q\nwant\n%q", got, want)
	}

	// --dict=false: the model pronounces every word; words from the arguments.
	out, stderr, err = qkv(t, "", "g2p", "--model", m, "--dict=false", "cab", "fad")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	pred, _, _ = qkv(t, "cab\nfad\n", "predict", "--model", m, "--beam", "4")
	p = strings.Split(strings.TrimSpace(pred), "\n")
	if got, want := strings.TrimSpace(out), "cab\t"+p[0]+"\nfad\t"+p[1]; got != want {
		t.Errorf("--dict=false printed %q, want %q", got, want)
	}

	// A letter the model never saw: that word fails, the others are printed.
	out, stderr, err = qkv(t, "abc zzq fed\n", "g2p", "--model", m, "--dict=false")
	if err == nil || !strings.Contains(stderr, `"zzq"`) || !strings.Contains(stderr, "1 word(s) got no pronunciation") {
		t.Errorf("unknown letters: err %v, stderr %q", err, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "abc\t") || !strings.HasPrefix(lines[1], "fed\t") {
		t.Errorf("unknown letters: stdout %q, want abc and fed pronounced", out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"g2p", "--model", "builtin:nope", "--dict=false", "x"}, "no such built-in model"},
		{[]string{"g2p", "--model", m, "--beam", "0", "x"}, "--beam"},
		{[]string{"g2p", "--model", m, "--", "...", "!"}, "hold no word"},
	} {
		if _, stderr, err := qkv(t, "", c.args...); err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: err %v, stderr %q, want it to say %q", c.args, err, stderr, c.want)
		}
	}
}

// TestG2PBuiltin: on a fresh machine (no model directory, no training),
// qkv g2p pronounces a dictionary word from the dictionary and a word the
// dictionary lacks with the default built-in model, in ARPAbet phones.
func TestG2PBuiltin(t *testing.T) {
	out, stderr, err := qkv(t, "qubit\n", "g2p", "--source")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	f := strings.Split(strings.TrimSpace(out), "\t")
	if len(f) != 3 || f[0] != "qubit" || f[2] != "model" {
		t.Fatalf("echo qubit | qkv g2p --source printed %q", out)
	}
	arpabet := map[string]bool{}
	for _, p := range strings.Fields("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH") {
		arpabet[p] = true
	}
	phones := strings.Fields(f[1])
	if len(phones) < 3 || len(phones) > 8 {
		t.Errorf("qubit: %d phones %q", len(phones), f[1])
	}
	for _, p := range phones {
		if !arpabet[p] {
			t.Errorf("qubit: %q is not an ARPAbet phone (in %q)", p, f[1])
		}
	}
	if phones[0] != "K" {
		t.Errorf("qubit: starts with %q, want K", phones[0])
	}
	out, stderr, err = qkv(t, "", "g2p", "cat")
	if err != nil || out != "cat\tK AE T\n" {
		t.Errorf("qkv g2p cat: %q %v %s", out, err, stderr)
	}
}

// TestG2PNamedModelIsChecked: a --model or --weights given on the command
// line is loaded even when the dictionary holds every word ("hello"), so a
// typo in it is an error rather than silently unused.
func TestG2PNamedModelIsChecked(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"g2p", "--model", filepath.Join(dir, "no-such-run"), "hello"},
		{"g2p", "--model", "builtin:no-such-model", "hello"},
		{"g2p", "--weights", "no-such.safetensors", "hello"},
	} {
		stdout, stderr, err := qkv(t, "", args...)
		// The error names what is wrong: no such model or file, or (the
		// default model being a built-in ensemble) weights that do not apply.
		if err == nil || stdout != "" || !strings.Contains(stderr, "no such") && !strings.Contains(stderr, `"no-such.safetensors" does not apply`) {
			t.Errorf("qkv %v: err %v, stdout %q, stderr %q", args, err, stdout, stderr)
		}
	}
	// The default model is still loaded only when a word needs it.
	if stdout, stderr, err := qkv(t, "", "g2p", "hello"); err != nil || stdout != "hello\tHH AH L OW\n" {
		t.Errorf("qkv g2p hello: %v, %q, %q", err, stdout, stderr)
	}
}

// TestG2PLongLine: a line over the 1 MB g2p reads is an error naming the
// line and the limit, after the lines before it were pronounced; it read
// "bufio.Scanner: token too long".
func TestG2PLongLine(t *testing.T) {
	stdout, stderr, err := qkv(t, "hello\n"+strings.Repeat("a ", 600_000)+"\n", "g2p")
	if err == nil || !strings.Contains(stderr, "line 2 is longer than 1 MB") {
		t.Errorf("err %v, stderr %q", err, stderr)
	}
	if stdout != "hello\tHH AH L OW\n" {
		t.Errorf("stdout %q", stdout)
	}
}

// TestG2PEnsemble: several --model decode as one ensemble, exactly as
// qkv predict decodes the same models, and a bad member is named.
func TestG2PEnsemble(t *testing.T) {
	const pair = "builtin:g2p-en-rnnsearch,builtin:g2p-en-seq2seq"
	words := "qubit\nbahdanau\nvaswani\n"
	got, stderr, err := qkv(t, words, "g2p", "--dict=false", "--model", pair, "--beam", "4")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want, stderr, err := qkv(t, words, "predict", "--model", "builtin:g2p-en-rnnsearch", "--model", "builtin:g2p-en-seq2seq", "--beam", "4")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	samePronunciations(t, words, got, want, pair)
	if _, stderr, err := qkv(t, "", "g2p", "--model", "builtin:g2p-en-rnnsearch,builtin:nope", "hello"); err == nil || !strings.Contains(stderr, "builtin:nope") {
		t.Errorf("a bad member: err %v, stderr %q", err, stderr)
	}
}

// TestG2PBuiltinEnsemble: a built-in ensemble (builtin:g2p-en-ensemble)
// pronounces exactly as qkv predict does with the members its card lists,
// decoding as its card says (beam, α) unless told otherwise; and a command
// that takes one model says it is an ensemble.
func TestG2PBuiltinEnsemble(t *testing.T) {
	var name string
	var card models.Card
	for _, n := range pipeline.Builtins() {
		if c, err := models.ReadCard(n); err == nil && len(c.Members) > 0 {
			name, card = n, c
			break
		}
	}
	if name == "" {
		t.Fatalf("no built-in ensemble among %v", pipeline.Builtins())
	}
	words := "qubit\nbahdanau\nvaswani\n"
	got, stderr, err := qkv(t, words, "g2p", "--dict=false", "--model", "builtin:"+name)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	args := []string{"predict", "--beam", fmt.Sprint(card.Beam), "--alpha", fmt.Sprint(card.Alpha)}
	for _, m := range card.Members {
		args = append(args, "--model", "builtin:"+m)
	}
	want, stderr, err := qkv(t, words, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	samePronunciations(t, words, got, want, "builtin:"+name)
	if _, stderr, err := qkv(t, "", "attention", "--model", "builtin:"+name, "--input", "qubit", "--out", t.TempDir()+"/a"); err == nil ||
		!strings.Contains(stderr, "built-in ensemble of builtin:"+card.Members[0]) {
		t.Errorf("attention with an ensemble: err %v, stderr %q", err, stderr)
	}
}

// TestModelsListsEveryBuiltin: qkv models has a line for every built-in
// model with its card's accuracy, says which are ensembles and of what,
// and marks qkv g2p's default; --json says the same, one object a line.
func TestModelsListsEveryBuiltin(t *testing.T) {
	out, stderr, err := qkv(t, "", "models")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	names := pipeline.Builtins()
	if len(lines) != len(names)+2 {
		t.Fatalf("%d built-in models, %d lines:\n%s", len(names), len(lines), out)
	}
	for i, name := range names {
		card, err := models.ReadCard(name)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(lines[i+1])
		if f[0] != "builtin:"+name {
			t.Errorf("line %d names %s, want builtin:%s", i+2, f[0], name)
		}
		if marked := f[1] == "*"; marked != (name == models.Best()) {
			t.Errorf("builtin:%s marked as g2p's default: %v, models.Best() = %s", name, marked, models.Best())
		}
		if want := fmt.Sprintf("%.2f %.2f", card.TestWER, card.TestPER); strings.Join(f[len(f)-2:], " ") != want {
			t.Errorf("builtin:%s: line %q does not end with its card's WER and PER %s", name, lines[i+1], want)
		}
		if isEns := strings.Contains(lines[i+1], "ensemble: "+strings.Join(card.Members, " + ")); isEns != (len(card.Members) > 0) {
			t.Errorf("builtin:%s: line %q, members %v", name, lines[i+1], card.Members)
		}
	}

	js, stderr, err := qkv(t, "", "models", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(js))
	for _, name := range names {
		var got struct {
			Name    string      `json:"name"`
			Kind    string      `json:"kind"`
			Members []string    `json:"members"`
			Bytes   int64       `json:"bytes"`
			SHA256  string      `json:"weights_sha256"`
			Default bool        `json:"g2p_default"`
			Card    models.Card `json:"card"`
		}
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("--json: %v\n%s", err, js)
		}
		card, _ := models.ReadCard(name)
		if got.Name != "builtin:"+name || !reflect.DeepEqual(got.Card, card) || got.Bytes <= 0 || got.Default != (name == models.Best()) ||
			(got.Kind == "ensemble") != (len(card.Members) > 0) || len(got.Members) != len(card.Members) {
			t.Errorf("--json for builtin:%s: %+v (card %+v)", name, got, card)
		}
		// The digest is of the weights files themselves, members in order.
		h := sha256.New()
		files := card.Members
		if len(files) == 0 {
			files = []string{name}
		}
		for _, m := range files {
			b, err := os.ReadFile(filepath.Join("..", "..", "models", m, "best.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
		if want := hex.EncodeToString(h.Sum(nil)); got.SHA256 != want {
			t.Errorf("builtin:%s: weights_sha256 %s, the files' %s", name, got.SHA256, want)
		}
	}
}

// samePronunciations checks that qkv g2p's output (word<TAB>phones) gives
// each of words the line qkv predict gave it, with the model named in errors.
func samePronunciations(t *testing.T, words, got, want, model string) {
	t.Helper()
	n := len(strings.Fields(words))
	gl, wl := strings.Split(strings.TrimSpace(got), "\n"), strings.Split(strings.TrimSpace(want), "\n")
	if len(gl) != n || len(wl) != n {
		t.Fatalf("g2p printed %q, predict %q", got, want)
	}
	for i, w := range strings.Fields(words) {
		if gl[i] != w+"\t"+wl[i] {
			t.Errorf("%s with %s: g2p %q, predict %q", w, model, gl[i], wl[i])
		}
	}
}

// TestBuiltinDecodesAsItsCard: predict and eval decode a built-in model
// with the beam and length penalty its card was chosen and scored with
// (g2p-en-rnnsearch: beam 8, α 0.5), unless told otherwise; greedy takes
// no α; sampling keeps its own settings.
func TestBuiltinDecodesAsItsCard(t *testing.T) {
	const name = "g2p-en-rnnsearch"
	card, err := models.ReadCard(name)
	if err != nil || card.Beam < 3 || card.Alpha == 0 {
		t.Fatalf("the test needs a card with a beam of 3 or more and a length penalty: %+v %v", card, err)
	}
	test := filepath.Join(t.TempDir(), "test.tsv")
	if err := os.WriteFile(test, []byte("qubit\tK Y UW B IH T\nzyzzyva\tZ IH Z IH V AH\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags []string
		beam  int
		alpha float64
	}{
		{nil, card.Beam, card.Alpha},
		{[]string{"--beam", "1"}, 1, 0},
		{[]string{"--beam", "2"}, 2, card.Alpha},
		{[]string{"--alpha", "0"}, card.Beam, 0},
	} {
		out, stderr, err := qkv(t, "", append([]string{"eval", "--model", "builtin:" + name, "--test", test}, tc.flags...)...)
		var got struct {
			Beam  int
			Alpha float64
		}
		if err != nil || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("eval %v: %v %q\n%s", tc.flags, err, out, stderr)
		}
		if got.Beam != tc.beam || got.Alpha != tc.alpha {
			t.Errorf("eval %v: beam %d α %v, want beam %d α %v", tc.flags, got.Beam, got.Alpha, tc.beam, tc.alpha)
		}
	}
	// --nbest 3 needs a beam of 3: the card's.
	out, stderr, err := qkv(t, "qubit\n", "predict", "--model", "builtin:"+name, "--nbest", "3")
	if err != nil || strings.Count(out, "\n") != 3 {
		t.Errorf("predict --nbest 3: %v %q\n%s", err, out, stderr)
	}
	if _, stderr, err := qkv(t, "qubit\n", "predict", "--model", "builtin:"+name, "--sample"); err != nil {
		t.Errorf("predict --sample: %v\n%s", err, stderr)
	}
}

// TestBenchDecodeEnsemble: qkv bench decode takes a built-in ensemble (and
// DIR1,DIR2) and scores what qkv eval scores with the same models.
func TestBenchDecodeEnsemble(t *testing.T) {
	test := filepath.Join(t.TempDir(), "test.tsv")
	if err := os.WriteFile(test, []byte("qubit\tK Y UW B IH T\nzyzzyva\tZ IH Z IH V AH\nphotograph\tF OW T AH G R AE F\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"builtin:g2p-en-ensemble", "builtin:g2p-en-rnnsearch,builtin:g2p-en-seq2seq"} {
		bench, stderr, err := qkv(t, "", "bench", "decode", "--model", model, "--test", test, "--beam", "1")
		if err != nil {
			t.Fatalf("bench decode --model %s: %v\n%s", model, err, stderr)
		}
		eval, stderr, err := qkv(t, "", "eval", "--model", model, "--test", test, "--beam", "1")
		if err != nil {
			t.Fatalf("eval --model %s: %v\n%s", model, err, stderr)
		}
		var b, e struct{ WER, PER float64 }
		if json.Unmarshal([]byte(bench), &b) != nil || json.Unmarshal([]byte(eval), &e) != nil || b != e {
			t.Errorf("%s: bench decode %s, eval %s", model, bench, eval)
		}
	}
}

// TestWordParts: what qkv g2p pronounces for one word of text: the word
// the dictionary knows as it is; else without accents; numbers spelled out
// as g2p_en reads them; compounds and letter-digit mixes by their parts.
func TestWordParts(t *testing.T) {
	dict := map[string]bool{"don't": true, "naive": true, "u.s.": true, "self": true, "driving": true}
	known := func(w string) bool { return dict[w] }
	for _, tc := range []struct{ in, want string }{
		{"Hello", "hello"}, // plain letters go to the model whole, even unknown
		{"DON'T", "don't"},
		{"don’t", "don't"}, // a typographic apostrophe
		{"naïve", "naive"},
		{"Café", "cafe"},
		{"straße", "strasse"},
		{"U.S.", "u.s."},
		{"self-driving", "self driving"},
		{"R2D2", "r two d two"},
		{"1984", "nineteen eighty four"},
		{"22nd", "twenty second"},
		{"the22nd", "the twenty second"},
		{"mp3s", "mp three s"},
		{"3.14", "three point one four"},
		{"1,000", "one thousand"},
		{"v1.2", "v one point two"},
		{"rock'n'roll", "rock'n'roll"},
		{"x--y", "x y"},
	} {
		if got := strings.Join(wordParts(tc.in, known), " "); got != tc.want {
			t.Errorf("wordParts(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestG2PWords(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Hello, "world"!`, "Hello world"},
		{"The U.S. and a.m. end.", "The U.S. and a.m. end"},
		{"(e.g., this) -- ... ½", "e.g. this"},
		{"$5 or 5%", "5 or 5"},
	} {
		if got := strings.Join(g2pWords(tc.in), " "); got != tc.want {
			t.Errorf("g2pWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestG2PReadsText: numbers, compounds, accents and abbreviations in text
// are pronounced from the dictionary's words, as g2p_en does, and the
// source column says where the parts came from.
func TestG2PReadsText(t *testing.T) {
	out, stderr, err := qkv(t, "I have 2 self-driving cars, naïve R2D2 in the U.S. since 1984.\n", "g2p", "--source")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := strings.Join([]string{
		"I\tAY\tdict", "have\tHH AE V\tdict", "2\tT UW\tdict", "self-driving\tS EH L F D R AY V IH NG\tdict",
		"cars\tK AA R Z\tdict", "naïve\tN AY IY V\tdict", "R2D2\tAA R T UW D IY T UW\tdict", "in\tIH N\tdict",
		"the\tDH AH\tdict", "U.S.\tY UW EH S\tdict", "since\tS IH N S\tdict", "1984\tN AY N T IY N EY T IY F AO R\tdict",
	}, "\n") + "\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// A part the model pronounces makes the source dict+model.
	out, stderr, err = qkv(t, "", "g2p", "--source", "zorblax-2")
	if f := strings.Split(strings.TrimSpace(out), "\t"); err != nil || len(f) != 3 || f[2] != "model+dict" || !strings.HasSuffix(f[1], " T UW") {
		t.Errorf("zorblax-2: %q %v\n%s", out, err, stderr)
	}
}
