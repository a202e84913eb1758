package search

import (
	"fmt"
	"math"
	"slices"
)

// Constraint restricts what a hypothesis may emit next: a lexical
// constraint in the sense of Hokamp & Liu 2017 and Post & Vilar 2018
// (constrained decoding), here in its simplest form, a mask applied to the
// model's distribution at every step of every search (greedy, beam,
// sampling, ensembles, which are one State). Set Options.Constraint.
type Constraint interface {
	// Restrict sets to −Inf, in logp (one row of V log-probabilities), the
	// tokens that the hypothesis of source src, having emitted prefix
	// (without BOS), may not emit next; left is the number of steps it has
	// left, this one included (Options.MaxLen − len(prefix)).
	Restrict(src int, prefix []int32, left int, logp []float32)
}

// Placeholders is the constraint that makes placeholder tokens
// (text/placeholder's ⟦1⟧, ⟦2⟧, …) come out exactly as the source has
// them: a placeholder token may be emitted only if the source holds it and
// it was not emitted yet, and EOS only once every placeholder of the source
// was emitted. When a hypothesis has no more steps left than placeholders
// to emit, it may only emit those, so even one cut off at MaxLen holds
// them all. With Ordered, only the first placeholder of the source not
// yet emitted may be, so they come out in the source's order (what a c-format
// string without positional %1$s needs).
type Placeholders struct {
	tokens  []int32 // target ids of placeholder tokens
	number  []int   // number[i]: the placeholder that tokens[i] stands for
	byNum   map[int]int32
	eos     int32
	sources [][]int
	inside  [][]int // per source: placeholders that may not come first nor right before EOS
	ordered bool
}

// KeepInside makes the placeholders numbers of source src stay inside the
// output: never its first token, never right before EOS (a line break that
// a PO file's msgstr may not begin or end with, say).
func (p *Placeholders) KeepInside(src int, numbers []int) {
	if p.inside == nil {
		p.inside = make([][]int, len(p.sources))
	}
	p.inside[src] = append(p.inside[src], numbers...)
}

// NewPlaceholders builds the constraint. tokens maps target ids of
// placeholder tokens to placeholder numbers; sources[i] lists the
// placeholder numbers of source i (each once), in source order. Numbers
// with no token in tokens cannot be emitted and are not required.
func NewPlaceholders(tokens map[int32]int, eos int32, sources [][]int, ordered bool) (*Placeholders, error) {
	p := &Placeholders{eos: eos, ordered: ordered, byNum: map[int]int32{}}
	for id, k := range tokens {
		if id == eos {
			return nil, fmt.Errorf("search: EOS (id %d) cannot be a placeholder token", id)
		}
		if prev, dup := p.byNum[k]; dup {
			return nil, fmt.Errorf("search: placeholder %d has two tokens, ids %d and %d", k, prev, id)
		}
		p.byNum[k] = id
	}
	for id := range tokens {
		p.tokens = append(p.tokens, id)
	}
	slices.Sort(p.tokens)
	for _, id := range p.tokens {
		p.number = append(p.number, tokens[id])
	}
	p.sources = make([][]int, len(sources))
	for i, s := range sources {
		for _, k := range s {
			if _, ok := p.byNum[k]; !ok {
				continue
			}
			if slices.Contains(p.sources[i], k) {
				return nil, fmt.Errorf("search: source %d lists placeholder %d twice", i, k)
			}
			p.sources[i] = append(p.sources[i], k)
		}
	}
	return p, nil
}

// Restrict implements Constraint.
func (p *Placeholders) Restrict(src int, prefix []int32, left int, logp []float32) {
	need := p.sources[src]
	inf := float32(math.Inf(-1))
	var emitted []int
	for _, t := range prefix {
		if i, ok := slices.BinarySearch(p.tokens, t); ok {
			emitted = append(emitted, p.number[i])
		}
	}
	next, missing := 0, 0 // with ordered, next is the one placeholder that may come now
	for _, k := range need {
		if !slices.Contains(emitted, k) {
			if missing == 0 {
				next = k
			}
			missing++
		}
	}
	allowed := func(k int) bool {
		return slices.Contains(need, k) && !slices.Contains(emitted, k) && (!p.ordered || k == next)
	}
	if missing > 0 && left <= missing {
		// No room for anything else: only a missing placeholder may come.
		for i := range logp {
			if j, ok := slices.BinarySearch(p.tokens, int32(i)); !ok || !allowed(p.number[j]) {
				logp[i] = inf
			}
		}
		return
	}
	var inside []int
	if p.inside != nil {
		inside = p.inside[src]
	}
	for i, id := range p.tokens {
		if !allowed(p.number[i]) || (len(prefix) == 0 && slices.Contains(inside, p.number[i])) {
			logp[id] = inf
		}
	}
	if missing > 0 {
		logp[p.eos] = inf
	} else if n := len(prefix); n > 0 && len(inside) > 0 {
		if i, ok := slices.BinarySearch(p.tokens, prefix[n-1]); ok && slices.Contains(inside, p.number[i]) {
			logp[p.eos] = inf
		}
	}
}

// restrict applies c, if any, to the row of the hypothesis ending at path.
func restrict(c Constraint, src int, path *node, row []float32, buf *[]int32, maxLen int) {
	if c == nil {
		return
	}
	n := 0
	if path != nil {
		n = path.depth
	}
	*buf = slices.Grow((*buf)[:0], n)[:n]
	for i, m := n-1, path; m != nil; i, m = i-1, m.parent {
		(*buf)[i] = m.token
	}
	c.Restrict(src, *buf, maxLen-n, row)
}
