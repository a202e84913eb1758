package metrics

import "strings"

// ChrFOrder and ChrFBeta are sacreBLEU's chrF defaults.
const (
	ChrFOrder = 6
	ChrFBeta  = 2.0
)

// ChrFScore is a corpus chrF score and the summed statistics behind it.
type ChrFScore struct {
	Score float64 // 0..100
	// Per character n-gram order 1..ChrFOrder: matches, hypothesis n-grams,
	// reference n-grams, summed over the corpus.
	Matches, HypCounts, RefCounts [ChrFOrder]int
}

// ChrF is corpus chrF with sacreBLEU's defaults (chrF2: character n-grams
// n = 1..6, β = 2, no word n-grams, whitespace removed, no epsilon
// smoothing). Empty references are missing ones, as in sacreBLEU. Per segment the reference with the best segment-level F-score
// is chosen (the first on ties) and its statistics are summed over the
// corpus; the score averages precision and recall over the orders that have
// n-grams on both sides, then F_β = (1+β²)PR/(β²P+R).
func ChrF(hyps []string, refs [][]string) (ChrFScore, error) {
	return chrF(hyps, refs, ChrFBeta)
}

func chrF(hyps []string, refs [][]string, beta float64) (ChrFScore, error) {
	refs, err := presentRefs(hyps, refs)
	if err != nil {
		return ChrFScore{}, err
	}
	var sum ChrFStats
	for i, h := range hyps {
		sum = sum.Add(chrFSegment(h, refs[i], beta))
	}
	return ChrFScore{Score: chrFScore(sum.Matches, sum.HypCounts, sum.RefCounts, beta),
		Matches: sum.Matches, HypCounts: sum.HypCounts, RefCounts: sum.RefCounts}, nil
}

// chrFScore is sacreBLEU's CHRF._compute_f_score without eps smoothing.
func chrFScore(match, hyp, ref [ChrFOrder]int, beta float64) float64 {
	var p, r float64
	k := 0
	for n := 0; n < ChrFOrder; n++ {
		if hyp[n] > 0 && ref[n] > 0 {
			p += float64(match[n]) / float64(hyp[n])
			r += float64(match[n]) / float64(ref[n])
			k++
		}
	}
	if k == 0 {
		return 0
	}
	p, r = p/float64(k), r/float64(k)
	if p+r == 0 {
		return 0
	}
	b2 := beta * beta
	return 100 * (1 + b2) * p * r / (b2*p + r)
}

// charNgrams counts the character n-grams (code points) of s for n = 1..6
// after removing all whitespace, as sacreBLEU's extract_all_char_ngrams does
// with "".join(line.split()).
func charNgrams(s string) [ChrFOrder]map[string]int {
	s = strings.Join(pyFields(s), "")
	var starts []int
	for i := range s {
		starts = append(starts, i)
	}
	starts = append(starts, len(s))
	var out [ChrFOrder]map[string]int
	for n := 1; n <= ChrFOrder; n++ {
		m := map[string]int{}
		for i := 0; i+n < len(starts); i++ {
			m[s[starts[i]:starts[i+n]]]++
		}
		out[n-1] = m
	}
	return out
}
