// Package placeholder protects the parts of a message that a translation
// must reproduce exactly — printf directives (%s, %5.2f, %1$s, %(name)s,
// %ld, %zu, %%), brace fields ({name}, {0}), shell variables (${var},
// $var), markup (<b>, </b>, <br/>, <a href="…">), character entities
// (&amp;, &#39;), accelerator marks (_File, &Open), line breaks and tabs,
// and the leading and trailing white space — by replacing each with a
// numbered token ⟦1⟧, ⟦2⟧, … that segmentation never splits, and restores
// them after decoding.
//
// This is what computer-aided translation tools do with inline codes:
// XLIFF 1.2 §2.5 and 2.0 represent them as <x/>, <ph>, <g>/<pc> elements
// that the translator moves but never edits; the Okapi Framework's
// "inline codes" (the code finder of its filters, a list of regular
// expressions such as the printf one used here) protect them before
// machine translation; and NMT toolkits do the same for "tag protection"
// (fairseq and OpenNMT pre-processing scripts replace tags and
// placeholders by ⦅ph_N⦆-style tokens, OpenNMT's Tokenizer keeps
// ⦅…⦆ spans whole). The model is trained on text protected the same way,
// so it learns to copy the tokens; search.Placeholders then makes the copy
// certain.
//
// Leading and trailing white space (spaces, tabs, line breaks) is peeled
// off and put back as it was: the model never sees it. A literal ⟦ or ⟧ in
// the text is protected too, so Restore(Protect(s)) == s for every string.
package placeholder

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Marker brackets: U+27E6 and U+27E7 (mathematical white square brackets),
// which software messages practically never hold (and which are protected
// themselves when they do).
const (
	Open  = "⟦"
	Close = "⟧"
)

// MaxMarkers is how many placeholders a message gets tokens for: past the
// 32nd, placeholders stay text (except literal ⟦ and ⟧, which must be
// protected for Restore to be exact). A model's vocabularies hold the
// markers ⟦1⟧ … ⟦MaxMarkers⟧.
const MaxMarkers = 32

// Marker returns the token of placeholder k (from 1): "⟦k⟧".
func Marker(k int) string { return Open + strconv.Itoa(k) + Close }

// ParseMarker returns k for the token "⟦k⟧", and false for anything else.
func ParseMarker(tok string) (int, bool) {
	if !strings.HasPrefix(tok, Open) || !strings.HasSuffix(tok, Close) || len(tok) <= len(Open)+len(Close) {
		return 0, false
	}
	num := tok[len(Open) : len(tok)-len(Close)]
	if num[0] < '1' || num[0] > '9' || len(num) > 6 {
		return 0, false
	}
	k, err := strconv.Atoi(num)
	if err != nil {
		return 0, false
	}
	return k, true
}

// Kind says what a placeholder is.
type Kind string

const (
	Printf     Kind = "printf"      // %s, %5.2f, %1$s, %ld, %zu, %%, %<PRIu64>, %6<PRIu32>
	Python     Kind = "python"      // %(name)s
	Qt         Kind = "qt"          // %1, %L2
	Brace      Kind = "brace"       // {name}, {0}, {0:.2f}, {}
	Variable   Kind = "variable"    // ${var}, $var
	Markup     Kind = "markup"      // <b>, </b>, <br/>, <a href="…">
	Entity     Kind = "entity"      // &amp;, &#39;, &#x27;
	Accel      Kind = "accelerator" // the _ of _File or Save _As (not of open_sync), the & of &Open or O&pen
	Break      Kind = "break"       // a line break or tab inside the message
	Bracket    Kind = "bracket"     // a literal ⟦ or ⟧
	WhiteSpace Kind = "whitespace"  // leading or trailing white space (never a token)
)

// htmlTags are the tag names that count as markup when written bare
// (<b>): a word in angle brackets such as <FILE> in a usage line is text a
// translator may translate. Closing tags, self-closing tags and tags with
// attributes are markup whatever their name.
var htmlTags = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`a abbr b big blockquote br center cite code dd del div dl dt em font
		h1 h2 h3 h4 h5 h6 hr i img ins kbd li link ol p pre q s samp small span strike strong sub sup
		table td th tr tt u ul var`) {
		htmlTags[t] = true
	}
}

// pattern finds placeholders; the first alternative that matches at a
// position wins (Go's leftmost-first alternation), so entities are tried
// before accelerators and %(name)s before printf.
var pattern = regexp.MustCompile(strings.Join([]string{
	`(?P<bracket>[⟦⟧])`,
	`(?P<break>\r\n|[\n\r\t])`,
	`(?P<python>%\([^()\s]{1,40}\)[-+#0 ]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%])`,
	`(?P<printf>%(?:[1-9]\d*\$)?[-+#0']*(?:\d+|\*(?:[1-9]\d*\$)?)?(?:\.(?:\d+|\*(?:[1-9]\d*\$)?))?(?:hh|h|ll|l|L|q|j|z|Z|t|I64|I32|I)?[diouxXeEfFgGaAcCsSpnm%]|%(?:[1-9]\d*\$)?[-+#0']*\d*(?:\.\d+)?<PRI[A-Za-z0-9]+>)`,
	`(?P<qt>%L?[1-9]\d?)`,
	`(?P<variable>\$\{[^{}\s]{1,40}\}|\$[A-Za-z_][A-Za-z0-9_]*)`,
	`(?P<brace>\{[\pL\pN_.\[\]-]{0,40}(?:![rsa])?(?::[^{}\s]{0,20})?\})`,
	`(?P<markup></[A-Za-z][A-Za-z0-9:-]*\s*>|<[A-Za-z][A-Za-z0-9:-]*(?:\s+[A-Za-z_:][A-Za-z0-9_:.-]*\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=]+))*\s*/?>)`,
	`(?P<entity>&(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});)`,
	`(?P<accel>[_&][\pL\pN])`,
}, "|"))

var kindOf = func() []Kind {
	out := make([]Kind, len(pattern.SubexpNames()))
	for i, n := range pattern.SubexpNames() {
		switch n {
		case "accel":
			out[i] = Accel
		default:
			out[i] = Kind(n)
		}
	}
	return out
}()

// Span is one placeholder found in a message.
type Span struct {
	Start, End int // byte offsets
	Kind       Kind
}

// Find returns the placeholders of s, in order (leading and trailing white
// space is not among them: see Protect).
func Find(s string) []Span {
	var out []Span
	for _, m := range pattern.FindAllStringSubmatchIndex(s, -1) {
		k := Kind("")
		for g := 1; 2*g < len(m); g++ {
			if m[2*g] >= 0 {
				k = kindOf[g]
				break
			}
		}
		sp := Span{m[0], m[1], k}
		switch k {
		case Markup:
			if !isMarkup(s[m[0]:m[1]]) {
				continue
			}
		case Accel:
			sp.End = sp.Start + 1 // the mark, not the letter
			if s[sp.Start] == '_' && sp.Start > 0 {
				// _File and Save _As, but not the underscores of an
				// identifier such as open_sync or F_NOCACHE
				if prev, _ := utf8.DecodeLastRuneInString(s[:sp.Start]); prev == '_' || unicode.IsLetter(prev) || unicode.IsDigit(prev) {
					continue
				}
			}
			if s[sp.Start] == '_' && identifierTail(s[sp.End:]) {
				continue // _POSIX2_LOCALEDEF, __func__: an identifier
			}
			if s[sp.Start] == '&' && sp.Start > 0 {
				if prev, _ := utf8.DecodeLastRuneInString(s[:sp.Start]); prev == '&' {
					continue // "&&" is an escaped ampersand in some toolkits
				}
			}
		}
		out = append(out, sp)
	}
	return out
}

// identifierTail reports whether the word that starts s (letters, digits
// and underscores) holds an underscore.
func identifierTail(s string) bool {
	for _, r := range s {
		switch {
		case r == '_':
			return true
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			return false
		}
	}
	return false
}

// isMarkup keeps bare tags only when they are HTML: <b> is markup, <FILE>
// is a word.
func isMarkup(tag string) bool {
	if strings.HasPrefix(tag, "</") || strings.HasSuffix(tag, "/>") || strings.ContainsRune(tag, '=') {
		return true
	}
	name := strings.TrimFunc(tag[1:len(tag)-1], unicode.IsSpace)
	return htmlTags[strings.ToLower(name)]
}

// Protected is a message with its placeholders replaced by markers.
type Protected struct {
	Text      string   // the message without its leading and trailing white space, placeholders as ⟦1⟧, ⟦2⟧, …
	Leading   string   // the white space it started with
	Trailing  string   // the white space it ended with
	Originals []string // Originals[k-1] is what ⟦k⟧ stands for
	Kinds     []Kind   // Kinds[k-1] is its kind
}

// Protect replaces the placeholders of s by markers numbered from 1 in
// order. Each occurrence gets its own number, so a message with %s twice
// holds ⟦1⟧ and ⟦2⟧.
func Protect(s string) Protected {
	lead, body, trail := splitSpace(s)
	p := Protected{Leading: lead, Trailing: trail}
	p.Text = p.protect(body, nil)
	return p
}

// ProtectPair protects a training pair: the source as Protect does, and in
// the target each placeholder that matches (the same text) a source
// placeholder not yet matched gets that placeholder's number, so the model
// learns which token to copy where. A target placeholder without a match
// gets a number the source does not use (while there are numbers left), so
// the model never learns to spell placeholders out of text pieces (the
// search never lets it emit such a number).
func ProtectPair(src, tgt string) (Protected, Protected) {
	ps := Protect(src)
	lead, body, trail := splitSpace(tgt)
	pt := Protected{Leading: lead, Trailing: trail}
	used := make([]bool, len(ps.Originals))
	extra := len(ps.Originals)
	pt.Text = pt.protect(body, func(text string) int {
		for i, o := range ps.Originals {
			if !used[i] && o == text {
				used[i] = true
				return i + 1
			}
		}
		if extra < MaxMarkers {
			extra++
			return extra
		}
		return 0
	})
	return ps, pt
}

// protect writes body with its placeholders as markers. number, when set,
// picks a placeholder's number (0: leave it as text); by default they are
// numbered in order up to MaxMarkers.
func (p *Protected) protect(body string, number func(text string) int) string {
	spans := Find(body)
	if len(spans) == 0 {
		return body
	}
	var b strings.Builder
	last, next := 0, 1
	numbered := map[int]bool{}
	for _, sp := range spans {
		text := body[sp.Start:sp.End]
		k := 0
		switch {
		case number != nil:
			k = number(text)
		case next <= MaxMarkers:
			k = next
			next++
		}
		if k == 0 && sp.Kind != Bracket {
			continue
		}
		if k == 0 || numbered[k] {
			k = max(len(p.Originals), MaxMarkers) + 1 // a literal bracket past the limit
			for numbered[k] {
				k++
			}
		}
		for len(p.Originals) < k {
			p.Originals = append(p.Originals, "")
			p.Kinds = append(p.Kinds, "")
		}
		p.Originals[k-1], p.Kinds[k-1] = text, sp.Kind
		numbered[k] = true
		b.WriteString(body[last:sp.Start])
		b.WriteString(Marker(k))
		last = sp.End
	}
	b.WriteString(body[last:])
	return b.String()
}

// Restore puts the placeholders back into a translation of p.Text, and the
// leading and trailing white space around it: the source's, in place of
// any white space the translation has at its ends (a model that pads its
// output with spaces does not change them). Markers that p does not
// define are left as they are; a placeholder the translation lacks is
// missing from the result (search.Placeholders prevents both).
//
// An accelerator mark (the _ of _File, the & of &Open) marks the letter
// after it, so it must land before one: a mark the translation put before
// a space or punctuation ("⟦1⟧ Datei", "Datei⟦1⟧:") moves to the start of
// the next word (or, at the end, of the last word without a mark), as
// translation tools place accelerator keys; the translation's words stay
// as they are.
func (p Protected) Restore(translated string) string {
	translated = strings.TrimFunc(translated, unicode.IsSpace)
	var gs []glyph
	var marks []int // indexes in gs of accelerator marks put back
	for _, part := range Split(translated) {
		if k, ok := ParseMarker(part); ok && k <= len(p.Originals) && p.Originals[k-1] != "" {
			if p.Kinds[k-1] == Accel {
				marks = append(marks, len(gs))
			}
			part = p.Originals[k-1]
		}
		gs = appendGlyphs(gs, part)
	}
	if len(marks) > 0 {
		gs = placeAccelerators(gs, marks)
	}
	var b strings.Builder
	b.WriteString(p.Leading)
	for _, g := range gs {
		b.WriteString(g.s)
	}
	b.WriteString(p.Trailing)
	return b.String()
}

// glyph is one rune of a text with its bytes as they were, so that text
// which is not valid UTF-8 comes back byte for byte (r is utf8.RuneError
// for a stray byte).
type glyph struct {
	r rune
	s string
}

func appendGlyphs(gs []glyph, s string) []glyph {
	for s != "" {
		r, n := utf8.DecodeRuneInString(s)
		gs = append(gs, glyph{r, s[:n]})
		s = s[n:]
	}
	return gs
}

// placeAccelerators moves each accelerator mark at gs[i] (i in marks) that
// does not mark a letter or digit to the start of a word that has none.
func placeAccelerators(gs []glyph, marks []int) []glyph {
	isMark := make([]bool, len(gs))
	for _, i := range marks {
		isMark[i] = true
	}
	word := func(g glyph) bool { return unicode.IsLetter(g.r) || unicode.IsDigit(g.r) }
	// wordStart: a letter or digit after a non-word rune (or first), with no mark before it yet.
	wordStart := func(gs []glyph, isMark []bool, j int) bool {
		return word(gs[j]) && (j == 0 || !word(gs[j-1]) && gs[j-1].r != '_' && !isMark[j-1])
	}
	for i := 0; i < len(gs); i++ {
		if !isMark[i] {
			continue
		}
		next := i+1 < len(gs) && word(gs[i+1])
		prevOK := gs[i].r == '&' || i == 0 || !word(gs[i-1]) && gs[i-1].r != '_'
		if next && prevOK {
			continue
		}
		mark := gs[i]
		gs, isMark = slices.Delete(gs, i, i+1), slices.Delete(isMark, i, i+1)
		if i > 0 && unicode.IsSpace(gs[i-1].r) && !isMark[i-1] && (i == len(gs) || unicode.IsSpace(gs[i].r) || strings.ContainsRune(")]}.,:;!?»«\"'", gs[i].r)) {
			// "a _ b" → "a b", "a _." → "a.", "a _" → "a": not "a  b", "a ." or "a "
			gs, isMark = slices.Delete(gs, i-1, i), slices.Delete(isMark, i-1, i)
			i--
		} else if i == 0 && len(gs) > 0 && unicode.IsSpace(gs[0].r) { // "_ a" → "a"
			gs, isMark = slices.Delete(gs, 0, 1), slices.Delete(isMark, 0, 1)
		}
		j := -1
		for k := i; k < len(gs) && j < 0; k++ {
			if wordStart(gs, isMark, k) {
				j = k
			}
		}
		for k := min(i, len(gs)) - 1; k >= 0 && j < 0; k-- {
			if wordStart(gs, isMark, k) {
				j = k
			}
		}
		if j < 0 { // no word to mark: leave it where it was
			j = min(i, len(gs))
		}
		gs, isMark = slices.Insert(gs, j, mark), slices.Insert(isMark, j, true)
		if j >= i {
			i = j // go on after the mark's new place
		} // else the glyph after the old place is now gs[i+1], checked next
	}
	return gs
}

// Split cuts protected text into text pieces and markers, in order; no
// piece is empty, and their concatenation is text.
func Split(text string) []string {
	var out []string
	for text != "" {
		i := strings.Index(text, Open)
		if i < 0 {
			break
		}
		j := strings.Index(text[i:], Close)
		if j < 0 {
			break
		}
		if _, ok := ParseMarker(text[i : i+j+len(Close)]); !ok {
			// not a marker: keep the bracket as text and look further
			k := i + len(Open)
			out = appendText(out, text[:k])
			text = text[k:]
			continue
		}
		out = appendText(out, text[:i])
		out = append(out, text[i:i+j+len(Close)])
		text = text[i+j+len(Close):]
	}
	return appendText(out, text)
}

// appendText appends a text piece, joining it to a text piece before it.
func appendText(out []string, s string) []string {
	if s == "" {
		return out
	}
	if n := len(out); n > 0 {
		if _, ok := ParseMarker(out[n-1]); !ok {
			out[n-1] += s
			return out
		}
	}
	return append(out, s)
}

// Markers returns the placeholder numbers of protected text, in order.
func Markers(text string) []int {
	var out []int
	for _, part := range Split(text) {
		if k, ok := ParseMarker(part); ok {
			out = append(out, k)
		}
	}
	return out
}

// splitSpace cuts s into its leading white space, the rest, and its
// trailing white space.
func splitSpace(s string) (lead, body, trail string) {
	body = strings.TrimLeftFunc(s, unicode.IsSpace)
	lead = s[:len(s)-len(body)]
	trimmed := strings.TrimRightFunc(body, unicode.IsSpace)
	trail = body[len(trimmed):]
	return lead, trimmed, trail
}

// Kept reports whether a translation holds the placeholders of its source,
// as many of each (in any order), and the same leading and trailing white
// space: what "placeholders survive translation" means in qkv eval and the
// tests.
func Kept(source, translation string) bool {
	list := func(s string) []string {
		var out []string
		for _, sp := range Find(s) {
			out = append(out, s[sp.Start:sp.End])
		}
		slices.Sort(out)
		lead, _, trail := splitSpace(s)
		return append(out, lead, trail)
	}
	return slices.Equal(list(source), list(translation))
}
