package pipeline

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/placeholder"
	"github.com/qkv-dev/qkv/train"
)

// toyLexicon is a made-up English→German word list for messagePairs.
var toyLexicon = [][2]string{
	{"open", "öffnen"}, {"the", "die"}, {"file", "Datei"}, {"save", "speichern"}, {"folder", "Ordner"},
	{"cannot", "kann nicht"}, {"read", "lesen"}, {"write", "schreiben"}, {"new", "neue"}, {"window", "Fenster"},
	{"close", "schließen"}, {"error", "Fehler"}, {"copy", "kopieren"}, {"to", "nach"}, {"all", "alle"},
	{"items", "Elemente"}, {"user", "Benutzer"}, {"name", "Name"}, {"size", "Größe"}, {"bytes", "Bytes"},
}

// toyPlaceholders are the placeholders messagePairs puts into messages:
// one of every kind text/placeholder knows.
var toyPlaceholders = []string{"%s", "%d", "%1$s", "%2$d", "%5.2f", "%ld", "%zu", "%%", "%(name)s", "{0}", "{name}",
	"${HOME}", "<b>", "</b>", "<br/>", `<a href="https://example.org/">`, "&amp;", "&#39;", "%<PRIu64>"}

// messagePairs makes n software-message-like pairs: a few words translated
// word by word, with 0 to 3 placeholders at random places (copied to the
// same places of the target), sometimes an accelerator on the first word and
// leading or trailing line breaks.
func messagePairs(n int, seed uint64) []corpus.Pair {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]corpus.Pair, n)
	for i := range out {
		var src, tgt []string
		for range 2 + rng.IntN(4) {
			w := toyLexicon[rng.IntN(len(toyLexicon))]
			src, tgt = append(src, w[0]), append(tgt, w[1])
		}
		for range rng.IntN(4) {
			ph := toyPlaceholders[rng.IntN(len(toyPlaceholders))]
			at := rng.IntN(len(src) + 1)
			src = slices.Insert(src, at, ph)
			tgt = slices.Insert(tgt, at, ph)
		}
		s, t := strings.Join(src, " "), strings.Join(tgt, " ")
		if rng.IntN(5) == 0 {
			s, t = "_"+s, "_"+t
		}
		if rng.IntN(6) == 0 {
			s, t = "\n"+s, "\n"+t
		}
		if rng.IntN(6) == 0 {
			s, t = s+"\n", t+"\n"
		}
		out[i] = corpus.Pair{Source: s, Target: t}
	}
	return out
}

// TestTrainedModelKeepsPlaceholders trains a tiny BPE Transformer for a
// few seconds on messages with placeholders and decodes a test split: the
// multiset of placeholders (and the leading and trailing white space) of
// at least 99.5% of the outputs must be the source's, with greedy decoding
// and with beam search.
func TestTrainedModelKeepsPlaceholders(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	d := DataConfig{SrcTokenizer: TokBPE, TgtTokenizer: TokBPE, MaxSrcLen: 64, MaxTgtLen: 64, Placeholders: true}
	pr, err := Prepare(messagePairs(1500, 1), messagePairs(40, 2), PrepareOptions{Data: d, MinFreq: 1, BPEMerges: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []interface{ ID(string) (int, bool) }{pr.Src, pr.Tgt} {
		for k := 1; k <= placeholder.MaxMarkers; k++ {
			if _, ok := v.ID(placeholder.Marker(k)); !ok {
				t.Fatalf("vocabulary lacks %s", placeholder.Marker(k))
			}
		}
	}
	cfg := model.Config{Arch: model.ArchTransformer, SrcVocab: pr.Src.Len(), TgtVocab: pr.Tgt.Len(), Seed: 3,
		DModel: 48, Heads: 2, EncLayers: 1, DecLayers: 1, DFF: 96, MaxLen: 80}
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr, err := train.New(m, pr.Train, pr.Valid, dir, train.Options{MaxTokens: 1200, MaxSteps: 300,
		Schedule: "constant", LR: 3e-3, LabelSmoothing: 0.1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := pr.Pipeline(dir, m)
	test := messagePairs(400, 3)
	lines := make([]string, len(test))
	for i, pr := range test {
		lines[i] = pr.Source
	}
	for _, so := range []search.Options{{Beam: 1}, {Beam: 4, LengthPenalty: 0.6}} {
		kept, exact := 0, 0
		for i, r := range p.Translate(lines, Options{Search: so, BatchSize: 64}) {
			if r.Err != nil {
				t.Fatalf("line %d: %v", i+1, r.Err)
			}
			out := r.Hyps[0].Text
			if placeholder.Kept(lines[i], out) {
				kept++
			} else if kept+exact < 1000 {
				t.Logf("beam %d: %q → %q", so.Beam, lines[i], out)
			}
			if out == test[i].Target {
				exact++
			}
		}
		rate := float64(kept) / float64(len(lines))
		t.Logf("beam %d: placeholders kept in %d of %d outputs (%.1f%%); %d outputs equal the reference", so.Beam, kept, len(lines), 100*rate, exact)
		if rate < 0.995 {
			t.Errorf("beam %d: placeholders kept in %.1f%% of outputs, want at least 99.5%%", so.Beam, 100*rate)
		}
	}
}
