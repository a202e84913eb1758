package excerpt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	if got := Quote("short\tline"); got != `"short\tline"` {
		t.Errorf("short: %s", got)
	}
	long := strings.Repeat("ä", 5<<20)
	got := Quote(long)
	if len(got) > 200 || !strings.Contains(got, "(10485760 bytes)") || !utf8.ValidString(got) {
		t.Errorf("long: %.300s", got)
	}
	if want := `"` + strings.Repeat("ä", MaxRunes) + `"…`; !strings.HasPrefix(got, want) {
		t.Errorf("long: %s does not start with %s", got, want)
	}
	if got := Quote(strings.Repeat("x", MaxRunes)); strings.Contains(got, "…") {
		t.Errorf("a line of exactly MaxRunes characters was cut: %s", got)
	}
}
