package serve

import (
	"net/http/httptest"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/text/corpus"
)

// TestCopyProbabilities: a model with copy attention answers, with its
// attention, each output token's probability of having been copied
// (copy_prob, one per attention entry) and the map it copied through;
// without attention asked for, neither.
func TestCopyProbabilities(t *testing.T) {
	prs := []corpus.Pair{{Source: "abc", Target: "cab"}, {Source: "fed", Target: "def"}, {Source: "bad", Target: "dab"}}
	pr, err := pipeline.Prepare(prs, prs[:1], pipeline.PrepareOptions{
		Data: pipeline.DataConfig{SrcTokenizer: pipeline.TokChar, TgtTokenizer: pipeline.TokChar, MaxSrcLen: 12, MaxTgtLen: 12, JointVocab: true}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{Arch: model.ArchRNNSearch, SrcVocab: pr.Src.Len(), TgtVocab: pr.Tgt.Len(), Embed: 8, Hidden: 8, Layers: 1, AttnDim: 8, Copy: true, Seed: 1}
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New([]Model{{Name: "copy", Pipeline: pr.Pipeline(t.TempDir(), m)}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer func() { hs.Close(); s.Close() }()
	const maxLen = 5
	resp := translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc", "fade"}, Attention: true, MaxLen: maxLen})
	for i, r := range resp.Results {
		o := r.Outputs[0]
		if len(o.Attention) == 0 || len(o.CopyProb) != len(o.Attention) || o.CopyModule != "attention" {
			t.Fatalf("input %d: %d attention entries, copy_prob %v, copy_module %q", i, len(o.Attention), o.CopyProb, o.CopyModule)
		}
		for k, p := range o.CopyProb {
			if !(p > 0 && p < 1) {
				t.Errorf("input %d token %d: copy_prob %g", i, k, p)
			}
		}
	}
	resp = translate(t, hs.URL, TranslateRequest{Inputs: []string{"abc"}, MaxLen: maxLen})
	if o := resp.Results[0].Outputs[0]; o.CopyProb != nil || o.CopyModule != "" {
		t.Errorf("without attention: copy_prob %v, copy_module %q", o.CopyProb, o.CopyModule)
	}
}
