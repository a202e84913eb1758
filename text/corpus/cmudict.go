package corpus

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/internal/excerpt"
)

// Case says how ReadCMUdict changes the case of words.
type Case int

const (
	KeepCase  Case = iota // words as written in the file
	LowerCase             // words lowercased (the shipped TSV is already lowercase)
	UpperCase             // words uppercased (as in the original cmudict-0.7b and the g014b2b split)
)

// CMUOptions controls ReadCMUdict.
type CMUOptions struct {
	// StripStress removes the stress digits 0, 1, 2 from vowels (AH0 → AH),
	// giving the 39-phone set of the G2P literature. Pronunciations that
	// become equal are kept once.
	StripStress bool
	Case        Case
}

// Pronunciation is one word with all its pronunciations, in file order; each
// pronunciation is a sequence of ARPAbet phones. For G2P evaluation the
// pronunciations are the word's references (a guess is right if it equals
// any of them).
type Pronunciation struct {
	Word   string
	Phones [][]string
}

// ReadCMUdict reads the CMU Pronouncing Dictionary: lines "word<TAB>phones"
// (the shipped TSV and the g014b2b split) or "WORD  PH ONES" (the original
// cmudict-0.7b and cmudict.dict, separated by spaces). Comment lines starting
// with ";;;" and empty lines are skipped, as is a trailing "# comment" after
// the phones (cmudict.dict). Alternative pronunciations, written "word(2)",
// "word(3)" or as repeated lines, are grouped under one word, in the order
// of first appearance. Errors name the file and line.
func ReadCMUdict(r io.Reader, name string, opt CMUOptions) ([]Pronunciation, error) {
	var out []Pronunciation
	index := map[string]int{}
	err := eachLine(r, name, func(lineNo int, line []byte) error {
		s := string(line)
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, ";;;") {
			return nil
		}
		if !utf8.ValidString(s) {
			return fmt.Errorf("%s:%d: invalid UTF-8 at byte %d of the line", name, lineNo, invalidAt(line))
		}
		word, phones, ok := strings.Cut(s, "\t")
		if !ok {
			word, phones, ok = strings.Cut(s, " ")
		}
		if !ok {
			return fmt.Errorf("%s:%d: missing tab between word and phones", name, lineNo)
		}
		if i := strings.IndexByte(phones, '#'); i >= 0 {
			phones = phones[:i]
		}
		word = strings.TrimSpace(word)
		if word == "" {
			return fmt.Errorf("%s:%d: empty word", name, lineNo)
		}
		if strings.Contains(word, BOM) {
			// Only the file's first byte-order mark is dropped (ReadTSV keeps a
			// second as text, so that WriteTSV round-trips it); in a word it is an
			// invisible character no speaker pronounces.
			return fmt.Errorf("%s:%d: the word %s holds U+FEFF, a byte-order mark (a file saved twice with one, or one pasted inside)", name, lineNo, excerpt.Quote(word))
		}
		if strings.ContainsFunc(word, unicode.IsSpace) {
			// A pronouncing dictionary has one word a line; "Open file<TAB>Datei öffnen"
			// is a parallel corpus read with the wrong --format.
			return fmt.Errorf("%s:%d: the word %s holds white space: a pronouncing dictionary has one word a line (a corpus of sentences is read with --format tsv)", name, lineNo, excerpt.Quote(word))
		}
		seq := strings.Fields(phones)
		if len(seq) == 0 {
			return fmt.Errorf("%s:%d: word %s has no phones", name, lineNo, excerpt.Quote(word))
		}
		word = baseWord(word)
		switch opt.Case {
		case LowerCase:
			word = strings.ToLower(word)
		case UpperCase:
			word = strings.ToUpper(word)
		}
		if opt.StripStress {
			for i, p := range seq {
				seq[i] = StripStress(p)
			}
		}
		i, seen := index[word]
		if !seen {
			index[word] = len(out)
			out = append(out, Pronunciation{Word: word, Phones: [][]string{seq}})
			return nil
		}
		for _, have := range out[i].Phones {
			if slices.Equal(have, seq) {
				return nil
			}
		}
		out[i].Phones = append(out[i].Phones, seq)
		return nil
	})
	return out, err
}

// baseWord removes an alternative marker "(2)" from the end of a word.
func baseWord(w string) string {
	if !strings.HasSuffix(w, ")") {
		return w
	}
	open := strings.LastIndexByte(w, '(')
	if open <= 0 || open == len(w)-2 {
		return w
	}
	for _, c := range w[open+1 : len(w)-1] {
		if c < '0' || c > '9' {
			return w
		}
	}
	return w[:open]
}

// StripStress removes a trailing stress digit 0, 1 or 2 from an ARPAbet
// phone: "AH0" → "AH"; other phones are returned unchanged.
func StripStress(phone string) string {
	if n := len(phone); n > 1 && phone[n-1] >= '0' && phone[n-1] <= '2' {
		return phone[:n-1]
	}
	return phone
}

// G2PPairs flattens pronunciations into training pairs: the word's letters
// as the source and one pronunciation (phones joined by spaces) as the
// target, one pair for each pronunciation.
func G2PPairs(prons []Pronunciation) []Pair {
	var out []Pair
	for _, p := range prons {
		for _, seq := range p.Phones {
			out = append(out, Pair{Source: p.Word, Target: strings.Join(seq, " ")})
		}
	}
	return out
}
