package vocab

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary text to the vocabulary reader: no panic, errors
// name the file and quote at most a short prefix, the specials keep their
// ids, a BOM at the start of the file changes nothing, and what loads is
// saved and loaded again unchanged.
func FuzzLoad(f *testing.F) {
	f.Add("<pad>\n<s>\n</s>\n<unk>\na\nb\n")
	f.Add("\ufeff<pad>\n<s>\n</s>\n<unk>\nschön\n아름다운")
	f.Add("<pad>\n<s>\n</s>\n<unk>\na\na\n")
	f.Add("<pad>\r\n<s>\r\n</s>\r\n<unk>\r\n")
	f.Add("<pad>\n<s>\n</s>\n<unk>\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Load(strings.NewReader(s), "f.vocab")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.vocab") && !strings.HasPrefix(err.Error(), "vocab: ") {
				t.Fatalf("error names neither the file nor the package: %v", err)
			}
			if len(err.Error()) > 600 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		for id, sym := range Specials {
			if got, ok := v.ID(sym); !ok || got != id {
				t.Fatalf("special %q has id %d", sym, got)
			}
		}
		if rest, ok := strings.CutPrefix(s, "\ufeff"); ok {
			// A leading byte-order mark changes nothing.
			w, err := Load(strings.NewReader(rest), "f.vocab")
			if err != nil || !slices.Equal(w.Symbols(), v.Symbols()) {
				t.Fatalf("without the BOM: %v", err)
			}
		}
		var buf bytes.Buffer
		if err := v.Save(&buf); err != nil {
			t.Fatalf("cannot save what was loaded: %v", err)
		}
		again, err := Load(&buf, "g.vocab")
		if err != nil || !slices.Equal(again.Symbols(), v.Symbols()) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
