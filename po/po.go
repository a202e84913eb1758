// Package po reads and writes gettext PO files byte-exactly, so that a
// program can fill in some translations and leave every other byte of the
// file as it was: comments, the header, translated, fuzzy and obsolete
// entries, line wrapping and line endings (LF or CRLF).
//
// The format is the one the GNU gettext manual describes in "The Format of
// PO Files" (https://www.gnu.org/software/gettext/manual/html_node/PO-Files.html):
// entries of translator (# ), extracted (#.), reference (#:), flag (#,) and
// previous (#|) comments, then msgctxt, msgid, msgid_plural, and msgstr or
// msgstr[N]; strings are C string literals, continued on lines of their own;
// obsolete entries are commented out with #~. Strings that Entry.Fill
// writes are wrapped as msgmerge and msgcat write them (at 79 columns, after
// spaces, and after every embedded \n with an empty first line).
//
// Libraries that read PO files into messages (gotext, gettext-go) write
// them back in their own layout; a byte-exact round trip needs the raw
// lines, which is why this package keeps them.
package po

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/text/corpus"
)

// File is a parsed PO file.
type File struct {
	Name    string
	Entries []*Entry // in file order; their raw lines make up the file
	nl      string   // the file's line ending: "\n" or "\r\n"
}

// Entry is one entry of a PO file with the raw lines it was read from
// (including the blank lines after it). An entry without HasID holds only
// comments or blank lines (obsolete entries, a file's trailing comments).
type Entry struct {
	Line       int      // line number of its first line, from 1
	HasID      bool     // a message (not only comments)
	Obsolete   bool     // it has #~ lines (obsolete entries are never parsed nor changed)
	HasContext bool     // msgctxt given
	Context    string   // msgctxt, decoded
	ID         string   // msgid, decoded
	HasPlural  bool     // msgid_plural given
	Plural     string   // msgid_plural, decoded
	Str        []string // msgstr, or msgstr[0], msgstr[1], …, decoded
	Flags      []string // the flags of its #, line, e.g. fuzzy, c-format

	lines    []string // raw lines, each with its line ending (the last of a file may lack one)
	flagLine int      // index in lines of the #, line, or -1
	kwStart  int      // index of the first keyword line (msgctxt or msgid)
	strStart int      // index of the first msgstr line
	strEnd   int      // index after the last msgstr line (continuations included)
}

// IsHeader reports whether e is the header entry (msgid "" without a context).
func (e *Entry) IsHeader() bool { return e.HasID && e.ID == "" && !e.HasContext }

// Fuzzy reports whether e is flagged fuzzy.
func (e *Entry) Fuzzy() bool { return hasFlag(e.Flags, "fuzzy") }

// HasFlag reports whether e has flag f (c-format, python-format, …).
func (e *Entry) HasFlag(f string) bool { return hasFlag(e.Flags, f) }

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// Untranslated reports whether e is a message whose msgstrs are all empty.
func (e *Entry) Untranslated() bool {
	if !e.HasID || e.IsHeader() {
		return false
	}
	for _, s := range e.Str {
		if s != "" {
			return false
		}
	}
	return true
}

// Raw returns the entry's lines as they are in the file (as Fill left
// them, when filled), with the blank lines after it.
func (e *Entry) Raw() string { return strings.Join(e.lines, "") }

// Bytes returns the file: the raw lines of every entry, those of changed
// entries rewritten.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, e := range f.Entries {
		for _, l := range e.lines {
			b.WriteString(l)
		}
	}
	return b.Bytes()
}

// Header returns the header entry, or nil.
func (f *File) Header() *Entry {
	for _, e := range f.Entries {
		if e.IsHeader() && !e.Obsolete {
			return e
		}
	}
	return nil
}

var nplurals = regexp.MustCompile(`(?m)^Plural-Forms:.*\bnplurals\s*=\s*(\d+)`)

// NPlurals returns the number of plural forms that the header's
// Plural-Forms field gives, and false when it gives none.
func (f *File) NPlurals() (int, bool) {
	h := f.Header()
	if h == nil || len(h.Str) == 0 {
		return 0, false
	}
	m := nplurals.FindStringSubmatch(h.Str[0])
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 || n > 100 {
		return 0, false
	}
	return n, true
}

var charset = regexp.MustCompile(`(?m)^Content-Type:.*\bcharset\s*=\s*([^\s;\\]+)`)

// Charset returns the charset the header declares ("" when none).
func (f *File) Charset() string {
	h := f.Header()
	if h == nil || len(h.Str) == 0 {
		return ""
	}
	if m := charset.FindStringSubmatch(h.Str[0]); m != nil {
		return m[1]
	}
	return ""
}

// SyntaxError is a malformed PO file, with the line where it shows.
type SyntaxError struct {
	Name string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg) }

// Parse reads a PO file; name is used in errors. Every byte of data is kept:
// Bytes returns data as long as no entry is changed.
func Parse(data []byte, name string) (*File, error) {
	f := &File{Name: name, nl: "\n"}
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		f.nl = "\r\n"
	}
	p := parser{f: f}
	lineNo := 0
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var raw string
		if i < 0 {
			raw, data = string(data), nil
		} else {
			raw, data = string(data[:i+1]), data[i+1:]
		}
		lineNo++
		if err := p.line(raw, lineNo); err != nil {
			return nil, &SyntaxError{name, lineNo, err.Error()}
		}
	}
	if err := p.finish(); err != nil {
		return nil, &SyntaxError{name, lineNo, err.Error()}
	}
	return f, nil
}

type parser struct {
	f    *File
	cur  *Entry
	open *string // the string that continuation lines extend
	last string  // its keyword, for messages
	seen struct{ ctxt, id, plural, str bool }
}

func (p *parser) start(lineNo int) error {
	if err := p.finish(); err != nil {
		return err
	}
	p.cur = &Entry{Line: lineNo, flagLine: -1, kwStart: -1, strStart: -1, strEnd: -1}
	p.f.Entries = append(p.f.Entries, p.cur)
	p.open, p.seen = nil, struct{ ctxt, id, plural, str bool }{}
	return nil
}

// endsComments reports whether the entry being read holds only comments
// (obsolete entries, say) and ended with a blank line: the next comment or
// keyword starts an entry of its own.
func (p *parser) endsComments() bool {
	e := p.cur
	if e.HasID || len(e.lines) == 0 || strings.TrimSpace(e.lines[len(e.lines)-1]) != "" {
		return false
	}
	for _, l := range e.lines {
		if strings.TrimSpace(l) != "" {
			return true
		}
	}
	return false
}

// finish checks the entry being read.
func (p *parser) finish() error {
	e := p.cur
	if e == nil || !e.HasID {
		return nil
	}
	if !p.seen.str {
		return fmt.Errorf("the entry of line %d has a msgid but no msgstr", e.Line)
	}
	return nil
}

func (p *parser) line(raw string, lineNo int) error {
	text := strings.TrimSuffix(strings.TrimSuffix(raw, "\n"), "\r")
	if lineNo == 1 {
		text = strings.TrimPrefix(text, "\ufeff") // an editor's byte-order mark (kept in the bytes)
	}
	t := strings.TrimSpace(text)
	if p.cur == nil {
		if err := p.start(lineNo); err != nil {
			return err
		}
	}
	e := p.cur
	switch {
	case t == "":
		p.open = nil
		e.lines = append(e.lines, raw)
		return nil
	case strings.HasPrefix(t, "#"):
		if e.HasID && !p.seen.str {
			return fmt.Errorf("comment inside an entry, before its msgstr")
		}
		if p.seen.str || p.endsComments() {
			if err := p.start(lineNo); err != nil {
				return err
			}
			e = p.cur
		}
		p.open = nil
		if strings.HasPrefix(t, "#~") {
			e.Obsolete = true
		} else if strings.HasPrefix(t, "#,") {
			e.flagLine = len(e.lines)
			for _, fl := range strings.Split(t[2:], ",") {
				if fl = strings.TrimSpace(fl); fl != "" {
					e.Flags = append(e.Flags, fl)
				}
			}
		}
		e.lines = append(e.lines, raw)
		return nil
	case strings.HasPrefix(t, `"`):
		if p.open == nil {
			return fmt.Errorf("a string continues no keyword: %s", excerpt.Quote(t))
		}
		s, err := corpus.UnquotePO(t)
		if err != nil {
			return fmt.Errorf("%s: %v", p.last, err)
		}
		*p.open += s
		e.lines = append(e.lines, raw)
		if p.seen.str {
			e.strEnd = len(e.lines)
		}
		return nil
	}
	kw, rest := t, ""
	if i := strings.IndexByte(t, '"'); i > 0 {
		kw, rest = strings.TrimSpace(t[:i]), t[i:]
	}
	if (kw == "msgctxt" || kw == "msgid") && p.endsComments() {
		if err := p.start(lineNo); err != nil {
			return err
		}
		e = p.cur
	}
	if e.Obsolete && !e.HasID {
		return fmt.Errorf("keyword %s right after obsolete #~ lines: put a blank line between them", excerpt.Quote(kw))
	}
	if (kw == "msgctxt" || kw == "msgid") && (p.seen.str || e.HasID) {
		if !p.seen.str {
			return fmt.Errorf("%s before the msgstr of the entry of line %d", kw, e.Line)
		}
		if err := p.start(lineNo); err != nil {
			return err
		}
		e = p.cur
	}
	s, err := corpus.UnquotePO(rest)
	if err != nil {
		return fmt.Errorf("%s: %v", excerpt.Quote(kw), err)
	}
	idx := len(e.lines)
	e.lines = append(e.lines, raw)
	p.last = kw
	switch {
	case kw == "msgctxt":
		if p.seen.ctxt {
			return fmt.Errorf("a second msgctxt in one entry")
		}
		p.seen.ctxt, e.HasContext, e.Context, e.kwStart = true, true, s, idx
		p.open = &e.Context
	case kw == "msgid":
		p.seen.id, e.HasID, e.ID = true, true, s
		if e.kwStart < 0 {
			e.kwStart = idx
		}
		p.open = &e.ID
	case kw == "msgid_plural":
		if !p.seen.id || p.seen.str || p.seen.plural {
			return fmt.Errorf("msgid_plural must follow msgid, once, before msgstr")
		}
		p.seen.plural, e.HasPlural, e.Plural = true, true, s
		p.open = &e.Plural
	case kw == "msgstr" || strings.HasPrefix(kw, "msgstr["):
		if !p.seen.id {
			return fmt.Errorf("%s without a msgid before it", kw)
		}
		if kw == "msgstr" {
			if e.HasPlural {
				return fmt.Errorf("msgstr in an entry with msgid_plural: use msgstr[0], msgstr[1], …")
			}
			if p.seen.str {
				return fmt.Errorf("a second msgstr in one entry")
			}
		} else {
			n, err := strconv.Atoi(strings.TrimSuffix(kw[len("msgstr["):], "]"))
			if !strings.HasSuffix(kw, "]") || err != nil {
				return fmt.Errorf("bad keyword %s", excerpt.Quote(kw))
			}
			if !e.HasPlural {
				return fmt.Errorf("%s in an entry without msgid_plural", kw)
			}
			if n != len(e.Str) {
				return fmt.Errorf("%s out of order: want msgstr[%d]", kw, len(e.Str))
			}
		}
		if !p.seen.str {
			e.strStart = idx
		}
		p.seen.str = true
		e.Str = append(e.Str, s)
		p.open = &e.Str[len(e.Str)-1]
		e.strEnd = idx + 1
	default:
		return fmt.Errorf("unknown keyword %s (want msgctxt, msgid, msgid_plural, msgstr or msgstr[N])", excerpt.Quote(kw))
	}
	return nil
}

// Sources returns what each msgstr of e translates, as Fill expects them:
// msgid for a message without plural forms; with msgid_plural, one text per
// plural form of the header's Plural-Forms (nplurals; without it, as many
// as e has msgstr[N]): msgstr[0] from msgid and the others from
// msgid_plural — except with nplurals=1 (Japanese, Korean, …), where the
// one form serves every count and so translates msgid_plural, which
// msgfmt --check compares it with.
func (f *File) Sources(e *Entry) []string {
	if !e.HasPlural {
		return []string{e.ID}
	}
	n, ok := f.NPlurals()
	if !ok {
		n = max(len(e.Str), 1)
	}
	if n == 1 {
		return []string{e.Plural}
	}
	out := make([]string, n)
	out[0] = e.ID
	for k := 1; k < n; k++ {
		out[k] = e.Plural
	}
	return out
}

// Fill sets the translations of e (one per msgstr: len(strs) is 1 for a
// message without plural, nplurals with one) and flags it fuzzy: the #,
// line gets "fuzzy" first (or a "#, fuzzy" line is added after the other
// comments), and its msgstr lines are written anew. Every other line of e
// stays as it was.
func (f *File) Fill(e *Entry, strs []string) error {
	if !e.HasID || e.Obsolete || e.strStart < 0 {
		return fmt.Errorf("%s:%d: not a message entry", f.Name, e.Line)
	}
	if !e.HasPlural && len(strs) != 1 {
		return fmt.Errorf("%s:%d: %d translations for a message without plural forms", f.Name, e.Line, len(strs))
	}
	if e.HasPlural && len(strs) < 1 {
		return fmt.Errorf("%s:%d: no translations for a message with plural forms", f.Name, e.Line)
	}
	var out []string
	out = append(out, e.lines[:e.strStart]...)
	nl := f.nl
	if l := e.lines[e.strStart]; strings.HasSuffix(l, "\r\n") {
		nl = "\r\n"
	} else if strings.HasSuffix(l, "\n") {
		nl = "\n"
	}
	indent := e.lines[e.strStart][:len(e.lines[e.strStart])-len(strings.TrimLeft(e.lines[e.strStart], " \t"))]
	var strLines []string
	for i, s := range strs {
		kw := "msgstr"
		if e.HasPlural {
			kw = fmt.Sprintf("msgstr[%d]", i)
		}
		for _, l := range wrap(kw, s, 79) {
			strLines = append(strLines, indent+l+nl)
		}
	}
	if e.strEnd == len(e.lines) && !strings.HasSuffix(e.lines[len(e.lines)-1], "\n") {
		// the file ended without a line break: so does it still
		last := strLines[len(strLines)-1]
		strLines[len(strLines)-1] = strings.TrimSuffix(last, nl)
	}
	out = append(out, strLines...)
	out = append(out, e.lines[e.strEnd:]...)
	shift := len(strLines) - (e.strEnd - e.strStart)
	e.strEnd += shift
	if !e.Fuzzy() {
		if e.flagLine >= 0 {
			l := out[e.flagLine]
			i := strings.Index(l, "#,")
			rest := strings.TrimLeft(l[i+2:], " ")
			if strings.TrimSpace(rest) == "" {
				out[e.flagLine] = l[:i] + "#, fuzzy" + rest
			} else {
				out[e.flagLine] = l[:i] + "#, fuzzy, " + rest
			}
		} else {
			at := e.kwStart
			for j := 0; j < e.kwStart; j++ {
				if t := strings.TrimSpace(out[j]); strings.HasPrefix(t, "#|") {
					at = j
					break
				}
			}
			out = append(out[:at], append([]string{"#, fuzzy" + nl}, out[at:]...)...)
			e.flagLine = at
			e.kwStart++
			e.strStart++
			e.strEnd++
		}
		e.Flags = append([]string{"fuzzy"}, e.Flags...)
	}
	e.lines = out
	e.Str = append([]string(nil), strs...)
	return nil
}

// wrap writes keyword "s" as msgcat does: on one line when s has no line
// break before its end and the line fits in width columns; else an empty
// first string and one line per piece, pieces ending after each \n and
// broken after spaces so lines fit.
func wrap(keyword, s string, width int) []string {
	var parts []string
	for rest := s; rest != ""; {
		i := strings.IndexByte(rest, '\n')
		if i < 0 || i == len(rest)-1 {
			parts = append(parts, rest)
			break
		}
		parts = append(parts, rest[:i+1])
		rest = rest[i+1:]
	}
	// As gettext's write-po.c: wrap with the keyword on the first line; if
	// that takes more than one line, start with an empty string instead.
	if len(parts) <= 1 {
		if lines := wrapParts(parts, width-utf8.RuneCountInString(keyword)-1, width); len(lines) <= 1 {
			return []string{keyword + " " + first(lines, `""`)}
		}
	}
	return append([]string{keyword + ` ""`}, wrapParts(parts, width, width)...)
}

func first(lines []string, empty string) string {
	if len(lines) == 0 {
		return empty
	}
	return lines[0]
}

// wrapParts writes each part as quoted lines broken after spaces, the
// first line at most firstWidth columns and the others width, where words
// allow.
func wrapParts(parts []string, firstWidth, width int) []string {
	var out []string
	for _, part := range parts {
		var line string
		for _, w := range splitAfterSpaces(part) {
			ew := escape(w)
			limit := width
			if len(out) == 0 {
				limit = firstWidth
			}
			if line != "" && utf8.RuneCountInString(line)+utf8.RuneCountInString(ew)+2 > limit {
				out = append(out, `"`+line+`"`)
				line = ""
			}
			line += ew
		}
		if line != "" {
			out = append(out, `"`+line+`"`)
		}
	}
	return out
}

// splitAfterSpaces cuts s after every run of spaces.
func splitAfterSpaces(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && (i+1 == len(s) || s[i+1] != ' ') {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// escape writes s as the inside of a C string literal, as gettext does.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\v':
			b.WriteString(`\v`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
