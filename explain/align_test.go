package explain

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// handMade is an output of 3 tokens (+ EOS) over a source of 3 tokens,
// with 2 decoder layers of 2 heads. In layer 1, head 0 and head 1 disagree
// at output 1: head 0 puts 0.6 on source 0, head 1 puts 0.9 on source 2,
// so the head average (0.3, 0.1, 0.6) picks 2 where head 0 alone picks 0.
// The EOS step looks at source 1 and must not be aligned.
func handMade() pipeline.Output {
	cross := [2][4][2][3]float32{
		{ // layer 0: always source 1
			{{0, 1, 0}, {0, 1, 0}}, {{0, 1, 0}, {0, 1, 0}}, {{0, 1, 0}, {0, 1, 0}}, {{0, 1, 0}, {0, 1, 0}},
		},
		{ // layer 1
			{{0.8, 0.1, 0.1}, {0.7, 0.2, 0.1}},
			{{0.6, 0.2, 0.2}, {0.0, 0.0, 1.0}},
			{{0.1, 0.1, 0.8}, {0.2, 0.2, 0.6}},
			{{0, 1, 0}, {0, 1, 0}},
		},
	}
	out := pipeline.Output{Tokens: []string{"X", "Y", "Z"}, Finished: true}
	for t := range 4 {
		var step []search.Map
		for l := range 2 {
			self := make([]float32, 2*(t+1))
			for h := range 2 {
				self[h*(t+1)+t] = 1
			}
			step = append(step, search.Map{Name: "decoder." + string(rune('0'+l)) + ".self_attn", Heads: 2, Keys: t + 1, Weights: self})
			var w []float32
			for h := range 2 {
				w = append(w, cross[l][t][h][:]...)
			}
			step = append(step, search.Map{Name: "decoder." + string(rune('0'+l)) + ".cross_attn", Heads: 2, Keys: 3, Weights: w})
		}
		out.Attention = append(out.Attention, step)
	}
	return out
}

func TestAlignmentIsArgmaxOfHeadAverage(t *testing.T) {
	a, err := FromOutput([]string{"a", "b", "c"}, handMade(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Alignment(a, LastLayer)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{0, 0}, {2, 1}, {2, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("last layer: %v, want %v (EOS excluded, head average at output 1)", got, want)
	}
	if s := Pharaoh(got); s != "0-0 2-1 2-2" {
		t.Errorf("Pharaoh %q", s)
	}
	// It equals the argmax of the head average computed here.
	for j := range a.Output {
		best, bestV := -1, math.Inf(-1)
		for i := range a.Source {
			v := float64(a.Map(Cross, 1, 0).Weights[j][i] + a.Map(Cross, 1, 1).Weights[j][i])
			if v > bestV {
				best, bestV = i, v
			}
		}
		if got[j] != [2]int{best, j} {
			t.Errorf("output %d aligned to %d, head-average argmax is %d", j, got[j][0], best)
		}
	}
	got0, _ := Alignment(a, 0)
	if want := [][2]int{{1, 0}, {1, 1}, {1, 2}}; !reflect.DeepEqual(got0, want) {
		t.Errorf("layer 0: %v, want %v", got0, want)
	}
	if _, err := Alignment(a, 2); err == nil || !strings.Contains(err.Error(), "--alignment-layer 2 is out of range: the decoder has 2 cross-attention layers (0 to 1") {
		t.Errorf("layer 2: %v", err)
	}
	if _, err := Alignment(&Attention{Source: []string{"a"}, Output: []string{"X"}}, LastLayer); err == nil || !strings.Contains(err.Error(), "seq2seq") {
		t.Errorf("no maps: %v", err)
	}
}

func TestFromOutputShapes(t *testing.T) {
	a, err := FromOutput([]string{"a", "b", "c"}, handMade(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, h := a.Layers(DecSelf); l != 2 || h != 2 {
		t.Errorf("dec-self %d layers × %d heads", l, h)
	}
	m := a.Map(DecSelf, 1, 1)
	if !reflect.DeepEqual(m.Rows, []string{"X", "Y", "Z", EOS}) || !reflect.DeepEqual(m.Cols, []string{BOS, "X", "Y", "Z"}) {
		t.Errorf("dec-self labels %v × %v", m.Rows, m.Cols)
	}
	for i, row := range m.Weights {
		if len(row) != i+1 {
			t.Errorf("dec-self row %d has %d weights, want %d (masked keys left out)", i, len(row), i+1)
		}
	}
	if c := a.Map(Cross, 1, 1); !reflect.DeepEqual(c.Weights[1], []float32{0, 0, 1}) {
		t.Errorf("cross layer 1 head 1 row 1 = %v", c.Weights[1])
	}
	bad := handMade()
	bad.Attention[2][1].Keys = 2
	if _, err := FromOutput([]string{"a", "b", "c"}, bad, nil); err == nil {
		t.Error("a map with the wrong number of keys was accepted")
	}
}

// TestAlignmentFromDecoding: the RNNsearch and Transformer maps of a real
// decoding become alignments with one pair per output token.
func TestAlignmentFromDecoding(t *testing.T) {
	rnn, _ := model.DefaultConfig(model.ArchRNNSearch)
	rnn.Embed, rnn.Hidden, rnn.AttnDim = 8, 8, 8
	for _, cfg := range []model.Config{transformerConfig(false), rnn} {
		p := tinyPipeline(t, cfg)
		res := p.Translate([]string{"abcde"}, pipeline.Options{BatchSize: 1, Search: search.Options{Beam: 2, NBest: 2, Attention: true}})
		for k := range res[0].Hyps {
			a, err := FromResult(res[0], k)
			if err != nil {
				t.Fatal(err)
			}
			if a.Additive != (cfg.Arch == model.ArchRNNSearch) {
				t.Errorf("%s: additive %v", cfg.Arch, a.Additive)
			}
			pairs, err := Alignment(a, LastLayer)
			if err != nil {
				t.Fatal(err)
			}
			if len(pairs) != len(a.Output) {
				t.Errorf("%s: %d pairs for %d output tokens", cfg.Arch, len(pairs), len(a.Output))
			}
			for j, pr := range pairs {
				if pr[1] != j || pr[0] < 0 || pr[0] >= 5 {
					t.Errorf("%s: pair %v", cfg.Arch, pr)
				}
			}
			// Every map's rows sum to 1.
			for _, m := range a.Maps {
				for i, row := range m.Weights {
					var s float64
					for _, w := range row {
						s += float64(w)
					}
					if !near(s, 1, 1e-4) {
						t.Errorf("%s %s layer %d head %d row %d sums to %g", cfg.Arch, m.Kind, m.Layer, m.Head, i, s)
					}
				}
			}
		}
	}
}
