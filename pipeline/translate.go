package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
	"github.com/qkv-dev/qkv/text/placeholder"
	"github.com/qkv-dev/qkv/text/vocab"
)

// Output is one decoded hypothesis.
type Output struct {
	Text      string         // detokenized
	Tokens    []string       // target tokens, without EOS
	Score     float64        // ranking score (log-probability over the length penalty)
	LogProb   float64        // log P(tokens, EOS | source)
	Finished  bool           // ended with EOS rather than at the length limit
	Attention [][]search.Map // per output token (EOS last), when asked for
}

// Result is what one input line became.
type Result struct {
	Source       string
	SourceTokens []string     // the line's tokens as the model reads them (unknown ones as they were written)
	Unknown      []string     // the tokens the model never saw, read as <unk> (never set with Options.Strict)
	Truncated    int          // tokens cut from the end of a source longer than the model takes (Options.TruncateSource)
	Hyps         []Output     // best first; empty when Err is set
	EncoderAttn  []search.Map // the encoder's self-attention, when asked for and the model has it
	Err          error        // why the line could not be decoded
}

// Options for Translate.
type Options struct {
	Search    search.Options
	BatchSize int // sources decoded together (default 64), at most MaxBatchSize
	// Strict makes a source symbol the model never saw an error of its
	// line; by default such a symbol is read as <unk> and listed in
	// Result.Unknown.
	Strict bool
	// MaxLenA and MaxLenB bound each output by the length of its source,
	// as fairseq's --max-len-a/--max-len-b: at most ⌊A·|source|⌋ + B
	// decoding steps (output tokens counting the final EOS, as
	// Search.MaxLen counts them), and never more than the longest target
	// the model was trained for + 1 (data.max_tgt_len) nor Search.MaxLen
	// when that is given. nil takes the model's (data.max_len_a/b), else
	// DefaultMaxLenA/B.
	MaxLenA *float64
	MaxLenB *int
	// TruncateSource decodes a source longer than the model takes (data.
	// max_src_len) from its first tokens, as fairseq's --truncate-source,
	// instead of making it an error of its line: for scoring a test set,
	// where every source must get an output. Result.Truncated says.
	TruncateSource bool
	// FirstLine is the line number, in the whole input, of the first line
	// given to Translate (0 for the first call). Sampling keys each line's
	// random stream by it, so a long input decoded in pieces samples as it
	// would in one.
	FirstLine int
	// Lines, when set, numbers the lines given to Translate one by one
	// (instead of FirstLine, FirstLine+1, …): a server that decodes the
	// inputs of several requests together gives each its number within its
	// own request, so its samples do not depend on its neighbours.
	Lines []int
	// OrderedPlaceholders makes the placeholders of a model trained with
	// them come out in the source's order (the search only offers the next
	// one), as a c-format string without %1$s-style positions needs.
	OrderedPlaceholders bool
}

// MaxBatchSize bounds Options.BatchSize.
const MaxBatchSize = 4096

// maxRows bounds the decoder rows (sources × beam or samples) of one batch:
// a wide beam or many samples decode fewer sources at a time, so memory
// stays bounded whatever the batch size.
const maxRows = 4096

// Check returns an error naming the first option out of range (as the
// command line spells it: --beam, --batch-size, …). predict, eval and any
// other front end call it before decoding anything.
func (o Options) Check() error {
	if err := o.Search.Check(); err != nil {
		return err
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatchSize {
		return fmt.Errorf("--batch-size %d is out of range: decode 1 to %d inputs together", o.BatchSize, MaxBatchSize)
	}
	if o.FirstLine < 0 {
		return fmt.Errorf("pipeline: first line %d is negative", o.FirstLine)
	}
	if a := o.MaxLenA; a != nil && !(*a >= 0 && *a <= MaxLenAMax) {
		return fmt.Errorf("--max-len-a %v is out of range: use 0 to %d (output tokens per source token; %v is the default)", *a, MaxLenAMax, DefaultMaxLenA)
	}
	if b := o.MaxLenB; b != nil && (*b < 0 || *b > search.MaxOutputSteps) {
		return fmt.Errorf("--max-len-b %d is out of range: use 0 to %d (output tokens added to --max-len-a × the source's; %d is the default)", *b, search.MaxOutputSteps, DefaultMaxLenB)
	}
	if o.MaxLenA != nil && o.MaxLenB != nil && *o.MaxLenA == 0 && *o.MaxLenB == 0 {
		return errors.New("--max-len-a 0 and --max-len-b 0 leave no room for any output: raise one of them")
	}
	return nil
}

// The decoding limit that follows the source: ⌊A·|source|⌋ + B steps.
// A = 2, B = 10 let every target of the CMUdict G2P split and of the
// gettext En→De corpus through but two of 46,144 De training targets
// (docs/reliability.md has the measurements), while a hypothesis that
// loops stops at about twice its source's length instead of at the
// longest training target. fairseq's defaults (A = 0, B = 200) bound
// nothing by the source; Marian's --max-length-factor 3 (A = 3, B = 0)
// cuts short targets of one-token sources.
const (
	DefaultMaxLenA = 2.0
	DefaultMaxLenB = 10
	MaxLenAMax     = 1000 // bound of --max-len-a
)

// LengthLimit returns the A and B of the decoding limit opt asks for (see
// Options.MaxLenA): opt's own, else the model's data.max_len_a/b, else the
// defaults.
func (p *Pipeline) LengthLimit(opt Options) (a float64, b int) {
	a, b = DefaultMaxLenA, DefaultMaxLenB
	if d := p.Config.Data; d.MaxLenA != 0 || d.MaxLenB != 0 {
		a, b = d.MaxLenA, d.MaxLenB
	}
	if opt.MaxLenA != nil {
		a = *opt.MaxLenA
	}
	if opt.MaxLenB != nil {
		b = *opt.MaxLenB
	}
	return a, b
}

// sourceLimits returns each source's decoding limit, in steps: ⌊a·n⌋ + b
// for a source of n tokens, at least 1 and at most steps (the batch's
// limit) and the longest training target + 1.
func (p *Pipeline) sourceLimits(srcs [][]int32, a float64, b, steps int) []int {
	limit := steps
	if t := p.Config.Data.MaxTgtLen; t > 0 {
		limit = min(limit, t+1)
	}
	out := make([]int, len(srcs))
	for i, s := range srcs {
		n := math.Floor(a*float64(len(s))) + float64(b)
		out[i] = max(1, int(min(n, float64(limit))))
	}
	return out
}

// Translate decodes every line. Lines are grouped by length into batches so
// little work goes to padding; results come back in input order. A bad line
// (empty, too long, or with unknown symbols when Strict) gets its own Err
// and does not stop the others.
func (p *Pipeline) Translate(lines []string, opt Options) []Result {
	return p.TranslateContext(context.Background(), lines, opt)
}

// TranslateContext is Translate stopped by ctx: once ctx is done, no
// further decoding step is taken, and every line not decoded by then gets
// ctx's error as its Err.
func (p *Pipeline) TranslateContext(ctx context.Context, lines []string, opt Options) []Result {
	results := make([]Result, len(lines))
	if opt.Lines != nil && len(opt.Lines) != len(lines) {
		for i := range results {
			results[i].Source = lines[i]
			results[i].Err = fmt.Errorf("pipeline: %d line numbers for %d lines", len(opt.Lines), len(lines))
		}
		return results
	}
	var ok []int
	srcs := make([][]int32, len(lines))
	for i, line := range lines {
		results[i].Source = line
		ids, toks, unknown, cut, err := p.encodeSource(line, opt.Strict, opt.TruncateSource)
		if err != nil {
			results[i].Err = err
			continue
		}
		srcs[i] = ids
		results[i].SourceTokens = toks
		results[i].Unknown = unknown
		results[i].Truncated = cut
		ok = append(ok, i)
	}
	slices.SortStableFunc(ok, func(a, b int) int { return cmp.Compare(len(srcs[a]), len(srcs[b])) })
	bs := opt.BatchSize
	if bs <= 0 {
		bs = 64
	}
	bs = max(1, min(bs, maxRows/max(opt.Search.Beam, opt.Search.NBest, 1)))
	g := tensor.NewGraph(0)
	g.SetTraining(false)
	g.SetNoGrad(true)
	lenA, lenB := p.LengthLimit(opt)
	for start := 0; start < len(ok); start += bs {
		idx := ok[start:min(start+bs, len(ok))]
		chunk := make([][]int32, len(idx))
		sopt := opt.Search
		sopt.Lines = make([]int, len(idx))
		for j, i := range idx {
			chunk[j] = srcs[i]
			sopt.Lines[j] = opt.FirstLine + i
			if opt.Lines != nil {
				sopt.Lines[j] = opt.Lines[i]
			}
		}
		var err error
		chunkLines := make([]string, len(idx))
		for j, i := range idx {
			chunkLines[j] = lines[i]
		}
		if sopt.Constraint, err = p.placeholderConstraint(chunk, chunkLines, opt.OrderedPlaceholders); err != nil {
			for _, i := range idx {
				results[i].Err = err
			}
			continue
		}
		restore := p.restoresUnknown(opt) && slices.ContainsFunc(chunk, holdsUnknown)
		if restore {
			// Copy attention can copy a source's <unk>: let the search emit
			// it for such sources only, and record the copy maps to find
			// which source token each <unk> copied.
			has := make([]bool, len(chunk))
			for j, src := range chunk {
				has[j] = holdsUnknown(src)
			}
			sopt.AllowUnk, sopt.Attention = true, true
			sopt.Constraint = unknownFromSource{has: has, next: sopt.Constraint}
		}
		hyps, encAttn, err := p.decodeBatch(ctx, g, chunk, sopt, lenA, lenB)
		if restore && !opt.Search.Attention {
			encAttn = nil
		}
		for j, i := range idx {
			if err != nil {
				results[i].Err = err
				continue
			}
			if restore {
				for h := range hyps[j] {
					p.restoreUnknown(&hyps[j][h], chunk[j], results[i].SourceTokens)
					if !opt.Search.Attention {
						hyps[j][h].Attention = nil
					}
				}
			}
			results[i].Hyps = hyps[j]
			if p.Config.Data.Placeholders {
				pr := placeholder.Protect(lines[i])
				for h := range results[i].Hyps {
					results[i].Hyps[h].Text = pr.Restore(results[i].Hyps[h].Text)
				}
			}
			if encAttn != nil {
				results[i].EncoderAttn = encAttn[j]
			}
		}
	}
	return results
}

// restoresUnknown reports whether decoding with opt lets a copy-attention
// model copy unknown source tokens: a source token the vocabulary lacks is
// read as <unk>, copy attention can copy it like any other, and the output's
// <unk> is then replaced by the source's own text (See et al. 2017 copy
// such out-of-vocabulary words through a vocabulary extended per source;
// here the copy distribution says which <unk> of the source was copied).
// Not with AllowUnk (the user asked to see <unk>), nor for ensembles,
// whose members report no attention.
func (p *Pipeline) restoresUnknown(opt Options) bool {
	return p.Config.Model.Copy && !opt.Search.AllowUnk && p.EnsembleSize() == 1
}

// holdsUnknown reports whether a source holds <unk>.
func holdsUnknown(src []int32) bool { return slices.Contains(src, vocab.UNK) }

// unknownFromSource lets the search emit <unk> only for sources that hold
// one (has[src]), so every <unk> of an output can be a copy of the source's;
// next, if not nil, restricts further (placeholders).
type unknownFromSource struct {
	has  []bool
	next search.Constraint
}

func (u unknownFromSource) Restrict(src int, prefix []int32, left int, logp []float32) {
	if !u.has[src] {
		logp[vocab.UNK] = float32(math.Inf(-1))
	}
	if u.next != nil {
		u.next.Restrict(src, prefix, left, logp)
	}
}

// restoreUnknown replaces each <unk> of o by the text of the source token
// it copied: among src's <unk> positions, the one with the largest copy
// weight at that step (the copy map averaged over its heads). srcToks are
// the source's tokens as written. o.Text is detokenized again.
func (p *Pipeline) restoreUnknown(o *Output, src []int32, srcToks []string) {
	unk := p.Tgt.Symbol(vocab.UNK)
	changed := false
	for k, tok := range o.Tokens {
		if tok != unk || k >= len(o.Attention) {
			continue
		}
		for _, m := range o.Attention[k] {
			if !m.Copies {
				continue
			}
			best, bestW := -1, float32(-1)
			for j := 0; j < m.Keys && j < len(src) && j < len(srcToks); j++ {
				if src[j] != vocab.UNK {
					continue
				}
				var w float32
				for h := range m.Heads {
					w += m.Weights[h*m.Keys+j]
				}
				if w > bestW {
					best, bestW = j, w
				}
			}
			if best >= 0 {
				o.Tokens[k], changed = srcToks[best], true
			}
		}
	}
	if changed {
		o.Text = p.TgtTok.Detokenize(o.Tokens)
	}
}

// maxSteps is the decoding limit: the one asked for, else the longest
// target the model was trained for, plus EOS; either within what the model
// can represent.
func (p *Pipeline) maxSteps(opt search.Options) int {
	n := opt.MaxLen
	if n <= 0 {
		n = p.Config.Data.MaxTgtLen + 1
		if n <= 1 {
			n = 256
		}
	}
	if ml := p.Config.Model.MaxLen; ml > 0 && n > ml {
		n = ml
	}
	return n
}

// Special is the search's view of the target vocabulary's special symbols.
var Special = search.Special{PAD: vocab.PAD, BOS: vocab.BOS, EOS: vocab.EOS, UNK: vocab.UNK}

func (p *Pipeline) decodeBatch(ctx context.Context, g *tensor.Graph, srcs [][]int32, opt search.Options, lenA float64, lenB int) ([][]Output, [][]search.Map, error) {
	defer g.Reset()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	b := batch.Sources(srcs)
	dec, err := p.Model.Start(g, b)
	if err != nil {
		return nil, nil, err
	}
	if ctx.Done() != nil {
		dec = ctxDecoder{dec, ctx}
	}
	var encAttn [][]search.Map
	if opt.Attention {
		for r := range srcs {
			if m := dec.EncoderAttention(r); m != nil {
				encAttn = append(encAttn, m)
			}
		}
		if len(encAttn) != len(srcs) {
			encAttn = nil
		}
	}
	opt.MaxLen = p.maxSteps(opt)
	opt.SourceMaxLen = p.sourceLimits(srcs, lenA, lenB, opt.MaxLen)
	hyps, err := search.Decode(dec, len(srcs), Special, opt)
	if cacheBytes(dec) >= collectAfter {
		// The caches are garbage once the search is done. Left to the
		// collector's pacing (GOGC=100), they would stay until the heap
		// reached twice what was live at the last collection, beside the
		// next batch's own (beam 4 on 256 words of G2P: a heap of 245 MB
		// for 124 MB live). Collecting them now keeps the heap near what
		// one batch holds, and costs little: what stays live is mostly
		// pointer-free floats (weights, arena, caches), which the collector
		// does not scan (about a millisecond of CPU, against seconds of
		// decoding a batch).
		dec = nil
		runtime.GC()
	}
	if err != nil {
		return nil, nil, err
	}
	out := make([][]Output, len(srcs))
	for r, hs := range hyps {
		for _, h := range hs {
			text, toks := p.DecodeTarget(h.Tokens)
			out[r] = append(out[r], Output{Text: text, Tokens: toks, Score: h.Score, LogProb: h.LogProb, Finished: h.Finished, Attention: h.Attention})
		}
	}
	return out, encAttn, nil
}

// collectAfter is the size of a batch's decoder caches from which
// decodeBatch collects them as soon as the search is done (16 MB).
var collectAfter = 16 << 20 // a variable for the test

// cacheBytes is what dec's key/value caches allocated, for models that
// report it (the Transformer), else 0.
func cacheBytes(dec search.State) int {
	if d, ok := dec.(ctxDecoder); ok {
		dec = d.Decoder
	}
	c, ok := dec.(interface{ CacheFloats() (allocated, held int) })
	if !ok {
		return 0
	}
	allocated, _ := c.CacheFloats()
	return 4 * allocated
}

// placeholderConstraint returns the search constraint that copies the
// placeholders of each source exactly once (nil without Placeholders); line
// breaks and tabs stay inside the output, as they are inside the source.
func (p *Pipeline) placeholderConstraint(srcs [][]int32, lines []string, ordered bool) (search.Constraint, error) {
	if !p.Config.Data.Placeholders {
		return nil, nil
	}
	tokens := map[int32]int{}
	for k := 1; k <= placeholder.MaxMarkers; k++ {
		if id, ok := p.Tgt.ID(placeholder.Marker(k)); ok && id >= len(vocab.Specials) {
			tokens[int32(id)] = k
		}
	}
	need := make([][]int, len(srcs))
	for i, src := range srcs {
		for _, id := range src {
			if k, ok := placeholder.ParseMarker(p.Src.Symbol(int(id))); ok && !slices.Contains(need[i], k) {
				need[i] = append(need[i], k)
			}
		}
	}
	c, err := search.NewPlaceholders(tokens, Special.EOS, need, ordered)
	if err != nil {
		return nil, err
	}
	for i, line := range lines {
		var inside []int
		for k, kind := range placeholder.Protect(line).Kinds {
			if kind == placeholder.Break {
				inside = append(inside, k+1)
			}
		}
		if inside != nil {
			c.KeepInside(i, inside)
		}
	}
	return c, nil
}

// ctxDecoder stops decoding once its context is done: the search returns
// Step's error.
type ctxDecoder struct {
	model.Decoder
	ctx context.Context
}

func (d ctxDecoder) Step(tokens []int32) ([]float32, error) {
	if err := d.ctx.Err(); err != nil {
		return nil, err
	}
	return d.Decoder.Step(tokens)
}
