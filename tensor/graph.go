package tensor

import (
	"fmt"
	"math/rand/v2"

	"github.com/qkv-dev/qkv/kernels"
)

// Graph records operations for reverse-mode differentiation and owns the
// memory of every intermediate tensor. A Graph is not safe for concurrent
// use; operations may use several cores internally.
//
// A training step is: build the forward pass with the Graph's methods,
// call Backward on the loss, update the parameters, then Reset. Tensors
// produced by a Graph are invalid after Reset.
type Graph struct {
	floats arena[float32]
	ids    arena[int32]

	tape []*Tensor // produced tensors that need a gradient, in creation order
	used []*Tensor // every header handed out since the last reset
	free []*Tensor // headers ready for reuse

	// Gradients of intermediate tensors are allocated when the backward
	// pass first reaches them and returned here, by length, once the
	// tensor's own backward has run, so a step holds the gradients of a few
	// layers at a time rather than of every activation.
	gradPool map[int][][]float32

	shapeTmp []int     // scratch for building shapes without allocating
	f64      []float64 // scratch for per-row float64 results (the loss's terms)

	noGrad    bool
	training  bool
	precision Precision           // of matrix products (precision.go)
	int8      kernels.Int8Scratch // LinearInt8's buffers
	pcg       *rand.PCG
	rng       *rand.Rand
}

// NewGraph returns a graph in training mode whose random numbers (dropout)
// come from a generator seeded with seed.
func NewGraph(seed uint64) *Graph {
	pcg := rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	return &Graph{training: true, pcg: pcg, rng: rand.New(pcg)}
}

// SetTraining switches dropout on (training) or off (evaluation).
func (g *Graph) SetTraining(on bool) { g.training = on }

// Training reports whether dropout is active.
func (g *Graph) Training() bool { return g.training }

// SetNoGrad turns recording off: operations then compute values only, as
// for inference, and no gradient memory is allocated.
func (g *Graph) SetNoGrad(on bool) { g.noGrad = on }

// RNG is the graph's random source (dropout). Its state is part of a
// training checkpoint: see RNGState.
func (g *Graph) RNG() *rand.Rand { return g.rng }

// RNGState returns the random generator's state, for exact resumption.
func (g *Graph) RNGState() ([]byte, error) { return g.pcg.MarshalBinary() }

// SetRNGState restores a state returned by RNGState.
func (g *Graph) SetRNGState(state []byte) error { return g.pcg.UnmarshalBinary(state) }

// Reset recycles every tensor the graph produced since the last reset. The
// arenas grow to what the step needed, so later identical steps allocate
// nothing.
func (g *Graph) Reset() {
	for _, t := range g.used {
		*t = Tensor{}
	}
	g.free = append(g.free, g.used...)
	g.used = g.used[:0]
	g.tape = g.tape[:0]
	for n, bufs := range g.gradPool {
		clear(bufs)
		g.gradPool[n] = bufs[:0]
	}
	g.floats.reset()
	g.ids.reset()
}

// Trim is Reset, and also shrinks the arenas to what was used between the
// resets since the last Trim when they hold more than twice that (and at
// least 16 MB more): a graph that served a large pass (a decoder's encoder
// over a whole batch) and then only small ones (its decoding steps) gives
// the difference back instead of holding it until the next large pass.
func (g *Graph) Trim() {
	g.Reset()
	g.floats.trim()
	g.ids.trim()
}

// ArenaBytes is the memory the graph's arenas hold.
func (g *Graph) ArenaBytes() int64 {
	return int64(g.floats.size())*4 + int64(g.ids.size())*4
}

// header takes a recycled tensor header.
func (g *Graph) header() *Tensor {
	var t *Tensor
	if n := len(g.free); n > 0 {
		t = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		t = new(Tensor)
	}
	g.used = append(g.used, t)
	return t
}

// newTensor allocates an uninitialized tensor of the given shape. When
// needsGrad is true (and the graph records), it will get a zeroed gradient
// when the backward pass first reaches it.
func (g *Graph) newTensor(needsGrad bool, shape ...int) *Tensor {
	t := g.header()
	t.setShape(shape)
	n := numel(t.Shape)
	t.Data = g.floats.alloc(n)
	if needsGrad && !g.noGrad {
		t.needsGrad = true
	}
	return t
}

// view makes t a view of x's elements from off on: same data, and the
// gradient bound lazily to the same elements of x's.
func (g *Graph) view(t, x *Tensor, off int) {
	n := numel(t.Shape)
	t.Data = x.Data[off : off+n : off+n]
	t.needsGrad = x.needsGrad
	if x.Grad != nil {
		t.Grad = x.Grad[off : off+n : off+n]
		return
	}
	if t.needsGrad {
		t.viewOf, t.viewOff = x, off
	}
}

// ensureGrad gives t a zeroed gradient if it needs one and has none yet:
// a view binds to its source's, any other tensor takes one from the pool.
func (g *Graph) ensureGrad(t *Tensor) {
	if t == nil || !t.needsGrad || t.Grad != nil {
		return
	}
	n := len(t.Data)
	if src := t.viewOf; src != nil {
		g.ensureGrad(src)
		t.Grad = src.Grad[t.viewOff : t.viewOff+n : t.viewOff+n]
		return
	}
	if bufs := g.gradPool[n]; len(bufs) > 0 {
		t.Grad = bufs[len(bufs)-1]
		g.gradPool[n] = bufs[:len(bufs)-1]
	} else {
		t.Grad = g.floats.alloc(n)
	}
	clearFloats(t.Grad)
}

// releaseGrad returns the gradient of a tape tensor whose backward has run:
// nothing reads it any more (its consumers ran before it).
func (g *Graph) releaseGrad(t *Tensor) {
	if t.viewOf != nil || t.Grad == nil {
		return
	}
	if g.gradPool == nil {
		g.gradPool = make(map[int][][]float32)
	}
	g.gradPool[len(t.Grad)] = append(g.gradPool[len(t.Grad)], t.Grad)
	t.Grad = nil
}

// record puts out on the tape with its backward function and inputs.
func (g *Graph) record(out *Tensor, backward func(*Graph, *Tensor), inputs ...*Tensor) {
	if !out.needsGrad {
		return
	}
	out.backward = backward
	copy(out.in[:], inputs)
	g.tape = append(g.tape, out)
}

// anyNeedsGrad reports whether an output computed from ts needs a gradient.
func (g *Graph) anyNeedsGrad(ts ...*Tensor) bool {
	if g.noGrad {
		return false
	}
	for _, t := range ts {
		if t != nil && t.needsGrad {
			return true
		}
	}
	return false
}

// Scratch returns n float32 values from the arena, valid until Reset. Layers
// use it for temporary buffers that need no gradient.
func (g *Graph) Scratch(n int) []float32 { return g.floats.alloc(n) }

// scratchIDs copies ids into the arena so backward does not depend on the
// caller keeping its slice unchanged.
func (g *Graph) scratchIDs(ids []int32) []int32 {
	s := g.ids.alloc(len(ids))
	copy(s, ids)
	return s
}

// Const returns a constant tensor holding a copy of data.
func (g *Graph) Const(data []float32, shape ...int) *Tensor {
	t := g.newTensor(false, shape...)
	if len(data) != len(t.Data) {
		panic(fmt.Sprintf("tensor.Const: %d values for shape %v", len(data), copyInts(shape)))
	}
	copy(t.Data, data)
	return t
}

// Zeros returns a constant tensor of zeros.
func (g *Graph) Zeros(shape ...int) *Tensor {
	t := g.newTensor(false, shape...)
	clear(t.Data)
	return t
}

// Backward computes the gradient of the scalar loss with respect to every
// tensor that needs one, accumulating into parameters' Grad.
func (g *Graph) Backward(loss *Tensor) {
	if len(loss.Data) != 1 {
		panic(fmt.Sprintf("tensor.Backward: loss has shape %v, want a scalar", loss.Shape))
	}
	if !loss.needsGrad {
		panic("tensor.Backward: the loss does not depend on any parameter")
	}
	g.ensureGrad(loss)
	loss.Grad[0] += 1
	g.runTape()
}

// BackwardFrom adds grad to out's gradient and back-propagates it: the
// gradient of Σ out·grad. Tests use it to seed an output with PyTorch's
// upstream gradient.
func (g *Graph) BackwardFrom(out *Tensor, grad []float32) {
	g.BackwardFromAll([]*Tensor{out}, [][]float32{grad})
}

// BackwardFromAll is BackwardFrom for several outputs at once: the
// gradient of Σₖ outsₖ·gradsₖ.
func (g *Graph) BackwardFromAll(outs []*Tensor, grads [][]float32) {
	for k, out := range outs {
		if !out.needsGrad {
			panic("tensor.BackwardFrom: the tensor does not depend on any parameter")
		}
		if len(grads[k]) != len(out.Data) {
			panic(fmt.Sprintf("tensor.BackwardFrom: %d gradient values for shape %v", len(grads[k]), out.Shape))
		}
		g.ensureGrad(out)
		axpy(1, grads[k], out.Grad)
	}
	g.runTape()
}

// runTape calls every recorded backward function, newest first. A tensor
// no gradient reached is skipped; the inputs of the others get their
// gradients just before their consumer runs, and a tensor's gradient goes
// back to the pool as soon as its own backward has run.
func (g *Graph) runTape() {
	for i := len(g.tape) - 1; i >= 0; i-- {
		t := g.tape[i]
		if t.Grad == nil {
			continue
		}
		for link := t; link != nil; {
			for _, in := range link.in {
				g.ensureGrad(in)
			}
			next, _ := link.aux.(*Tensor) // the input chain of keepInputs
			link = next
		}
		t.backward(g, t)
		g.releaseGrad(t)
	}
}

// Reshape returns a view of x with a new shape of the same size: it shares
// x's data and gradient, so it needs no backward function. One dimension
// may be -1 and is then inferred.
func (g *Graph) Reshape(x *Tensor, shape ...int) *Tensor {
	t := g.header()
	t.setShape(shape)
	infer := -1
	known := 1
	for i, d := range t.Shape {
		if d == -1 {
			if infer >= 0 {
				panic(fmt.Sprintf("tensor.Reshape: two -1 in %v", copyInts(shape)))
			}
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 && known > 0 {
		t.Shape[infer] = len(x.Data) / known
	}
	if numel(t.Shape) != len(x.Data) {
		panic(fmt.Sprintf("tensor.Reshape: %v to %v changes the size", x.Shape, copyInts(shape)))
	}
	g.view(t, x, 0)
	return t
}
