// Package explain turns what a trained model computed into things a person
// can read: the attention maps of one decoded input, per kind, layer and
// head, with token labels (FromOutput); word alignments taken from the
// cross-attention, as fairseq's --print-alignment (Alignment); and the
// Q·K·V walk-through of one query token through one Transformer head,
// recomputed from the trained weights (Walk).
//
// Everything returns plain structs with JSON tags and never prints: the
// qkv commands, the server and the web page share them.
package explain

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

// Kinds of attention map.
const (
	EncSelf = model.KindEncSelf // the Transformer's encoder self-attention: source × source
	DecSelf = model.KindDecSelf // its masked decoder self-attention: output × (<s>, earlier output)
	Cross   = model.KindCross   // its encoder-decoder attention, or RNNsearch's additive attention: output × source
)

// Kinds lists the kinds in the order a model computes them.
var Kinds = []string{EncSelf, DecSelf, Cross}

// BOS and EOS label the decoder's start position and its final step.
const (
	BOS = "<s>"
	EOS = "</s>"
)

// HeadMap is the attention of one head of one layer over one input: row i
// is query i's weights over the columns. In decoder self-attention, row i
// holds only the i+1 positions the query may see (later positions are
// masked, not zero): rows can be shorter than Cols.
type HeadMap struct {
	Kind    string      `json:"kind"`   // EncSelf, DecSelf or Cross
	Module  string      `json:"module"` // the model's name for it, e.g. "decoder.1.cross_attn", or "attention" (RNNsearch)
	Layer   int         `json:"layer"`  // 0-based within the encoder or the decoder
	Head    int         `json:"head"`   // 0-based
	Rows    []string    `json:"rows"`   // query tokens
	Cols    []string    `json:"cols"`   // key tokens
	Weights [][]float32 `json:"weights"`
}

// Attention is every attention map behind one decoded output.
type Attention struct {
	Source   []string  `json:"source"`   // the source tokens as the model read them
	Output   []string  `json:"output"`   // the output tokens, without EOS
	Finished bool      `json:"finished"` // the output ended with EOS: decoder maps have a last row for it
	Additive bool      `json:"additive"` // RNNsearch: one additive-attention map (Cross, layer 0, head 0)
	Maps     []HeadMap `json:"maps"`     // by kind (Kinds order), then layer, then head
	// Copy attention (See et al. 2017): CopyModule names the map whose
	// weights, averaged over its heads, are the copy distribution
	// (RNNsearch's "attention", a Transformer's last "decoder.L.cross_attn"),
	// and Copy holds, per decoder step (the rows of the decoder maps), the
	// probability 1 − p_gen that the step copied from the source rather
	// than generated. Both are empty for models without copy attention.
	CopyModule string    `json:"copy_module,omitempty"`
	Copy       []float32 `json:"copy,omitempty"`
}

// CopyMap returns what each output token copied from each source token:
// row t is P(copy)_t times the copy distribution (the copy module's
// weights averaged over its heads), so row t sums to P(copy)_t; Head is
// −1 (all heads). It returns nil for a model without copy attention.
func (a *Attention) CopyMap() *HeadMap {
	if a.CopyModule == "" {
		return nil
	}
	var heads []*HeadMap
	for i := range a.Maps {
		if a.Maps[i].Module == a.CopyModule {
			heads = append(heads, &a.Maps[i])
		}
	}
	if len(heads) == 0 {
		return nil
	}
	first := heads[0]
	cm := &HeadMap{Kind: first.Kind, Module: a.CopyModule, Layer: first.Layer, Head: -1, Rows: first.Rows, Cols: first.Cols, Weights: make([][]float32, len(first.Weights))}
	for t := range cm.Weights {
		row := make([]float32, len(first.Weights[t]))
		for _, h := range heads {
			for j, w := range h.Weights[t] {
				row[j] += w / float32(len(heads)) * a.Copy[t]
			}
		}
		cm.Weights[t] = row
	}
	return cm
}

// CopyOf returns the copy probabilities to show beside map m's rows, or nil
// when m is not the map the model copies through.
func (a *Attention) CopyOf(m *HeadMap) []float32 {
	if a.CopyModule == "" || m.Module != a.CopyModule {
		return nil
	}
	return a.Copy
}

// Layers is how many layers of kind the maps hold, and Heads their heads
// per layer (0 when there is no map of that kind).
func (a *Attention) Layers(kind string) (layers, heads int) {
	for _, m := range a.Maps {
		if m.Kind == kind {
			layers = max(layers, m.Layer+1)
			heads = max(heads, m.Head+1)
		}
	}
	return layers, heads
}

// Map returns the map of kind, layer and head, or nil.
func (a *Attention) Map(kind string, layer, head int) *HeadMap {
	for i := range a.Maps {
		if m := &a.Maps[i]; m.Kind == kind && m.Layer == layer && m.Head == head {
			return m
		}
	}
	return nil
}

// FromResult collects the maps of hypothesis hyp (0: the best) of a
// result decoded with search.Options.Attention set.
func FromResult(r pipeline.Result, hyp int) (*Attention, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	if hyp < 0 || hyp >= len(r.Hyps) {
		return nil, fmt.Errorf("explain: hypothesis %d of %d", hyp, len(r.Hyps))
	}
	return FromOutput(r.SourceTokens, r.Hyps[hyp], r.EncoderAttn)
}

// FromOutput collects the maps of one output (decoded with attention) of
// source: its decoder maps, step by step, and the encoder's self-attention
// enc (one map per layer, as pipeline.Result.EncoderAttn; nil if none).
func FromOutput(source []string, out pipeline.Output, enc []search.Map) (*Attention, error) {
	a := &Attention{Source: source, Output: out.Tokens, Finished: out.Finished}
	n := len(source)
	for l, m := range enc {
		if m.Keys != n || m.Heads%max(n, 1) != 0 || len(m.Weights) != m.Heads*m.Keys {
			return nil, fmt.Errorf("explain: encoder map %s is %d×%d for %d source tokens", m.Name, m.Heads, m.Keys, n)
		}
		for h := 0; h < m.Heads/max(n, 1); h++ {
			hm := HeadMap{Kind: EncSelf, Module: m.Name, Layer: l, Head: h, Rows: source, Cols: source, Weights: make([][]float32, n)}
			for i := range n {
				hm.Weights[i] = m.Weights[(h*n+i)*n : (h*n+i+1)*n]
			}
			a.Maps = append(a.Maps, hm)
		}
	}
	steps := out.Attention
	if len(steps) == 0 {
		return a, nil
	}
	if len(steps) != len(out.Tokens)+1 && len(steps) != len(out.Tokens) {
		return nil, fmt.Errorf("explain: %d attention steps for %d output tokens", len(steps), len(out.Tokens))
	}
	rows := append([]string(nil), out.Tokens...)
	if len(steps) > len(out.Tokens) {
		rows = append(rows, EOS)
	}
	rows = rows[:len(steps)]
	selfCols := append([]string{BOS}, out.Tokens...)[:len(steps)]
	// One HeadMap per (module, head), filled step by step.
	index := map[string]int{}
	var dec []HeadMap
	for t, step := range steps {
		for _, m := range step {
			kind, layer, err := parseModule(m.Name)
			if err != nil {
				return nil, err
			}
			if m.Heads <= 0 || len(m.Weights) != m.Heads*m.Keys {
				return nil, fmt.Errorf("explain: map %s at step %d is malformed (%d heads, %d keys, %d weights)", m.Name, t, m.Heads, m.Keys, len(m.Weights))
			}
			want, cols := n, source
			if kind == DecSelf {
				want, cols = t+1, selfCols
			}
			if m.Keys != want {
				return nil, fmt.Errorf("explain: map %s at step %d has %d keys, want %d", m.Name, t, m.Keys, want)
			}
			if kind == Cross && m.Name == additiveModule {
				a.Additive = true
			}
			if m.Copies {
				if a.CopyModule != "" && a.CopyModule != m.Name {
					return nil, fmt.Errorf("explain: step %d copies through %s, earlier steps through %s", t, m.Name, a.CopyModule)
				}
				if a.Copy == nil {
					a.Copy = make([]float32, len(steps))
					for i := range a.Copy {
						a.Copy[i] = float32(math.NaN())
					}
				}
				a.CopyModule, a.Copy[t] = m.Name, m.PCopy
			}
			for h := 0; h < m.Heads; h++ {
				key := m.Name + "#" + strconv.Itoa(h)
				i, ok := index[key]
				if !ok {
					i = len(dec)
					index[key] = i
					dec = append(dec, HeadMap{Kind: kind, Module: m.Name, Layer: layer, Head: h, Rows: rows, Cols: cols, Weights: make([][]float32, len(steps))})
				}
				dec[i].Weights[t] = m.Weights[h*m.Keys : (h+1)*m.Keys]
			}
		}
	}
	for t, c := range a.Copy {
		if math.IsNaN(float64(c)) {
			return nil, fmt.Errorf("explain: %s reports no copy probability at step %d", a.CopyModule, t)
		}
	}
	// Decoder maps in kind order (self before cross), then layer, head.
	for _, kind := range []string{DecSelf, Cross} {
		for _, m := range dec {
			if m.Kind == kind {
				for t, w := range m.Weights {
					if w == nil {
						return nil, fmt.Errorf("explain: map %s has no weights at step %d", m.Module, t)
					}
				}
				a.Maps = append(a.Maps, m)
			}
		}
	}
	sortMaps(a.Maps)
	return a, nil
}

// additiveModule is RNNsearch's name for its attention map.
const additiveModule = "attention"

// parseModule reads a decoder map's name: "decoder.L.self_attn",
// "decoder.L.cross_attn" or "attention".
func parseModule(name string) (kind string, layer int, err error) {
	if name == additiveModule {
		return Cross, 0, nil
	}
	parts := strings.Split(name, ".")
	if len(parts) == 3 && parts[0] == "decoder" {
		l, err := strconv.Atoi(parts[1])
		if err == nil && l >= 0 {
			switch parts[2] {
			case "self_attn":
				return DecSelf, l, nil
			case "cross_attn":
				return Cross, l, nil
			}
		}
	}
	return "", 0, fmt.Errorf("explain: unknown attention module %q", name)
}

func kindOrder(k string) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

// sortMaps orders maps by kind, layer, head (a stable insertion sort: the
// lists are short).
func sortMaps(ms []HeadMap) {
	less := func(a, b *HeadMap) bool {
		if ka, kb := kindOrder(a.Kind), kindOrder(b.Kind); ka != kb {
			return ka < kb
		}
		if a.Layer != b.Layer {
			return a.Layer < b.Layer
		}
		return a.Head < b.Head
	}
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && less(&ms[j], &ms[j-1]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}
