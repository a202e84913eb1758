package metrics

import "strings"

// porterStem is the Porter stemmer (Porter 1980, "An algorithm for suffix
// stripping") exactly as NLTK's PorterStemmer computes it in its default
// mode, NLTK_EXTENSIONS, which is what rouge-score's use_stemmer=True runs
// (nltk.stem.porter.PorterStemmer()). Beyond the paper that mode has a table
// of irregular forms, leaves words of one or two letters alone, maps
// "-ies"/"-ied" of four-letter words to "-ie", turns y into i only after a
// consonant that is not the whole stem, applies "-alli" before the other
// step 2 rules, and adds "-fulli" and "-logi". w is lowercase ASCII, as
// rouge-score's tokenizer leaves it; porter_test.go checks NLTK's own
// outputs.
func porterStem(w string) string {
	if s, ok := porterIrregular[w]; ok {
		return s
	}
	if len(w) <= 2 {
		return w
	}
	w = porterStep1a(w)
	w = porterStep1b(w)
	w = porterStep1c(w)
	w = porterStep2(w)
	w = porterStep3(w)
	w = porterStep4(w)
	w = porterStep5a(w)
	return porterStep5b(w)
}

// porterIrregular is NLTK's table of irregular forms ("the errors actually
// drawn to Martin Porter's attention over a 20 year period").
var porterIrregular = map[string]string{
	"sky": "sky", "skies": "sky",
	"dying": "die", "lying": "lie", "tying": "tie",
	"news":    "news",
	"innings": "inning", "inning": "inning",
	"outings": "outing", "outing": "outing",
	"cannings": "canning", "canning": "canning",
	"howe":    "howe",
	"proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}

// isConsonant: a letter other than a, e, i, o, u, and other than y after a
// consonant (the paper's definition; digits count as consonants).
func isConsonant(w string, i int) bool {
	switch w[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !isConsonant(w, i-1)
	}
	return true
}

// measure is m in the paper's [C](VC)^m[V]: the number of vowel-consonant
// transitions.
func measure(stem string) int {
	m := 0
	for i := 0; i+1 < len(stem); i++ {
		if !isConsonant(stem, i) && isConsonant(stem, i+1) {
			m++
		}
	}
	return m
}

func positiveMeasure(stem string) bool { return measure(stem) > 0 }
func measureOver1(stem string) bool    { return measure(stem) > 1 }

// containsVowel is the paper's *v*.
func containsVowel(stem string) bool {
	for i := range len(stem) {
		if !isConsonant(stem, i) {
			return true
		}
	}
	return false
}

// endsDoubleConsonant is the paper's *d.
func endsDoubleConsonant(w string) bool {
	n := len(w)
	return n >= 2 && w[n-1] == w[n-2] && isConsonant(w, n-1)
}

// endsCVC is the paper's *o (consonant, vowel, consonant other than w, x,
// y), and NLTK's extension: a two-letter vowel-consonant word.
func endsCVC(w string) bool {
	n := len(w)
	if n >= 3 && isConsonant(w, n-3) && !isConsonant(w, n-2) && isConsonant(w, n-1) && !strings.ContainsRune("wxy", rune(w[n-1])) {
		return true
	}
	return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
}

// porterRule replaces suffix by repl when cond (nil: always) holds for
// the word without the suffix. The suffix "*d" stands for any double
// consonant.
type porterRule struct {
	suffix, repl string
	cond         func(stem string) bool
}

// applyRules applies the first rule whose suffix the word has; if its
// condition fails the word is returned unchanged, without trying the later
// rules (NLTK's _apply_rule_list).
func applyRules(w string, rules []porterRule) string {
	for _, r := range rules {
		if r.suffix == "*d" && endsDoubleConsonant(w) {
			stem := w[:len(w)-2]
			if r.cond == nil || r.cond(stem) {
				return stem + r.repl
			}
			return w
		}
		if strings.HasSuffix(w, r.suffix) {
			stem := w[:len(w)-len(r.suffix)]
			if r.cond == nil || r.cond(stem) {
				return stem + r.repl
			}
			return w
		}
	}
	return w
}

// Step 1a: sses → ss, ies → i, ss → ss, s → "" (and NLTK's "ties" → "tie").
func porterStep1a(w string) string {
	if strings.HasSuffix(w, "ies") && len(w) == 4 {
		return w[:1] + "ie"
	}
	return applyRules(w, []porterRule{{"sses", "ss", nil}, {"ies", "i", nil}, {"ss", "ss", nil}, {"s", "", nil}})
}

// Step 1b: (m>0) eed → ee; (*v*) ed → ""; (*v*) ing → "", then at → ate,
// bl → ble, iz → ize, a double consonant other than l, s, z → single, or
// (m=1 and *o) → +e. NLTK first maps "ied" to "ie" (four letters) or "i".
func porterStep1b(w string) string {
	if strings.HasSuffix(w, "ied") {
		if len(w) == 4 {
			return w[:1] + "ie"
		}
		return w[:len(w)-3] + "i"
	}
	if strings.HasSuffix(w, "eed") {
		if stem := w[:len(w)-3]; measure(stem) > 0 {
			return stem + "ee"
		}
		return w
	}
	var stem string
	ok := false
	for _, suf := range []string{"ed", "ing"} {
		if strings.HasSuffix(w, suf) {
			stem = w[:len(w)-len(suf)]
			if containsVowel(stem) {
				ok = true
				break
			}
		}
	}
	if !ok {
		return w
	}
	last := stem[len(stem)-1:]
	return applyRules(stem, []porterRule{
		{"at", "ate", nil},
		{"bl", "ble", nil},
		{"iz", "ize", nil},
		{"*d", last, func(string) bool { return !strings.Contains("lsz", last) }},
		{"", "e", func(s string) bool { return measure(s) == 1 && endsCVC(s) }},
	})
}

// Step 1c: y → i after a consonant that is not the whole stem (NLTK's rule;
// the paper's is *v*).
func porterStep1c(w string) string {
	return applyRules(w, []porterRule{{"y", "i", func(s string) bool { return len(s) > 1 && isConsonant(s, len(s)-1) }}})
}

// Step 2: double suffixes to single ones, for m > 0.
func porterStep2(w string) string {
	if strings.HasSuffix(w, "alli") && positiveMeasure(w[:len(w)-4]) {
		return porterStep2(w[:len(w)-4] + "al")
	}
	return applyRules(w, []porterRule{
		{"ational", "ate", positiveMeasure},
		{"tional", "tion", positiveMeasure},
		{"enci", "ence", positiveMeasure},
		{"anci", "ance", positiveMeasure},
		{"izer", "ize", positiveMeasure},
		{"bli", "ble", positiveMeasure},
		{"alli", "al", positiveMeasure},
		{"entli", "ent", positiveMeasure},
		{"eli", "e", positiveMeasure},
		{"ousli", "ous", positiveMeasure},
		{"ization", "ize", positiveMeasure},
		{"ation", "ate", positiveMeasure},
		{"ator", "ate", positiveMeasure},
		{"alism", "al", positiveMeasure},
		{"iveness", "ive", positiveMeasure},
		{"fulness", "ful", positiveMeasure},
		{"ousness", "ous", positiveMeasure},
		{"aliti", "al", positiveMeasure},
		{"iviti", "ive", positiveMeasure},
		{"biliti", "ble", positiveMeasure},
		{"fulli", "ful", positiveMeasure},
		// The l of "logi" stays with the stem, so "geo", "theo" work too.
		{"logi", "log", func(string) bool { return positiveMeasure(w[:len(w)-3]) }},
	})
}

// Step 3: -icate, -ative, -alize, -iciti, -ical, -ful, -ness, for m > 0.
func porterStep3(w string) string {
	return applyRules(w, []porterRule{
		{"icate", "ic", positiveMeasure},
		{"ative", "", positiveMeasure},
		{"alize", "al", positiveMeasure},
		{"iciti", "ic", positiveMeasure},
		{"ical", "ic", positiveMeasure},
		{"ful", "", positiveMeasure},
		{"ness", "", positiveMeasure},
	})
}

// Step 4: remove the remaining suffixes for m > 1 (-ion after s or t).
func porterStep4(w string) string {
	return applyRules(w, []porterRule{
		{"al", "", measureOver1},
		{"ance", "", measureOver1},
		{"ence", "", measureOver1},
		{"er", "", measureOver1},
		{"ic", "", measureOver1},
		{"able", "", measureOver1},
		{"ible", "", measureOver1},
		{"ant", "", measureOver1},
		{"ement", "", measureOver1},
		{"ment", "", measureOver1},
		{"ent", "", measureOver1},
		{"ion", "", func(s string) bool { return measure(s) > 1 && (s[len(s)-1] == 's' || s[len(s)-1] == 't') }},
		{"ou", "", measureOver1},
		{"ism", "", measureOver1},
		{"ate", "", measureOver1},
		{"iti", "", measureOver1},
		{"ous", "", measureOver1},
		{"ive", "", measureOver1},
		{"ize", "", measureOver1},
	})
}

// Step 5a: (m>1) e → ""; (m=1 and not *o) e → "". Both conditions are
// tried, unlike the other steps' rule lists.
func porterStep5a(w string) string {
	if strings.HasSuffix(w, "e") {
		stem := w[:len(w)-1]
		if m := measure(stem); m > 1 || m == 1 && !endsCVC(stem) {
			return stem
		}
	}
	return w
}

// Step 5b: (m>1 and *d and *l) → single letter.
func porterStep5b(w string) string {
	return applyRules(w, []porterRule{{"ll", "l", func(string) bool { return measure(w[:len(w)-1]) > 1 }}})
}
