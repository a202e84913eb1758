package serve

import (
	"encoding/json"
	"math"
	"strconv"
)

// The JSON of the API. docs/serving.md describes it for users; keep the two
// in step, and never change the meaning of a field once it is out.

// TranslateRequest is the body of POST /v1/translate. Absent fields take
// the defaults of qkv predict: greedy decoding, one output per input.
type TranslateRequest struct {
	Model  string   `json:"model"`  // a name from GET /v1/models; may be left out when one model is served
	Inputs []string `json:"inputs"` // one source text each, at least one

	Beam        *int     `json:"beam"`        // beam size, default the model's decoding (GET /v1/models: 1, greedy, unless served with another)
	NBest       int      `json:"nbest"`       // outputs per input (0: 1); ≤ beam, or samples drawn with sample
	Alpha       *float64 `json:"alpha"`       // GNMT length penalty α, default the model's (0) when the beam is over 1
	MaxLen      int      `json:"max_len"`     // output tokens at most, EOS included (0: the model's default)
	MaxLenA     *float64 `json:"max_len_a"`   // outputs stop at ⌊max_len_a·|input tokens|⌋ + max_len_b tokens, EOS included (fairseq's --max-len-a); default: the server's --max-len-a, else the model's
	MaxLenB     *int     `json:"max_len_b"`   // b of that limit; default as max_len_a
	Sample      bool     `json:"sample"`      // draw outputs instead of searching
	Temperature *float64 `json:"temperature"` // sampling temperature, default 1
	TopK        int      `json:"top_k"`       // sample among the k most likely tokens (0: all)
	Seed        *uint64  `json:"seed"`        // sampling seed, default 1; input i samples from the stream of (seed, i)
	Strict      bool     `json:"strict"`      // an input with a symbol the model never saw is an error (default: read as <unk>)
	AllowUnk    bool     `json:"allow_unk"`   // let outputs hold <unk>
	Attention   bool     `json:"attention"`   // return the attention behind every output token
}

// TranslateResponse is the answer to a request that was decoded (200),
// even if some of its inputs failed: each result says.
type TranslateResponse struct {
	Model   string   `json:"model"`
	Results []Result `json:"results"` // one per input, in order
	Timing  Timing   `json:"timing"`
}

// Result is what one input became: outputs, or an error for this input
// alone (empty, too long, unknown symbols with strict, …).
type Result struct {
	Input        string   `json:"input"`
	SourceTokens []string `json:"source_tokens,omitempty"` // the tokens the model read
	Unknown      []string `json:"unknown,omitempty"`       // tokens the model never saw, read as <unk>
	Outputs      []Output `json:"outputs"`                 // best first; empty when error is set
	// EncoderAttention, when asked for and the model has it: per encoder
	// layer (by module name), heads × query tokens × key tokens.
	EncoderAttention map[string][][][]float32 `json:"encoder_attention,omitempty"`
	Error            string                   `json:"error,omitempty"`
}

// Output is one decoded hypothesis.
type Output struct {
	Text     string    `json:"text"`
	Tokens   []string  `json:"tokens"`
	Score    jsonFloat `json:"score"`    // ranking score: log_prob over the length penalty
	LogProb  jsonFloat `json:"log_prob"` // log P(tokens, EOS | input)
	Finished bool      `json:"finished"` // ended with EOS rather than at max_len
	// Attention, when asked for: one entry per output token (and a last one
	// for EOS when finished), mapping each attention module's name
	// ("decoder.0.cross_attn", "decoder.0.self_attn", RNNsearch's
	// "attention") to its weights, heads × keys. Keys are the source tokens
	// for cross-attention, <s> and the earlier output tokens for decoder
	// self-attention. Every row sums to 1.
	Attention []map[string][][]float32 `json:"attention,omitempty"`
	// CopyProb, when attention is asked for and the model has copy
	// attention: per entry of Attention, the probability 1 − p_gen that
	// the token was copied from the source (through CopyModule's weights,
	// averaged over its heads) rather than generated.
	CopyProb   []float32 `json:"copy_prob,omitempty"`
	CopyModule string    `json:"copy_module,omitempty"`
}

// Timing says where a request's time went, in milliseconds.
type Timing struct {
	QueueMS  float64 `json:"queue_ms"`  // from arrival to the first decoding batch holding one of its inputs
	DecodeMS float64 `json:"decode_ms"` // from then to its last result
	TotalMS  float64 `json:"total_ms"`  // the whole request, reading and writing included
}

// ModelsResponse is the answer to GET /v1/models.
type ModelsResponse struct {
	Models []ModelInfo `json:"models"`
}

// ModelInfo describes a served model.
type ModelInfo struct {
	Name         string          `json:"name"`
	Default      bool            `json:"default"` // used when a request names no model
	Arch         string          `json:"arch"`
	Parameters   uint64          `json:"parameters"`
	Config       json.RawMessage `json:"config"` // the model section of config.json: sizes, layers, heads, …
	SrcVocab     int             `json:"src_vocab"`
	TgtVocab     int             `json:"tgt_vocab"`
	SrcTokenizer string          `json:"src_tokenizer"`
	TgtTokenizer string          `json:"tgt_tokenizer"`
	Lowercase    bool            `json:"lowercase"`
	MaxSrcLen    int             `json:"max_src_len"` // longest input, in tokens
	MaxTgtLen    int             `json:"max_tgt_len"`
	Attention    []string        `json:"attention"` // what attention it can return: "encoder", "decoder", "cross" (none for seq2seq and ensembles)
	Decoding     Decoding        `json:"decoding"`  // what a request that gives no beam or alpha decodes with
	// Members, for an ensemble (Arch "ensemble"; Config null): its models,
	// in order. Parameters is then the sum of theirs.
	Members []MemberInfo `json:"members,omitempty"`
}

// Decoding is a model's default search: a built-in model's is the one
// chosen for it on validation data (its card), any other's greedy.
type Decoding struct {
	Beam  int     `json:"beam"`
	Alpha float64 `json:"alpha"`
}

// MemberInfo describes one model of an ensemble.
type MemberInfo struct {
	Arch       string          `json:"arch"`
	Parameters uint64          `json:"parameters"`
	Config     json.RawMessage `json:"config"` // its config.json's model section
}

// ErrorResponse is the body of every 4xx and 5xx answer.
type ErrorResponse struct {
	Error APIError `json:"error"`
}

// APIError says what went wrong: Code is stable and meant for programs,
// Message for people, Field names the request field at fault ("beam",
// "inputs[2]"), when one is.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error codes.
const (
	CodeInvalidJSON  = "invalid_json"   // the body is not one JSON object
	CodeWrongType    = "wrong_type"     // a field holds the wrong kind of value
	CodeUnknownField = "unknown_field"  // a field the API does not have
	CodeInvalidUTF8  = "invalid_utf8"   // the body is not UTF-8 text
	CodeMissingField = "missing_field"  // a required field is absent or empty
	CodeOutOfRange   = "out_of_range"   // a number outside its range, too many inputs
	CodeUnknownModel = "unknown_model"  // no model of that name is served
	CodeBadInput     = "bad_input"      // no input of the request could be read
	CodeUnsupported  = "unsupported"    // the model cannot do what is asked (a walk-through of a model that is not a Transformer)
	CodeBodyTooLarge = "body_too_large" // 413
	CodeContentType  = "unsupported_media_type"
	CodeMethod       = "method_not_allowed"
	CodeNotFound     = "not_found"
	CodeOverloaded   = "overloaded"     // 429: too many requests in flight or queued
	CodeTimeout      = "timeout"        // 504: not decoded within the server's timeout
	CodeShuttingDown = "shutting_down"  // 503
	CodeInternal     = "internal_error" // 500
)

// jsonFloat is a float64 that encodes NaN and ±Inf (which JSON lacks) as
// null instead of failing the whole answer.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
}
