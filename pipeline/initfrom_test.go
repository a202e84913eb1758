package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/text/corpus"
)

// TestPrepareFrom: a run that starts from a saved BPE model encodes new
// pairs exactly as the model does (its merges and vocabularies, not ones
// learned from the new pairs), saves the model's merges and vocabularies
// byte for byte, counts the symbols the model lacks as <unk>, keeps the
// run's own length limits, and refuses to read text otherwise.
func TestPrepareFrom(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokBPE, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 40}
	dir := savedDir(t, rnnsearchTiny, d, pairs)
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	fresh := []corpus.Pair{{Source: "Open the file", Target: "Datei öffnen"}, {Source: "Quit", Target: "Beenden"}, {Source: "Zq", Target: "Zq"}}
	run := d
	run.MaxSrcLen, run.MaxTgtLen = 30, 30
	pr, err := p.PrepareFrom(fresh, fresh[:1], run)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Data.MaxSrcLen != 30 || pr.Src != p.Src || pr.Tgt != p.Tgt {
		t.Errorf("the run's data settings %+v, or its vocabularies are not the model's", pr.Data)
	}
	for i, pair := range fresh {
		src, err := p.EncodeSource(pair.Source)
		if err != nil && !strings.Contains(err.Error(), "unknown symbol") {
			t.Fatal(err)
		}
		if err == nil && !slices.Equal(pr.Train[i].Src, src) {
			t.Errorf("%q: encoded %v for the run, %v by the model", pair.Source, pr.Train[i].Src, src)
		}
	}
	unk := 0
	for _, pair := range fresh {
		for _, s := range []struct {
			text string
			has  func(string) bool
		}{{pair.Source, p.Src.Has}, {pair.Target, p.Tgt.Has}} {
			for _, r := range s.text {
				if !s.has(string(r)) && r != ' ' {
					unk++
				}
			}
		}
	}
	if unk == 0 || pr.Unknown < 1 {
		t.Fatalf("the fresh pairs should hold symbols the model lacks: %d letters, %d <unk> counted", unk, pr.Unknown)
	}
	out := t.TempDir()
	if err := pr.Save(out, p.Config.Model, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{SrcVocabFile, TgtVocabFile, SrcBPEFile} {
		a, errA := os.ReadFile(filepath.Join(dir, f))
		b, errB := os.ReadFile(filepath.Join(out, f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: the run's differs from the model's (%v, %v)", f, errA, errB)
		}
	}
	other := run
	other.Lowercase = true
	if _, err := p.PrepareFrom(fresh, nil, other); err == nil || !strings.Contains(err.Error(), "reads text otherwise") {
		t.Errorf("lowercasing a model that does not: %v", err)
	}
}
