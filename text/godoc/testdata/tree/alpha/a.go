// Package alpha is test input for the corpus builder.
package alpha

import "strings"

// Reader reads.
type Reader struct{ s string }

// List is a list.
type List struct{ items []int }

// Join concatenates the elements of a. It is fast.
func Join(a []string) string {
	// secret: inner comments are not part of the code
	return strings.Join(a, "")
}

// NewReader returns a new [Reader] reading from s, see [strings.Builder].
func NewReader(s string) *Reader { return &Reader{s} }

// Greet greets J. Smith politely. Then it stops.
func Greet() string { return "hi" }

// Split splits s
// into parts
//
// and says more in a second paragraph.
func Split(s string) []string { return strings.Fields(s) }

// Len returns the number of items.
func (l *List) Len() int { return len(l.items) }

//go:noinline
func directiveOnly() int { return 1 }

// Foo foos.
func Foo() {}

func undocumented() {}

// Add adds two numbers together, in assembly.
func Add(a, b int) int

// Usage returns the usage text of the
// command, which spans lines.
func Usage() string {
	return `usage:
	alpha	[flags]`
}

// Long has more code than the test's token limit allows.
func Long() int {
	x := 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19 + 20
	return x
}

// parseHTTPHeader reads an HTTP header line.
func parseHTTPHeader(line string) (string, string) {
	k, v, _ := strings.Cut(line, ":")
	return k, v
}
