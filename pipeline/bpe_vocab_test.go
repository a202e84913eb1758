package pipeline

import (
	"slices"
	"testing"

	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/vocab"
)

// speedPairs make BPE merge "▁speed" through "peed", which then never
// stands alone in the training data: the case of issue 12 ("High-speed" in
// a test line gave the unknown piece "peed").
var speedPairs = []corpus.Pair{
	{Source: "speed up", Target: "schneller"},
	{Source: "set the speed", Target: "Geschwindigkeit setzen"},
	{Source: "low speed", Target: "langsam"},
	{Source: "speed", Target: "Tempo"},
	{Source: "the speed dial", Target: "die Kurzwahl"},
}

// TestBPEVocabularyCoversItsPieces: for BPE on both sides (separate or
// joint vocabularies, --min-freq 1 and 2), the vocabulary holds every
// character of the training text seen at least min-freq times, and the
// pipeline's segmenter outputs only pieces of the vocabulary: the only
// symbols read as <unk> are single characters seen fewer than min-freq
// times in training (never, for min-freq 1, in the training data itself).
func TestBPEVocabularyCoversItsPieces(t *testing.T) {
	lines := []string{"High-speed up", "the speedy set", "dial low", "Continuous High-speed Shooting", "Geschwindigkeit"}
	for _, joint := range []bool{false, true} {
		for _, minFreq := range []int{1, 2} {
			d := DataConfig{SrcTokenizer: TokBPE, TgtTokenizer: TokBPE, MaxSrcLen: 40, MaxTgtLen: 40, JointVocab: joint}
			pr, err := Prepare(speedPairs, speedPairs[:1], PrepareOptions{Data: d, BPEMerges: 60, MinFreq: minFreq})
			if err != nil {
				t.Fatal(err)
			}
			name := func() string {
				return map[bool]string{false: "separate", true: "joint"}[joint] + " min-freq " + string(rune('0'+minFreq))
			}
			// The case itself: unfiltered merges make a piece the vocabulary lacks.
			raw := pr.SrcBPE.Tokenize("High-speed")
			if !slices.ContainsFunc(raw, func(p string) bool { return len([]rune(p)) > 1 && !pr.Src.Has(p) }) {
				t.Fatalf("%s: the merges make no piece outside the vocabulary from High-speed (%q): the test tests nothing", name(), raw)
			}
			chars := vocab.Counts{}
			for _, tp := range speedPairs {
				chars.Add(pr.SrcBPE.Symbols(tp.Source))
				if !joint {
					continue
				}
				chars.Add(pr.SrcBPE.Symbols(tp.Target))
			}
			for c, n := range chars {
				if n >= minFreq && !pr.Src.Has(c) {
					t.Errorf("%s: the source vocabulary lacks %q, seen %d times", name(), c, n)
				}
			}
			p := &Pipeline{Config: Config{Data: pr.Data}, Src: pr.Src, Tgt: pr.Tgt, SrcTok: pr.SrcTok, TgtTok: pr.TgtTok}
			for _, line := range lines {
				_, unknown, err := p.EncodeSourceUnk(line)
				if err != nil {
					t.Fatalf("%s: %q: %v", name(), line, err)
				}
				for _, u := range unknown {
					if len([]rune(u)) != 1 || chars[u] >= minFreq {
						t.Errorf("%s: %q: %q read as <unk>, though known pieces spell it", name(), line, u)
					}
				}
				for _, piece := range p.TgtTok.Tokenize(line) {
					if !p.Tgt.Has(piece) && len([]rune(piece)) != 1 {
						t.Errorf("%s: target segmentation of %q holds %q, outside the target vocabulary", name(), line, piece)
					}
				}
			}
			if minFreq > 1 {
				continue
			}
			for _, ex := range append(pr.Train, pr.Valid...) {
				if slices.Contains(ex.Src, int32(vocab.UNK)) || slices.Contains(ex.Tgt, int32(vocab.UNK)) {
					t.Errorf("%s: a training pair holds <unk>", name())
				}
			}
		}
	}
}
