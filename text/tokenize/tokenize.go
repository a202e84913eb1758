// Package tokenize splits text into the symbols a model reads and joins
// them back: characters, whitespace-separated words, and byte-pair encoding
// (Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words
// with Subword Units") learned from a corpus.
//
// Char and BPE are exact: Detokenize(Tokenize(s)) == s for every string,
// including whitespace runs, leading and trailing spaces, the marker
// character itself and invalid UTF-8. They show a space as the visible
// marker "▁" (U+2581), as SentencePiece does (Kudo & Richardson 2018); a
// literal "▁" in the text is escaped as "\uE000▁" and a literal U+E000 as
// "\uE000\uE000" (U+E000 is a private-use code point), and each byte of an
// invalid UTF-8 sequence is a symbol of its own.
package tokenize

import (
	"strings"
	"unicode/utf8"
)

// Tokenizer turns text into tokens and tokens back into text.
type Tokenizer interface {
	Tokenize(text string) []string
	Detokenize(tokens []string) string
}

const (
	// Space is the visible marker that stands for one space (U+2581).
	Space = "▁"
	// escape starts the two-rune symbols for a literal Space or escape.
	escape = "\uE000"

	spaceRune  = '▁'
	escapeRune = '\uE000'
)

// symbols splits text into its base symbols: one per code point, with ' '
// shown as Space, a literal Space or escape as a two-rune escaped symbol,
// and each byte of invalid UTF-8 alone.
func symbols(text string) []string {
	out := make([]string, 0, len(text))
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		switch r {
		case ' ':
			out = append(out, Space)
		case spaceRune:
			out = append(out, escape+Space)
		case escapeRune:
			out = append(out, escape+escape)
		default:
			out = append(out, text[i:i+n]) // also a lone invalid byte (n == 1)
		}
		i += n
	}
	return out
}

// decode is the inverse of symbols on the concatenation of symbols.
func decode(s string) string {
	if !strings.Contains(s, Space) && !strings.Contains(s, escape) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch r {
		case spaceRune:
			b.WriteByte(' ')
		case escapeRune:
			if i+n < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[i+n:])
				if r2 == spaceRune || r2 == escapeRune {
					b.WriteString(s[i+n : i+n+n2])
					n += n2
					break
				}
			}
			b.WriteString(s[i : i+n]) // a dangling escape from hand-made tokens: keep it
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Char splits text into Unicode code points; a space becomes the token
// Space ("▁"). Exact on every string.
type Char struct{}

// Tokenize returns the code points of text, spaces as Space.
func (Char) Tokenize(text string) []string { return symbols(text) }

// Detokenize joins the tokens and turns Space back into spaces.
func (Char) Detokenize(tokens []string) string { return decode(strings.Join(tokens, "")) }

// Word splits text at runs of Unicode white space. It is exact only for
// text whose words are separated by single spaces with none at either end;
// other white space comes back as single spaces.
type Word struct{}

// Tokenize returns the whitespace-separated words of text.
func (Word) Tokenize(text string) []string { return strings.Fields(text) }

// Detokenize joins tokens with single spaces.
func (Word) Detokenize(tokens []string) string { return strings.Join(tokens, " ") }
