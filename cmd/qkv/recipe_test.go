package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/data/cmudict"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/tokenize"
	"github.com/qkv-dev/qkv/text/vocab"
)

// recipeWords are the toy corpus's English words and their German.
var recipeWords = [][2]string{
	{"speed", "Tempo"}, {"set", "setzen"}, {"the", "die"}, {"file", "Datei"}, {"open", "öffnen"},
	{"save", "speichern"}, {"low", "niedrig"}, {"dial", "Wahl"}, {"up", "hoch"}, {"window", "Fenster"},
}

// recipeCorpus writes n toy En→De pairs of 1 to 4 words, "speed" in most
// of them, so that BPE builds "▁speed" through the piece "peed".
func recipeCorpus(t *testing.T, path string, n int, seed uint64, extra ...string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	var b strings.Builder
	for range n {
		var en, de []string
		for j := range 1 + rng.IntN(4) {
			w := recipeWords[rng.IntN(len(recipeWords))]
			if j == 0 && rng.IntN(3) > 0 {
				w = recipeWords[0]
			}
			en, de = append(en, w[0]), append(de, w[1])
		}
		fmt.Fprintf(&b, "%s\t%s\n", strings.Join(en, " "), strings.Join(de, " "))
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTranslationRecipeEndToEnd runs the README's translation recipe on a
// small synthetic corpus with what broke it on real data (issue 12): a
// validation pair over the length limits, test sources with a character
// never seen in training, a word ("High-speed") whose BPE pieces include
// one ("peed") that training only saw inside a longer piece, and a test
// source over the limit. Training (with validation and the BLEU metric),
// eval on the test split and predict must all complete.
func TestTranslationRecipeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	trainFile, validFile, testFile := filepath.Join(dir, "train.tsv"), filepath.Join(dir, "valid.tsv"), filepath.Join(dir, "test.tsv")
	recipeCorpus(t, trainFile, 300, 1)
	long := strings.TrimSpace(strings.Repeat("open the window ", 20))
	recipeCorpus(t, validFile, 20, 2, long+"\t"+strings.Repeat("öffnen die Fenster ", 20))
	recipeCorpus(t, testFile, 20, 3,
		"Continuous High-speed Shooting\tSerienaufnahme mit hoher Geschwindigkeit",
		"set the speed to 5 €\tTempo auf 5 € setzen",
		long+" "+long+"\tFenster")
	out := filepath.Join(dir, "en-de")
	_, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--preset", "tiny-transformer",
		"--src-tok", "bpe", "--tgt-tok", "bpe", "--bpe-merges", "60",
		"--train", trainFile, "--valid", validFile, "--out", out,
		"--max-src-len", "40", "--max-tgt-len", "40", "--max-steps", "30", "--valid-every", "10",
		"--max-tokens", "400", "--threads", "1")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	for _, want := range []string{"left out 1 validation pairs longer than 40/40 tokens", "validation at step 30", "bleu"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("train's stderr lacks %q:\n%s", want, stderr)
		}
	}
	// The case is there: the merges make "peed", which the vocabulary,
	// built from the training data's pieces, lacks.
	bpe, err := tokenize.LoadBPEFile(filepath.Join(out, "src.bpe"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vocab.LoadFile(filepath.Join(out, "src.vocab"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(bpe.Merges(), func(m tokenize.Merge) bool { return m.Left+m.Right == "peed" }) || v.Has("peed") {
		t.Fatalf("the toy corpus does not make the piece \"peed\" outside the vocabulary: the test tests nothing")
	}
	if !slices.Contains(bpe.Tokenize("High-speed"), "peed") {
		t.Fatalf("the merges cut High-speed into %q, without \"peed\"", bpe.Tokenize("High-speed"))
	}

	evalOut, stderr, err := qkv(t, "", "eval", "--model", out, "--test", testFile, "--threads", "1")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(evalOut), &res); err != nil {
		t.Fatalf("eval output %q: %v", evalOut, err)
	}
	if _, ok := res["bleu"]; !ok || res["truncated"] != 1.0 || res["undecodable"] != nil {
		t.Errorf("eval: %s", evalOut)
	}
	if !strings.Contains(stderr, "2 input lines held") || !strings.Contains(stderr, "1 of") {
		t.Errorf("eval's stderr does not count the unseen characters and the truncated source:\n%s", stderr)
	}
	if strings.Contains(stderr, "peed") {
		t.Errorf("eval read a piece of the merges as unknown:\n%s", stderr)
	}

	in := "Continuous High-speed Shooting\nset the speed to 5 €\nopen the file\n"
	pred, stderr, err := qkv(t, in, "predict", "--model", out, "--beam", "2", "--threads", "1")
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, stderr)
	}
	if n := strings.Count(pred, "\n"); n != 3 {
		t.Errorf("predict wrote %d lines for 3 inputs: %q", n, pred)
	}
	if !strings.Contains(stderr, "2 input lines held") || strings.Contains(stderr, "peed") {
		t.Errorf("predict's stderr: %s", stderr)
	}
}

// TestEveryRecipeStarts: each config file in recipes/ trains two steps on a
// toy corpus (its data settings as written: tokenizers, joint vocabulary,
// placeholders, metric, here on two validation pairs) and records what it asks for in config.json, so a
// recipe in the README or the docs cannot drift out of what qkv train takes.
func TestEveryRecipeStarts(t *testing.T) {
	recipes, err := filepath.Glob("../../recipes/*.yaml")
	if err != nil || len(recipes) < 6 {
		t.Fatalf("recipes: %v, %v", recipes, err)
	}
	dir := t.TempDir()
	trainFile := filepath.Join(dir, "train.tsv")
	recipeCorpus(t, trainFile, 200, 4)
	g2pFile := filepath.Join(dir, "g2p.tsv") // for recipes whose teacher is a built-in G2P model
	cmudictSample(t, g2pFile, 200)
	for _, r := range recipes {
		name := strings.TrimSuffix(filepath.Base(r), ".yaml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(r)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, name)
			corpusFile := trainFile
			initFrom := strings.Contains(string(raw), "\n  init_from: ")
			if strings.Contains(string(raw), "\n  teacher: [builtin:g2p-en") || strings.Contains(string(raw), "\n  init_from: builtin:g2p-en") {
				corpusFile = g2pFile
			}
			args := []string{"train", "--config", r, "--train", corpusFile, "--out", out, "--max-steps", "2", "--metric-max", "2", "--threads", "1"}
			if !initFrom { // a run that starts from a model takes its BPE merges
				args = append(args, "--bpe-merges", "50")
			}
			_, stderr, err := qkv(t, "", args...)
			if err != nil {
				t.Fatalf("train: %v\n%s", err, stderr)
			}
			cfg := readOrFail(t, filepath.Join(out, "config.json"))
			var c struct {
				Model struct {
					Arch string `json:"arch"`
					Copy bool   `json:"copy"`
				} `json:"model"`
				Train struct {
					Teacher  []string `json:"teacher"`
					InitFrom string   `json:"init_from"`
				} `json:"train"`
			}
			if err := json.Unmarshal([]byte(cfg), &c); err != nil {
				t.Fatal(err)
			}
			if want := "arch: " + c.Model.Arch + "\n"; !strings.Contains(string(raw), want) {
				t.Errorf("config.json's arch %q is not the recipe's", c.Model.Arch)
			}
			if taught := strings.Contains(string(raw), "\n  teacher: "); taught != (len(c.Train.Teacher) > 0) {
				t.Errorf("config.json's teacher is %q, the recipe names one: %v", c.Train.Teacher, taught)
			}
			if initFrom != (c.Train.InitFrom != "") {
				t.Errorf("config.json's init_from is %q, the recipe names one: %v", c.Train.InitFrom, initFrom)
			}
			if wantCopy := strings.Contains(string(raw), "\n  copy: true\n"); c.Model.Copy != wantCopy {
				t.Errorf("config.json's copy is %v, the recipe asks for %v", c.Model.Copy, wantCopy)
			}
			if _, err := os.Stat(filepath.Join(out, "last.safetensors")); err != nil {
				t.Errorf("no checkpoint after two steps: %v", err)
			}
		})
	}
}

// cmudictSample writes n words of the embedded dictionary, spread over it,
// with their first pronunciation (stress removed): a G2P corpus whose
// symbols the built-in G2P models know.
func cmudictSample(t *testing.T, path string, n int) {
	t.Helper()
	entries, err := cmudict.Entries(corpus.CMUOptions{StripStress: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < len(entries) && n > 0; i += len(entries) / 400 {
		e := entries[i]
		if strings.Trim(e.Word, "abcdefghijklmnopqrstuvwxyz") != "" {
			continue
		}
		fmt.Fprintf(&b, "%s\t%s\n", e.Word, strings.Join(e.Phones[0], " "))
		n--
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
