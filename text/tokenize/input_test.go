package tokenize

import (
	"strings"
	"testing"
)

// TestLoadBPEByteOrderMark: merges saved by an editor that adds a UTF-8 BOM
// load (the header used to be refused as "not a qkv BPE merges file").
func TestLoadBPEByteOrderMark(t *testing.T) {
	b, err := LoadBPE(strings.NewReader("\ufeff"+bpeHeader+"\n\"a\" \"b\"\n"), "m.bpe")
	if err != nil || len(b.Merges()) != 1 || b.Merges()[0] != (Merge{"a", "b"}) {
		t.Fatalf("%v, %v", b, err)
	}
	// On another line a BOM is not a mark: unquoted text is an error.
	if _, err := LoadBPE(strings.NewReader(bpeHeader+"\n\ufeff\"a\" \"b\"\n"), "m.bpe"); err == nil {
		t.Error("a BOM before a merge was accepted")
	}
}

// TestLoadBPELongLineErrorsAreShort: an error about a 5 MB line of a merges
// file quotes a short prefix of it.
func TestLoadBPELongLineErrorsAreShort(t *testing.T) {
	long := strings.Repeat("x", 5<<20)
	for _, tc := range []struct{ name, line, want string }{
		{"unquoted", long, "want a double-quoted symbol at"},
		{"trailing text", `"a" "b"` + long, "unexpected text"},
		{"second unquoted", `"a" ` + long, "want a double-quoted symbol at"},
		{"longer than the line limit", `"a" "` + strings.Repeat("y", 17<<20) + `"`, "line longer than 16 MiB"},
	} {
		_, err := LoadBPE(strings.NewReader(bpeHeader+"\n"+tc.line+"\n"), "m.bpe")
		if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "m.bpe:2: ") || !strings.Contains(err.Error(), tc.want) {
			n := 0
			if err != nil {
				n = len(err.Error())
			}
			t.Errorf("%s: error of %d bytes: %.200v", tc.name, n, err)
		}
	}
}
