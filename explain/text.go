package explain

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// kindWords names a kind for people.
var kindWords = map[string]string{
	EncSelf: "encoder self-attention",
	DecSelf: "decoder self-attention (masked)",
	Cross:   "cross-attention (encoder-decoder)",
}

// TextOptions shape WriteText.
type TextOptions struct {
	TopKeys int // keys listed, most attended first (0: all)
	Dims    int // leading dimensions shown of each vector (default 4)
}

// WriteText writes the walk-through for a reader: the roles in words, the
// query's x and q, the keys most attended first with their tokens, scores
// and weights, then the weighted sum and the head's share of the output.
// Vectors are abbreviated to their first dimensions and their norm; the
// JSON form holds every number.
func (w *Walkthrough) WriteText(out io.Writer, opt TextOptions) error {
	if opt.Dims <= 0 {
		opt.Dims = 4
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	vec := func(v []float32) string { return abbrev(v, opt.Dims) }
	where := "decoder"
	if w.Kind == EncSelf {
		where = "encoder"
	}
	p("Q·K·V walk-through: %s layer %d, head %d of %d: %s, %s\n", where, w.Layer, w.Head, w.Heads, kindWords[w.Kind], w.Module)
	p("model: %s Transformer, d_model %d, %d heads of d_k = %d\n", w.Norm, w.DModel, w.Heads, w.DK)
	p("source: %s\n", strings.Join(w.Source, " "))
	if len(w.Unknown) > 0 {
		p("  (the model never saw %s: read as <unk>)\n", strings.Join(w.Unknown, " "))
	}
	if w.Kind != EncSelf {
		from := "the model's own greedy output"
		if w.TargetFrom == "given" {
			from = "given with --target"
		}
		p("output: %s   (%s)\n", strings.Join(w.Target, " "), from)
	}
	p("\nIn words: %s; %s; %s.\n", RoleQuery, RoleKey, RoleValue)
	p("The query compares itself with every key (a dot product, scaled by 1/√d_k = %.4f); a softmax turns\n", w.Scale)
	p("the scores into weights that sum to 1; the head hands on the values mixed by those weights.\n\n")

	if w.Kind == EncSelf {
		p("query: source token %d %q\n", w.Query.Index, w.Query.Token)
	} else {
		p("query: decoder step %d, which reads %q and writes %q\n", w.Query.Index, w.Query.Reads, w.Query.Token)
	}
	p("  x = %s\n      x is %s\n", vec(w.X), w.InputIs)
	p("  q = x·W_Q + b_Q (head %d's %d columns) = %s\n\n", w.Head, w.DK, vec(w.Q))
	p("keys (x_j: %s)\n", w.KeysAre)
	if w.Masked != "" {
		p("  %s\n", w.Masked)
	}
	order := make([]int, len(w.Keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch wa, wb := w.Keys[a].Weight, w.Keys[b].Weight; {
		case wa > wb:
			return -1
		case wa < wb:
			return 1
		}
		return 0
	})
	show := len(order)
	if opt.TopKeys > 0 && opt.TopKeys < show {
		show = opt.TopKeys
	}
	tokW := 5
	for _, k := range w.Keys {
		tokW = max(tokW, min(len([]rune(k.Token.Token))+2, 16))
	}
	p("  %4s  %-*s  %9s  %7s  %s\n", "j", tokW, "token", "q·k_j/√d", "weight", "k_j = x_j·W_K + b_K  |  v_j = x_j·W_V + b_V")
	for _, j := range order[:show] {
		k := w.Keys[j]
		p("  %4d  %-*s  %9.3f  %7.4f  %s  |  %s\n", k.Index, tokW, clip(fmt.Sprintf("%q", k.Token.Token), 16), k.Score, k.Weight, vec(k.K), vec(k.V))
	}
	if show < len(order) {
		var rest float32
		for _, j := range order[show:] {
			rest += w.Keys[j].Weight
		}
		p("  … %d more keys with %.4f of the weight in all (--top 0 lists every key; --json has every number)\n", len(order)-show, rest)
	}
	p("\nweighted sum of the values: Σ_j w_j v_j = %s\n", vec(w.Context))
	p("this head's share of the output projection: (Σ_j w_j v_j)·W_O[head %d's rows] = %s\n", w.Head, vec(w.OutShare))
	p("the sub-layer's output = Σ over the %d heads' shares + b_O = %s\n", w.Heads, vec(w.ForwardOutput))
	if n := norm(w.ForwardOutput); n > 0 {
		p("  (this head's share has %.0f%% of the output's length)\n", 100*norm(w.OutShare)/n)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// abbrev shows the first n values of v and its Euclidean norm.
func abbrev(v []float32, n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range min(n, len(v)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%+.3f", v[i])
	}
	if len(v) > n {
		b.WriteString(" …")
	}
	fmt.Fprintf(&b, "] |·|=%.3f (%d dims)", norm(v), len(v))
	return b.String()
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
