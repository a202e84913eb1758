package tensor

import "fmt"

// Concatenation and slicing along one axis. Seen around that axis, a
// contiguous tensor is (outer, size, inner): outer is the product of the
// axes before it and inner of the axes after it, so every op here copies
// outer blocks of size·inner contiguous values.

// normAxis resolves a possibly negative axis against a rank.
func normAxis(op string, axis, rank int) int {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		panic(fmt.Sprintf("tensor.%s: axis out of range for rank %d", op, rank))
	}
	return axis
}

// outerInner returns the products of the axes before and after axis.
func outerInner(shape []int, axis int) (outer, inner int) {
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return outer, inner
}

// Concat joins tensors along axis (negative counts from the end). All
// tensors have the same rank and agree on every other axis: e.g. forward
// (B, T, H) and backward (B, T, H) LSTM states give (B, T, 2H) on axis -1.
func (g *Graph) Concat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("tensor.Concat: no tensors")
	}
	first := ts[0]
	axis = normAxis("Concat", axis, len(first.Shape))
	total := 0
	for _, t := range ts {
		if len(t.Shape) != len(first.Shape) {
			panic(fmt.Sprintf("tensor.Concat: shapes %v and %v differ in rank", first.Shape, t.Shape))
		}
		for i, d := range t.Shape {
			if i != axis && d != first.Shape[i] {
				panic(fmt.Sprintf("tensor.Concat: shapes %v and %v differ outside axis %d", first.Shape, t.Shape, axis))
			}
		}
		total += t.Shape[axis]
	}
	shape := append(g.shapeTmp[:0], first.Shape...)
	shape[axis] = total
	g.shapeTmp = shape
	out := g.newTensor(g.anyNeedsGrad(ts...), shape...)
	outer, inner := outerInner(first.Shape, axis)
	row := total * inner // one outer block of out
	off := 0
	for _, t := range ts {
		w := t.Shape[axis] * inner
		for o := 0; o < outer; o++ {
			copy(out.Data[o*row+off:o*row+off+w], t.Data[o*w:(o+1)*w])
		}
		off += w
	}
	out.ints = [4]int{axis, len(ts)}
	if out.needsGrad {
		g.record(out, concatBackward)
		g.keepInputs(out, ts)
	}
	return out
}

// concatBackward differentiates y = [x₀ | x₁ | …] along the axis: each
// input's gradient accumulates its own block, dxₖ += dy[…, offₖ:offₖ+nₖ, …].
func concatBackward(_ *Graph, out *Tensor) {
	axis, n := out.ints[0], out.ints[1]
	outer, inner := outerInner(out.Shape, axis)
	row := out.Shape[axis] * inner
	off := 0
	for k := 0; k < n; k++ {
		t := inputAt(out, k)
		w := t.Shape[axis] * inner
		if t.needsGrad {
			for o := 0; o < outer; o++ {
				axpy(1, out.Grad[o*row+off:o*row+off+w], t.Grad[o*w:(o+1)*w])
			}
		}
		off += w
	}
}

// keepInputs stores any number of inputs on out without allocating: the
// first three in out.in, the rest in a chain of recycled tensor headers
// hung from out.aux (a pointer in an interface does not allocate).
func (g *Graph) keepInputs(out *Tensor, ts []*Tensor) {
	n := copy(out.in[:], ts)
	link := out
	for ts = ts[n:]; len(ts) > 0; ts = ts[n:] {
		c := g.header()
		n = copy(c.in[:], ts)
		link.aux = c
		link = c
	}
}

// inputAt returns the k-th input stored by keepInputs.
func inputAt(out *Tensor, k int) *Tensor {
	t := out
	for ; k >= len(t.in); k -= len(t.in) {
		t = t.aux.(*Tensor)
	}
	return t.in[k]
}

// Slice returns a copy of x[…, start:end, …] along axis (negative counts
// from the end); its gradient flows back into that block of x.
func (g *Graph) Slice(x *Tensor, axis, start, end int) *Tensor {
	axis = normAxis("Slice", axis, len(x.Shape))
	if start < 0 || end < start || end > x.Shape[axis] {
		panic(fmt.Sprintf("tensor.Slice: [%d:%d] out of range for axis %d of %v", start, end, axis, x.Shape))
	}
	shape := append(g.shapeTmp[:0], x.Shape...)
	shape[axis] = end - start
	g.shapeTmp = shape
	out := g.newTensor(g.anyNeedsGrad(x), shape...)
	outer, inner := outerInner(x.Shape, axis)
	row, w, off := x.Shape[axis]*inner, (end-start)*inner, start*inner
	for o := 0; o < outer; o++ {
		copy(out.Data[o*w:(o+1)*w], x.Data[o*row+off:o*row+off+w])
	}
	out.ints = [4]int{axis, start, end}
	g.record(out, sliceBackward, x)
	return out
}

// sliceBackward differentiates y = x[…, start:end, …]:
// dx[…, start:end, …] += dy.
func sliceBackward(_ *Graph, out *Tensor) {
	x := out.in[0]
	if !x.needsGrad {
		return
	}
	axis, start, end := out.ints[0], out.ints[1], out.ints[2]
	outer, inner := outerInner(x.Shape, axis)
	row, w, off := x.Shape[axis]*inner, (end-start)*inner, start*inner
	for o := 0; o < outer; o++ {
		axpy(1, out.Grad[o*w:(o+1)*w], x.Grad[o*row+off:o*row+off+w])
	}
}

// Split cuts x along axis into consecutive pieces of the given sizes, which
// must add up to the axis's length; each piece is a [Graph.Slice]. It
// allocates the returned slice (a few words); loops that must not allocate
// call Slice directly.
func (g *Graph) Split(x *Tensor, axis int, sizes ...int) []*Tensor {
	axis = normAxis("Split", axis, len(x.Shape))
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != x.Shape[axis] {
		panic(fmt.Sprintf("tensor.Split: sizes %v do not add up to axis %d of %v", copyInts(sizes), axis, x.Shape))
	}
	parts := make([]*Tensor, len(sizes))
	start := 0
	for i, s := range sizes {
		parts[i] = g.Slice(x, axis, start, start+s)
		start += s
	}
	return parts
}

// copyInts returns a copy of s for a panic message. Formatting s itself
// would make it escape to the heap, and with it every caller's variadic
// shape arguments, on the hot path where nothing panics.
func copyInts(s []int) []int { return append([]int(nil), s...) }
