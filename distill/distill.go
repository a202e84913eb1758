// Package distill computes a teacher's next-token distributions over a
// training set, as soft targets for a student: token-level knowledge
// distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a
// Neural Network"; Kim & Rush 2016, "Sequence-Level Knowledge
// Distillation", whose word-level variant this is). The teacher may be an
// ensemble, whose distribution is the mean of its members' (Sun et al.
// 2019, "Token-Level Ensemble Distillation for Grapheme-to-Phoneme
// Conversion", where a Transformer student of such an ensemble reached
// 19.88% WER on CMUdict).
//
// The teacher reads each training pair as training does (teacher forcing
// on the reference), once before training; each target position keeps its
// K most likely symbols, renormalized, which the loss
// ([tensor.Graph.CrossEntropyDistillNLL]) mixes with the reference.
package distill

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/tensor"
)

// Member is one model of the teacher, with maps from the student's ids to
// the member's own: the same symbols may be numbered differently.
type Member struct {
	Model model.Model
	Src   []int32 // student source id → member source id
	Tgt   []int32 // student target id → member target id
}

// Targets are the teacher's K most likely next symbols, with their
// probabilities renormalized to sum to 1, at every target position (EOS
// included) of every example, in the student's ids.
type Targets struct {
	K     int
	ids   []int32   // (rows, K)
	p     []float32 // (rows, K)
	start []int     // (examples + 1): the first row of each example
}

// NewTargets makes Targets from distributions computed elsewhere: for
// each example, (len(Tgt)+1, K) ids and probabilities, each position's
// probabilities non-negative and summing to 1.
func NewTargets(k int, ids [][]int32, p [][]float32) (*Targets, error) {
	if k < 1 {
		return nil, fmt.Errorf("distill: K = %d symbols a position, want at least 1", k)
	}
	if len(ids) != len(p) {
		return nil, fmt.Errorf("distill: ids for %d examples, probabilities for %d", len(ids), len(p))
	}
	t := &Targets{K: k, start: make([]int, len(ids)+1)}
	for i := range ids {
		if len(ids[i]) != len(p[i]) || len(ids[i]) == 0 || len(ids[i])%k != 0 {
			return nil, fmt.Errorf("distill: example %d has %d ids and %d probabilities, want the same positive multiple of K = %d", i, len(ids[i]), len(p[i]), k)
		}
		for j := 0; j < len(p[i]); j += k {
			var sum float64
			for _, q := range p[i][j : j+k] {
				if !(q >= 0) {
					return nil, fmt.Errorf("distill: example %d position %d has probability %v", i, j/k, q)
				}
				sum += float64(q)
			}
			if math.Abs(sum-1) > 1e-3 {
				return nil, fmt.Errorf("distill: example %d position %d: the probabilities sum to %v, not 1", i, j/k, sum)
			}
		}
		t.start[i+1] = t.start[i] + len(ids[i])/k
		t.ids = append(t.ids, ids[i]...)
		t.p = append(t.p, p[i]...)
	}
	return t, nil
}

// Example returns the rows of example i: (len(Tgt)+1, K) ids and
// probabilities.
func (t *Targets) Example(i int) (ids []int32, p []float32) {
	lo, hi := t.start[i]*t.K, t.start[i+1]*t.K
	return t.ids[lo:hi], t.p[lo:hi]
}

// Len is the number of examples.
func (t *Targets) Len() int { return len(t.start) - 1 }

// Batch returns the soft targets of b's rows (B·T, K) in the layout of its
// TgtOut; padding positions hold symbol 0 with probability 1 and are never
// read by the loss.
func (t *Targets) Batch(b *batch.Batch) (tensor.Soft, error) {
	s := tensor.Soft{K: t.K, IDs: make([]int32, b.B*b.T*t.K), P: make([]float32, b.B*b.T*t.K)}
	for r, i := range b.Index {
		if i < 0 || i >= t.Len() {
			return tensor.Soft{}, fmt.Errorf("distill: batch row %d is example %d, but the teacher read %d examples", r, i, t.Len())
		}
		ids, p := t.Example(i)
		if n := len(ids) / t.K; n != b.TgtLen[r] {
			return tensor.Soft{}, fmt.Errorf("distill: example %d has %d target positions, but the teacher read %d", i, b.TgtLen[r], n)
		}
		copy(s.IDs[r*b.T*t.K:], ids)
		copy(s.P[r*b.T*t.K:], p)
		for j := b.TgtLen[r]; j < b.T; j++ {
			s.P[(r*b.T+j)*t.K] = 1
		}
	}
	return s, nil
}

// Options control Compute.
type Options struct {
	K         int // symbols kept at each position (at least 1; at most the vocabulary's are)
	MaxTokens int // padded tokens a teacher batch holds (batch.Plan)
	// Progress, if not nil, is called after each batch with the examples
	// read so far and in all.
	Progress func(done, total int)
}

// Compute runs the teacher over examples (student ids; tgtVocab the
// student's target vocabulary size) and keeps its distributions. The
// members read the same batches; an ensemble's distribution is the mean of
// its members' probabilities, as ensembles decode (model.Ensemble).
// It stops with ctx's error when ctx is done.
func Compute(ctx context.Context, members []Member, tgtVocab int, examples []batch.Example, o Options) (*Targets, error) {
	if len(members) == 0 {
		return nil, errors.New("distill: a teacher needs at least one model")
	}
	if o.K < 1 {
		return nil, fmt.Errorf("distill: keep at least 1 symbol a position, not %d", o.K)
	}
	o.K = min(o.K, tgtVocab)              // a vocabulary smaller than K: all of it
	back := make([][]int32, len(members)) // member target id → student id (-1: none)
	for m, mem := range members {
		c := mem.Model.Config()
		if len(mem.Src) == 0 || len(mem.Tgt) != tgtVocab {
			return nil, fmt.Errorf("distill: teacher model %d maps %d source and %d target ids, want the student's vocabularies (%d target symbols)", m+1, len(mem.Src), len(mem.Tgt), tgtVocab)
		}
		back[m] = slices.Repeat([]int32{-1}, c.TgtVocab)
		for s, id := range mem.Tgt {
			if id < 0 || int(id) >= c.TgtVocab {
				return nil, fmt.Errorf("distill: teacher model %d maps target id %d to %d, outside its %d symbols", m+1, s, id, c.TgtVocab)
			}
			back[m][id] = int32(s)
		}
		for s, id := range mem.Src {
			if id < 0 || int(id) >= c.SrcVocab {
				return nil, fmt.Errorf("distill: teacher model %d maps source id %d to %d, outside its %d symbols", m+1, s, id, c.SrcVocab)
			}
		}
	}
	t := &Targets{K: o.K, start: make([]int, len(examples)+1)}
	for i, e := range examples {
		t.start[i+1] = t.start[i] + len(e.Tgt) + 1
	}
	rows := t.start[len(examples)]
	t.ids, t.p = make([]int32, rows*o.K), make([]float32, rows*o.K)

	g := tensor.NewGraph(0)
	g.SetTraining(false)
	g.SetNoGrad(true)
	mapped := make([]batch.Example, len(examples))
	var mean []float64  // (B·T, V) the members' mean probabilities
	var probs []float32 // one row of one member's, (V_m)
	done := 0
	for _, idx := range batch.Plan(examples, max(o.MaxTokens, 1)) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var bt, width int // the batch's B·T and T
		for m, mem := range members {
			for _, i := range idx {
				mapped[i] = batch.Example{Src: remap(examples[i].Src, mem.Src), Tgt: remap(examples[i].Tgt, mem.Tgt)}
			}
			b, err := batch.Make(mapped, idx)
			if err != nil {
				return nil, err
			}
			logits := mem.Model.Forward(g, b) // (B·T, V_m)
			v := logits.Shape[1]
			if m == 0 {
				bt, width = b.B*b.T, b.T
				mean = slices.Grow(mean[:0], bt*tgtVocab)[:bt*tgtVocab]
				clear(mean)
			}
			probs = slices.Grow(probs[:0], v)[:v]
			for r := range bt {
				if b.TgtOut[r] == batch.PAD {
					continue
				}
				copy(probs, logits.Data[r*v:(r+1)*v])
				kernels.Softmax(probs)
				row := mean[r*tgtVocab : (r+1)*tgtVocab]
				for id, q := range probs {
					if s := back[m][id]; s >= 0 {
						row[s] += float64(q) / float64(len(members))
					}
				}
			}
			g.Reset()
		}
		for r, i := range idx {
			for j := range len(examples[i].Tgt) + 1 {
				keepTop(t.ids[(t.start[i]+j)*o.K:][:o.K], t.p[(t.start[i]+j)*o.K:][:o.K], mean[(r*width+j)*tgtVocab:][:tgtVocab])
			}
		}
		done += len(idx)
		if o.Progress != nil {
			o.Progress(done, len(examples))
		}
	}
	return t, nil
}

// remap maps ids through m (student ids → a member's).
func remap(ids, m []int32) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}

// keepTop writes the len(ids) most probable symbols of q, most probable
// first (ties: the lower id first), and their probabilities renormalized to
// sum to 1. It keeps a sorted list of the best so far, which a symbol
// enters only when it beats the last: one pass over q, as K is small.
func keepTop(ids []int32, p []float32, q []float64) {
	k, n := len(ids), 0
	for id, v := range q {
		if n == k && v <= q[ids[n-1]] {
			continue
		}
		if n < k {
			n++
		}
		j := n - 1 // shift the worse ones down and put id in its place
		for ; j > 0 && q[ids[j-1]] < v; j-- {
			ids[j] = ids[j-1]
		}
		ids[j] = int32(id)
	}
	var sum float64
	for _, id := range ids {
		sum += q[id]
	}
	for j, id := range ids {
		if sum > 0 && !math.IsNaN(sum) {
			p[j] = float32(q[id] / sum)
		} else { // no mass on any symbol (a softmax always has some): uniform
			p[j] = 1 / float32(k)
		}
	}
}
