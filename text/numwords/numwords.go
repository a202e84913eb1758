// Package numwords spells numbers written in digits as English words, so
// that a pronouncing tool can read them: "42" → forty two, "1st" → first,
// "3.14" → three point one four, "1984" → nineteen eighty four.
//
// It follows the rules Python's g2p_en takes from Keith Ito's Tacotron text
// cleaners (normalize_numbers): commas between groups of three digits are
// dropped, a whole number from 1001 to 2999 is read as a year ("nineteen
// oh five", "two thousand nine", "twenty ten"; hundreds: "nineteen
// hundred"), any other as a cardinal without "and"; a decimal point is
// "point" followed by its digits one by one; 1st, 2nd, 3rd and Nth are
// ordinals. Words come lowercase and without hyphens ("forty two"), one
// word a string, as a dictionary lists them.
package numwords

import (
	"strings"
)

var (
	ones = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
		"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
	tens   = []string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
	scales = []string{"", "thousand", "million", "billion", "trillion"}
	// ordinal of the last word of a cardinal, where it is not word+"th".
	ordinals = map[string]string{"one": "first", "two": "second", "three": "third", "five": "fifth",
		"eight": "eighth", "nine": "ninth", "twelve": "twelfth",
		"twenty": "twentieth", "thirty": "thirtieth", "forty": "fortieth", "fifty": "fiftieth",
		"sixty": "sixtieth", "seventy": "seventieth", "eighty": "eightieth", "ninety": "ninetieth"}
)

// maxDigits is the longest whole number read as a cardinal (under a
// quadrillion); a longer one is read digit by digit.
const maxDigits = 15

// Spell returns the words of a number written in digits: an integer
// ("42", "1,000,000", "007"), a decimal ("3.14", ".5") or an ordinal
// ("1st", "22nd", "100th"). ok is false when s is none of these.
func Spell(s string) (words []string, ok bool) {
	if s == "" {
		return nil, false
	}
	lower := strings.ToLower(s)
	for _, suf := range []string{"st", "nd", "rd", "th"} {
		if digits, found := strings.CutSuffix(lower, suf); found {
			if !allDigits(digits) || !ordinalSuffixFits(digits, suf) {
				return nil, false
			}
			w := cardinal(digits)
			last := w[len(w)-1]
			if o, irregular := ordinals[last]; irregular {
				w[len(w)-1] = o
			} else {
				w[len(w)-1] = last + "th"
			}
			return w, true
		}
	}
	whole, frac, isDecimal := strings.Cut(s, ".")
	if isDecimal {
		if frac == "" || !allDigits(frac) || (whole != "" && !allDigits(strings.ReplaceAll(whole, ",", ""))) {
			return nil, false
		}
		if whole == "" {
			words = []string{"point"}
		} else {
			w, ok := Spell(whole)
			if !ok {
				return nil, false
			}
			words = append(w, "point")
		}
		for _, d := range frac {
			words = append(words, ones[d-'0'])
		}
		return words, true
	}
	if strings.Contains(s, ",") {
		if !groupedByThousands(s) {
			return nil, false
		}
		return cardinal(strings.ReplaceAll(s, ",", "")), true
	}
	if !allDigits(s) {
		return nil, false
	}
	if len(s) > 1 && s[0] == '0' { // "007": a code, not a quantity
		return digitByDigit(s), true
	}
	if y, isYear := year(s); isYear {
		return y, true
	}
	return cardinal(s), true
}

// ordinalSuffixFits refuses "1th", "2st", "11st"…: the suffix must be the
// one English writes after those digits.
func ordinalSuffixFits(digits, suf string) bool {
	n := len(digits)
	last := digits[n-1]
	teen := n >= 2 && digits[n-2] == '1'
	want := "th"
	switch {
	case teen:
	case last == '1':
		want = "st"
	case last == '2':
		want = "nd"
	case last == '3':
		want = "rd"
	}
	return suf == want
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// groupedByThousands reports whether s is digits with a comma before every
// group of three from the right ("1,000", "12,345,678").
func groupedByThousands(s string) bool {
	groups := strings.Split(s, ",")
	if len(groups[0]) < 1 || len(groups[0]) > 3 || !allDigits(groups[0]) || groups[0][0] == '0' {
		return false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 || !allDigits(g) {
			return false
		}
	}
	return true
}

func digitByDigit(s string) []string {
	w := make([]string, 0, len(s))
	for _, d := range s {
		w = append(w, ones[d-'0'])
	}
	return w
}

// year reads 1001–2999 as English reads a year, as g2p_en does.
func year(s string) ([]string, bool) {
	if len(s) != 4 {
		return nil, false
	}
	n := atoi(s)
	if n <= 1000 || n >= 3000 {
		return nil, false
	}
	hi, lo := n/100, n%100
	switch {
	case n == 2000:
		return []string{"two", "thousand"}, true
	case n > 2000 && n < 2010:
		return append([]string{"two", "thousand"}, under100(lo)...), true
	case lo == 0:
		return append(under100(hi), "hundred"), true
	case lo < 10:
		return append(append(under100(hi), "oh"), ones[lo]), true
	}
	return append(under100(hi), under100(lo)...), true
}

// cardinal reads a string of digits as a whole number, without "and".
func cardinal(s string) []string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return []string{"zero"}
	}
	if len(s) > maxDigits {
		return digitByDigit(s)
	}
	var words []string
	// Groups of three digits from the left, each with its scale.
	first := len(s) % 3
	if first == 0 {
		first = 3
	}
	for i, scale := 0, (len(s)-1)/3; i < len(s); scale-- {
		end := i + 3
		if i == 0 {
			end = first
		}
		if g := atoi(s[i:end]); g > 0 {
			words = append(words, under1000(g)...)
			if scales[scale] != "" {
				words = append(words, scales[scale])
			}
		}
		i = end
	}
	return words
}

func under1000(n int) []string {
	if n < 100 {
		return under100(n)
	}
	w := []string{ones[n/100], "hundred"}
	if n%100 != 0 {
		w = append(w, under100(n%100)...)
	}
	return w
}

func under100(n int) []string {
	if n < 20 {
		return []string{ones[n]}
	}
	if n%10 == 0 {
		return []string{tens[n/10]}
	}
	return []string{tens[n/10], ones[n%10]}
}

// atoi reads digits known to be digits.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
