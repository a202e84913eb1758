package tensor

import (
	"fmt"
	"math"

	"github.com/qkv-dev/qkv/kernels"
)

// CrossEntropy returns the mean label-smoothed cross-entropy of logits
// (N, V) against targets (N), over the targets that are not ignoreIndex
// (padding), exactly as torch.nn.CrossEntropyLoss(ignore_index=ignoreIndex,
// label_smoothing=smoothing) computes it: with log-probabilities
// l = log_softmax(logits) and ε = smoothing, each counted row contributes
//
//	(1 − ε)·(−l[t]) + ε/V·Σ_j (−l[j])
//
// (the target distribution puts 1 − ε + ε/V on the target and ε/V
// elsewhere; Szegedy et al. 2016, used by Vaswani et al. 2017 with ε = 0.1),
// and the sum is divided by the number of counted rows. A batch whose
// targets are all ignored gives 0, with zero gradient, rather than NaN.
// The log-softmax is fused in: the forward saves the probabilities, and the
// backward is (p − target distribution)/count. The result is a scalar.
func (g *Graph) CrossEntropy(logits *Tensor, targets []int32, ignoreIndex int32, smoothing float32) *Tensor {
	out, _ := g.CrossEntropyNLL(logits, targets, ignoreIndex, smoothing)
	return out
}

// CrossEntropyNLL is [Graph.CrossEntropy], also returning the mean
// negative log-likelihood of the targets without label smoothing (a plain
// number, not part of the graph): the loss to compare with an unsmoothed
// peer, or across vocabularies of different sizes, where the smoothing term
// differs (it grows with log V).
func (g *Graph) CrossEntropyNLL(logits *Tensor, targets []int32, ignoreIndex int32, smoothing float32) (*Tensor, float64) {
	out, count, nll := g.crossEntropy("CrossEntropy", logits, targets, ignoreIndex, smoothing)
	if count > 0 {
		out.Data[0] /= float32(count)
		out.floats[1] = 1 / float32(count)
		nll /= float64(count)
	}
	return out, nll
}

// CrossEntropySum is [Graph.CrossEntropy] summed over the counted rows
// instead of averaged; it also returns how many rows were counted, so that
// training can report a per-token loss over several batches, or normalize
// accumulated gradients by the total token count.
func (g *Graph) CrossEntropySum(logits *Tensor, targets []int32, ignoreIndex int32, smoothing float32) (*Tensor, int) {
	out, count, _ := g.crossEntropy("CrossEntropySum", logits, targets, ignoreIndex, smoothing)
	out.floats[1] = 1
	return out, count
}

// crossEntropy computes the summed loss into a scalar and records the
// backward pass; the caller sets out.floats[1], the factor applied to the
// gradient (1/count for the mean, 1 for the sum). It also returns the
// count of rows and their summed unsmoothed NLL.
func (g *Graph) crossEntropy(op string, logits *Tensor, targets []int32, ignoreIndex int32, smoothing float32) (*Tensor, int, float64) {
	if len(logits.Shape) != 2 || logits.Shape[0] != len(targets) {
		panic(fmt.Sprintf("tensor.%s: logits %v for %d targets, want (N, V) with N = %d", op, logits.Shape, len(targets), len(targets)))
	}
	if !(smoothing >= 0 && smoothing <= 1) {
		panic(fmt.Sprintf("tensor.%s: smoothing %v not in [0, 1]", op, smoothing))
	}
	v := logits.Shape[1]
	out := g.newTensor(g.anyNeedsGrad(logits))
	var probs []float32
	if out.needsGrad {
		probs = g.floats.alloc(len(logits.Data))
		out.saved = probs
		out.savedIDs = g.scratchIDs(targets)
	}
	count := 0
	for i, t := range targets {
		if t == ignoreIndex {
			continue
		}
		if t < 0 || int(t) >= v {
			panic(fmt.Sprintf("tensor.%s: target %d at row %d out of range for V=%d", op, t, i, v))
		}
		count++
	}
	// Each row's two terms go to terms (N, 2) and are summed below in row
	// order, so the totals are the same bits however the rows were split.
	if cap(g.f64) < 2*len(targets) {
		g.f64 = make([]float64, 2*len(targets))
	}
	terms := g.f64[:2*len(targets)]
	if kernels.Threads() <= 1 || len(logits.Data) < 2*lossGrain {
		crossEntropyRows(terms, probs, logits.Data, targets, ignoreIndex, v, smoothing, 0, len(targets))
	} else { // the closure only here: small steps allocate nothing
		kernels.ParallelRange(len(targets), max(1, lossGrain/v), func(lo, hi int) {
			crossEntropyRows(terms, probs, logits.Data, targets, ignoreIndex, v, smoothing, lo, hi)
		})
	}
	var total, nllTotal float64
	for i, t := range targets {
		if t != ignoreIndex {
			total += terms[2*i]
			nllTotal += terms[2*i+1]
		}
	}
	out.Data[0] = float32(total)
	out.ints[0] = int(ignoreIndex)
	out.floats[0] = smoothing
	g.record(out, crossEntropyBackward, logits)
	return out, count, nllTotal
}

// lossGrain is the fewest logits a goroutine takes in the loss's forward
// pass: a logit costs two float64 exponentials, several times an elementwise
// op, so the grain is an eighth of elementwiseGrain.
const lossGrain = elementwiseGrain / 8

// crossEntropyRows computes rows lo..hi of the loss: for each counted row i
// of logits (N, V), terms[2i] = (1 − ε)·nll + ε/V·Σ_j (−l[j]) and terms[2i+1]
// = nll (terms (N, 2), float64), and, if probs (N, V) is not nil, the row's
// probabilities. Ignored rows are left as they are. The targets are checked
// by the caller.
func crossEntropyRows(terms []float64, probs, logits []float32, targets []int32, ignoreIndex int32, v int, smoothing float32, lo, hi int) {
	eps := float64(smoothing)
	for i := lo; i < hi; i++ {
		t := targets[i]
		if t == ignoreIndex {
			continue
		}
		x := logits[i*v : (i+1)*v]
		m := x[0]
		for _, xv := range x {
			m = max(m, xv)
		}
		var sum, sumX float64
		for _, xv := range x {
			sum += math.Exp(float64(xv - m))
			sumX += float64(xv)
		}
		lse := float64(m) + math.Log(sum)
		nll := lse - float64(x[t])
		smooth := float64(v)*lse - sumX // Σ_j −l[j]
		terms[2*i] = (1-eps)*nll + eps/float64(v)*smooth
		terms[2*i+1] = nll
		if probs != nil {
			p := probs[i*v : (i+1)*v]
			for j, xv := range x {
				p[j] = float32(math.Exp(float64(xv) - lse))
			}
		}
	}
}

// crossEntropyBackward differentiates loss = c·Σ_i [(1 − ε)·(−l_i[t_i]) +
// ε/V·Σ_j (−l_i[j])], l_i = log_softmax(x_i), c = out.floats[1]:
// dx_i[j] += dloss·c·(p_i[j] − (1 − ε)·[j = t_i] − ε/V) for counted rows.
func crossEntropyBackward(_ *Graph, out *Tensor) {
	logits := out.in[0]
	if !logits.needsGrad {
		return
	}
	v := logits.Shape[1]
	ignore := int32(out.ints[0])
	eps := out.floats[0]
	c := out.Grad[0] * out.floats[1]
	ids := out.savedIDs
	if kernels.Threads() <= 1 || len(logits.Grad) < 2*elementwiseGrain {
		crossEntropyBackwardRows(logits.Grad, out.saved, ids, ignore, v, eps, c, 0, len(ids))
		return
	}
	kernels.ParallelRange(len(ids), max(1, elementwiseGrain/v), func(lo, hi int) {
		crossEntropyBackwardRows(logits.Grad, out.saved, ids, ignore, v, eps, c, lo, hi)
	})
}

// crossEntropyBackwardRows adds c·(p_i − target distribution) to rows lo..hi
// of dx (N, V) for the counted rows i, p (N, V) the saved probabilities.
func crossEntropyBackwardRows(dx, p []float32, ids []int32, ignore int32, v int, eps, c float32, lo, hi int) {
	uniform := eps / float32(v)
	for i := lo; i < hi; i++ {
		t := ids[i]
		if t == ignore {
			continue
		}
		pi, dxi := p[i*v:(i+1)*v], dx[i*v:(i+1)*v]
		for j, pj := range pi {
			dxi[j] += c * (pj - uniform)
		}
		dxi[t] -= c * (1 - eps)
	}
}
