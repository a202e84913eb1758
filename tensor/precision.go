package tensor

import (
	"fmt"

	"github.com/qkv-dev/qkv/kernels"
)

// Precision is the number format of a Graph's matrix products.
type Precision int

const (
	// FP32: every product in float32 (the default).
	FP32 Precision = iota
	// BF16: mixed precision, as PyTorch's CPU autocast to bfloat16 does to
	// matrix products. The operands of every matrix product — MatMul,
	// BatchedMatMul, Linear (so the output projection), attention's Q·Kᵀ and
	// P·V, the LSTM's recurrent product — are rounded to bfloat16 and the
	// products accumulated in float32 (kernels.Bgemm), in the forward pass
	// and in the backward pass (dX = dY·W and dW = dYᵀ·X alike). Tensors,
	// parameters, gradients, and every other operation (layer norm, softmax,
	// the loss, elementwise ops) stay float32.
	BF16
)

// Precisions are the names ParsePrecision accepts.
var Precisions = []string{"fp32", "bf16"}

func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision reads "fp32" or "bf16" ("" is fp32).
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "fp32":
		return FP32, nil
	case "bf16":
		return BF16, nil
	}
	return FP32, fmt.Errorf("precision %q is not one of fp32, bf16", s)
}

// SetPrecision sets the number format of the graph's matrix products from
// now on (see Precision).
func (g *Graph) SetPrecision(p Precision) { g.precision = p }

// Precision returns the number format of the graph's matrix products.
func (g *Graph) Precision() Precision { return g.precision }

// gemm is kernels.Sgemm or, in BF16, kernels.Bgemm.
func (g *Graph) gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if g.precision == BF16 {
		kernels.Bgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	kernels.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmStrided is kernels.SgemmStrided or, in BF16, kernels.BgemmStrided.
func (g *Graph) gemmStrided(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	if g.precision == BF16 {
		kernels.BgemmStrided(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
		return
	}
	kernels.SgemmStrided(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
}

// elementwiseGrain is the fewest elements an elementwise loop (dropout,
// ReLU) gives a goroutine: below it, waking a helper costs more than the
// loop (tens of microseconds under KVM against a few nanoseconds an element).
const elementwiseGrain = 1 << 15
