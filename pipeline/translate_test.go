package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/vocab"
)

// untrained returns a pipeline over the test pairs with a freshly
// initialised tiny Transformer: its output distributions are nearly
// uniform, so a search that did not mask <pad>, <s> and <unk> would emit
// them often, and samples of one line vary.
func untrained(t *testing.T, d DataConfig) *Pipeline {
	t.Helper()
	pr := prepared(t, d)
	cfg := model.Presets["tiny-transformer"]
	cfg.SrcVocab, cfg.TgtVocab = pr.Src.Len(), pr.Tgt.Len()
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Pipeline{Config: Config{Model: cfg, Data: pr.Data}, Model: m, Src: pr.Src, Tgt: pr.Tgt, SrcTok: pr.SrcTok, TgtTok: pr.TgtTok}
}

var charWord = DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 12}

func TestTranslateNeverEmitsSpecials(t *testing.T) {
	p := untrained(t, charWord)
	lines := slices.Repeat([]string{"Open the file", "Save"}, 8)
	for _, so := range []search.Options{
		{},
		{Beam: 4, NBest: 4},
		{Sample: true, Temperature: 10, NBest: 4, Seed: 1},
	} {
		for i, r := range p.Translate(lines, Options{Search: so}) {
			if r.Err != nil {
				t.Fatalf("%+v line %d: %v", so, i, r.Err)
			}
			for _, h := range r.Hyps {
				for _, tok := range h.Tokens {
					if tok == vocab.PadSymbol || tok == vocab.BOSSymbol || tok == vocab.UNKSymbol {
						t.Fatalf("%+v line %d: output %q holds %s", so, i, h.Tokens, tok)
					}
				}
			}
		}
	}
}

// TestSamplingDoesNotDependOnBatching: each line samples from its own
// stream, so batch sizes and the pieces an input is decoded in do not
// change the samples, and identical lines get different samples.
func TestSamplingDoesNotDependOnBatching(t *testing.T) {
	p := untrained(t, charWord)
	var lines []string
	for i := range 20 {
		lines = append(lines, []string{"Open the file", "Save the file", "Close", "Open the window"}[i%4])
	}
	so := search.Options{Sample: true, Temperature: 3, NBest: 2, Seed: 7}
	texts := func(rs []Result) []string {
		var out []string
		for i, r := range rs {
			if r.Err != nil {
				t.Fatalf("line %d: %v", i, r.Err)
			}
			for _, h := range r.Hyps {
				out = append(out, h.Text)
			}
		}
		return out
	}
	want := texts(p.Translate(lines, Options{Search: so, BatchSize: 64}))
	for _, bs := range []int{1, 3} {
		if got := texts(p.Translate(lines, Options{Search: so, BatchSize: bs})); !slices.Equal(got, want) {
			t.Errorf("batch size %d:\n%q\nbatch size 64:\n%q", bs, got, want)
		}
	}
	// In two pieces, as predict decodes a long input.
	got := texts(p.Translate(lines[:7], Options{Search: so, BatchSize: 64}))
	got = append(got, texts(p.Translate(lines[7:], Options{Search: so, BatchSize: 64, FirstLine: 7}))...)
	if !slices.Equal(got, want) {
		t.Errorf("in two pieces:\n%q\nin one:\n%q", got, want)
	}
	// Lines 0, 4, 8, … are the same source: their first samples differ.
	distinct := map[string]bool{}
	for i := 0; i < len(lines); i += 4 {
		distinct[want[2*i]] = true
	}
	if len(distinct) < 3 {
		t.Errorf("5 identical lines gave %d distinct samples: %v", len(distinct), distinct)
	}
	so.Seed = 8
	if other := texts(p.Translate(lines, Options{Search: so})); slices.Equal(other, want) {
		t.Error("another seed gave the same samples")
	}
}

func TestUnknownSourceSymbols(t *testing.T) {
	p := untrained(t, DataConfig{SrcTokenizer: TokWord, TgtTokenizer: TokWord, MaxSrcLen: 10, MaxTgtLen: 10})
	long := strings.Repeat("x", 5<<20)
	lines := []string{"Open the door", "Open the file", "<pad> the </s>", long}
	rs := p.Translate(lines, Options{Search: search.Options{MaxLen: 3}})
	wantUnk := [][]string{{"door"}, nil, {"<pad>", "</s>"}, {long}}
	for i, r := range rs {
		if r.Err != nil {
			t.Errorf("line %d: %v", i, r.Err)
		}
		if !slices.Equal(r.Unknown, wantUnk[i]) {
			t.Errorf("line %d: unknown %.40q, want %.40q", i, r.Unknown, wantUnk[i])
		}
	}
	ids, unknown, err := p.EncodeSourceUnk("<s> file")
	if err != nil || ids[0] != vocab.UNK || !slices.Equal(unknown, []string{"<s>"}) {
		t.Errorf("a typed <s>: ids %v, unknown %q, %v", ids, unknown, err)
	}
	rs = p.Translate(lines, Options{Strict: true, Search: search.Options{MaxLen: 3}})
	for i, want := range []string{`unknown symbol "door" at position 2`, "", `unknown symbol "<pad>" at position 0`, "(5242880 bytes)"} {
		switch err := rs[i].Err; {
		case want == "" && err != nil:
			t.Errorf("strict, line %d: %v", i, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("strict, line %d: %v, want an error with %q", i, err, want)
		case err != nil && len(err.Error()) > 200:
			t.Errorf("strict, line %d: a %d-byte error message", i, len(err.Error()))
		}
	}
}

func TestOptionsCheckBatchSize(t *testing.T) {
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{BatchSize: 1, Search: search.Options{Beam: 1}}, ""},
		{Options{BatchSize: 4096, Search: search.Options{Beam: 256}}, ""},
		{Options{BatchSize: 0, Search: search.Options{Beam: 1}}, "--batch-size 0"},
		{Options{BatchSize: -3, Search: search.Options{Beam: 1}}, "--batch-size -3"},
		{Options{BatchSize: 4097, Search: search.Options{Beam: 1}}, "--batch-size 4097"},
		{Options{BatchSize: 8, Search: search.Options{Beam: 1, NBest: 3}}, "--nbest 3"},
		{Options{BatchSize: 8}, "--beam 0"},
	} {
		err := tc.opt.Check()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.opt, err, tc.want)
		}
	}
}

// TestWideBeamDecodesInSmallerBatches: a beam of 256 over many sources is
// decoded a few sources at a time, and gives what one source alone gives.
func TestWideBeamDecodesInSmallerBatches(t *testing.T) {
	p := untrained(t, charWord)
	lines := slices.Repeat([]string{"Save"}, 20)
	so := search.Options{Beam: 256, MaxLen: 2}
	rs := p.Translate(lines, Options{Search: so, BatchSize: 4096})
	one := p.Translate(lines[:1], Options{Search: so})
	for i, r := range rs {
		if r.Err != nil || one[0].Err != nil {
			t.Fatalf("line %d: %v / %v", i, r.Err, one[0].Err)
		}
		if fmt.Sprint(r.Hyps[0].Tokens) != fmt.Sprint(one[0].Hyps[0].Tokens) {
			t.Errorf("line %d: %q, alone %q", i, r.Hyps[0].Tokens, one[0].Hyps[0].Tokens)
		}
	}
}
