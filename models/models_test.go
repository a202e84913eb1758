package models_test

import (
	"bufio"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/metrics"
	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// TestG2PEnIsWhatItsCardSays: builtin:g2p-en loads with its weights in the
// card's format, and on 301 words of the standard split's test set (every
// 40th word, testdata/g2p-test-sample.tsv: words it never saw in training)
// it is as accurate as the card says it is on all 12,000 of them, within
// sampling error (2.4 standard errors of a 301-word WER). A bad conversion,
// a vocabulary out of step with the weights or a broken embedded file fails
// here.
func TestG2PEnIsWhatItsCardSays(t *testing.T) {
	card, err := models.ReadCard("g2p-en")
	if err != nil {
		t.Fatal(err)
	}
	if card.Beam < 1 || card.TestWER <= 0 || card.TestWER >= 100 || card.TestWords != 12000 {
		t.Fatalf("implausible card: %+v", card)
	}
	raw, err := models.FS.ReadFile("g2p-en/best.safetensors")
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

	p, err := pipeline.Load("builtin:g2p-en")
	if err != nil {
		t.Fatal(err)
	}
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
