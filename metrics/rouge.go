package metrics

import (
	"fmt"
	"strings"
)

// PRF is a precision, recall and F-measure, each in 0..1 for one segment
// (rouge-score's Score tuple), or in 0..100 for a corpus mean.
type PRF struct {
	Precision, Recall, F float64
}

// fmeasure is rouge-score's scoring.fmeasure: the harmonic mean, 0 when
// both are 0.
func fmeasure(p, r float64) float64 {
	if p+r > 0 {
		return 2 * p * r / (p + r)
	}
	return 0
}

// RougeOptions are rouge-score's RougeScorer options that apply here.
type RougeOptions struct {
	// Stemmer is use_stemmer: Porter-stem (NLTK's) every token longer
	// than three characters.
	Stemmer bool
}

// RougeScore is corpus ROUGE as rouge-score users report it: the mean over
// segments of each segment's precision, recall and F-measure, × 100
// (rouge-score's BootstrapAggregator "mid" is this mean).
type RougeScore struct {
	Rouge1, Rouge2, RougeL PRF
	Segments               int
}

// Rouge scores hyps against refs[i], the references of hyps[i], with
// ROUGE-1, ROUGE-2 and ROUGE-L exactly as Google's rouge-score package
// (rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])) computes each
// segment: its default tokenizer (lowercase; every run of characters other
// than a-z and 0-9 is a space; optionally Porter-stem tokens longer than 3
// characters), n-gram overlap P = matches/hyp n-grams and R =
// matches/ref n-grams, and for ROUGE-L the longest common subsequence over
// the hypothesis and reference lengths; F = 2PR/(P+R). With several
// references a segment takes, per ROUGE type, the reference of best F, the
// first on ties (RougeScorer.score_multi). Empty references are missing
// ones, as for BLEU; every segment needs one.
func Rouge(hyps []string, refs [][]string, opt RougeOptions) (RougeScore, error) {
	refs, err := presentRefs(hyps, refs)
	if err != nil {
		return RougeScore{}, err
	}
	var sum RougeStats
	for i, h := range hyps {
		sum = sum.Add(rougeSegment(h, refs[i], opt))
	}
	return sum.Score(), nil
}

// String is a one-line summary of the F-measures.
func (s RougeScore) String() string {
	return fmt.Sprintf("ROUGE-1 = %.2f ROUGE-2 = %.2f ROUGE-L = %.2f (F-measure, mean of %d segments)", s.Rouge1.F, s.Rouge2.F, s.RougeL.F, s.Segments)
}

// RougeStats are corpus ROUGE's sufficient statistics: per-segment
// precision, recall and F of ROUGE-1, ROUGE-2 and ROUGE-L, summed, and the
// number of segments. (Float sums: scoring in parts agrees with the whole
// up to rounding.)
type RougeStats struct {
	Sum      [3]PRF // rouge1, rouge2, rougeL
	Segments int
}

// RougeSegment returns the statistics of one hypothesis against its
// references (empty strings are missing; one must be present).
func RougeSegment(hyp string, refs []string, opt RougeOptions) (RougeStats, error) {
	present, err := presentRefs([]string{hyp}, [][]string{refs})
	if err != nil {
		return RougeStats{}, err
	}
	return rougeSegment(hyp, present[0], opt), nil
}

func rougeSegment(hyp string, refs []string, opt RougeOptions) RougeStats {
	h := RougeTokenize(hyp, opt.Stemmer)
	var best [3]PRF
	for k, r := range refs {
		rt := RougeTokenize(r, opt.Stemmer)
		got := [3]PRF{rougeN(rt, h, 1), rougeN(rt, h, 2), rougeLCS(rt, h)}
		for t := range got {
			if k == 0 || got[t].F > best[t].F {
				best[t] = got[t]
			}
		}
	}
	return RougeStats{Sum: best, Segments: 1}
}

// Add returns the statistics of both parts together.
func (s RougeStats) Add(o RougeStats) RougeStats {
	for t := range s.Sum {
		s.Sum[t].Precision += o.Sum[t].Precision
		s.Sum[t].Recall += o.Sum[t].Recall
		s.Sum[t].F += o.Sum[t].F
	}
	s.Segments += o.Segments
	return s
}

// Score is the corpus means × 100 (zero for no segments).
func (s RougeStats) Score() RougeScore {
	out := RougeScore{Segments: s.Segments}
	if s.Segments == 0 {
		return out
	}
	n := float64(s.Segments)
	mean := func(p PRF) PRF { return PRF{100 * p.Precision / n, 100 * p.Recall / n, 100 * p.F / n} }
	out.Rouge1, out.Rouge2, out.RougeL = mean(s.Sum[0]), mean(s.Sum[1]), mean(s.Sum[2])
	return out
}

// RougeTokenize is rouge-score's default tokenizer (tokenize.tokenize):
// lowercase, replace every run of characters outside a-z0-9 by a space,
// split, and with stem, Porter-stem the tokens longer than 3 characters.
func RougeTokenize(s string, stem bool) []string {
	s = pyLower(s)
	toks := strings.FieldsFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') })
	if stem {
		for i, t := range toks {
			if len(t) > 3 {
				toks[i] = porterStem(t)
			}
		}
	}
	return toks
}

// rougeN is rouge-score's _score_ngrams: clipped n-gram matches over the
// prediction's (precision) and the target's (recall) n-gram counts, each
// count at least 1 in the denominator.
func rougeN(target, pred []string, n int) PRF {
	tg, pg := ngrams(target, n), ngrams(pred, n)
	match, tn, pn := 0, 0, 0
	for g, c := range tg {
		match += min(c, pg[g])
		tn += c
	}
	for _, c := range pg {
		pn += c
	}
	p := float64(match) / float64(max(pn, 1))
	r := float64(match) / float64(max(tn, 1))
	return PRF{p, r, fmeasure(p, r)}
}

// rougeLCS is rouge-score's _score_lcs: the longest common subsequence
// over the prediction's and the target's lengths; 0 if either is empty.
func rougeLCS(target, pred []string) PRF {
	if len(target) == 0 || len(pred) == 0 {
		return PRF{}
	}
	l := lcsLength(target, pred)
	p := float64(l) / float64(len(pred))
	r := float64(l) / float64(len(target))
	return PRF{p, r, fmeasure(p, r)}
}

// lcsLength is the length of the longest common subsequence of a and b,
// by the usual dynamic programme kept to two rows.
func lcsLength(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// pyLower is Python's str.lower(): Go's strings.ToLower but for U+0130
// (İ), whose full lowercase mapping is "i" and a combining dot above
// (Unicode's SpecialCasing; the only unconditional one for lowercase).
func pyLower(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "\u0130", "i\u0307"))
}
