package explain

import (
	"errors"
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
	"github.com/qkv-dev/qkv/text/vocab"
)

// The three roles, in words a learner knows.
const (
	RoleQuery = "the query is the question this token asks"
	RoleKey   = "a key is the name tag each token wears"
	RoleValue = "a value is what a token hands over when chosen"
)

// Query picks the attention to walk through: one query token of one head
// of one layer of one kind.
type Query struct {
	Kind  string // EncSelf, DecSelf or Cross
	Layer int    // 0-based
	Head  int    // 0-based
	Token int    // the query's position: a source token (EncSelf) or an output step (DecSelf, Cross; the last one writes EOS)
	// Target is the decoder's side for DecSelf and Cross: empty means the
	// model's own greedy output for the input.
	Target string
	// TargetTokens, when not nil, is the decoder's side as tokens, taken
	// as they are (as a decoder returned them: a server's page walks
	// through the very output it shows); Target must then be empty.
	TargetTokens []string
}

// Token is one position and what it holds.
type Token struct {
	Index int    `json:"index"`
	Token string `json:"token"`
	// Reads is, for a decoder position, the token it reads (<s> or the
	// previous output); Token is then the one it writes.
	Reads string `json:"reads,omitempty"`
}

// Key is one key position j: its input x_j, key k_j = x_j·W_K + b_K and
// value v_j = x_j·W_V + b_V (this head's columns), the score q·k_j/√d_k and
// the softmax weight w_j.
type Key struct {
	Token
	X      []float32 `json:"x"`
	K      []float32 `json:"k"`
	V      []float32 `json:"v"`
	Score  float32   `json:"score"`
	Weight float32   `json:"weight"`
}

// Walkthrough is what one head computes for one query token, from the
// trained weights: x, q, every key and value, the scores, the weights,
// the weighted sum of the values and the head's share of the output
// projection. Row vectors throughout: q = x·W_Q + b_Q, where W_Q is the
// transpose of the stored (torch.nn.Linear) weight.
type Walkthrough struct {
	Kind    string `json:"kind"`
	Module  string `json:"module"` // e.g. "decoder.layers.1.cross_attn"
	Layer   int    `json:"layer"`
	Head    int    `json:"head"`
	Heads   int    `json:"heads"`
	DModel  int    `json:"d_model"`
	DK      int    `json:"d_k"`              // d_model / heads: the size of q, k and v
	Norm    string `json:"norm"`             // "pre-norm" or "post-norm"
	InputIs string `json:"input_is"`         // what x is, in words
	KeysAre string `json:"keys_are"`         // what the keys' x_j are, in words
	Masked  string `json:"masked,omitempty"` // which keys the query may not see, in words

	Source     []string `json:"source"`
	Target     []string `json:"target,omitempty"`      // the output tokens the decoder ran on (DecSelf, Cross)
	TargetFrom string   `json:"target_from,omitempty"` // "greedy" (the model's own output) or "given"
	Unknown    []string `json:"unknown,omitempty"`     // source tokens the model never saw, read as <unk>

	Query Token     `json:"query"`
	X     []float32 `json:"x"`     // the query token's input to the projections (d_model)
	Q     []float32 `json:"q"`     // x·W_Q + b_Q, this head's d_k columns
	Scale float32   `json:"scale"` // 1/√d_k
	Keys  []Key     `json:"keys"`  // every key the query may see, in position order

	Context  []float32 `json:"context"`   // Σ_j w_j v_j (d_k)
	OutShare []float32 `json:"out_share"` // context·W_O[this head's rows] (d_model): the head's share of the output
	OutBias  []float32 `json:"out_bias"`  // b_O (d_model), added once for all heads

	// From the model's own forward pass, for comparison: the weights it
	// computed for this head and query, and the attention sub-layer's
	// output at the query (all heads' shares + b_O).
	ForwardWeights []float32 `json:"forward_weights"`
	ForwardOutput  []float32 `json:"forward_output"`

	Roles [3]string `json:"roles"` // RoleQuery, RoleKey, RoleValue
}

// Walk runs the model on input (and on the decoder side for DecSelf and
// Cross: q.Target, or the model's greedy output) and walks through q.
// Errors name the option at fault as the command line spells it (--kind,
// --layer, --head, --query-token, --target) with its valid range.
func Walk(p *pipeline.Pipeline, input string, q Query) (*Walkthrough, error) {
	cfg := p.Config.Model
	if cfg.Arch != model.ArchTransformer {
		what := "no attention at all: its encoder hands the decoder one vector"
		if cfg.Arch == model.ArchRNNSearch {
			what = "additive attention (a small network scores each source token), not queries, keys and values; qkv attention draws its maps"
		}
		return nil, fmt.Errorf("the Q·K·V walk-through needs a Transformer; this model is %s, which has %s", cfg.Arch, what)
	}
	var layers int
	switch q.Kind {
	case EncSelf:
		layers = cfg.EncLayers
	case DecSelf, Cross:
		layers = cfg.DecLayers
	default:
		return nil, fmt.Errorf("--kind %s is not a kind of attention: use enc-self, dec-self or cross", excerpt.Quote(q.Kind))
	}
	where := "decoder"
	if q.Kind == EncSelf {
		where = "encoder"
	}
	if q.Layer < 0 || q.Layer >= layers {
		return nil, fmt.Errorf("--layer %d is out of range: the %s has %d layers (0 to %d)", q.Layer, where, layers, layers-1)
	}
	if q.Head < 0 || q.Head >= cfg.Heads {
		return nil, fmt.Errorf("--head %d is out of range: each layer has %d heads (0 to %d)", q.Head, cfg.Heads, cfg.Heads-1)
	}
	srcIDs, unknown, err := p.EncodeSourceUnk(input)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	w := &Walkthrough{Kind: q.Kind, Layer: q.Layer, Head: q.Head, Heads: cfg.Heads, DModel: cfg.DModel, DK: cfg.DModel / cfg.Heads,
		Source: p.Config.Data.SourceTokens(p.SrcTok, input), Unknown: unknown, Roles: [3]string{RoleQuery, RoleKey, RoleValue}}
	var tgtIDs []int32
	if q.Kind != EncSelf {
		if tgtIDs, w.Target, err = target(p, input, q.Target, q.TargetTokens); err != nil {
			return nil, err
		}
		w.TargetFrom = "greedy"
		if q.Target != "" || q.TargetTokens != nil {
			w.TargetFrom = "given"
		}
	}
	// The query positions and the key labels.
	var nq int
	var keyToks []string
	switch q.Kind {
	case EncSelf:
		nq, keyToks = len(w.Source), w.Source
		if q.Token >= 0 && q.Token < nq {
			w.Query = Token{Index: q.Token, Token: w.Source[q.Token]}
		}
	default:
		nq = len(w.Target) + 1
		reads := append([]string{BOS}, w.Target...)
		keyToks = w.Source
		if q.Kind == DecSelf {
			keyToks = reads
		}
		if q.Token >= 0 && q.Token < nq {
			writes := EOS
			if q.Token < len(w.Target) {
				writes = w.Target[q.Token]
			}
			w.Query = Token{Index: q.Token, Token: writes, Reads: reads[q.Token]}
		}
	}
	if q.Token < 0 || q.Token >= nq {
		if q.Kind == EncSelf {
			return nil, fmt.Errorf("--query-token %d is out of range: the encoder's queries are the %d source tokens (0 to %d)", q.Token, nq, nq-1)
		}
		return nil, fmt.Errorf("--query-token %d is out of range: the decoder's queries are its %d steps, one per output token and one for </s> (0 to %d)", q.Token, nq, nq-1)
	}

	// The model's own forward pass, traced.
	b, err := batch.Make([]batch.Example{{Src: srcIDs, Tgt: tgtIDs}}, []int{0})
	if err != nil {
		return nil, err
	}
	g := tensor.NewGraph(0)
	g.SetTraining(false)
	g.SetNoGrad(true)
	var call *model.AttentionCall
	_, err = model.Trace(p.Model, g, b, func(c model.AttentionCall) {
		if c.Kind == q.Kind && c.Layer == q.Layer {
			cc := c
			call = &cc
		}
	})
	if err != nil {
		return nil, err
	}
	if call == nil {
		return nil, errors.New("explain: the forward pass did not reach the chosen layer")
	}
	w.fill(call, q, keyToks, cfg.PreNorm, cfg.PreNorm || cfg.FinalNorm)
	return w, nil
}

// target returns the decoder's side: the given tokens, or the given text
// tokenized, encoded; or the model's greedy output for input.
func target(p *pipeline.Pipeline, input, text string, given []string) ([]int32, []string, error) {
	var toks []string
	switch {
	case given != nil && text != "":
		return nil, nil, errors.New("--target: give the decoder's side as text or as tokens, not both")
	case given != nil:
		toks = given
	case text != "":
		toks = p.Config.Data.TargetTokens(p.TgtTok, input, text) // placeholders numbered as the input's, when the model protects them
		if len(toks) == 0 {
			return nil, nil, errors.New("--target is blank: give the output to walk through, or leave --target out to use the model's own")
		}
	default:
		res := p.Translate([]string{input}, pipeline.Options{BatchSize: 1, Search: search.Options{Beam: 1}})
		if res[0].Err != nil {
			return nil, nil, fmt.Errorf("--input: %w", res[0].Err)
		}
		toks = res[0].Hyps[0].Tokens
	}
	if max := p.Config.Model.MaxLen; len(toks)+1 > max {
		return nil, nil, fmt.Errorf("--target is %d tokens long; the model has %d positions", len(toks), max)
	}
	ids := make([]int32, len(toks))
	for i, t := range toks {
		id, ok := p.Tgt.ID(t)
		if !ok || id < len(vocab.Specials) {
			return nil, nil, fmt.Errorf("--target: token %d, %s, is not in the model's target vocabulary", i, excerpt.Quote(t))
		}
		ids[i] = int32(id)
	}
	return ids, toks, nil
}

// fill computes the walk-through from the traced call.
func (w *Walkthrough) fill(c *model.AttentionCall, q Query, keyToks []string, preNorm, finalNorm bool) {
	D, dk, h := w.DModel, w.DK, q.Head
	a := c.Attn
	w.Module = moduleName(q.Kind, q.Layer)
	w.Norm = "post-norm"
	if preNorm {
		w.Norm = "pre-norm"
	}
	norm := map[string]string{EncSelf: "norm1", DecSelf: "norm1", Cross: "norm2"}[q.Kind]
	switch {
	case preNorm:
		w.InputIs = fmt.Sprintf("the layer-normed residual stream: %s of layer %d applied to what enters the sub-layer (pre-norm)", norm, q.Layer)
	case q.Kind == Cross:
		w.InputIs = fmt.Sprintf("the residual stream entering the sub-layer: the output of layer %d's self-attention sub-layer, after its norm1 (post-norm)", q.Layer)
	case q.Layer == 0:
		w.InputIs = "the token's embedding ×√d_model plus its position's encoding: what enters the first layer (post-norm)"
	default:
		w.InputIs = fmt.Sprintf("the residual stream entering the sub-layer: the output of layer %d, after its last norm (post-norm)", q.Layer-1)
	}
	switch q.Kind {
	case Cross:
		w.KeysAre = "the encoder's output for each source token: keys and values come from the source"
		if finalNorm {
			w.KeysAre = "the encoder's output for each source token, after its final norm: keys and values come from the source"
		}
	case DecSelf:
		w.KeysAre = "the same stream as x, at every decoder position up to the query's"
		w.Masked = "later positions are masked: a decoder step may not look at what it has not written yet"
	default:
		w.KeysAre = "the same stream as x, at every source token"
	}
	Tq, Tk := c.Query.Shape[1], c.Src.Shape[1]
	i := q.Token
	w.X = clone(c.Query.Data[i*D : (i+1)*D])
	w.Q = project(a.Q, w.X, h*dk, dk)
	scale := 1 / math.Sqrt(float64(dk))
	w.Scale = float32(scale)
	nk := Tk
	if c.Causal {
		nk = i + 1 + Tk - Tq
	}
	w.Keys = make([]Key, nk)
	scores := make([]float64, nk)
	mx := math.Inf(-1)
	for j := range nk {
		x := clone(c.Src.Data[j*D : (j+1)*D])
		k := project(a.K, x, h*dk, dk)
		v := project(a.V, x, h*dk, dk)
		var s float64
		for d := range dk {
			s += float64(w.Q[d]) * float64(k[d])
		}
		s *= scale
		scores[j] = s
		mx = max(mx, s)
		w.Keys[j] = Key{Token: Token{Index: j, Token: keyToks[j]}, X: x, K: k, V: v, Score: float32(s)}
	}
	var z float64
	for j := range scores {
		scores[j] = math.Exp(scores[j] - mx)
		z += scores[j]
	}
	ctx := make([]float64, dk)
	for j := range w.Keys {
		wj := scores[j] / z
		w.Keys[j].Weight = float32(wj)
		for d := range dk {
			ctx[d] += wj * float64(w.Keys[j].V[d])
		}
	}
	w.Context = make([]float32, dk)
	for d := range dk {
		w.Context[d] = float32(ctx[d])
	}
	// The head's share: context·W_O restricted to the head's rows; the
	// stored weight is (out, in), so row o's columns h·dk … (h+1)·dk.
	wo := a.Out.Weight.Data
	w.OutShare = make([]float32, D)
	for o := range D {
		var s float64
		for d := range dk {
			s += ctx[d] * float64(wo[o*D+h*dk+d])
		}
		w.OutShare[o] = float32(s)
	}
	if a.Out.Bias != nil {
		w.OutBias = clone(a.Out.Bias.Data)
	} else {
		w.OutBias = make([]float32, D)
	}
	w.ForwardWeights = clone(c.Probs[(h*Tq+i)*Tk : (h*Tq+i)*Tk+nk])
	w.ForwardOutput = clone(c.Out.Data[i*D : (i+1)*D])
}

// moduleName is the parameter prefix of the attention module.
func moduleName(kind string, layer int) string {
	switch kind {
	case EncSelf:
		return nn.Join("encoder.layers", layer, "self_attn")
	case DecSelf:
		return nn.Join("decoder.layers", layer, "self_attn")
	}
	return nn.Join("decoder.layers", layer, "cross_attn")
}

// project returns columns [from, from+n) of x·Wᵀ + b for the Linear l
// (weight (out, in)), in float64 arithmetic.
func project(l *nn.Linear, x []float32, from, n int) []float32 {
	in := len(x)
	out := make([]float32, n)
	for c := range n {
		row := l.Weight.Data[(from+c)*in : (from+c+1)*in]
		var s float64
		for k, xv := range x {
			s += float64(xv) * float64(row[k])
		}
		if l.Bias != nil {
			s += float64(l.Bias.Data[from+c])
		}
		out[c] = float32(s)
	}
	return out
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }
