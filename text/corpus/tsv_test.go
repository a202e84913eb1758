package corpus

import (
	"bytes"
	"strings"
	"testing"
)

func TestReadTSV(t *testing.T) {
	in := "hello\thallo\r\n\nschön\t아름다운\nlast\tline"
	got, err := ReadTSV(strings.NewReader(in), "x.tsv")
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{"hello", "hallo"}, {"schön", "아름다운"}, {"last", "line"}}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pair %d: %q, want %q", i, got[i], want[i])
		}
	}
	var buf bytes.Buffer
	if err := WriteTSV(&buf, got); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTSV(&buf, "y")
	if err != nil || len(back) != 3 || back[1] != want[1] {
		t.Fatalf("round trip: %q %v", back, err)
	}
	if err := WriteTSV(&buf, []Pair{{"a\tb", "c"}}); err == nil {
		t.Fatal("WriteTSV accepted a tab inside a side")
	}
}

func TestReadTSVErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a\tb\nnotab\n", "x.tsv:2: missing tab"},
		{"a\tb\n\tb\n", "x.tsv:2: empty source"},
		{"a\tb\nc\td\ne\t\n", "x.tsv:3: empty target"},
		{"a\t\xff\xfe\n", "x.tsv:1: invalid UTF-8 at byte 2"},
		{"a\tb\tc\n", "x.tsv:1: more than one tab"},
		{"a\r\tb\n", "x.tsv:1: carriage return inside"},
	} {
		_, err := ReadTSV(strings.NewReader(c.in), "x.tsv")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
}

func TestReadCMUdict(t *testing.T) {
	in := ";;; comment\n" +
		"read\tR EH1 D\n" +
		"read(2)\tR IY1 D\n" +
		"a\tAH0\n" +
		"READ(3)  R IY0 D # same as read(2) without stress\n" +
		"a(2)\tEY1\n" +
		"b(x)\tB IY1\n"
	got, err := ReadCMUdict(strings.NewReader(in), "d", CMUOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Word != "read" || len(got[0].Phones) != 2 || got[1].Word != "a" ||
		len(got[1].Phones) != 2 || got[2].Word != "READ" || got[3].Word != "b(x)" {
		t.Fatalf("keep case: %q", got)
	}
	got, err = ReadCMUdict(strings.NewReader(in), "d", CMUOptions{StripStress: true, Case: LowerCase})
	if err != nil {
		t.Fatal(err)
	}
	// READ(3) lowercased joins "read"; without stress it equals read(2) and is kept once.
	if len(got) != 3 || len(got[0].Phones) != 2 || strings.Join(got[0].Phones[1], " ") != "R IY D" {
		t.Fatalf("stripped: %q", got)
	}
	pairs := G2PPairs(got)
	if len(pairs) != 5 || pairs[0] != (Pair{"read", "R EH D"}) {
		t.Fatalf("pairs: %q", pairs)
	}
	for _, c := range []struct{ in, want string }{
		{"a\tAH0\nbad\n", "d:2: missing tab"},
		{"a\tAH0\nb\t  \n", `d:2: word "b" has no phones`},
		{"\xff\tAH0\n", "d:1: invalid UTF-8"},
		// a parallel corpus read as a dictionary: its sources are sentences
		{"Open\tÖffnen\nOpen file\tDatei öffnen\n", `d:2: the word "Open file" holds white space`},
	} {
		_, err := ReadCMUdict(strings.NewReader(c.in), "d", CMUOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
}
