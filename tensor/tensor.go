package tensor

import (
	"fmt"
	"strings"
)

// maxInlineDims is the rank up to which a tensor stores its shape inline.
const maxInlineDims = 4

// Tensor is a contiguous row-major float32 array with a shape, and, when it
// takes part in differentiation, a gradient of the same size.
type Tensor struct {
	Data  []float32 // len(Data) == product of Shape
	Grad  []float32 // nil unless the tensor needs a gradient
	Shape []int
	Name  string // set for parameters

	shapeBuf  [maxInlineDims]int
	needsGrad bool

	// A view shares the data and gradient of viewOf from element viewOff
	// on; its gradient is bound when first needed (Graph.ensureGrad).
	viewOf  *Tensor
	viewOff int

	// The tape entry, filled by the operation that produced the tensor.
	// backward is a top-level function (never a closure) so that recording
	// an operation allocates nothing.
	backward func(g *Graph, out *Tensor)
	in       [3]*Tensor
	ints     [4]int
	floats   [2]float32
	saved    []float32 // arena memory the backward pass needs
	savedIDs []int32   // arena copy of ids or targets the backward pass needs
	aux      any       // rarely used extra state (never set on hot paths)
}

// NewParam allocates a trainable parameter with zeroed data and gradient.
// Parameters live on the heap, outside any graph, and persist across steps.
func NewParam(name string, shape ...int) *Tensor {
	n := numel(shape)
	t := &Tensor{Name: name, Data: make([]float32, n), Grad: make([]float32, n), needsGrad: true}
	t.setShape(shape)
	return t
}

// FromData wraps data as a constant tensor (no gradient) of the given shape,
// without copying. It panics if the sizes disagree.
func FromData(data []float32, shape ...int) *Tensor {
	if numel(shape) != len(data) {
		panic(fmt.Sprintf("tensor.FromData: %d values for shape %v", len(data), shape))
	}
	t := &Tensor{Data: data}
	t.setShape(shape)
	return t
}

func (t *Tensor) setShape(shape []int) {
	if len(shape) <= maxInlineDims {
		t.Shape = t.shapeBuf[:len(shape)]
	} else {
		t.Shape = make([]int, len(shape))
	}
	copy(t.Shape, shape)
}

// NeedsGrad reports whether gradients flow into t.
func (t *Tensor) NeedsGrad() bool { return t.needsGrad }

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Rows is the product of every axis but the last: the number of rows when t
// is seen as a matrix (…, D).
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return len(t.Data) / t.Shape[len(t.Shape)-1]
}

// Cols is the size of the last axis.
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// Item returns the single value of a one-element tensor.
func (t *Tensor) Item() float32 {
	if len(t.Data) != 1 {
		panic(fmt.Sprintf("tensor.Item on shape %v", t.Shape))
	}
	return t.Data[0]
}

// ZeroGrad clears the gradient (used by optimizers on parameters).
func (t *Tensor) ZeroGrad() { clear(t.Grad) }

// SetRequiresGrad turns gradient tracking on or off for a parameter, e.g. to
// freeze it. It allocates the gradient on first use.
func (t *Tensor) SetRequiresGrad(on bool) {
	t.needsGrad = on
	if on && t.Grad == nil {
		t.Grad = make([]float32, len(t.Data))
	}
}

func (t *Tensor) String() string {
	var b strings.Builder
	if t.Name != "" {
		b.WriteString(t.Name)
	}
	fmt.Fprintf(&b, "%v", t.Shape)
	return b.String()
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}
