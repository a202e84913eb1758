package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/vocab"
	"github.com/qkv-dev/qkv/train"
)

// identifierPairs makes n pairs of a task copy attention solves: 5–8
// words, filler from a small set with two or three identifiers among them
// (named prefix0 … prefix<pool−1>); the target is the identifiers in order.
func identifierPairs(n, pool int, prefix string, seed uint64) []corpus.Pair {
	rng := rand.New(rand.NewPCG(seed, 1))
	filler := strings.Fields("the a of to is in returns sets gets value")
	out := make([]corpus.Pair, n)
	for e := range out {
		words := make([]string, 5+rng.IntN(4))
		for i := range words {
			words[i] = filler[rng.IntN(len(filler))]
		}
		var ids []string
		for _, i := range rng.Perm(len(words))[:2+rng.IntN(2)] {
			words[i] = fmt.Sprintf("%s%d", prefix, rng.IntN(pool))
		}
		for _, w := range words {
			if !strings.Contains(filler[0]+" "+strings.Join(filler, " "), w) {
				ids = append(ids, w)
			}
		}
		out[e] = corpus.Pair{Source: strings.Join(words, " "), Target: strings.Join(ids, " ")}
	}
	return out
}

// TestCopyRestoresUnknownWords trains a small copy-attention RNNsearch on
// identifierPairs, where rare identifiers are <unk> (as a vocabulary limit
// makes rare names), and decodes sources whose identifiers it never saw.
// Decoded with AllowUnk, the outputs show <unk> where the model copied one;
// decoded normally, the same outputs (greedy and beam) must come back with
// every <unk> replaced by one of the source's unknown words, and none left;
// and enough of them must be exactly the target, which without the
// restoration none is.
func TestCopyRestoresUnknownWords(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	d := DataConfig{SrcTokenizer: TokWord, TgtTokenizer: TokWord, MaxSrcLen: 16, MaxTgtLen: 8, JointVocab: true}
	// A pool of 2,000 identifiers for 800 pairs: most occur once, and
	// --min-freq 2 reads those as <unk> on both sides: the model learns to
	// copy <unk>.
	pr, err := Prepare(identifierPairs(800, 2000, "getName", 1), identifierPairs(20, 2000, "getName", 2), PrepareOptions{Data: d, MinFreq: 2})
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{Arch: model.ArchRNNSearch, SrcVocab: pr.Src.Len(), TgtVocab: pr.Tgt.Len(), Embed: 32, Hidden: 64, Layers: 1, AttnDim: 32, Copy: true, Seed: 1}
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr, err := train.New(m, pr.Train, pr.Valid, dir, train.Options{MaxTokens: 1000, MaxSteps: 300, Schedule: "constant", LR: 3e-3, ClipNorm: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := pr.Pipeline(dir, m)
	test := identifierPairs(200, 500, "novelIdent", 3) // every identifier unknown
	lines := make([]string, len(test))
	for i, pr := range test {
		lines[i] = pr.Source
	}
	unk := vocab.Specials[vocab.UNK]
	for _, so := range []search.Options{{Beam: 1}, {Beam: 4, NBest: 2}} {
		raw := so
		raw.AllowUnk = true
		shown := p.Translate(lines, Options{Search: raw})
		right, rawRight := 0, 0
		for i, r := range p.Translate(lines, Options{Search: so}) {
			if r.Err != nil || shown[i].Err != nil {
				t.Fatalf("line %d: %v %v", i, r.Err, shown[i].Err)
			}
			if len(r.Hyps) != len(shown[i].Hyps) {
				t.Fatalf("line %d: %d outputs, %d with AllowUnk", i, len(r.Hyps), len(shown[i].Hyps))
			}
			for h, hyp := range r.Hyps {
				was := shown[i].Hyps[h].Tokens
				if len(hyp.Tokens) != len(was) || hyp.Attention != nil {
					t.Fatalf("beam %d, line %d: %v, with AllowUnk %v", so.Beam, i, hyp.Tokens, was)
				}
				for k, tok := range hyp.Tokens {
					switch {
					case tok == unk:
						t.Fatalf("beam %d, line %d: %q still holds %s", so.Beam, i, hyp.Text, unk)
					case was[k] == unk && !slices.Contains(r.Unknown, tok):
						t.Fatalf("beam %d, line %d: <unk> became %q, not an unknown word of %q", so.Beam, i, tok, lines[i])
					case was[k] != unk && tok != was[k]:
						t.Fatalf("beam %d, line %d: token %d is %q, %q with AllowUnk", so.Beam, i, k, tok, was[k])
					}
				}
			}
			if r.Hyps[0].Text == test[i].Target {
				right++
			}
			if shown[i].Hyps[0].Text == test[i].Target {
				rawRight++
			}
		}
		t.Logf("beam %d: %d of %d outputs are their target exactly, %d without restoring", so.Beam, right, len(test), rawRight)
		if right < len(test)/3 || rawRight != 0 {
			t.Errorf("beam %d: %d of %d outputs right (%d without restoring); want ≥ a third (and 0)", so.Beam, right, len(test), rawRight)
		}
	}
}

// TestCopyNeedsOneVocabulary: a copy-attention model whose two vocabulary
// files differ is refused at load.
func TestCopyNeedsOneVocabulary(t *testing.T) {
	src, _ := vocab.New([]string{"a", "b", "c"})
	tgt, _ := vocab.New([]string{"a", "x", "c"})
	cfg := model.Config{Arch: model.ArchRNNSearch, SrcVocab: src.Len(), TgtVocab: tgt.Len(), Embed: 4, Hidden: 4, Layers: 1, AttnDim: 4, Copy: true}
	dir := t.TempDir()
	c := Config{Model: cfg, Data: DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 10, MaxTgtLen: 10}}
	if err := checkpoint.SaveJSON(filepath.Join(dir, ConfigFile), c); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveFile(filepath.Join(dir, SrcVocabFile)); err != nil {
		t.Fatal(err)
	}
	if err := tgt.SaveFile(filepath.Join(dir, TgtVocabFile)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadForResume(dir)
	wantLoadErr(t, "copy with two vocabularies", err, "copy attention", "one vocabulary", `"b"`, "--joined-dictionary")
}
