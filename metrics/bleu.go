package metrics

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

// BLEUScore is a corpus BLEU score with the statistics it came from, the
// fields sacreBLEU reports.
type BLEUScore struct {
	Score      float64    // 0..100
	Counts     [4]int     // matched n-grams, n = 1..4 (clipped by the references' maximum counts)
	Totals     [4]int     // hypothesis n-grams
	Precisions [4]float64 // 100·Counts/Totals, smoothed where Counts is 0
	BP         float64    // brevity penalty
	SysLen     int        // hypothesis tokens
	RefLen     int        // closest-reference tokens (ties to the shorter)
}

// String is sacreBLEU's verbose line: "BLEU = 48.53 82.4/50.0/... (BP = ...)".
func (s BLEUScore) String() string {
	ratio := 0.0
	if s.RefLen > 0 {
		ratio = float64(s.SysLen) / float64(s.RefLen)
	}
	return fmt.Sprintf("BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)",
		s.Score, s.Precisions[0], s.Precisions[1], s.Precisions[2], s.Precisions[3], s.BP, ratio, s.SysLen, s.RefLen)
}

// BLEU is corpus BLEU over hyps with refs[i] the references of hyps[i]
// (empty strings mark a missing reference, as in sacreBLEU),
// exactly as sacreBLEU's defaults compute it (version 2: tokenize 13a,
// case-sensitive, smooth "exp", no effective order): n-gram counts up to 4
// are clipped by the maximum count over the segment's references and summed
// over the corpus; a precision whose count is 0 is replaced by
// 100/(2^k·total), k counting the zero precisions so far; the reference
// length of a segment is the closest one to the hypothesis length, ties to
// the shorter; BP = exp(1 − r/c) when c < r.
func BLEU(hyps []string, refs [][]string) (BLEUScore, error) {
	refs, err := presentRefs(hyps, refs)
	if err != nil {
		return BLEUScore{}, err
	}
	var sum BLEUStats
	for i, h := range hyps {
		sum = sum.Add(bleuSegment(h, refs[i]))
	}
	return sum.Score(), nil
}

// bleuFromCounts is sacreBLEU's BLEU.compute_bleu with smooth_method "exp".
func bleuFromCounts(correct, total [4]int, sysLen, refLen int) (score float64, prec [4]float64, bp float64) {
	bp = 1
	if sysLen < refLen {
		bp = 0
		if sysLen > 0 {
			bp = math.Exp(1 - float64(refLen)/float64(sysLen))
		}
	}
	smooth := 1.0
	for n := 0; n < 4; n++ {
		if total[n] == 0 {
			break // the remaining precisions stay 0, so the score is 0
		}
		if correct[n] == 0 {
			smooth *= 2
			prec[n] = 100 / (smooth * float64(total[n]))
		} else {
			prec[n] = 100 * float64(correct[n]) / float64(total[n])
		}
	}
	logSum := 0.0
	for _, p := range prec {
		if p == 0 {
			return 0, prec, bp
		}
		logSum += math.Log(p)
	}
	return bp * math.Exp(logSum/4), prec, bp
}

// ngrams counts the n-grams of toks, each keyed by its tokens joined with a
// space (unambiguous: 13a tokens never contain whitespace).
func ngrams(toks []string, n int) map[string]int {
	m := map[string]int{}
	for i := 0; i+n <= len(toks); i++ {
		m[strings.Join(toks[i:i+n], " ")]++
	}
	return m
}

var rx13a = []struct {
	re   *regexp.Regexp
	repl string
}{
	// sacreBLEU's TokenizerRegexp, in its order. Character classes:
	// {|}~ [\]^_` space!"#$%& ()*+ :;<=>?@ /
	{regexp.MustCompile("([\\{-\\~\\[-\\x60 -\\&\\(-\\+\\:-\\@\\/])"), " ${1} "},
	{regexp.MustCompile(`([^0-9])([\.,])`), "${1} ${2} "}, // period and comma unless preceded by a digit
	{regexp.MustCompile(`([\.,])([^0-9])`), " ${1} ${2}"}, // period and comma unless followed by a digit
	{regexp.MustCompile(`([0-9])(-)`), "${1} ${2} "},      // dash after a digit
}

// Tokenize13a is sacreBLEU's "13a" tokenizer (mteval-v13a.pl's): it removes
// "<skipped>", joins "-\n" line breaks, unescapes &quot; &amp; &lt; &gt;,
// splits off punctuation and symbols, periods and commas except inside
// numbers, and dashes after digits, then splits on whitespace.
func Tokenize13a(line string) []string {
	line = strings.ReplaceAll(line, "<skipped>", "")
	line = strings.ReplaceAll(line, "-\n", "")
	line = strings.ReplaceAll(line, "\n", " ")
	if strings.Contains(line, "&") {
		line = strings.ReplaceAll(line, "&quot;", `"`)
		line = strings.ReplaceAll(line, "&amp;", "&")
		line = strings.ReplaceAll(line, "&lt;", "<")
		line = strings.ReplaceAll(line, "&gt;", ">")
	}
	line = " " + line + " "
	for _, r := range rx13a {
		line = r.re.ReplaceAllString(line, r.repl)
	}
	return pyFields(line)
}

// pyFields is Python's str.split(): it splits on Unicode whitespace and on
// the separators U+001C..U+001F, which Go's unicode.IsSpace leaves out.
func pyFields(s string) []string {
	return strings.FieldsFunc(s, isPySpace)
}

func isPySpace(r rune) bool {
	switch {
	case r >= 0x1c && r <= 0x1f:
		return true
	case r < 0x80:
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return r == 0x85 || r == 0xa0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) ||
		r == 0x2028 || r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
