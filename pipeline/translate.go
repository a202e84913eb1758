package pipeline

import (
	"cmp"
	"slices"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/tensor"
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
	SourceTokens []string
	Hyps         []Output     // best first; empty when Err is set
	EncoderAttn  []search.Map // the encoder's self-attention, when asked for and the model has it
	Err          error        // why the line could not be decoded
}

// Options for Translate.
type Options struct {
	Search    search.Options
	BatchSize int // sources decoded together (default 64)
}

// Translate decodes every line. Lines are grouped by length into batches so
// little work goes to padding; results come back in input order. A bad line
// (empty, unknown symbols, too long) gets its own Err and does not stop
// the others.
func (p *Pipeline) Translate(lines []string, opt Options) []Result {
	results := make([]Result, len(lines))
	var ok []int
	srcs := make([][]int32, len(lines))
	for i, line := range lines {
		results[i].Source = line
		ids, err := p.EncodeSource(line)
		if err != nil {
			results[i].Err = err
			continue
		}
		srcs[i] = ids
		results[i].SourceTokens = p.Src.Decode(toInt(ids))
		ok = append(ok, i)
	}
	slices.SortStableFunc(ok, func(a, b int) int { return cmp.Compare(len(srcs[a]), len(srcs[b])) })
	bs := opt.BatchSize
	if bs <= 0 {
		bs = 64
	}
	g := tensor.NewGraph(0)
	g.SetTraining(false)
	g.SetNoGrad(true)
	for start := 0; start < len(ok); start += bs {
		idx := ok[start:min(start+bs, len(ok))]
		chunk := make([][]int32, len(idx))
		for j, i := range idx {
			chunk[j] = srcs[i]
		}
		hyps, encAttn, err := p.decodeBatch(g, chunk, opt.Search)
		for j, i := range idx {
			if err != nil {
				results[i].Err = err
				continue
			}
			results[i].Hyps = hyps[j]
			if encAttn != nil {
				results[i].EncoderAttn = encAttn[j]
			}
		}
	}
	return results
}

// maxSteps is the default decoding limit: the longest target the model was
// trained for, plus EOS, within what the model can represent.
func (p *Pipeline) maxSteps(opt search.Options) int {
	if opt.MaxLen > 0 {
		return opt.MaxLen
	}
	n := p.Config.Data.MaxTgtLen + 1
	if n <= 1 {
		n = 256
	}
	if ml := p.Config.Model.MaxLen; ml > 0 && n > ml {
		n = ml
	}
	return n
}

func (p *Pipeline) decodeBatch(g *tensor.Graph, srcs [][]int32, opt search.Options) ([][]Output, [][]search.Map, error) {
	defer g.Reset()
	b := batch.Sources(srcs)
	dec, err := p.Model.Start(g, b)
	if err != nil {
		return nil, nil, err
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
	hyps, err := search.Decode(dec, len(srcs), search.Special{BOS: vocab.BOS, EOS: vocab.EOS}, opt)
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
