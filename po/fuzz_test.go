package po

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse: any input either is refused with a line number or reads back
// byte for byte; filling its untranslated entries gives a file that parses
// to the same messages with the new strings.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.po")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil && len(data) < 8<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("msgid \"a\"\r\nmsgstr \"\"\r\n"))
	f.Add([]byte("#~ msgid \"x\"\n#~ msgstr \"y\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Parse(data, "in.po")
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error %v is not a SyntaxError", err)
			}
			return
		}
		if !bytes.Equal(pf.Bytes(), data) {
			t.Fatalf("%q reads back as %q", data, pf.Bytes())
		}
		var want [][]string
		for _, e := range pf.Entries {
			if e.Untranslated() {
				strs := pf.Sources(e)
				for i := range strs {
					strs[i] = "Ü \"" + strs[i] + "\"\n\t\\"
				}
				if err := pf.Fill(e, strs); err != nil {
					t.Fatal(err)
				}
			}
			want = append(want, e.Str)
		}
		g, err := Parse(pf.Bytes(), "out.po")
		if err != nil {
			t.Fatalf("the filled file does not parse: %v\n%q", err, pf.Bytes())
		}
		if len(g.Entries) != len(want) {
			t.Fatalf("%d entries became %d", len(want), len(g.Entries))
		}
		for i, e := range g.Entries {
			if !slices.Equal(e.Str, want[i]) {
				t.Fatalf("entry %d reads back as %q, want %q", i, e.Str, want[i])
			}
		}
	})
}
