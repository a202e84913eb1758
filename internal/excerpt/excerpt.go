// Package excerpt shortens user input for error messages: an error about a
// 5 MB line names the line by its first few dozen characters and its length,
// never by the whole of it.
package excerpt

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxRunes is how many characters of an offending input an error shows.
const MaxRunes = 40

// Quote returns s as a Go-quoted string when it is short; a longer s is cut
// after MaxRunes characters (never inside a UTF-8 sequence) and followed by
// its total length, e.g. "abcd…"… (5242880 bytes).
func Quote(s string) string {
	if utf8.RuneCountInString(s) <= MaxRunes {
		return strconv.Quote(s)
	}
	cut, n := 0, 0
	for cut < len(s) && n < MaxRunes {
		_, size := utf8.DecodeRuneInString(s[cut:])
		cut += size
		n++
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
