package distill_test

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/distill"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/tensor"
)

const srcV, tgtV = 11, 13

func models(t testing.TB) []model.Model {
	t.Helper()
	var ms []model.Model
	for _, cfg := range []model.Config{
		{Arch: model.ArchTransformer, SrcVocab: srcV, TgtVocab: tgtV, DModel: 16, Heads: 2, EncLayers: 1, DecLayers: 2, DFF: 32, MaxLen: 40, Seed: 3},
		{Arch: model.ArchRNNSearch, SrcVocab: srcV, TgtVocab: tgtV, Embed: 8, Hidden: 12, Layers: 1, AttnDim: 10, Seed: 4},
		{Arch: model.ArchSeq2Seq, SrcVocab: srcV, TgtVocab: tgtV, Embed: 8, Hidden: 12, Layers: 2, ReverseSource: true, Seed: 5},
	} {
		m, err := model.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// examples are random pairs of ids 4… (0–3 are the special ids).
func examples(n int) []batch.Example {
	r := rand.New(rand.NewPCG(9, 9))
	seq := func(lo, hi, v int) []int32 {
		s := make([]int32, lo+r.IntN(hi-lo+1))
		for i := range s {
			s[i] = int32(4 + r.IntN(v-4))
		}
		return s
	}
	out := make([]batch.Example, n)
	for i := range out {
		out[i] = batch.Example{Src: seq(1, 7, srcV), Tgt: seq(1, 6, tgtV)}
	}
	return out
}

func identity(n int) []int32 {
	id := make([]int32, n)
	for i := range id {
		id[i] = int32(i)
	}
	return id
}

// shuffled is a permutation of n ids that keeps the special ids 0–3.
func shuffled(n int, r *rand.Rand) []int32 {
	p := identity(n)
	r.Shuffle(n-4, func(i, j int) { p[4+i], p[4+j] = p[4+j], p[4+i] })
	return p
}

// reference computes the teacher's distribution at every target position
// of example i the slow way: each member alone on that one example (ids
// mapped into the member's), softmax in float64, probabilities moved back to
// the student's ids, the mean over the members.
func reference(t *testing.T, members []distill.Member, e batch.Example) [][]float64 {
	t.Helper()
	out := make([][]float64, len(e.Tgt)+1)
	for j := range out {
		out[j] = make([]float64, tgtV)
	}
	for _, m := range members {
		mapped := batch.Example{Src: make([]int32, len(e.Src)), Tgt: make([]int32, len(e.Tgt))}
		for i, s := range e.Src {
			mapped.Src[i] = m.Src[s]
		}
		for i, s := range e.Tgt {
			mapped.Tgt[i] = m.Tgt[s]
		}
		b, err := batch.Make([]batch.Example{mapped}, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		g := tensor.NewGraph(0)
		g.SetTraining(false)
		g.SetNoGrad(true)
		logits := m.Model.Forward(g, b)
		for j := range out {
			row := logits.Data[j*tgtV : (j+1)*tgtV]
			var z float64
			for _, x := range row {
				z += math.Exp(float64(x))
			}
			for s := range tgtV {
				out[j][s] += math.Exp(float64(row[m.Tgt[s]])) / z / float64(len(members))
			}
		}
	}
	return out
}

// topK is the k most probable symbols of q, ties by id, and their
// probabilities renormalized: a sort, unlike keepTop's single pass.
func topK(q []float64, k int) ([]int32, []float64) {
	order := identity(len(q))
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(q[b], q[a]) })
	ids := order[:k]
	var sum float64
	for _, id := range ids {
		sum += q[id]
	}
	p := make([]float64, k)
	for i, id := range ids {
		p[i] = q[id] / sum
	}
	return ids, p
}

// The targets are, at every position of every example, the top K of the
// members' mean distribution, for members of the three architectures whose
// vocabularies number the symbols differently; batching many examples
// together (padding, other lengths) changes nothing but rounding.
func TestComputeIsTheMeanDistributionsTopK(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ms := models(t)
	members := []distill.Member{
		{Model: ms[0], Src: identity(srcV), Tgt: identity(tgtV)},
		{Model: ms[1], Src: shuffled(srcV, r), Tgt: shuffled(tgtV, r)},
		{Model: ms[2], Src: shuffled(srcV, r), Tgt: identity(tgtV)},
	}
	ex := examples(40)
	big, err := distill.Compute(context.Background(), members[:1], tgtV, examples(3), distill.Options{K: 40, MaxTokens: 64})
	if err != nil || big.K != tgtV {
		t.Fatalf("K = 40 over %d symbols: K %v, %v; want all %d", tgtV, big, err, tgtV)
	}
	for _, k := range []int{1, 4, tgtV} {
		for _, team := range [][]distill.Member{members[:1], members[1:2], members} {
			got, err := distill.Compute(context.Background(), team, tgtV, ex, distill.Options{K: k, MaxTokens: 64})
			if err != nil {
				t.Fatal(err)
			}
			if got.Len() != len(ex) || got.K != k {
				t.Fatalf("%d examples of K = %d, want %d of %d", got.Len(), got.K, len(ex), k)
			}
			for i, e := range ex {
				ids, p := got.Example(i)
				ref := reference(t, team, e)
				if len(ids) != len(ref)*k {
					t.Fatalf("example %d: %d ids for %d positions of K = %d", i, len(ids), len(ref), k)
				}
				for j, q := range ref {
					wantIDs, wantP := topK(q, k)
					for n := range k {
						gi, gp := ids[j*k+n], float64(p[j*k+n])
						if gi != wantIDs[n] && math.Abs(q[gi]-q[wantIDs[n]]) > 1e-6 { // a near-tie may swap
							t.Fatalf("%d members, K = %d, example %d position %d: symbol %d in place %d, want %d (%v)", len(team), k, i, j, gi, n, wantIDs[n], q)
						}
						if math.Abs(gp-wantP[n]) > 2e-5 {
							t.Fatalf("%d members, K = %d, example %d position %d: p %v in place %d, want %v", len(team), k, i, j, gp, n, wantP[n])
						}
					}
				}
			}
		}
	}
}

// A member whose maps are wrong for its model gives other targets: the maps
// are applied (this fails if Compute ignored them).
func TestComputeUsesTheMaps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m := models(t)[1]
	ex := examples(10)
	plain, err := distill.Compute(context.Background(), []distill.Member{{Model: m, Src: identity(srcV), Tgt: identity(tgtV)}}, tgtV, ex, distill.Options{K: 3, MaxTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"source", "target"} {
		mem := distill.Member{Model: m, Src: identity(srcV), Tgt: identity(tgtV)}
		if side == "source" {
			mem.Src = shuffled(srcV, r)
		} else {
			mem.Tgt = shuffled(tgtV, r)
		}
		got, err := distill.Compute(context.Background(), []distill.Member{mem}, tgtV, ex, distill.Options{K: 3, MaxTokens: 64})
		if err != nil {
			t.Fatal(err)
		}
		same := true
		for i := range ex {
			a, _ := got.Example(i)
			b, _ := plain.Example(i)
			same = same && slices.Equal(a, b)
		}
		if same {
			t.Errorf("a shuffled %s map gave the same targets", side)
		}
	}
}

// Batch lays the targets out as the batch's TgtOut: row r, position j at
// (r·T + j)·K; padding positions hold a valid distribution the loss skips.
func TestTargetsBatchLayout(t *testing.T) {
	m := models(t)[0]
	ex := examples(12)
	tg, err := distill.Compute(context.Background(), []distill.Member{{Model: m, Src: identity(srcV), Tgt: identity(tgtV)}}, tgtV, ex, distill.Options{K: 2, MaxTokens: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{5, 0, 11, 3}
	b, err := batch.Make(ex, idx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tg.Batch(b)
	if err != nil {
		t.Fatal(err)
	}
	padded := 0
	for r, i := range idx {
		ids, p := tg.Example(i)
		for j := range b.T {
			at := (r*b.T + j) * 2
			if j < b.TgtLen[r] {
				if !slices.Equal(s.IDs[at:at+2], ids[j*2:j*2+2]) || !slices.Equal(s.P[at:at+2], p[j*2:j*2+2]) {
					t.Fatalf("row %d (example %d) position %d: %v %v, want %v %v", r, i, j, s.IDs[at:at+2], s.P[at:at+2], ids[j*2:j*2+2], p[j*2:j*2+2])
				}
				continue
			}
			padded++
			if s.P[at]+s.P[at+1] != 1 {
				t.Errorf("padding at row %d position %d sums to %v", r, j, s.P[at]+s.P[at+1])
			}
		}
	}
	if padded == 0 {
		t.Fatal("the batch has no padding: pick examples of other lengths")
	}
	// The loss accepts the layout as it is.
	g := tensor.NewGraph(1)
	logits := g.Const(make([]float32, b.B*b.T*tgtV), b.B*b.T, tgtV)
	g.CrossEntropyDistillNLL(logits, b.TgtOut, batch.PAD, 0.1, s, 0.5)

	// Another example set's batch is refused by name, not read past.
	short := slices.Clone(ex)
	short[5].Tgt = append(slices.Clone(short[5].Tgt), 4)
	b2, err := batch.Make(short, idx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Batch(b2); err == nil || !strings.Contains(err.Error(), "example 5") {
		t.Errorf("a batch of other examples: %v", err)
	}
}

func TestComputeRefusals(t *testing.T) {
	m := models(t)[0]
	ex := examples(3)
	good := distill.Member{Model: m, Src: identity(srcV), Tgt: identity(tgtV)}
	for what, c := range map[string]struct {
		members []distill.Member
		k       int
		want    string
	}{
		"no teacher":        {nil, 2, "at least one model"},
		"K = 0":             {[]distill.Member{good}, 0, "at least 1 symbol"},
		"short target map":  {[]distill.Member{{Model: m, Src: identity(srcV), Tgt: identity(5)}}, 2, "5 target ids"},
		"map out of range":  {[]distill.Member{{Model: m, Src: identity(srcV), Tgt: append(identity(tgtV-1), 40)}}, 2, "outside its 13"},
		"source map beyond": {[]distill.Member{{Model: m, Src: append(identity(srcV-1), 11), Tgt: identity(tgtV)}}, 2, "outside its 11"},
	} {
		_, err := distill.Compute(context.Background(), c.members, tgtV, ex, distill.Options{K: c.k, MaxTokens: 64})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", what, err, c.want)
		}
	}
}

func TestNewTargets(t *testing.T) {
	tg, err := distill.NewTargets(2, [][]int32{{4, 5, 6, 7}, {5, 4}}, [][]float32{{0.5, 0.5, 1, 0}, {0.9, 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if ids, p := tg.Example(1); tg.Len() != 2 || !slices.Equal(ids, []int32{5, 4}) || !slices.Equal(p, []float32{0.9, 0.1}) {
		t.Errorf("example 1: %v %v of %d", ids, p, tg.Len())
	}
	for what, c := range map[string]struct {
		k    int
		ids  [][]int32
		p    [][]float32
		want string
	}{
		"K = 0":        {0, nil, nil, "K = 0"},
		"counts":       {2, [][]int32{{4, 5}}, nil, "1 examples, probabilities for 0"},
		"not K-wide":   {2, [][]int32{{4, 5, 6}}, [][]float32{{0.5, 0.5, 1}}, "example 0 has 3 ids"},
		"sum":          {2, [][]int32{{4, 5, 6, 7}}, [][]float32{{0.5, 0.5, 0.5, 0}}, "position 1: the probabilities sum to 0.5"},
		"negative":     {2, [][]int32{{4, 5}}, [][]float32{{1.5, -0.5}}, "probability -0.5"},
		"no positions": {2, [][]int32{{}}, [][]float32{{}}, "example 0 has 0 ids"},
	} {
		if _, err := distill.NewTargets(c.k, c.ids, c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", what, err, c.want)
		}
	}
}

func TestComputeStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := models(t)[0]
	_, err := distill.Compute(ctx, []distill.Member{{Model: m, Src: identity(srcV), Tgt: identity(tgtV)}}, tgtV, examples(5), distill.Options{K: 2, MaxTokens: 64})
	if err != context.Canceled {
		t.Errorf("a cancelled context: %v", err)
	}
}
