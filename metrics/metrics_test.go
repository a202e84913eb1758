package metrics

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f", what, got, want)
	}
}

// sacreBLEU's README ("Using SacreBLEU from Python"): two reference sets.
var (
	readmeSys  = []string{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."}
	readmeRef1 = []string{"The dog bit the man.", "It was not unexpected.", "The man bit him first."}
	readmeRef2 = []string{"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}
)

func TestBLEUSacreBLEUReadme(t *testing.T) {
	refs, err := Transpose([][]string{readmeRef1, readmeRef2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := BLEU(readmeSys, refs)
	if err != nil {
		t.Fatal(err)
	}
	// README: BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18);
	// 48.530827 to six places (textmetrics.py's self-check).
	near(t, "BLEU", s.Score, 48.530827, 1e-6)
	const want = "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
	if s.String() != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
	c, err := ChrF(readmeSys, refs)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "chrF", c.Score, 59.727518, 1e-6) // README: chrF2 = 59.73

	// README "Variable Number of References": the first segment's first reference is "".
	r1 := append([]string{""}, readmeRef1[1:]...)
	refs, _ = Transpose([][]string{r1, readmeRef2})
	s, err = BLEU(readmeSys, refs)
	if err != nil {
		t.Fatal(err)
	}
	const wantVar = "BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)"
	if s.String() != wantVar {
		t.Errorf("got  %s\nwant %s", s, wantVar)
	}
}

func TestBLEUByHand(t *testing.T) {
	for _, c := range []struct {
		hyp, ref string
		want     float64
	}{
		// p1 5/6 (clipped "the"), p2 3/5, p3 2/4, p4 1/3, BP 1: (1/12)^(1/4).
		{"the cat sat on the mat", "the cat sat on a mat", 100 * math.Pow(1.0/12, 0.25)},
		// p1 3/4, p2 1/3, p3 0/2 → 100/(2·2), p4 0/1 → 100/(4·1): exp smoothing.
		{"a b c d", "a b x d", math.Pow(75*100.0/3*25*25, 0.25)},
		// all precisions 1, BP = exp(1 − 6/4).
		{"a b c d", "a b c d e f", 100 * math.Exp(-0.5)},
		// no 3-grams in the hypothesis: sacreBLEU gives 0.
		{"the cat", "the cat sat", 0},
		// 13a splits the period and the comma but not "3,500".
		{"It costs 3,500.", "It costs 3,500 .", 100},
		{"", "anything", 0},
	} {
		s, err := BLEU([]string{c.hyp}, [][]string{{c.ref}})
		if err != nil {
			t.Fatal(err)
		}
		near(t, c.hyp+" | "+c.ref, s.Score, c.want, 1e-9)
	}
}

// Values from the independent Python implementation
// (/usr/bin/python3 ../shared/bench/peers/textmetrics.py testdata/hyp.txt testdata/ref1.txt [testdata/ref2.txt]),
// which reproduces sacreBLEU's documented numbers; the file mixes punctuation,
// numbers, entities, <skipped>, German, Korean and Japanese.
func TestAgainstPeer(t *testing.T) {
	read := func(name string) []string {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	hyp, r1, r2 := read("hyp.txt"), read("ref1.txt"), read("ref2.txt")
	for _, c := range []struct {
		streams    [][]string
		bleu, chrf float64
	}{
		{[][]string{r1, r2}, 74.7624, 79.1253},
		{[][]string{r1}, 63.2645, 73.7093},
		{[][]string{r2}, 52.584, 68.8227},
	} {
		refs, err := Transpose(c.streams)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := BLEU(hyp, refs)
		f, _ := ChrF(hyp, refs)
		near(t, "BLEU", b.Score, c.bleu, 5e-5)
		near(t, "chrF", f.Score, c.chrf, 5e-5)
	}
}

// sacreBLEU's test_chrf.py cases (β = 3, effective order).
func TestChrFDocumented(t *testing.T) {
	for _, c := range []struct {
		hyp, ref string
		want     float64
	}{
		{"a b c", "abc", 100}, {"aa", "ab", 25}, {"a", "a", 100}, {"", "reference", 0},
	} {
		s, err := chrF([]string{c.hyp}, [][]string{{c.ref}}, 3)
		if err != nil {
			t.Fatal(err)
		}
		near(t, c.hyp+"|"+c.ref, s.Score, c.want, 1e-9)
	}
	s, _ := chrF([]string{"a", "b"}, [][]string{{"a"}, {"c"}}, 3)
	near(t, "a b | a c", s.Score, 50, 1e-9)
	// By hand, β = 2: "ab" vs "ac": order 1: 1 match of 2/2 → P = R = 1/2;
	// order 2: 0 of 1/1 → P = R = 0; averages 1/4, F = 1/4.
	s, _ = ChrF([]string{"ab"}, [][]string{{"a c"}})
	near(t, "ab | a c", s.Score, 25, 1e-9)
	// Whitespace of every kind is removed, as Python's str.split() does.
	s, _ = ChrF([]string{"한국\u3000어\t입니다"}, [][]string{{"한국어입니다"}})
	near(t, "Korean with ideographic space", s.Score, 100, 1e-9)
}

func TestTokenize13a(t *testing.T) {
	for in, want := range map[string]string{
		"Hello, world!":              "Hello , world !",
		"It costs $3,500.00.":        "It costs $ 3,500.00 .",
		"1990-2000 e-mail":           "1990 - 2000 e-mail",
		"a &amp; b &lt;c&gt; &quot;": `a & b < c > "`,
		"x<skipped>y":                "xy",
		"Don't (stop)":               "Don't ( stop )",
		"Straße, schön.":             "Straße , schön .",
	} {
		if got := strings.Join(Tokenize13a(in), " "); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestShapeErrors(t *testing.T) {
	if _, err := BLEU([]string{"a", "b"}, [][]string{{"a"}}); err == nil || !strings.Contains(err.Error(), "2 hypotheses but 1") {
		t.Errorf("BLEU length mismatch: %v", err)
	}
	if _, err := ChrF([]string{"a"}, [][]string{{""}}); err == nil || !strings.Contains(err.Error(), "segment 0") {
		t.Errorf("chrF without reference: %v", err)
	}
	if _, err := Transpose([][]string{{"a", "b"}, {"a"}}); err == nil || !strings.Contains(err.Error(), "stream 1 has 1") {
		t.Errorf("Transpose: %v", err)
	}
}

func fields(ss ...string) [][]string {
	out := make([][]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Fields(s)
	}
	return out
}

func TestWERPER(t *testing.T) {
	hyps := fields("R IY D", "K AE T", "D AO G Z", "")
	refs := [][][]string{
		fields("R EH D", "R IY D"), // equal to the second reference: right, 0 errors
		fields("K AE T"),           // right
		fields("D AO G", "D AA G"), // 1 insertion vs the first (3 phones)
		fields("AH"),               // 1 deletion
	}
	w, err := WER(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	if w.Errors != 2 || w.Total != 4 || w.Rate != 50 {
		t.Errorf("WER %+v, want 2/4 = 50%%", w)
	}
	p, err := PER(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	// errors 0+0+1+1 = 2 over closest-reference lengths 3+3+3+1 = 10.
	if p.Errors != 2 || p.Total != 10 || p.Rate != 20 {
		t.Errorf("PER %+v, want 2/10 = 20%%", p)
	}
	// The closest reference decides the denominator: 1 substitution vs "A B"
	// (length 2) beats 2 edits vs "A B C D".
	p, _ = PER(fields("A X"), [][][]string{fields("A B C D", "A B")})
	if p.Errors != 1 || p.Total != 2 {
		t.Errorf("closest reference: %+v", p)
	}
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"k i t t e n", "s i t t i n g", 3}, {"a b c", "c b a", 2}} {
		if d := EditDistance(strings.Fields(c.a), strings.Fields(c.b)); d != c.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}

func TestByLength(t *testing.T) {
	hyps := fields("A", "A B", "A B C", "X Y Z W V")
	refs := [][][]string{fields("A"), fields("A C"), fields("A B C"), fields("A B C D E")}
	got, err := ByLength([]int{1, 4, 5, 12}, hyps, refs, []int{3, 6, 9})
	if err != nil {
		t.Fatal(err)
	}
	want := []LengthBucket{
		{Lo: 0, Hi: 3, Count: 1, WER: rate(0, 1), PER: rate(0, 1)},
		{Lo: 4, Hi: 6, Count: 2, WER: rate(1, 2), PER: rate(1, 5)},
		{Lo: 7, Hi: 9, WER: rate(0, 0), PER: rate(0, 0)},
		{Lo: 10, Hi: -1, Count: 1, WER: rate(1, 1), PER: rate(5, 5)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := ByLength([]int{1}, hyps[:1], refs[:1], []int{3, 3}); err == nil {
		t.Error("accepted repeated edges")
	}
}
