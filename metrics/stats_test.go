package metrics

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// Scoring a corpus in parts, in any order, and adding the parts' statistics
// gives the corpus score exactly: the property a distributed scorer (qkv
// beam eval) relies on. Checked on the peer-verified files, cut at random
// places and summed in a shuffled order.
func TestSegmentStatsSumToCorpus(t *testing.T) {
	read := func(name string) []string {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	hyp, r1, r2 := read("hyp.txt"), read("ref1.txt"), read("ref2.txt")
	r2[3] = "" // a missing reference
	refs, err := Transpose([][]string{r1, r2})
	if err != nil {
		t.Fatal(err)
	}
	wantB, _ := BLEU(hyp, refs)
	wantC, _ := ChrF(hyp, refs)
	toks := func(s string) []string { return strings.Fields(s) }
	th := make([][]string, len(hyp))
	tr := make([][][]string, len(hyp))
	for i := range hyp {
		th[i] = toks(hyp[i])
		tr[i] = [][]string{toks(r1[i]), toks(refs[i][1])}
	}
	th[2] = tr[2][0] // one sequence right, so WER is not 100
	wantW, _ := WER(th, tr)
	wantP, _ := PER(th, tr)

	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 5 {
		order := rng.Perm(len(hyp))
		var b BLEUStats
		var c ChrFStats
		var e ErrorStats
		// Sum each part separately, then the parts: as workers and a combiner do.
		cut := rng.IntN(len(order))
		for _, part := range [][]int{order[:cut], order[cut:]} {
			var pb BLEUStats
			var pc ChrFStats
			var pe ErrorStats
			for _, i := range part {
				sb, err := BLEUSegment(hyp[i], refs[i])
				if err != nil {
					t.Fatal(err)
				}
				sc, err := ChrFSegment(hyp[i], refs[i])
				if err != nil {
					t.Fatal(err)
				}
				se, err := ErrorSegment(th[i], tr[i])
				if err != nil {
					t.Fatal(err)
				}
				pb, pc, pe = pb.Add(sb), pc.Add(sc), pe.Add(se)
			}
			b, c, e = pb.Add(b), pc.Add(c), pe.Add(e)
		}
		if got := b.Score(); got != wantB {
			t.Errorf("trial %d: BLEU from statistics %+v, corpus BLEU %+v", trial, got, wantB)
		}
		if got := c.Score(); got != wantC {
			t.Errorf("trial %d: chrF from statistics %+v, corpus chrF %+v", trial, got, wantC)
		}
		if got := e.WER(); got != wantW {
			t.Errorf("trial %d: WER from statistics %+v, corpus WER %+v", trial, got, wantW)
		}
		if got := e.PER(); got != wantP {
			t.Errorf("trial %d: PER from statistics %+v, corpus PER %+v", trial, got, wantP)
		}
	}
	if wantW.Rate == 0 || wantW.Rate == 100 || wantB.Score == 0 {
		t.Fatalf("degenerate corpus: WER %v, BLEU %v", wantW.Rate, wantB.Score)
	}
	if _, err := BLEUSegment("x", []string{""}); err == nil {
		t.Error("BLEUSegment accepted a segment with no reference")
	}
	if _, err := ErrorSegment([]string{"x"}, nil); err == nil {
		t.Error("ErrorSegment accepted a segment with no reference")
	}
}
