package vocab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadByteOrderMark: a vocabulary saved by an editor that adds a UTF-8
// BOM loads, and the mark is not part of any symbol (it used to make the
// first line "\ufeff<pad>", refused as not the padding symbol).
func TestLoadByteOrderMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "src.vocab")
	if err := os.WriteFile(path, []byte("\ufeff<pad>\n<s>\n</s>\n<unk>\na\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range v.Symbols() {
		if strings.Contains(s, "\ufeff") {
			t.Errorf("symbol %q holds the byte-order mark", s)
		}
	}
	if id, ok := v.ID(PadSymbol); !ok || id != PAD || v.Len() != 6 {
		t.Errorf("<pad> = %d, %v; %d symbols", id, ok, v.Len())
	}
	// Elsewhere it is an ordinary symbol.
	v, err = Load(strings.NewReader("<pad>\n<s>\n</s>\n<unk>\n\ufeffa\n"), "v")
	if err != nil || v.Symbol(4) != "\ufeffa" {
		t.Errorf("BOM on line 5: %v, %v", v.Symbols(), err)
	}
}

// TestLongSymbolErrorsAreShort: errors about a 5 MB symbol quote a short
// prefix of it.
func TestLongSymbolErrorsAreShort(t *testing.T) {
	long := strings.Repeat("x", 5<<20)
	for _, tc := range []struct{ name, text, want string }{
		{"special", long + "\n", `v:1: want special symbol "<pad>", found "xxx`},
		{"repeat", "<pad>\n<s>\n</s>\n<unk>\n" + long + "\n" + long + "\n", "v:6: symbol"},
		{"carriage return", "<pad>\n<s>\n</s>\n<unk>\n" + long + "\r\n", "carriage return"},
	} {
		_, err := Load(strings.NewReader(tc.text), "v")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bytes)") || len(err.Error()) > 200 {
			t.Errorf("%s: error of %d bytes: %.200v", tc.name, len(errString(err)), err)
		}
	}
	v, _ := New([]string{"a"})
	if _, err := v.EncodeStrict([]string{"a", long}); err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "at position 1") {
		t.Errorf("EncodeStrict: %.200v", err)
	}
	if _, err := New([]string{long, long}); err == nil || len(err.Error()) > 200 {
		t.Errorf("New: %.200v", err)
	}
	bad, _ := New([]string{long + "\n"})
	if err := bad.Save(&strings.Builder{}); err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "line break") {
		t.Errorf("Save: %.200v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
