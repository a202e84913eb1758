package metrics

import (
	"slices"
	"strings"
)

// Sufficient statistics: every corpus metric here is a function of sums over
// segments, so a corpus scored in parts (on several workers, in any order)
// gives exactly the score of the whole. BLEU, ChrF, WER and PER are these
// sums taken over one list of segments.

// BLEUStats are corpus BLEU's sufficient statistics: clipped n-gram matches
// and hypothesis n-grams for n = 1..4, hypothesis and closest-reference
// lengths.
type BLEUStats struct {
	Counts, Totals [4]int
	SysLen, RefLen int
}

// BLEUSegment returns the statistics of one hypothesis against its
// references (empty strings are missing references, as in sacreBLEU; at
// least one must be present).
func BLEUSegment(hyp string, refs []string) (BLEUStats, error) {
	present, err := presentRefs([]string{hyp}, [][]string{refs})
	if err != nil {
		return BLEUStats{}, err
	}
	return bleuSegment(hyp, present[0]), nil
}

// bleuSegment is BLEUSegment on references known to be present.
func bleuSegment(h string, refs []string) BLEUStats {
	var s BLEUStats
	ht := Tokenize13a(strings.TrimRightFunc(h, isPySpace)) // sacreBLEU strips trailing whitespace
	s.SysLen = len(ht)
	closest := -1
	maxRef := make([]map[string]int, 4)
	for n := range maxRef {
		maxRef[n] = map[string]int{}
	}
	for _, r := range refs {
		rt := Tokenize13a(strings.TrimRightFunc(r, isPySpace))
		d, cd := abs(len(rt)-len(ht)), abs(closest-len(ht))
		if closest < 0 || d < cd || (d == cd && len(rt) < closest) {
			closest = len(rt)
		}
		for n := 1; n <= 4; n++ {
			for g, c := range ngrams(rt, n) {
				maxRef[n-1][g] = max(maxRef[n-1][g], c)
			}
		}
	}
	s.RefLen = closest
	for n := 1; n <= 4; n++ {
		for g, c := range ngrams(ht, n) {
			s.Counts[n-1] += min(c, maxRef[n-1][g])
		}
		s.Totals[n-1] = max(0, len(ht)-n+1)
	}
	return s
}

// Add returns the statistics of both parts together.
func (s BLEUStats) Add(o BLEUStats) BLEUStats {
	for n := range 4 {
		s.Counts[n] += o.Counts[n]
		s.Totals[n] += o.Totals[n]
	}
	s.SysLen += o.SysLen
	s.RefLen += o.RefLen
	return s
}

// Score is corpus BLEU from the summed statistics.
func (s BLEUStats) Score() BLEUScore {
	out := BLEUScore{Counts: s.Counts, Totals: s.Totals, SysLen: s.SysLen, RefLen: s.RefLen}
	out.Score, out.Precisions, out.BP = bleuFromCounts(s.Counts, s.Totals, s.SysLen, s.RefLen)
	return out
}

// ChrFStats are corpus chrF's sufficient statistics: per character n-gram
// order, the matches, hypothesis and reference n-grams of each segment's
// best reference.
type ChrFStats struct {
	Matches, HypCounts, RefCounts [ChrFOrder]int
}

// ChrFSegment returns the statistics of one hypothesis against its best
// reference (sacreBLEU's choice: the best segment-level chrF, the first on
// ties; empty references are missing, one must be present).
func ChrFSegment(hyp string, refs []string) (ChrFStats, error) {
	present, err := presentRefs([]string{hyp}, [][]string{refs})
	if err != nil {
		return ChrFStats{}, err
	}
	return chrFSegment(hyp, present[0], ChrFBeta), nil
}

func chrFSegment(h string, refs []string, beta float64) ChrFStats {
	hg := charNgrams(h)
	var best [3][ChrFOrder]int
	bestF := -1.0
	for _, r := range refs {
		rg := charNgrams(r)
		var st [3][ChrFOrder]int
		for n := 0; n < ChrFOrder; n++ {
			for g, c := range hg[n] {
				st[0][n] += min(c, rg[n][g])
				st[1][n] += c
			}
			for _, c := range rg[n] {
				st[2][n] += c
			}
		}
		if f := chrFScore(st[0], st[1], st[2], beta); f > bestF {
			bestF, best = f, st
		}
	}
	return ChrFStats{Matches: best[0], HypCounts: best[1], RefCounts: best[2]}
}

// Add returns the statistics of both parts together.
func (s ChrFStats) Add(o ChrFStats) ChrFStats {
	for n := range ChrFOrder {
		s.Matches[n] += o.Matches[n]
		s.HypCounts[n] += o.HypCounts[n]
		s.RefCounts[n] += o.RefCounts[n]
	}
	return s
}

// Score is corpus chrF (β = ChrFBeta) from the summed statistics.
func (s ChrFStats) Score() ChrFScore {
	return ChrFScore{Score: chrFScore(s.Matches, s.HypCounts, s.RefCounts, ChrFBeta),
		Matches: s.Matches, HypCounts: s.HypCounts, RefCounts: s.RefCounts}
}

// ErrorStats are WER's and PER's sufficient statistics: sequences, those
// equal to none of their references, edits to the closest reference and
// that reference's length.
type ErrorStats struct {
	Sequences, Wrong, Edits, RefTokens int
}

// ErrorSegment returns the statistics of one token sequence against its
// references (at least one).
func ErrorSegment(hyp []string, refs [][]string) (ErrorStats, error) {
	if err := checkShapes(1, 1, func(int) int { return len(refs) }); err != nil {
		return ErrorStats{}, err
	}
	s := ErrorStats{Sequences: 1}
	if !slices.ContainsFunc(refs, func(r []string) bool { return slices.Equal(hyp, r) }) {
		s.Wrong = 1
	}
	s.Edits, s.RefTokens = closest(hyp, refs)
	return s, nil
}

// Add returns the statistics of both parts together.
func (s ErrorStats) Add(o ErrorStats) ErrorStats {
	return ErrorStats{s.Sequences + o.Sequences, s.Wrong + o.Wrong, s.Edits + o.Edits, s.RefTokens + o.RefTokens}
}

// WER is the sequence error rate of the summed statistics.
func (s ErrorStats) WER() ErrorRate { return rate(s.Wrong, s.Sequences) }

// PER is the token error rate of the summed statistics.
func (s ErrorStats) PER() ErrorRate { return rate(s.Edits, s.RefTokens) }
