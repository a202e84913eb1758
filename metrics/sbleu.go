package metrics

import (
	"math"
	"strings"
	"unicode"
)

// SmoothBLEUScore is the smoothed sentence-level BLEU-4 of CodeXGLUE's
// code-to-text task, averaged over segments.
type SmoothBLEUScore struct {
	Score    float64 // 0..100
	Segments int
}

// SmoothBLEU is the metric of CodeXGLUE's code-to-text task (Lu et al.
// 2021), computed as its evaluator/evaluator.py does (the Moses bleu.py of
// hieuhoang1972 with smoothing of Lin & Och 2004, "ORANGE"): each segment is
// stripped, lowercased and split into runs of word characters and single
// other characters (splitPuncts), then tokenized as mteval (the 13a
// rules, which also split off "_"); its BLEU-4 adds one to the matches and
// the counts of 2-, 3- and 4-grams (not of unigrams), clips matches by the
// maximum count over the references, and multiplies by the brevity penalty
// exp(min(0, 1 − (r+1)/(c+1))) with r the shortest reference's length and c
// the hypothesis length. The score is the mean over segments × 100.
// Empty references are missing ones; every segment needs one.
func SmoothBLEU(hyps []string, refs [][]string) (SmoothBLEUScore, error) {
	refs, err := presentRefs(hyps, refs)
	if err != nil {
		return SmoothBLEUScore{}, err
	}
	var sum SmoothBLEUStats
	for i, h := range hyps {
		sum = sum.Add(smoothBLEUSegment(h, refs[i]))
	}
	return sum.Score(), nil
}

// SmoothBLEUStats are the sufficient statistics of SmoothBLEU: the sum of
// the segments' smoothed BLEU (0..1) and their number.
type SmoothBLEUStats struct {
	Sum      float64
	Segments int
}

// SmoothBLEUSegment returns the statistics of one hypothesis against its
// references (empty strings are missing; one must be present).
func SmoothBLEUSegment(hyp string, refs []string) (SmoothBLEUStats, error) {
	present, err := presentRefs([]string{hyp}, [][]string{refs})
	if err != nil {
		return SmoothBLEUStats{}, err
	}
	return smoothBLEUSegment(hyp, present[0]), nil
}

// Add returns the statistics of both parts together.
func (s SmoothBLEUStats) Add(o SmoothBLEUStats) SmoothBLEUStats {
	return SmoothBLEUStats{s.Sum + o.Sum, s.Segments + o.Segments}
}

// Score is the mean × 100 (zero for no segments).
func (s SmoothBLEUStats) Score() SmoothBLEUScore {
	if s.Segments == 0 {
		return SmoothBLEUScore{}
	}
	return SmoothBLEUScore{Score: 100 * s.Sum / float64(s.Segments), Segments: s.Segments}
}

// pyFloatMin is Python's sys.float_info.min (the smallest normal float64),
// which bleu.py adds inside every logarithm.
const pyFloatMin = 0x1p-1022

// smoothBLEUSegment is bleu.py's bleu(refs, candidate) with smooth=1:
// cook_refs, cook_test (eff_ref_len "shortest") and score_cooked of one
// segment.
func smoothBLEUSegment(hyp string, refs []string) SmoothBLEUStats {
	ht := CodeXGLUETokenize(hyp)
	refLen := -1
	maxRef := make([]map[string]int, 4)
	for n := range maxRef {
		maxRef[n] = map[string]int{}
	}
	for _, r := range refs {
		rt := CodeXGLUETokenize(r)
		if refLen < 0 || len(rt) < refLen {
			refLen = len(rt)
		}
		for n := 1; n <= 4; n++ {
			for g, c := range ngrams(rt, n) {
				maxRef[n-1][g] = max(maxRef[n-1][g], c)
			}
		}
	}
	logBLEU := 0.0
	for n := 1; n <= 4; n++ {
		correct := 0
		for g, c := range ngrams(ht, n) {
			correct += min(c, maxRef[n-1][g])
		}
		guess := max(len(ht)-n+1, 0)
		add := 0.0
		if n > 1 { // add-one smoothing of 2- to 4-grams
			add = 1
		}
		logBLEU += math.Log(float64(correct)+add+pyFloatMin) - math.Log(float64(guess)+add+pyFloatMin)
	}
	logBLEU /= 4
	bp := min(0, 1-float64(refLen+1)/float64(len(ht)+1))
	return SmoothBLEUStats{Sum: math.Exp(logBLEU + bp), Segments: 1}
}

// CodeXGLUETokenize is the tokenization of CodeXGLUE's code-to-text
// evaluator: splitPuncts(line.strip().lower()) — runs of word characters
// (Python's \w: letters, digits, _) and single other non-space characters,
// joined by spaces — then bleu.py's normalize(): mteval's normalize1 and
// XML unescaping (which can no longer match), and the 13a rules, which also
// split "_" off.
func CodeXGLUETokenize(line string) []string {
	line = pyLower(strings.TrimFunc(line, isPySpace))
	var b strings.Builder
	prevWord := false // the previous character was a word character
	for _, r := range line {
		word := isPyWord(r)
		switch {
		case isPySpace(r):
			prevWord = false
			continue
		case b.Len() > 0 && !(word && prevWord):
			b.WriteByte(' ') // a new token starts
		}
		b.WriteRune(r)
		prevWord = word
	}
	s := b.String()
	s = strings.ReplaceAll(s, "<skipped>", "")
	s = strings.ReplaceAll(s, "-\n", "")
	s = strings.ReplaceAll(s, "\n", " ")
	// xml.sax.saxutils.unescape(s, {"&quot;": '"'}), in its order.
	s = strings.ReplaceAll(s, "&lt;", "<")
	s = strings.ReplaceAll(s, "&gt;", ">")
	s = strings.ReplaceAll(s, "&quot;", `"`)
	s = strings.ReplaceAll(s, "&amp;", "&")
	s = " " + pyLower(s) + " "
	for _, r := range rx13a {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return pyFields(s)
}

// isPyWord is Python's \w on str: alphanumeric (letters and numbers, as
// str.isalnum) or "_".
func isPyWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}
