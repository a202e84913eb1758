package pipeline

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/qkv-dev/qkv/text/corpus"
)

// TestLengthLimitCoverage measures, on real corpora, how many references
// a decoding limit of ⌊a·|source|⌋ + b steps (EOS counted) would cut: the
// figures behind DefaultMaxLenA and DefaultMaxLenB (docs/reliability.md).
// It runs only when pointed at the data:
//
//	QKV_G2P_DIR=../shared/data/g2p QKV_GETTEXT_DE_DIR=corpus/de \
//	  go test -run TestLengthLimitCoverage -v ./pipeline/
//
// (QKV_GETTEXT_DE_DIR is what qkv data gettext --lang de --out corpus wrote.)
func TestLengthLimitCoverage(t *testing.T) {
	g2p, de := os.Getenv("QKV_G2P_DIR"), os.Getenv("QKV_GETTEXT_DE_DIR")
	if g2p == "" || de == "" {
		t.Skip("set QKV_G2P_DIR and QKV_GETTEXT_DE_DIR to measure")
	}
	type ab struct {
		a float64
		b int
	}
	limits := []ab{{0, 200}, {3, 0}, {1, 10}, {1.5, 10}, {2, 5}, {2, 10}}
	for _, c := range []struct {
		name, train, test string
		d                 DataConfig
	}{
		{"CMUdict G2P (char → phones)", filepath.Join(g2p, "cmudict-g014b2b.train.tsv"), filepath.Join(g2p, "cmudict-g014b2b.test.tsv"),
			DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord, Lowercase: true, MaxSrcLen: MaxSeqLen, MaxTgtLen: MaxSeqLen}},
		{"gettext En→De (BPE 8000 each side)", filepath.Join(de, "train.tsv"), filepath.Join(de, "test.tsv"),
			DataConfig{SrcTokenizer: TokBPE, TgtTokenizer: TokBPE, MaxSrcLen: MaxSeqLen, MaxTgtLen: MaxSeqLen}},
	} {
		tr, err := corpus.ReadTSVFile(c.train)
		if err != nil {
			t.Fatal(err)
		}
		te, err := corpus.ReadTSVFile(c.test)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := Prepare(tr, nil, PrepareOptions{Data: c.d, BPEMerges: 8000})
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []struct {
			name  string
			pairs []corpus.Pair
		}{{"train", tr}, {"test", te}} {
			line := fmt.Sprintf("| %s, %s (%d pairs) |", c.name, set.name, len(set.pairs))
			for _, l := range limits {
				over := 0
				for _, p := range set.pairs {
					n := len(c.d.SourceTokens(pr.SrcTok, p.Source))
					m := len(c.d.TargetTokens(pr.TgtTok, p.Source, p.Target))
					if float64(m+1) > math.Floor(l.a*float64(n))+float64(l.b) {
						over++
					}
				}
				line += fmt.Sprintf(" %d |", over)
			}
			fmt.Println(line)
		}
	}
	head := "| data |"
	for _, l := range limits {
		head += fmt.Sprintf(" a=%g b=%d |", l.a, l.b)
	}
	fmt.Println(head)
}
