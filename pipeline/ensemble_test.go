package pipeline

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/corpus"
)

// savedDir writes a model directory with weights for cfg over the given
// pairs and data settings.
func savedDir(t *testing.T, cfg model.Config, d DataConfig, prs []corpus.Pair) string {
	t.Helper()
	pr, err := Prepare(prs, prs[:1], PrepareOptions{Data: d, BPEMerges: 20})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SrcVocab, cfg.TgtVocab = pr.Src.Len(), pr.Tgt.Len()
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := pr.Save(dir, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(filepath.Join(dir, BestFile), m.Params(), nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

var rnnsearchTiny = model.Config{Arch: model.ArchRNNSearch, Embed: 8, Hidden: 12, Layers: 1, AttnDim: 10, Seed: 2}

func texts(t *testing.T, p *Pipeline, lines []string, opt Options) []string {
	t.Helper()
	var out []string
	for i, r := range p.Translate(lines, opt) {
		if r.Err != nil {
			t.Fatalf("line %d: %v", i, r.Err)
		}
		for _, h := range r.Hyps {
			out = append(out, h.Text)
		}
	}
	return out
}

// TestLoadEnsemble: a Transformer and an RNNsearch of one vocabulary
// decode together, greedy, with a beam and sampling; an ensemble of one
// model decodes as that model; the length limits are those every member
// can take.
func TestLoadEnsemble(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 12}
	tr := savedDir(t, model.Presets["tiny-transformer"], d, pairs)
	d2 := d
	d2.MaxSrcLen, d2.MaxTgtLen = 30, 20
	rs := savedDir(t, rnnsearchTiny, d2, pairs)

	lines := []string{"Open the file", "Save", "Close the window"}
	alone, err := Load(tr)
	if err != nil {
		t.Fatal(err)
	}
	one, err := LoadEnsemble([]Member{{Dir: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if one.EnsembleSize() != 1 {
		t.Errorf("one model: EnsembleSize %d", one.EnsembleSize())
	}
	greedy := Options{Search: search.Options{MaxLen: 12}}
	if a, b := texts(t, alone, lines, greedy), texts(t, one, lines, greedy); !slices.Equal(a, b) {
		t.Errorf("an ensemble of one: %q, the model: %q", b, a)
	}

	ens, err := LoadEnsemble([]Member{{Dir: tr}, {Dir: rs, Weights: BestFile}})
	if err != nil {
		t.Fatal(err)
	}
	if ens.EnsembleSize() != 2 || ens.Dir != tr {
		t.Errorf("EnsembleSize %d, Dir %s", ens.EnsembleSize(), ens.Dir)
	}
	if dc := ens.Config.Data; dc.MaxSrcLen != 30 || dc.MaxTgtLen != 20 {
		t.Errorf("limits: max_src_len %d (want the smaller, 30), max_tgt_len %d (want the larger, 20)", dc.MaxSrcLen, dc.MaxTgtLen)
	}
	if ens.Config.Model.MaxLen != model.Presets["tiny-transformer"].MaxLen {
		t.Errorf("model max_len %d, want the Transformer's", ens.Config.Model.MaxLen)
	}
	for _, so := range []search.Options{{}, {Beam: 4, NBest: 2}, {Sample: true, Temperature: 1, NBest: 2, Seed: 3}} {
		texts(t, ens, lines, Options{Search: so})
	}
	long := strings.Repeat("o", 35) // within the Transformer's limit, not the RNNsearch's
	if r := ens.Translate([]string{long}, greedy)[0]; r.Err == nil || !strings.Contains(r.Err.Error(), "at most 30") {
		t.Errorf("a source too long for one member: %v", r.Err)
	}
}

// TestLoadEnsembleReordersVocabularies: models whose vocabularies hold
// the same symbols in other orders (trained on the same words at other
// frequencies, as a distillation student with extra words is) decode
// together; which comes first changes neither the outputs nor their
// scores, greedy or with a beam. Models of other symbols are still
// refused (TestLoadEnsembleRefusesOtherText).
func TestLoadEnsembleReordersVocabularies(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 12}
	more := slices.Clone(pairs)
	for range 6 {
		more = append(more, pairs[2]) // "Close the window": C, w, d, ß… become frequent
	}
	rs := savedDir(t, rnnsearchTiny, d, pairs)
	tr := savedDir(t, model.Presets["tiny-transformer"], d, more)
	a, err := Load(rs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(tr)
	if err != nil {
		t.Fatal(err)
	}
	if sameVocab(a.Src, b.Src) == nil || sameVocab(a.Tgt, b.Tgt) == nil {
		t.Fatal("the two vocabularies have one order: the test needs two")
	}
	ab, err := LoadEnsemble([]Member{{Dir: rs}, {Dir: tr}})
	if err != nil {
		t.Fatal(err)
	}
	ba, err := LoadEnsemble([]Member{{Dir: tr}, {Dir: rs}})
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"Open the file", "Close the window", "Save"}
	for _, so := range []search.Options{{MaxLen: 12}, {MaxLen: 12, Beam: 3, NBest: 2}} {
		x, y := ab.Translate(lines, Options{Search: so}), ba.Translate(lines, Options{Search: so})
		for i := range lines {
			if x[i].Err != nil || y[i].Err != nil {
				t.Fatalf("%q: %v, %v", lines[i], x[i].Err, y[i].Err)
			}
			if len(x[i].Hyps) != len(y[i].Hyps) {
				t.Fatalf("%q, beam %d: %d and %d hypotheses", lines[i], so.Beam, len(x[i].Hyps), len(y[i].Hyps))
			}
			for h := range x[i].Hyps {
				hx, hy := x[i].Hyps[h], y[i].Hyps[h]
				if hx.Text != hy.Text || math.Abs(hx.Score-hy.Score) > 1e-5 {
					t.Errorf("%q, beam %d, hypothesis %d: %q (%.6f) in one order, %q (%.6f) in the other", lines[i], so.Beam, h, hx.Text, hx.Score, hy.Text, hy.Score)
				}
			}
		}
	}
}

// TestLoadEnsembleRefusesOtherText: models that read or write text
// differently cannot decode together; the error names both directories
// and what differs.
func TestLoadEnsembleRefusesOtherText(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 12}
	base := savedDir(t, rnnsearchTiny, d, pairs)
	lower := d
	lower.Lowercase = true
	word := d
	word.TgtTokenizer = TokWord
	bpe := d
	bpe.SrcTokenizer = TokBPE
	other := append(slices.Clone(pairs), corpus.Pair{Source: "Quit", Target: "Beenden"})
	for _, c := range []struct {
		name string
		dir  string
		want string
	}{
		{"other source symbols", savedDir(t, rnnsearchTiny, d, other), "source vocabularies (src.vocab) differ: 2 symbols only in the second, such as"},
		{"lowercase", savedDir(t, rnnsearchTiny, lower, pairs), "source vocabularies"}, // lowercasing changes the symbols first
		{"tokenizer", savedDir(t, rnnsearchTiny, word, pairs), "target vocabularies (tgt.vocab) differ"},
		{"bpe", savedDir(t, rnnsearchTiny, bpe, pairs), "source vocabularies"},
	} {
		_, err := LoadEnsemble([]Member{{Dir: base}, {Dir: c.dir}})
		wantLoadErr(t, c.name, err, base, c.dir, c.want, "cannot decode together", "same vocabularies")
	}
	// Same symbols, other settings: the tokenizers and lowercasing are
	// compared too.
	d2 := d
	d2.Lowercase = true
	same := savedDir(t, rnnsearchTiny, d, []corpus.Pair{{Source: "ab", Target: "xy"}})
	lowerSame := savedDir(t, rnnsearchTiny, d2, []corpus.Pair{{Source: "ab", Target: "xy"}})
	_, err := LoadEnsemble([]Member{{Dir: same}, {Dir: lowerSame}})
	wantLoadErr(t, "lowercase only", err, "data.lowercase false and true")
	d3 := d
	d3.TgtTokenizer = TokWord
	oneChar := []corpus.Pair{{Source: "ab", Target: "x"}} // "x" is one symbol either way
	_, err = LoadEnsemble([]Member{{Dir: savedDir(t, rnnsearchTiny, d, oneChar)}, {Dir: savedDir(t, rnnsearchTiny, d3, oneChar)}})
	wantLoadErr(t, "tokenizer only", err, "tokenizers differ: char→char and char→word")
	_, err = LoadEnsemble([]Member{{Dir: same}, {Dir: filepath.Join(same, "absent")}})
	wantLoadErr(t, "a missing member", err, "absent")
}
