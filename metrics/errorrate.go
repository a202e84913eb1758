package metrics

import (
	"fmt"
	"slices"
)

// ErrorRate is an error count over a total, with the rate in percent.
type ErrorRate struct {
	Errors int     `json:"errors"`
	Total  int     `json:"total"`
	Rate   float64 `json:"rate"` // 100·Errors/Total (0 when Total is 0)
}

func rate(e, t int) ErrorRate {
	r := ErrorRate{Errors: e, Total: t}
	if t > 0 {
		r.Rate = 100 * float64(e) / float64(t)
	}
	return r
}

// WER is the sequence (word) error rate of the G2P literature: the share
// of hypotheses that equal none of their references. hyps[i] is a token
// sequence (e.g. phones), refs[i] its references.
func WER(hyps [][]string, refs [][][]string) (ErrorRate, error) {
	if err := checkShapes(len(hyps), len(refs), func(i int) int { return len(refs[i]) }); err != nil {
		return ErrorRate{}, err
	}
	wrong := 0
	for i, h := range hyps {
		if !slices.ContainsFunc(refs[i], func(r []string) bool { return slices.Equal(h, r) }) {
			wrong++
		}
	}
	return rate(wrong, len(hyps)), nil
}

// PER is the token (phone) error rate of the G2P literature: the sum over
// sequences of the Levenshtein distance (insertions, deletions and
// substitutions each cost 1) to the closest reference, divided by the total
// length of those closest references. Among equally close references the
// first is taken.
func PER(hyps [][]string, refs [][][]string) (ErrorRate, error) {
	if err := checkShapes(len(hyps), len(refs), func(i int) int { return len(refs[i]) }); err != nil {
		return ErrorRate{}, err
	}
	errs, total := 0, 0
	for i, h := range hyps {
		d, n := closest(h, refs[i])
		errs += d
		total += n
	}
	return rate(errs, total), nil
}

// closest returns the edit distance from h to its closest reference and
// that reference's length.
func closest(h []string, refs [][]string) (dist, length int) {
	dist = -1
	for _, r := range refs {
		if d := EditDistance(h, r); dist < 0 || d < dist {
			dist, length = d, len(r)
		}
	}
	return dist, length
}

// EditDistance is the Levenshtein distance between two token sequences.
func EditDistance(a, b []string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			sub := diag
			if a[i-1] != b[j-1] {
				sub++
			}
			diag = row[j]
			row[j] = min(row[j]+1, row[j-1]+1, sub)
		}
	}
	return row[len(b)]
}

// LengthBucket is the error rate of the sequences whose source length lies
// in [Lo, Hi] (Hi < 0: no upper bound). Its JSON keys are snake_case like
// the rest of qkv eval's line; encoding/json matches keys without regard to
// case, so files written with the older "Lo", "WER", … still read.
type LengthBucket struct {
	Lo    int       `json:"lo"`
	Hi    int       `json:"hi"`
	Count int       `json:"count"`
	WER   ErrorRate `json:"wer"`
	PER   ErrorRate `json:"per"`
}

// ByLength breaks WER and PER down by source length, for error-by-length
// plots (Bahdanau et al. 2014, Fig. 2). srcLen[i] is the length of the
// source of hyps[i]; edges are the inclusive upper bounds of the buckets
// (ascending), and a last bucket takes everything longer. Empty buckets are
// kept so that plots line up.
func ByLength(srcLen []int, hyps [][]string, refs [][][]string, edges []int) ([]LengthBucket, error) {
	if err := checkShapes(len(hyps), len(refs), func(i int) int { return len(refs[i]) }); err != nil {
		return nil, err
	}
	if len(srcLen) != len(hyps) {
		return nil, fmt.Errorf("%d source lengths for %d hypotheses", len(srcLen), len(hyps))
	}
	if !slices.IsSorted(edges) || len(slices.Compact(slices.Clone(edges))) != len(edges) {
		return nil, fmt.Errorf("bucket edges %v are not strictly ascending", edges)
	}
	type acc struct{ n, wrong, errs, total int }
	accs := make([]acc, len(edges)+1)
	for i, h := range hyps {
		b, _ := slices.BinarySearch(edges, srcLen[i])
		d, n := closest(h, refs[i])
		a := &accs[b]
		a.n++
		a.errs += d
		a.total += n
		if !slices.ContainsFunc(refs[i], func(r []string) bool { return slices.Equal(h, r) }) {
			a.wrong++
		}
	}
	out := make([]LengthBucket, len(accs))
	lo := 0
	for b, a := range accs {
		hi := -1
		if b < len(edges) {
			hi = edges[b]
		}
		out[b] = LengthBucket{Lo: lo, Hi: hi, Count: a.n, WER: rate(a.wrong, a.n), PER: rate(a.errs, a.total)}
		lo = hi + 1
	}
	return out, nil
}
