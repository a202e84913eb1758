package models_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/metrics"
	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// TestG2PEnIsWhatItsCardSays: every built-in model (builtin:g2p-en and any
// other shipped beside it) loads with its weights in the card's format, and
// on 301 words of the standard split's test set (every 40th word,
// testdata/g2p-test-sample.tsv: words it never saw in training) it is as
// accurate as the card says it is on all 12,000 of them, within sampling
// error (2.4 standard errors of a 301-word WER). A bad conversion, a
// vocabulary out of step with the weights or a broken embedded file fails
// here.
func TestG2PEnIsWhatItsCardSays(t *testing.T) {
	entries, err := fs.ReadDir(models.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if !slices.Contains(names, "g2p-en") {
		t.Fatalf("built-in models %v: g2p-en is missing", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) { checkCard(t, name) })
	}
}

func checkCard(t *testing.T, name string) {
	card, err := models.ReadCard(name)
	if err != nil {
		t.Fatal(err)
	}
	if card.Beam < 1 || card.TestWER <= 0 || card.TestWER >= 100 || card.TestWords != 12000 {
		t.Fatalf("implausible card: %+v", card)
	}
	checkTestFile(t, name, card)
	if len(card.Members) > 0 {
		// A built-in ensemble: its members are checked on their own; here,
		// that they decode together as accurately as its card says.
		p, err := pipeline.LoadEnsemble([]pipeline.Member{{Dir: pipeline.BuiltinPrefix + name}})
		if err != nil {
			t.Fatal(err)
		}
		if p.EnsembleSize() != len(card.Members) {
			t.Fatalf("decodes with %d models, the card lists %d", p.EnsembleSize(), len(card.Members))
		}
		// Its members are the weights it was scored with.
		for _, m := range card.Members {
			raw, err := models.FS.ReadFile(m + "/best.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprintf("%x", sha256.Sum256(raw)), card.MemberWeights[m]; got != want {
				t.Errorf("member %s: weights SHA-256 %s, but the ensemble was chosen and scored with %q (member_weights_sha256): "+
					"a member shipped anew makes another ensemble; choose and score it again (bench/g2p_accuracy.sh ship-ensemble), "+
					"or keep the old member under another name", m, got, want)
			}
		}
		checkSample(t, p, card)
		return
	}
	raw, err := models.FS.ReadFile(name + "/best.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir() + "/w.safetensors"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	all, _, err := checkpoint.ReadAll(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range all {
		if !strings.EqualFold(string(a.DType), card.DType) {
			t.Errorf("tensor %s is stored as %s, the card says %s", name, a.DType, card.DType)
		}
	}

	p, err := pipeline.Load(pipeline.BuiltinPrefix + name)
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, p, card)
}

// checkTestFile: a model's test.json is the scoring its card reports: the
// same WER, PER, words and decoding, and error rates by length whose words
// add up to the test set's.
func checkTestFile(t *testing.T, name string, card models.Card) {
	raw, err := models.FS.ReadFile(name + "/" + models.TestFile)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no %s: bench/g2p_accuracy.sh ship writes the single test scoring beside the card (qkv plot draws it)", models.TestFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		WER, PER  float64
		Sentences int
		Beam      int
		Alpha     float64
		ByLength  []metrics.LengthBucket `json:"by_length"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %v", models.TestFile, err)
	}
	if s.WER != card.TestWER || s.PER != card.TestPER || s.Sentences != card.TestWords || s.Beam != card.Beam || s.Alpha != card.Alpha {
		t.Errorf("%s says WER %v PER %v on %d words (beam %d, α %v); the card %v %v on %d (beam %d, α %v)",
			models.TestFile, s.WER, s.PER, s.Sentences, s.Beam, s.Alpha, card.TestWER, card.TestPER, card.TestWords, card.Beam, card.Alpha)
	}
	n := 0
	for _, b := range s.ByLength {
		n += b.Count
	}
	if len(s.ByLength) == 0 || n != s.Sentences {
		t.Errorf("%s: %d length buckets holding %d words, of %d", models.TestFile, len(s.ByLength), n, s.Sentences)
	}
}

// checkSample decodes the 301 sample words as the card says and checks
// the WER against the card's.
func checkSample(t *testing.T, p *pipeline.Pipeline, card models.Card) {
	f, err := os.Open("testdata/g2p-test-sample.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refs := map[string][][]string{}
	var words []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w, ph, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		if _, seen := refs[w]; !seen {
			words = append(words, w)
		}
		refs[w] = append(refs[w], strings.Fields(ph))
	}
	res := p.Translate(words, pipeline.Options{BatchSize: 64, Search: search.Options{Beam: card.Beam, LengthPenalty: card.Alpha}})
	hyps := make([][]string, len(words))
	rs := make([][][]string, len(words))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", words[i], r.Err)
		}
		hyps[i] = r.Hyps[0].Tokens
		rs[i] = refs[words[i]]
	}
	wer, err := metrics.WER(hyps, rs)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(words))
	p0 := card.TestWER / 100
	se := 100 * math.Sqrt(p0*(1-p0)/n)
	t.Logf("WER on %d sample words: %.2f%% (card: %.2f%% on %d words; ±%.2f)", len(words), wer.Rate, card.TestWER, card.TestWords, 2.4*se)
	if wer.Rate > card.TestWER+2.4*se || wer.Rate < card.TestWER-2.4*se {
		t.Errorf("WER on the sample %.2f%% is not within 2.4 standard errors (%.2f) of the card's %.2f%%", wer.Rate, 2.4*se, card.TestWER)
	}
}

// TestBestIsTheLowestWER: qkv g2p's default is the built-in model whose card
// has the lowest test WER, and it is a model this binary holds.
func TestBestIsTheLowestWER(t *testing.T) {
	best := models.Best()
	bc, err := models.ReadCard(best)
	if err != nil {
		t.Fatalf("Best() = %q: %v", best, err)
	}
	for _, name := range pipeline.Builtins() {
		c, err := models.ReadCard(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.TestWER < bc.TestWER {
			t.Errorf("Best() = %s (WER %.2f), but %s has %.2f", best, bc.TestWER, name, c.TestWER)
		}
	}
}
