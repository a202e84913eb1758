// Package nn holds qkv's layers: the building blocks of the three models of
// sequence transduction it trains.
//
//   - Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with
//     Neural Networks": multi-layer LSTM encoder and decoder ([LSTM]).
//   - Bahdanau, Cho & Bengio 2014, "Neural Machine Translation by Jointly
//     Learning to Align and Translate": bidirectional LSTM annotations and
//     additive attention ([LSTM] with bidirectional, [AdditiveAttention]).
//   - Vaswani et al. 2017, "Attention Is All You Need": scaled dot-product
//     and multi-head attention ([MultiHeadAttention]), position-wise
//     feed-forward networks ([FeedForward]), sinusoidal positional encoding
//     ([SinusoidalPositions]), layer normalization ([LayerNorm], Ba et al.
//     2016), dropout ([Dropout], Srivastava et al. 2014), embeddings.
//
// # Parameters and names
//
// Every layer is built with a name prefix, and its parameters get
// hierarchical, dot-separated names below it, as PyTorch's state_dict does:
// a MultiHeadAttention built as "encoder.layers.0.self_attn" owns
// "encoder.layers.0.self_attn.q_proj.weight" and so on. Names of leaf
// parameters follow PyTorch where a PyTorch module exists (Linear "weight"
// and "bias", LSTM "weight_ih_l0", "bias_hh_l1_reverse", LayerNorm "weight"
// and "bias"), so checkpoints map one to one. Every layer has
// Params() []*tensor.Tensor; [Collect] gathers several and rejects
// duplicate names.
//
// # Initialization
//
// Initialization is deterministic: each parameter draws from its own
// random stream, seeded by the model's seed and the parameter's full name
// ([Rand]), so a parameter's initial value does not depend on what other
// layers exist or the order they were built in. The choices:
//
//   - Linear projections (the Transformer's Q/K/V/output projections and
//     FFN, the attention layers' W and U): Glorot/Xavier uniform
//     U(±√(6/(in+out))), biases 0 — as the Annotated Transformer and fairseq
//     do (torch.nn.MultiheadAttention's in_proj uses the same).
//   - LSTM: PyTorch's default, every weight and bias U(±1/√H).
//   - Embeddings: N(0, D^−1/2) (fairseq's choice for embeddings that are
//     scaled by √D, as the Transformer's are; the scaling is the model's
//     job); the padding row, if any, is 0.
//   - Bahdanau's v: U(±1/√A).
//   - LayerNorm: gain 1, bias 0.
//
// # Shapes
//
// Batches are batch-first: sequences are (B, T, D). Padding masks are
// []bool of B·T entries, true at padding.
package nn
