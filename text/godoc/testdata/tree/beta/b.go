package beta

import "strings"

// Join glues the elements of a together, the same code as alpha's.
func Join(a []string) string {
	return strings.Join(a,
		"")
}

// Twice returns s twice over.
func Twice(s string) string { return s + s }
