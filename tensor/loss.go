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
	return g.meanOverRows(g.crossEntropy("CrossEntropy", logits, targets, ignoreIndex, smoothing, nil, 0))
}

// Soft holds a sparse target distribution for each row of a loss: K
// (symbol, probability) pairs a row, such as a teacher's K most likely
// next tokens. Each counted row's K probabilities are non-negative and sum
// to 1 (a truncated distribution renormalized); a symbol may repeat with
// probability 0 when fewer than K are worth keeping.
type Soft struct {
	K   int
	IDs []int32   // (N, K)
	P   []float32 // (N, K)
}

// CrossEntropyDistillNLL is [Graph.CrossEntropyNLL] with a teacher: token-
// level knowledge distillation (Hinton et al. 2015; Kim & Rush 2016's
// word-level distillation; Sun et al. 2019's token-level ensemble
// distillation for G2P). Each counted row's target distribution is
//
//	(1 − λ)·[(1 − ε)·[j = t] + ε/V] + λ·q[j]
//
// with q the row's soft targets and λ = weight in [0, 1], so the loss is
// (1 − λ) times the label-smoothed cross-entropy plus λ times the
// cross-entropy against the teacher, −Σ_k q_k·l[id_k]; the backward is
// (p − target distribution)/count, as for the plain loss. The second
// result is the mean NLL of the targets, as CrossEntropyNLL's. Ignored
// rows' soft targets are not read.
func (g *Graph) CrossEntropyDistillNLL(logits *Tensor, targets []int32, ignoreIndex int32, smoothing float32, soft Soft, weight float32) (*Tensor, float64) {
	if !(weight >= 0 && weight <= 1) {
		panic(fmt.Sprintf("tensor.CrossEntropyDistill: weight %v not in [0, 1]", weight))
	}
	return g.meanOverRows(g.crossEntropy("CrossEntropyDistill", logits, targets, ignoreIndex, smoothing, &soft, weight))
}

// meanOverRows turns crossEntropy's sum into the mean over the counted rows.
func (g *Graph) meanOverRows(out *Tensor, count int, nll float64) (*Tensor, float64) {
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
	out, count, _ := g.crossEntropy("CrossEntropySum", logits, targets, ignoreIndex, smoothing, nil, 0)
	out.floats[1] = 1
	return out, count
}

// crossEntropy computes the summed loss into a scalar and records the
// backward pass; the caller sets out.floats[1], the factor applied to the
// gradient (1/count for the mean, 1 for the sum). It also returns the
// count of rows and their summed unsmoothed NLL. With soft targets (not
// nil), weight λ mixes them in as CrossEntropyDistillNLL describes.
func (g *Graph) crossEntropy(op string, logits *Tensor, targets []int32, ignoreIndex int32, smoothing float32, soft *Soft, weight float32) (*Tensor, int, float64) {
	if len(logits.Shape) != 2 || logits.Shape[0] != len(targets) {
		panic(fmt.Sprintf("tensor.%s: logits %v for %d targets, want (N, V) with N = %d", op, logits.Shape, len(targets), len(targets)))
	}
	if !(smoothing >= 0 && smoothing <= 1) {
		panic(fmt.Sprintf("tensor.%s: smoothing %v not in [0, 1]", op, smoothing))
	}
	v := logits.Shape[1]
	n := len(targets)
	if soft != nil && (soft.K < 1 || len(soft.IDs) != n*soft.K || len(soft.P) != n*soft.K) {
		panic(fmt.Sprintf("tensor.%s: soft targets of %d ids and %d probabilities for %d rows, want K = %d (≥ 1) of each a row", op, len(soft.IDs), len(soft.P), n, soft.K))
	}
	out := g.newTensor(g.anyNeedsGrad(logits))
	var probs []float32
	if out.needsGrad {
		// The backward pass reads the probabilities, the targets and, when
		// given, the soft targets, which go after them: (N, V) then (N, K)
		// floats, N then (N, K) ids.
		extra := 0
		if soft != nil {
			extra = n * soft.K
		}
		out.saved = g.floats.alloc(len(logits.Data) + extra)
		out.savedIDs = g.ids.alloc(n + extra)
		probs = out.saved[:len(logits.Data)]
		copy(out.savedIDs, targets)
		if soft != nil {
			copy(out.saved[len(logits.Data):], soft.P)
			copy(out.savedIDs[n:], soft.IDs)
		}
	}
	count := 0
	for i, t := range targets {
		if t == ignoreIndex {
			continue
		}
		if t < 0 || int(t) >= v {
			panic(fmt.Sprintf("tensor.%s: target %d at row %d out of range for V=%d", op, t, i, v))
		}
		if soft != nil {
			checkSoftRow(op, soft, i, v)
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
		crossEntropyRows(terms, probs, logits.Data, targets, ignoreIndex, v, smoothing, soft, weight, 0, len(targets))
	} else { // the closure only here: small steps allocate nothing
		kernels.ParallelRange(len(targets), max(1, lossGrain/v), func(lo, hi int) {
			crossEntropyRows(terms, probs, logits.Data, targets, ignoreIndex, v, smoothing, soft, weight, lo, hi)
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
	out.ints[1], out.ints[2] = 0, 0
	if soft != nil {
		out.ints[1] = soft.K
		out.ints[2] = int(math.Float32bits(weight))
	}
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
// probabilities. With soft targets, terms[2i] is (1 − λ) times that plus
// λ·Σ_k q_k·(−l[id_k]). Ignored rows are left as they are. The targets are
// checked by the caller.
func crossEntropyRows(terms []float64, probs, logits []float32, targets []int32, ignoreIndex int32, v int, smoothing float32, soft *Soft, weight float32, lo, hi int) {
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
		if soft != nil {
			var teacher float64 // Σ_k q_k·(−l[id_k])
			for k := i * soft.K; k < (i+1)*soft.K; k++ {
				teacher += float64(soft.P[k]) * (lse - float64(x[soft.IDs[k]]))
			}
			w := float64(weight)
			terms[2*i] = (1-w)*terms[2*i] + w*teacher
		}
		if probs != nil {
			p := probs[i*v : (i+1)*v]
			for j, xv := range x {
				p[j] = float32(math.Exp(float64(xv) - lse))
			}
		}
	}
}

// checkSoftRow panics unless row i of soft holds K symbols of [0, v) with
// non-negative probabilities that sum to 1 (to float32 rounding).
func checkSoftRow(op string, soft *Soft, i, v int) {
	var sum float64
	for k := i * soft.K; k < (i+1)*soft.K; k++ {
		id, p := soft.IDs[k], soft.P[k]
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("tensor.%s: soft target %d at row %d out of range for V=%d", op, id, i, v))
		}
		if !(p >= 0) {
			panic(fmt.Sprintf("tensor.%s: soft target probability %v at row %d", op, p, i))
		}
		sum += float64(p)
	}
	if math.Abs(sum-1) > 1e-3 {
		panic(fmt.Sprintf("tensor.%s: the soft targets of row %d sum to %v, not 1", op, i, sum))
	}
}

// crossEntropyBackward differentiates loss = c·Σ_i [(1 − ε)·(−l_i[t_i]) +
// ε/V·Σ_j (−l_i[j])], l_i = log_softmax(x_i), c = out.floats[1]:
// dx_i[j] += dloss·c·(p_i[j] − (1 − ε)·[j = t_i] − ε/V) for counted rows;
// with soft targets (out.ints[1] = K > 0, λ in out.ints[2]'s bits) the
// target distribution is (1 − λ) times that one plus λ·q_i.
func crossEntropyBackward(_ *Graph, out *Tensor) {
	logits := out.in[0]
	if !logits.needsGrad {
		return
	}
	n, v := logits.Shape[0], logits.Shape[1]
	r := crossEntropyGrad{
		ignore: int32(out.ints[0]), v: v, eps: out.floats[0], c: out.Grad[0] * out.floats[1],
		p: out.saved[:n*v], ids: out.savedIDs[:n], weight: 0,
	}
	if k := out.ints[1]; k > 0 {
		r.soft = Soft{K: k, IDs: out.savedIDs[n:], P: out.saved[n*v:]}
		r.weight = math.Float32frombits(uint32(out.ints[2]))
	}
	if kernels.Threads() <= 1 || len(logits.Grad) < 2*elementwiseGrain {
		r.rows(logits.Grad, 0, n)
		return
	}
	par := r // only this copy is captured, so a one-thread step allocates nothing
	kernels.ParallelRange(n, max(1, elementwiseGrain/v), func(lo, hi int) {
		par.rows(logits.Grad, lo, hi)
	})
}

// crossEntropyGrad holds what the loss's backward pass reads.
type crossEntropyGrad struct {
	ignore int32
	v      int
	eps, c float32
	p      []float32 // (N, V) the saved probabilities
	ids    []int32   // (N) the targets
	soft   Soft      // K = 0 without a teacher
	weight float32   // λ
}

// rows adds c·(p_i − target distribution) to rows lo..hi of dx (N, V) for
// the counted rows i.
func (r crossEntropyGrad) rows(dx []float32, lo, hi int) {
	v, c := r.v, r.c
	hard := 1 - r.weight // the label-smoothed distribution's share
	uniform := hard * r.eps / float32(v)
	for i := lo; i < hi; i++ {
		t := r.ids[i]
		if t == r.ignore {
			continue
		}
		pi, dxi := r.p[i*v:(i+1)*v], dx[i*v:(i+1)*v]
		for j, pj := range pi {
			dxi[j] += c * (pj - uniform)
		}
		dxi[t] -= c * hard * (1 - r.eps)
		if r.soft.K > 0 {
			for k := i * r.soft.K; k < (i+1)*r.soft.K; k++ {
				dxi[r.soft.IDs[k]] -= c * r.weight * r.soft.P[k]
			}
		}
	}
}
