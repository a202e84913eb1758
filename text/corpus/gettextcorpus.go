package corpus

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"

	"github.com/qkv-dev/qkv/internal/excerpt"
)

// Catalogue is the usable English→LL pairs of one gettext catalogue.
type Catalogue struct {
	Name  string // the file name without extension, e.g. "coreutils"
	Pairs []Pair
}

// GettextPairs keeps the messages that make clean translation pairs
// (msgid → msgstr): it drops the header, entries with a context or plural
// forms, fuzzy entries, untranslated ones (empty or blank msgstr), strings
// holding a tab or a line break, and invalid UTF-8; it keeps the first of
// repeated msgids. Strings are not changed, so format directives (%s,
// %1$d, {0}) and accelerator marks (_File, &File) stay as they are.
func GettextPairs(msgs []Message) []Pair {
	var out []Pair
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.ID == "" || m.Context != "" || m.Plural != "" || m.Fuzzy || len(m.Translations) != 1 {
			continue
		}
		src, tgt := m.ID, m.Translations[0]
		if !usable(src) || !usable(tgt) || seen[src] {
			continue
		}
		seen[src] = true
		out = append(out, Pair{src, tgt})
	}
	return out
}

func usable(s string) bool {
	return strings.TrimSpace(s) != "" && !strings.ContainsAny(s, "\t\n\r") && utf8.ValidString(s)
}

// LoadGettext reads every catalogue localeDir/lang/LC_MESSAGES/*.mo (the
// layout of /usr/share/locale). lang is used exactly: "pt" does not read
// "pt_BR". Catalogues are read in name order and de-duplicated across
// files: a msgid belongs to the first catalogue that has it, so no source
// string can end up in two splits. Catalogues that cannot be read are
// skipped and reported in warnings; err is set only when the directory
// cannot be listed or holds no catalogue.
func LoadGettext(localeDir, lang string) (cats []Catalogue, warnings []error, err error) {
	if !validLang(lang) {
		return nil, nil, fmt.Errorf("bad language code %s (want a locale directory name such as de, pt_BR or sr@latin)", excerpt.Quote(lang))
	}
	dir := filepath.Join(localeDir, lang, "LC_MESSAGES")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	found := 0
	for _, e := range entries { // ReadDir sorts by name
		if e.IsDir() || filepath.Ext(e.Name()) != ".mo" {
			continue
		}
		found++
		path := filepath.Join(dir, e.Name())
		msgs, err := ReadMOFile(path)
		if err == nil {
			msgs, err = ToUTF8(msgs)
		}
		if err != nil {
			warnings = append(warnings, fmt.Errorf("%s: %w", path, err))
			continue
		}
		c := Catalogue{Name: strings.TrimSuffix(e.Name(), ".mo")}
		for _, p := range GettextPairs(msgs) {
			if !seen[p.Source] {
				seen[p.Source] = true
				c.Pairs = append(c.Pairs, p)
			}
		}
		if len(c.Pairs) > 0 {
			cats = append(cats, c)
		}
	}
	if found == 0 {
		return nil, warnings, fmt.Errorf("%s: no .mo catalogues", dir)
	}
	return cats, warnings, nil
}

// validLang reports whether lang can be a locale directory name: at most 64
// letters, digits and _ - . @, and not "." or "..".
func validLang(lang string) bool {
	if lang == "" || len(lang) > 64 || lang == "." || lang == ".." {
		return false
	}
	for _, r := range lang {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.@", r)) {
			return false
		}
	}
	return true
}

// Charset returns the charset named in the header entry's Content-Type
// ("" when there is none), lowercased.
func Charset(msgs []Message) string {
	for _, m := range msgs {
		if m.ID != "" || m.Context != "" || len(m.Translations) == 0 {
			continue
		}
		for _, line := range strings.Split(m.Translations[0], "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "Content-Type") {
				continue
			}
			if _, cs, ok := strings.Cut(strings.ToLower(v), "charset="); ok {
				return strings.TrimSpace(strings.TrimRight(strings.TrimSpace(cs), ";"))
			}
		}
	}
	return ""
}

// ToUTF8 returns the messages in UTF-8: unchanged for UTF-8, ASCII or an
// unset charset, converted from ISO-8859-1 (Latin-1) byte by byte, and
// decoded from any other charset with an IANA or WHATWG name that
// golang.org/x/text knows (EUC-KR, EUC-JP, Shift_JIS, GB2312, GBK, Big5,
// KOI8-R, ISO-8859-n, windows-125n, …). Any other charset is an error that
// names it, since its bytes could pass for valid UTF-8 by accident, and so is
// a message that is not valid in its charset.
func ToUTF8(msgs []Message) ([]Message, error) {
	cs := Charset(msgs)
	var decode func(string) (string, error)
	switch cs {
	case "", "utf-8", "utf8", "ascii", "us-ascii", "charset":
		return msgs, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		decode = func(s string) (string, error) { return latin1(s), nil }
	default:
		enc, err := ianaindex.IANA.Encoding(cs)
		if err != nil || enc == nil {
			enc, err = htmlindex.Get(cs)
		}
		if err != nil || enc == nil {
			return nil, fmt.Errorf("charset %s is not supported (UTF-8, ISO-8859-1 and the charsets of golang.org/x/text are)", excerpt.Quote(cs))
		}
		decode = func(s string) (string, error) {
			out, err := enc.NewDecoder().String(s)
			// The decoders replace bytes that are not in the charset
			// with U+FFFD rather than fail.
			if err == nil && (!utf8.ValidString(out) || strings.ContainsRune(out, utf8.RuneError)) {
				err = errors.New("bytes outside the charset")
			}
			return out, err
		}
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		var err error
		dec := func(s string) string {
			if err != nil || s == "" {
				return s
			}
			var d string
			if d, err = decode(s); err != nil {
				err = fmt.Errorf("message %d (%s): not valid %s: %w", i, excerpt.Quote(s), cs, err)
			}
			return d
		}
		m.Context, m.ID, m.Plural = dec(m.Context), dec(m.ID), dec(m.Plural)
		ts := make([]string, len(m.Translations))
		for j, t := range m.Translations {
			ts[j] = dec(t)
		}
		if err != nil {
			return nil, err
		}
		m.Translations = ts
		out[i] = m
	}
	return out, nil
}

// latin1 decodes ISO-8859-1: every byte is the code point of its value.
func latin1(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// Split is a corpus divided by catalogue.
type Split struct {
	Train, Valid, Test []Catalogue
}

// SplitCatalogues assigns whole catalogues to the test, validation and
// training sets, so that no catalogue is in two of them. Catalogues are
// visited in an order shuffled by seed (deterministic for a given seed and
// input); one goes to test if it still fits in testFrac of all pairs, else
// to valid if it fits in validFrac, else to train. Sizes are therefore at
// most the fractions asked for, and close to them when catalogues are
// small next to the corpus. Each set lists its catalogues by name.
func SplitCatalogues(cats []Catalogue, validFrac, testFrac float64, seed uint64) (Split, error) {
	if !(validFrac >= 0 && testFrac >= 0 && validFrac+testFrac < 1) {
		return Split{}, fmt.Errorf("fractions valid %g and test %g must be ≥ 0 with a sum below 1", validFrac, testFrac)
	}
	sorted := slices.Clone(cats)
	slices.SortFunc(sorted, func(a, b Catalogue) int { return strings.Compare(a.Name, b.Name) })
	total := 0
	for _, c := range sorted {
		total += len(c.Pairs)
	}
	testMax := int(math.Round(testFrac * float64(total)))
	validMax := int(math.Round(validFrac * float64(total)))
	order := rand.New(rand.NewPCG(seed, 0x716b76)).Perm(len(sorted))
	var s Split
	nTest, nValid := 0, 0
	for _, i := range order {
		c := sorted[i]
		switch n := len(c.Pairs); {
		case nTest+n <= testMax:
			s.Test = append(s.Test, c)
			nTest += n
		case nValid+n <= validMax:
			s.Valid = append(s.Valid, c)
			nValid += n
		default:
			s.Train = append(s.Train, c)
		}
	}
	for _, set := range [][]Catalogue{s.Train, s.Valid, s.Test} {
		slices.SortFunc(set, func(a, b Catalogue) int { return strings.Compare(a.Name, b.Name) })
	}
	return s, nil
}

// Flatten returns the pairs of all catalogues, in order.
func Flatten(cats []Catalogue) []Pair {
	var out []Pair
	for _, c := range cats {
		out = append(out, c.Pairs...)
	}
	return out
}

// GettextFiles are the files of one language's corpus directory, as qkv
// data gettext and qkv beam prepare gettext write them: the three splits
// and the catalogues of each (catalogues.json).
var GettextFiles = []string{"train.tsv", "valid.tsv", "test.tsv", "catalogues.json"}
