package metrics

import (
	"bufio"
	"math"
	"os"
	"strings"
	"testing"
)

// rouge-score's README: scorer = RougeScorer(['rouge1', 'rougeL'],
// use_stemmer=True); scorer.score(target, prediction).
func TestRougeScoreReadme(t *testing.T) {
	target := "The quick brown fox jumps over the lazy dog"
	pred := "The quick brown dog jumps on the log."
	for _, stem := range []bool{true, false} { // no word here changes under stemming
		s := rougeSegment(pred, []string{target}, RougeOptions{Stemmer: stem}).Sum
		near(t, "rouge1 P", s[0].Precision, 0.75, 1e-4)
		near(t, "rouge1 R", s[0].Recall, 0.66667, 1e-4)
		near(t, "rouge1 F", s[0].F, 0.70588, 1e-4)
		near(t, "rougeL P", s[2].Precision, 0.625, 1e-4)
		near(t, "rougeL R", s[2].Recall, 0.55556, 1e-4)
		near(t, "rougeL F", s[2].F, 0.58824, 1e-4)
	}
}

// The cases of rouge-score's rouge_scorer_test.py, with its argument order
// score(target, prediction).
func TestRougeScorerTestCases(t *testing.T) {
	type want struct{ p, r, f float64 }
	for _, c := range []struct {
		target, pred string
		kind         int // 0 rouge1, 1 rouge2, 2 rougeL
		want         want
	}{
		{"testing one two", "testing", 0, want{1, 1. / 3, 1. / 2}},     // testRouge1
		{"testing one two", "", 0, want{0, 0, 0}},                      // testRougeEmpty
		{"testing one two", "", 1, want{0, 0, 0}},                      //
		{"testing one two", "", 2, want{0, 0, 0}},                      //
		{"testing one two", "testing one", 1, want{1, 1. / 2, 2. / 3}}, // testRouge2
		{"testing one two", "testing one", 2, want{1, 2. / 3, 4. / 5}}, // testRougeLConsecutive
		{"testing one two", "testing two", 2, want{1, 2. / 3, 4. / 5}}, // testRougeLNonConsecutive
		{"testing one two", "testing one", 0, want{1, 2. / 3, 4. / 5}}, // testMultipleRougeTypes
		{"w1 w2 w3 w4 w5", "/", 2, want{0, 0, 0}},                      // all non-word characters
		{"one Two three", "one\n Two \nthree", 2, want{1, 1, 1}},       // tokenize_test: case and line breaks
	} {
		s := rougeSegment(c.pred, []string{c.target}, RougeOptions{}).Sum[c.kind]
		what := c.target + " / " + c.pred
		near(t, what+" P", s.Precision, c.want.p, 1e-9)
		near(t, what+" R", s.Recall, c.want.r, 1e-9)
		near(t, what+" F", s.F, c.want.f, 1e-9)
	}
}

// rouge-score's testdata/{target,prediction}.txt (lines 1 and 2) and the
// ROUGE-1.5.5 figures rouge_scorer_test.py checks them against, with and
// without the stemmer.
var (
	rouge155Targets = []string{
		"ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L",
		"KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN",
	}
	rouge155Predictions = []string{
		"rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi",
		"n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD",
	}
)

func TestRougeAgainstRouge155(t *testing.T) {
	type prf struct{ r, p, f float64 }
	for _, c := range []struct {
		line int
		stem bool
		kind int
		want prf
	}{
		{0, false, 0, prf{0.40741, 0.68750, 0.51163}},
		{1, false, 0, prf{0.40476, 0.65385, 0.50000}},
		{0, true, 0, prf{0.40741, 0.68750, 0.51163}},
		{1, true, 0, prf{0.42857, 0.69231, 0.52941}},
		{0, false, 1, prf{0.30769, 0.53333, 0.39024}},
		{1, false, 1, prf{0.29268, 0.48000, 0.36364}},
		{0, true, 1, prf{0.30769, 0.53333, 0.39024}},
		{1, true, 1, prf{0.29268, 0.48000, 0.36364}},
		{0, false, 2, prf{0.40741, 0.68750, 0.51163}},
		{1, false, 2, prf{0.40476, 0.65385, 0.50000}},
	} {
		s := rougeSegment(rouge155Predictions[c.line], []string{rouge155Targets[c.line]}, RougeOptions{Stemmer: c.stem}).Sum[c.kind]
		what := []string{"rouge1", "rouge2", "rougeL"}[c.kind] + " line " + string(rune('0'+c.line))
		if c.stem {
			what += " stemmed"
		}
		near(t, what+" R", s.Recall, c.want.r, 5e-6)
		near(t, what+" P", s.Precision, c.want.p, 5e-6)
		near(t, what+" F", s.F, c.want.f, 5e-6)
	}
}

// NLTK's PorterStemmer() on 6,824 words (those of the Go tree's comments
// and the examples of Porter's paper and of NLTK's extensions), from
// testdata/summarization/porter_nltk.py.
func TestPorterStemMatchesNLTK(t *testing.T) {
	f, err := os.Open("testdata/summarization/porter_nltk.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, bad := 0, 0
	for sc.Scan() {
		w, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		n++
		if got := porterStem(w); got != want {
			bad++
			if bad <= 20 {
				t.Errorf("porterStem(%q) = %q, NLTK gives %q", w, got, want)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 6000 {
		t.Fatalf("read %d words, want the whole list", n)
	}
	if bad > 0 {
		t.Errorf("%d of %d words differ from NLTK", bad, n)
	}
}

// A segment takes, per ROUGE type, its reference of best F (score_multi);
// the corpus figure is the mean of the segments' F; empty references are
// missing ones.
func TestRougeCorpusAndReferences(t *testing.T) {
	hyps := []string{"the cat sat", "a b c d"}
	refs := [][]string{{"", "dogs bark", "the cat sat on the mat"}, {"a b c d"}}
	s, err := Rouge(hyps, refs, RougeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Segment 1: rouge1 P = 3/3, R = 3/6, F = 2/3; segment 2: 1.
	near(t, "rouge1 F", s.Rouge1.F, 100*(2./3+1)/2, 1e-9)
	near(t, "rouge1 P", s.Rouge1.Precision, 100, 1e-9)
	near(t, "rouge1 R", s.Rouge1.Recall, 100*(0.5+1)/2, 1e-9)
	// Segment 1 rouge2: P = 2/2, R = 2/5, F = 4/7.
	near(t, "rouge2 F", s.Rouge2.F, 100*(4./7+1)/2, 1e-9)
	near(t, "rougeL F", s.RougeL.F, 100*(2./3+1)/2, 1e-9)
	if s.Segments != 2 {
		t.Errorf("segments = %d", s.Segments)
	}
	if _, err := Rouge([]string{"x"}, [][]string{{""}}, RougeOptions{}); err == nil {
		t.Error("a segment without a reference was scored")
	}
	if _, err := Rouge([]string{"x", "y"}, [][]string{{"x"}}, RougeOptions{}); err == nil {
		t.Error("two hypotheses and one reference set were scored")
	}
	// Parts add up to the whole.
	a, _ := RougeSegment(hyps[0], refs[0], RougeOptions{})
	b, _ := RougeSegment(hyps[1], refs[1], RougeOptions{})
	if got := b.Add(a).Score(); math.Abs(got.RougeL.F-s.RougeL.F) > 1e-9 || math.Abs(got.Rouge2.Recall-s.Rouge2.Recall) > 1e-9 {
		t.Errorf("parts %+v, whole %+v", got, s)
	}
	// Stemming makes "jumped"/"jumps" one token.
	st, _ := Rouge([]string{"the fox jumped"}, [][]string{{"The fox jumps"}}, RougeOptions{Stemmer: true})
	un, _ := Rouge([]string{"the fox jumped"}, [][]string{{"The fox jumps"}}, RougeOptions{})
	near(t, "stemmed rouge1 F", st.Rouge1.F, 100, 1e-9)
	near(t, "unstemmed rouge1 F", un.Rouge1.F, 100*2./3, 1e-9)
}

// CodeXGLUE's code-to-text evaluator example (its README: "python
// evaluator/evaluator.py evaluator/reference.txt <
// evaluator/predictions.txt" prints 9.554726113590661).
func TestSmoothBLEUCodeXGLUEExample(t *testing.T) {
	preds := []string{
		"Prints a summary message",
		"Finds the output from the output file",
		"Verify that the given JSON element is present .",
		"Determines the specified compression compression .",
		"Creates a new project .",
	}
	golds := [][]string{
		{"Outputs the deferred summary information saved via"},
		{"Inspect the file referenced in the kubectl stderr to make it easier for developer to understand what s going on"},
		{"make sure to never prune the ejson - keys secret"},
		{"Determine the best compressor for the current system . This method returns the class not an instance of the class ."},
		{"Create the bff file using + mkinstallp + ."},
	}
	s, err := SmoothBLEU(preds, golds)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "smoothed BLEU", s.Score, 9.554726113590661, 1e-9)
}

// Hand-computed segments: log BLEU = ¼ Σₙ log((mₙ+sₙ)/(gₙ+sₙ)) with s₁ = 0,
// s₂..₄ = 1, plus min(0, 1 − (r+1)/(c+1)).
func TestSmoothBLEUByHand(t *testing.T) {
	for _, c := range []struct {
		hyp  string
		refs []string
		want float64
	}{
		{"a b c d", []string{"a b c d"}, 1},
		// matches 2,1,0,0 of 2,1,0,0; r = 3, c = 2: exp(1 − 4/3).
		{"the cat", []string{"the cat sat"}, math.Exp(-1. / 3)},
		// Case, "_" and punctuation are split off: "Foo_bar." is foo _ bar .
		{"Foo_bar.", []string{"foo _ bar ."}, 1},
		// matches 3,1,0 of 4,3,2,1 grams; r = 4 = c: ¼(log ¾ + log 2/4 + log 1/3 + log 1/2).
		{"a b x b", []string{"a b c b"}, math.Exp((math.Log(3./4) + math.Log(2./4) + math.Log(1./3) + math.Log(1./2)) / 4)},
		// No unigram match: log(0 + 2⁻¹⁰²²) makes the segment score 0.
		{"x y", []string{"a b"}, 0},
		// Clipping by the maximum count over references (a: 2, "a a": 1):
		// matches 2,1,0 of 3,2,1 grams; the shortest reference sets r = 1,
		// so no penalty for c = 3.
		{"a a a", []string{"a a b c d", "a"}, math.Exp((math.Log(2./3) + math.Log(2./3) + math.Log(1./2)) / 4)},
		// r = 5 (the shortest) against c = 1: exp(1 − 6/2); "b" matches.
		{"b", []string{"a b c d e", "a b c d e f"}, math.Exp(1 - 6./2)},
		// An empty hypothesis: every log term is 0, BP = 1 − (r+1)/1.
		{"", []string{"a b"}, math.Exp(-2)},
	} {
		s, err := SmoothBLEUSegment(c.hyp, c.refs)
		if err != nil {
			t.Fatal(err)
		}
		near(t, c.hyp, s.Sum, c.want, 1e-12)
	}
	if got := CodeXGLUETokenize("  Returns the  x-coordinate (in px), or -1.5.\t"); strings.Join(got, " ") != "returns the x - coordinate ( in px ) , or - 1 . 5 ." {
		t.Errorf("tokens %q", got)
	}
}
