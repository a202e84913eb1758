package corpus

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qkv-dev/qkv/internal/excerpt"
)

// Message is one entry of a gettext catalogue.
type Message struct {
	Context string // msgctxt ("" when absent)
	ID      string // msgid; "" is the header entry
	Plural  string // msgid_plural ("" when the entry has no plural forms)
	// Translations holds msgstr, or msgstr[0], msgstr[1], … for plural entries.
	Translations []string
	Fuzzy        bool // "#, fuzzy" in a .po file (.mo files hold no fuzzy entries)
}

const (
	moMagic   = 0x950412de
	ctxtSep   = "\x04" // between msgctxt and msgid in a .mo key
	pluralSep = "\x00" // between msgid and msgid_plural, and between plural translations
)

// ReadMO parses a binary .mo catalogue (GNU gettext manual, "The Format of
// GNU MO Files") in either byte order. name is used in errors. Every offset
// and length is checked against the data, so arbitrary bytes give an error,
// never a panic or a huge allocation.
func ReadMO(data []byte, name string) ([]Message, error) {
	if len(data) < 20 {
		return nil, fmt.Errorf("%s: %d bytes, too short for a .mo header", name, len(data))
	}
	var bo binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(data) == moMagic:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint32(data) == moMagic:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%s: not a .mo file (magic %#08x)", name, binary.LittleEndian.Uint32(data))
	}
	if rev := bo.Uint32(data[4:]); rev>>16 > 1 {
		return nil, fmt.Errorf("%s: unsupported .mo major revision %d", name, rev>>16)
	}
	n := uint64(bo.Uint32(data[8:]))
	origTab := uint64(bo.Uint32(data[12:]))
	transTab := uint64(bo.Uint32(data[16:]))
	size := uint64(len(data))
	for _, tab := range []struct {
		what string
		off  uint64
	}{{"original", origTab}, {"translation", transTab}} {
		if tab.off > size || n*8 > size-tab.off {
			return nil, fmt.Errorf("%s: %s string table (%d entries at offset %d) runs past the end of the file (%d bytes)", name, tab.what, n, tab.off, size)
		}
	}
	str := func(tab uint64, i uint64, what string) (string, error) {
		e := tab + 8*i
		l, off := uint64(bo.Uint32(data[e:])), uint64(bo.Uint32(data[e+4:]))
		if off > size || l > size-off {
			return "", fmt.Errorf("%s: %s string %d (%d bytes at offset %d) runs past the end of the file (%d bytes)", name, what, i, l, off, size)
		}
		return string(data[off : off+l]), nil
	}
	msgs := make([]Message, 0, n)
	for i := uint64(0); i < n; i++ {
		key, err := str(origTab, i, "original")
		if err != nil {
			return nil, err
		}
		val, err := str(transTab, i, "translation")
		if err != nil {
			return nil, err
		}
		var m Message
		if c, rest, ok := strings.Cut(key, ctxtSep); ok {
			m.Context, key = c, rest
		}
		m.ID, m.Plural, _ = strings.Cut(key, pluralSep)
		if m.Plural != "" {
			m.Translations = strings.Split(val, pluralSep)
		} else {
			m.Translations = []string{val}
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// ReadMOFile reads and parses a .mo file.
func ReadMOFile(path string) ([]Message, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadMO(data, path)
}

// ReadPO parses a .po catalogue (GNU gettext manual, "The Format of PO
// Files"): msgctxt, msgid, msgid_plural, msgstr and msgstr[N], strings
// continued over several lines, C escapes (\n \t \" \\ \a \b \f \v \r,
// octal and \x hex), the "#, fuzzy" flag. Obsolete entries ("#~") are
// skipped. Errors name the file and line.
func ReadPO(r io.Reader, name string) ([]Message, error) {
	var (
		msgs    []Message
		cur     Message
		hasID   bool
		hasStr  bool
		idLine  int
		fuzzy   bool
		target  *string         // the string continuation lines extend
		plurals map[int]*string // msgstr[N]
	)
	flush := func() error {
		if hasID {
			if !hasStr {
				return fmt.Errorf("%s:%d: msgid without msgstr", name, idLine)
			}
			if plurals != nil {
				cur.Translations = make([]string, len(plurals))
				for k, v := range plurals {
					if k >= len(plurals) {
						return fmt.Errorf("%s:%d: plural forms are not numbered 0..%d", name, idLine, len(plurals)-1)
					}
					cur.Translations[k] = *v
				}
			}
			cur.Fuzzy = fuzzy
			msgs = append(msgs, cur)
		}
		cur, hasID, hasStr, fuzzy, target, plurals = Message{}, false, false, false, nil, nil
		return nil
	}
	err := eachLine(r, name, func(lineNo int, b []byte) error {
		line := strings.TrimSpace(string(b))
		errf := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, lineNo, fmt.Sprintf(format, a...))
		}
		switch {
		case line == "":
			return flush()
		case strings.HasPrefix(line, "#"):
			if hasID { // comments start the next entry
				if err := flush(); err != nil {
					return err
				}
			}
			if strings.HasPrefix(line, "#,") {
				for _, f := range strings.Split(line[2:], ",") {
					if strings.TrimSpace(f) == "fuzzy" {
						fuzzy = true
					}
				}
			}
			target = nil
			return nil
		case strings.HasPrefix(line, `"`):
			if target == nil {
				return errf("string continuation outside an entry")
			}
			s, err := UnquotePO(line)
			if err != nil {
				return errf("%v", err)
			}
			*target += s
			return nil
		}
		kw, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		s, err := UnquotePO(rest)
		if err != nil {
			return errf("%s: %v", keyword(kw), err)
		}
		switch {
		case kw == "msgctxt":
			if hasID {
				if err := flush(); err != nil {
					return err
				}
			}
			cur.Context = s
			target = &cur.Context
		case kw == "msgid":
			if hasID {
				if err := flush(); err != nil {
					return err
				}
			}
			cur.ID, hasID, idLine = s, true, lineNo
			target = &cur.ID
		case kw == "msgid_plural":
			if !hasID || hasStr {
				return errf("msgid_plural must follow msgid")
			}
			cur.Plural = s
			target = &cur.Plural
		case kw == "msgstr":
			if !hasID || hasStr {
				return errf("msgstr must follow msgid (once)")
			}
			if cur.Plural != "" {
				return errf("entry with msgid_plural needs msgstr[N], not msgstr")
			}
			cur.Translations = []string{s}
			hasStr = true
			target = &cur.Translations[0]
		case strings.HasPrefix(kw, "msgstr[") && strings.HasSuffix(kw, "]"):
			k, err := strconv.Atoi(kw[len("msgstr[") : len(kw)-1])
			if err != nil || k < 0 || k > 1000 {
				return errf("bad plural index in %s", keyword(kw))
			}
			if !hasID || cur.Plural == "" {
				return errf("%s without msgid_plural", keyword(kw))
			}
			if plurals == nil {
				plurals = map[int]*string{}
			}
			if _, dup := plurals[k]; dup {
				return errf("%s given twice", keyword(kw))
			}
			target = new(string)
			*target = s
			plurals[k] = target
			hasStr = true
		default:
			return errf("unknown keyword %s", excerpt.Quote(kw))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return msgs, nil
}

// keyword shows the first word of a .po line in an error: as it is when it
// is short and plain (msgstr[0]), quoted and cut when it is not.
func keyword(kw string) string {
	if len(kw) > excerpt.MaxRunes || strings.IndexFunc(kw, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' }) >= 0 {
		return excerpt.Quote(kw)
	}
	return kw
}

// UnquotePO decodes one quoted PO string with C escapes (\n, \t, \",
// \\, octal and hex), as PO files write them; package po reads with it too.
func UnquotePO(s string) (string, error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", fmt.Errorf("want a double-quoted string, found %s", excerpt.Quote(s))
	}
	s = s[1 : len(s)-1]
	if !strings.ContainsAny(s, `\"`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			return "", fmt.Errorf("unescaped quote inside a string")
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("string ends in a lone backslash")
		}
		switch c = s[i]; c {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '\\', '"', '\'', '?':
			b.WriteByte(c)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, j := 0, i
			for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
				v = v*8 + int(s[j]-'0')
			}
			if v > 255 {
				return "", fmt.Errorf("octal escape \\%s out of range", s[i:j])
			}
			b.WriteByte(byte(v))
			i = j - 1
		case 'x':
			v, j := 0, i+1
			for ; j < len(s) && j < i+3 && isHex(s[j]); j++ {
				v = v*16 + hexVal(s[j])
			}
			if j == i+1 {
				return "", fmt.Errorf("\\x without hex digits")
			}
			b.WriteByte(byte(v))
			i = j - 1
		default:
			return "", fmt.Errorf("unknown escape \\%c", c)
		}
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c <= '9':
		return int(c - '0')
	case c >= 'a':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

// ReadPOFile reads and parses a .po file.
func ReadPOFile(path string) ([]Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadPO(bufio.NewReader(f), path)
}

// ReadCatalogue reads a .po file, or a .mo file for any other extension.
func ReadCatalogue(path string) ([]Message, error) {
	if filepath.Ext(path) == ".po" {
		return ReadPOFile(path)
	}
	return ReadMOFile(path)
}
