package model

import (
	"fmt"
	"slices"
	"sort"

	"github.com/qkv-dev/qkv/internal/excerpt"
)

// Architectures.
const (
	ArchSeq2Seq     = "seq2seq"
	ArchRNNSearch   = "rnnsearch"
	ArchTransformer = "transformer"
)

// Config describes a model. Sizes that an architecture does not use are
// ignored by it. It is saved as JSON beside the weights.
type Config struct {
	Arch     string `json:"arch"`
	SrcVocab int    `json:"src_vocab"`
	TgtVocab int    `json:"tgt_vocab"`

	// Transformer (Vaswani et al. 2017, Table 3).
	DModel      int     `json:"d_model,omitempty"`
	Heads       int     `json:"heads,omitempty"`
	EncLayers   int     `json:"enc_layers,omitempty"`
	DecLayers   int     `json:"dec_layers,omitempty"`
	DFF         int     `json:"d_ff,omitempty"`
	PreNorm     bool    `json:"pre_norm,omitempty"`   // layer norm before each sub-layer (and once at the end) instead of after
	FinalNorm   bool    `json:"final_norm,omitempty"` // post-norm with a last layer norm on each stack, as torch.nn.Transformer
	ShareEmb    bool    `json:"share_emb,omitempty"`  // one embedding for source, target and output (needs one vocabulary)
	TieOutput   bool    `json:"tie_output,omitempty"` // target embedding doubles as the output projection
	MaxLen      int     `json:"max_len,omitempty"`    // longest sequence the positional table covers
	GELU        bool    `json:"gelu,omitempty"`       // GELU instead of ReLU in the feed-forward layers
	Dropout     float32 `json:"dropout"`
	AttnDropout float32 `json:"attn_dropout,omitempty"` // dropout on attention probabilities (torch.nn.Transformer uses the model's dropout)

	// Recurrent models (Sutskever 2014, Bahdanau 2014).
	Embed         int  `json:"embed,omitempty"`          // embedding size
	Hidden        int  `json:"hidden,omitempty"`         // LSTM size (per direction in rnnsearch's encoder)
	Layers        int  `json:"layers,omitempty"`         // LSTM layers in encoder and decoder
	AttnDim       int  `json:"attn_dim,omitempty"`       // additive attention's hidden size
	ReverseSource bool `json:"reverse_source,omitempty"` // feed the source backwards (Sutskever 2014 §3.3)

	// Copy attention (See, Liu & Manning 2017, "Get To The Point"), for
	// rnnsearch and the Transformer: the output distribution mixes
	// generating from the vocabulary with copying source tokens through
	// the cross-attention, P(w) = p_gen·P_vocab(w) + (1 − p_gen)·Σ_{i:
	// x_i = w} a_i. Source ids are read as target ids, so it needs one
	// vocabulary for both sides.
	Copy bool `json:"copy,omitempty"`

	Seed uint64 `json:"seed"` // initialization
}

// Presets are named starting configurations (vocabulary sizes are filled in
// from the data).
var Presets = map[string]Config{
	// The paper's base model (Vaswani et al. 2017, Table 3).
	"transformer-base": {Arch: ArchTransformer, DModel: 512, Heads: 8, EncLayers: 6, DecLayers: 6, DFF: 2048, Dropout: 0.1, MaxLen: 1024},
	// A small Transformer for grapheme-to-phoneme conversion, as in
	// cmusphinx g2p-seq2seq and ../shared/bench/peers/pytorch_g2p.py.
	"g2p-transformer": {Arch: ArchTransformer, DModel: 256, Heads: 4, EncLayers: 3, DecLayers: 3, DFF: 1024, Dropout: 0.1, AttnDropout: 0.1, MaxLen: 512, FinalNorm: true},
	// The demo's Transformer: small enough to learn G2P in two minutes on two
	// cores, where it sees about two epochs: too few to overfit, so no dropout.
	"demo-transformer": {Arch: ArchTransformer, DModel: 128, Heads: 4, EncLayers: 2, DecLayers: 2, DFF: 512, Dropout: 0, MaxLen: 128, FinalNorm: true},
	// A tiny Transformer for tests.
	"tiny-transformer": {Arch: ArchTransformer, DModel: 64, Heads: 4, EncLayers: 2, DecLayers: 2, DFF: 256, Dropout: 0.1, MaxLen: 256},
	// RNNsearch at G2P scale (the paper used 620-d embeddings and 1000 units).
	"g2p-rnnsearch": {Arch: ArchRNNSearch, Embed: 128, Hidden: 256, Layers: 1, AttnDim: 256, Dropout: 0.1},
	// The paper's RNNsearch-50 sizes.
	"rnnsearch-paper": {Arch: ArchRNNSearch, Embed: 620, Hidden: 1000, Layers: 1, AttnDim: 1000, Dropout: 0},
	// A deep LSTM encoder-decoder at G2P scale (the paper: 4 layers of 1000).
	"g2p-seq2seq":   {Arch: ArchSeq2Seq, Embed: 128, Hidden: 256, Layers: 2, Dropout: 0.1, ReverseSource: true},
	"seq2seq-paper": {Arch: ArchSeq2Seq, Embed: 1000, Hidden: 1000, Layers: 4, Dropout: 0, ReverseSource: true},
}

// PresetNames lists the presets in order.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultConfig returns the default configuration of an architecture.
func DefaultConfig(arch string) (Config, error) {
	switch arch {
	case ArchTransformer:
		return Presets["g2p-transformer"], nil
	case ArchRNNSearch:
		return Presets["g2p-rnnsearch"], nil
	case ArchSeq2Seq:
		return Presets["g2p-seq2seq"], nil
	}
	return Config{}, fmt.Errorf("unknown architecture %q (want one of %v)", arch, []string{ArchSeq2Seq, ArchRNNSearch, ArchTransformer})
}

// Validate reports the first inconsistency in c: an unknown arch, a size
// the architecture needs that is not positive, any size above its bound
// (MaxVocab, MaxWidth, MaxFF, MaxLayers, MaxMaxLen), heads that do not
// divide d_model, a dropout outside [0, 1). Errors name the config key.
// Validate does not depend on the machine; New also calls CheckMemory.
func (c Config) Validate() error {
	if !slices.Contains([]string{ArchSeq2Seq, ArchRNNSearch, ArchTransformer}, c.Arch) {
		return fmt.Errorf("model config: unknown arch %s (want %s, %s or %s)", excerpt.Quote(c.Arch), ArchSeq2Seq, ArchRNNSearch, ArchTransformer)
	}
	type key struct {
		name string
		v    int
		max  int
		used bool // the architecture needs it: it must be positive
	}
	tr, rnn := c.Arch == ArchTransformer, c.Arch != ArchTransformer
	keys := []key{
		{"src_vocab", c.SrcVocab, MaxVocab, true},
		{"tgt_vocab", c.TgtVocab, MaxVocab, true},
		{"d_model", c.DModel, MaxWidth, tr},
		{"heads", c.Heads, MaxWidth, tr},
		{"enc_layers", c.EncLayers, MaxLayers, tr},
		{"dec_layers", c.DecLayers, MaxLayers, tr},
		{"d_ff", c.DFF, MaxFF, tr},
		{"max_len", c.MaxLen, MaxMaxLen, tr},
		{"embed", c.Embed, MaxWidth, rnn},
		{"hidden", c.Hidden, MaxWidth, rnn},
		{"layers", c.Layers, MaxLayers, rnn},
		{"attn_dim", c.AttnDim, MaxWidth, c.Arch == ArchRNNSearch},
	}
	for _, k := range keys {
		switch {
		case k.used && k.v <= 0:
			return fmt.Errorf("model config: %s must be positive for %s, got %d", k.name, c.Arch, k.v)
		case k.v < 0:
			return fmt.Errorf("model config: %s must not be negative, got %d", k.name, k.v)
		case k.v > k.max:
			return fmt.Errorf("model config: %s %d is above the limit of %d", k.name, k.v, k.max)
		}
	}
	for _, d := range []struct {
		name string
		v    float32
	}{{"dropout", c.Dropout}, {"attn_dropout", c.AttnDropout}} {
		if !(d.v >= 0 && d.v < 1) { // also refuses NaN
			return fmt.Errorf("model config: %s must be in [0, 1), got %g", d.name, d.v)
		}
	}
	if c.Copy {
		if c.Arch == ArchSeq2Seq {
			return fmt.Errorf("model config: copy attention copies through the cross-attention, which %s does not have (use %s or %s)", ArchSeq2Seq, ArchRNNSearch, ArchTransformer)
		}
		if c.SrcVocab != c.TgtVocab {
			return fmt.Errorf("model config: copy reads source ids as target ids, so it needs one vocabulary for both sides, got sizes %d and %d (train with --joined-dictionary)", c.SrcVocab, c.TgtVocab)
		}
	}
	if tr {
		if c.Heads > c.DModel {
			return fmt.Errorf("model config: heads %d is more than d_model %d (each head needs at least one dimension)", c.Heads, c.DModel)
		}
		if c.DModel%c.Heads != 0 {
			return fmt.Errorf("model config: d_model %d is not a multiple of heads %d", c.DModel, c.Heads)
		}
		if c.ShareEmb && c.SrcVocab != c.TgtVocab {
			return fmt.Errorf("model config: share_emb needs one vocabulary, got sizes %d and %d", c.SrcVocab, c.TgtVocab)
		}
	}
	return nil
}
