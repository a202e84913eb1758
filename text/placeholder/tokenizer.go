package placeholder

import (
	"strings"

	"github.com/qkv-dev/qkv/text/tokenize"
)

// Tokenizer wraps a tokenizer so that markers are tokens of their own,
// never split or merged: the text between markers goes to Inner piece by
// piece. With an exact Inner (Char, BPE) it is exact on protected text; with
// Word, markers are words and Detokenize joins all tokens with spaces.
type Tokenizer struct {
	Inner tokenize.Tokenizer
}

// Tokenize returns the tokens of protected text.
func (t Tokenizer) Tokenize(text string) []string {
	var out []string
	for _, part := range Split(text) {
		if _, ok := ParseMarker(part); ok {
			out = append(out, part)
			continue
		}
		out = append(out, t.Inner.Tokenize(part)...)
	}
	return out
}

// Detokenize joins tokens: each run between markers is detokenized by
// Inner on its own, as Tokenize tokenized it.
func (t Tokenizer) Detokenize(tokens []string) string {
	if _, ok := t.Inner.(tokenize.Word); ok {
		return t.Inner.Detokenize(tokens)
	}
	var b strings.Builder
	start := 0
	for i, tok := range tokens {
		if _, ok := ParseMarker(tok); ok {
			b.WriteString(t.Inner.Detokenize(tokens[start:i]))
			b.WriteString(tok)
			start = i + 1
		}
	}
	b.WriteString(t.Inner.Detokenize(tokens[start:]))
	return b.String()
}

// TextPieces returns the text between the markers of protected text, for
// learning a subword model that never sees the markers.
func TextPieces(text string) []string {
	var out []string
	for _, part := range Split(text) {
		if _, ok := ParseMarker(part); !ok {
			out = append(out, part)
		}
	}
	return out
}
