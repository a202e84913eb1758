package search

// node is one token of a hypothesis; hypotheses that share a prefix share
// its nodes, so extending a beam copies nothing.
type node struct {
	parent *node
	token  int32
	lp     float32 // log-probability of token given the prefix
	attn   []Map   // what the model attended to when it chose token
	depth  int     // tokens from the root, this one included
}

func (n *node) extend(token int32, lp float32, attn []Map) *node {
	d := 1
	if n != nil {
		d = n.depth + 1
	}
	return &node{parent: n, token: token, lp: lp, attn: attn, depth: d}
}

// hypothesis unrolls the path ending at n. When finished, n's token is EOS
// and is left out of Tokens (its log-probability and attention are kept).
func (n *node) hypothesis(logProb float64, finished bool, alpha float64, withAttn bool) Hypothesis {
	depth := 0
	if n != nil {
		depth = n.depth
	}
	h := Hypothesis{LogProb: logProb, Finished: finished, TokenLP: make([]float32, depth)}
	if withAttn {
		h.Attention = make([][]Map, depth)
	}
	ntok := depth
	if finished {
		ntok--
	}
	h.Tokens = make([]int32, ntok)
	for i, m := depth-1, n; m != nil; i, m = i-1, m.parent {
		if i < ntok {
			h.Tokens[i] = m.token
		}
		h.TokenLP[i] = m.lp
		if withAttn {
			h.Attention[i] = m.attn
		}
	}
	h.Score = logProb / lengthPenalty(depth, alpha)
	return h
}

// attentionOf copies what row attended to in the last step, or returns nil
// when not recording.
func attentionOf(st State, record bool, row int) []Map {
	if !record {
		return nil
	}
	a, ok := st.(Attender)
	if !ok {
		return nil
	}
	maps := a.LastAttention(row)
	out := make([]Map, len(maps))
	for i, m := range maps {
		out[i] = m
		out[i].Weights = append([]float32(nil), m.Weights...)
	}
	return out
}
