// Package model defines the interface shared by qkv's three encoder-decoder
// architectures and builds them from a configuration:
//
//   - seq2seq (Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning
//     with Neural Networks"): a multi-layer LSTM reads the (optionally
//     reversed) source; its final states start a multi-layer LSTM decoder.
//   - rnnsearch (Bahdanau, Cho & Bengio 2014, "Neural Machine Translation by
//     Jointly Learning to Align and Translate"): a bidirectional LSTM gives
//     each source token an annotation; at every step the decoder attends over
//     them with additive attention and feeds the context to its LSTM and to
//     the output layer.
//   - transformer (Vaswani et al. 2017, "Attention Is All You Need"): stacks
//     of multi-head self-attention and feed-forward layers, masked in the
//     decoder, with encoder-decoder attention between them.
//
// Every model trains by decoding all target positions at once (teacher
// forcing) and infers step by step from an incremental state that keeps
// what earlier steps computed: the LSTMs' hidden states, the Transformer's
// per-layer keys and values. The encoder runs once per source, and so do
// the projections of its output that attention uses as keys.
package model

import (
	"fmt"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
)

// Model is an encoder-decoder.
type Model interface {
	// Config is the configuration the model was built from.
	Config() Config
	// Params are the trainable tensors, with unique hierarchical names.
	Params() []*tensor.Tensor
	// Forward returns the logits (B·T, V) of every target position of b
	// given TgtIn (teacher forcing), recording on g for training. With
	// copy attention (Config.Copy) they are the log-probabilities of the
	// mixed distribution, which log-softmax (and so the cross-entropy)
	// leaves unchanged.
	Forward(g *tensor.Graph, b *batch.Batch) *tensor.Tensor
	// Start encodes b's sources and returns the state for decoding them
	// step by step. The state keeps what it needs outside g, and resets g
	// between steps, so decoding long outputs needs no more memory than
	// one step does.
	Start(g *tensor.Graph, b *batch.Batch) (Decoder, error)
}

// Decoder is an incremental decoding state: a [search.State] that also
// reports the attention behind every step.
type Decoder interface {
	search.State
	search.Attender
	// EncoderAttention returns the encoder's self-attention maps for source
	// row r (one per layer), or nil for models without it.
	EncoderAttention(row int) []search.Map
}

// Quantizable is a model whose Linear layers can compute with int8
// weights (qkv quantize): the Transformer.
type Quantizable interface {
	Linears() []*nn.Linear
}

// New builds a model with freshly initialized parameters from cfg.
// A configuration whose parameters would not fit in memory is refused
// before anything is allocated (CheckMemory with BuildBytesPerParam).
func New(cfg Config) (Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.CheckMemory(BuildBytesPerParam); err != nil {
		return nil, err
	}
	switch cfg.Arch {
	case ArchTransformer:
		return newTransformer(cfg), nil
	case ArchSeq2Seq, ArchRNNSearch:
		return newRecurrent(cfg), nil
	}
	return nil, fmt.Errorf("model: unknown architecture %q", cfg.Arch)
}
