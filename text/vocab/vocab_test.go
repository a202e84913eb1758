package vocab

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	c := Counts{}
	c.Add(strings.Fields("der Bär läuft der Bär schläft 곰 곰 곰 </s> x"))
	v := Build(c, 2, 0)
	// counts: 곰 3, der 2, Bär 2 (ties in byte order: "Bär" < "der"), the rest 1.
	want := []string{"<pad>", "<s>", "</s>", "<unk>", "곰", "Bär", "der"}
	if !slices.Equal(v.Symbols(), want) {
		t.Fatalf("symbols %q, want %q", v.Symbols(), want)
	}
	if PAD != 0 || BOS != 1 || EOS != 2 || UNK != 3 {
		t.Fatal("special ids moved")
	}
	if got := Build(c, 1, 6).Symbols(); !slices.Equal(got, want[:6]) {
		t.Fatalf("max size 6: %q", got)
	}
	if got := Build(c, 1, 2).Len(); got != 4 {
		t.Fatalf("max size below the specials: %d symbols", got)
	}
	ids := v.Encode([]string{"der", "Hund", "</s>", "곰"})
	if !slices.Equal(ids, []int{6, UNK, EOS, 4}) {
		t.Fatalf("Encode = %v", ids)
	}
	if _, err := v.EncodeStrict([]string{"der", "Hund"}); err == nil || !strings.Contains(err.Error(), `"Hund" at position 1`) {
		t.Fatalf("EncodeStrict: %v", err)
	}
	if got := v.Decode([]int{BOS, 6, 5, EOS, PAD, 99}); !slices.Equal(got, []string{"<s>", "der", "Bär", "</s>", "<pad>", "<unk>"}) {
		t.Fatalf("Decode = %q", got)
	}
	if got := Trim([]int{BOS, 6, PAD, 5, EOS, 4}); !slices.Equal(got, []int{6, 5}) {
		t.Fatalf("Trim = %v", got)
	}
}

func TestSaveLoad(t *testing.T) {
	v, err := New([]string{"▁der", "Bär", "\t", "ß"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := v.Save(&buf); err != nil {
		t.Fatal(err)
	}
	l, err := Load(&buf, "v.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Symbols(), v.Symbols()) {
		t.Fatalf("%q != %q", l.Symbols(), v.Symbols())
	}
	bad, _ := New([]string{"a\nb"})
	if err := bad.Save(&buf); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Fatalf("saved a symbol with a line break: %v", err)
	}
	for _, c := range []struct{ in, want string }{
		{"", "v.txt: 0 lines"},
		{"<pad>\n<s>\n", "v.txt: 2 lines"},
		{"<pad>\n<unk>\n</s>\n<unk>\n", `v.txt:2: want special symbol "<s>"`},
		{"<pad>\n<s>\n</s>\n<unk>\na\n\nb\n", "v.txt:6: empty symbol"},
		{"<pad>\n<s>\n</s>\n<unk>\na\nb\na\n", `v.txt:7: symbol "a" repeats line 5`},
		{"<pad>\r\n<s>\r\n", `v.txt:1: want special symbol "<pad>", found "<pad>\r"`},
		{"<pad>\n<s>\n</s>\n<unk>\na\r\n", "carriage return"},
	} {
		_, err := Load(strings.NewReader(c.in), "v.txt")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
	// A last line without "\n" is accepted.
	if l, err := Load(strings.NewReader("<pad>\n<s>\n</s>\n<unk>\nz"), "v"); err != nil || l.Len() != 5 {
		t.Fatalf("no final newline: %v", err)
	}
	if _, err := New([]string{"<unk>"}); err == nil {
		t.Fatal("New accepted a special symbol")
	}
}
