package cmudict

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"testing"

	"github.com/qkv-dev/qkv/text/corpus"
)

// The embedded file is the shared TSV, byte for byte.
func TestEmbeddedIsTheSharedTSV(t *testing.T) {
	rc, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatal(err)
	}
	const want = "80afeae7e35244c1643388708885b376622db9e78e0413b8359fddfaf3def772"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("sha256 %s (%d bytes), want %s", got, n, want)
	}
	if fi, err := os.Stat("cmudict.tsv.gz"); err != nil || fi.Size() > 1500000 {
		t.Fatalf("compressed file: %v, %v (want < 1.5 MB)", fi, err)
	}
	if len(License) < 1000 {
		t.Fatalf("licence text missing")
	}
}

func TestEntries(t *testing.T) {
	rc, _ := Open()
	lines := 0
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		lines++
	}
	rc.Close()
	if lines != 135155 {
		t.Fatalf("%d lines, want 135155", lines)
	}
	prons, err := Entries(corpus.CMUOptions{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	byWord := map[string][][]string{}
	for _, p := range prons {
		total += len(p.Phones)
		byWord[p.Word] = p.Phones
	}
	if total != lines {
		t.Fatalf("%d pronunciations in %d words, want one per line (%d)", total, len(prons), lines)
	}
	if got := byWord["a"]; len(got) != 2 || got[0][0] != "AH0" || got[1][0] != "EY1" {
		t.Fatalf("a: %v", got)
	}
	stripped, err := Entries(corpus.CMUOptions{StripStress: true, Case: corpus.UpperCase})
	if err != nil {
		t.Fatal(err)
	}
	if len(stripped) != len(prons) || stripped[len(stripped)/2].Word == prons[len(prons)/2].Word {
		t.Fatalf("uppercasing: %q vs %q", stripped[len(stripped)/2].Word, prons[len(prons)/2].Word)
	}
	for _, p := range stripped {
		for _, seq := range p.Phones {
			for _, ph := range seq {
				if c := ph[len(ph)-1]; c >= '0' && c <= '9' {
					t.Fatalf("%s: stress left in %q", p.Word, ph)
				}
			}
		}
	}
}
