// Command _asm generates the amd64 assembly of package kernels with avo:
// the GEMM microkernels (gemm.go), their packing (pack.go), the few-row
// kernels (small.go), the AVX2 twins of those two (small_avx2.go), the bf16
// and int8 kernels and the vector kernels (vec.go).
//
// Run it through go generate in the kernels folder:
//
//	cd kernels && go generate
package main

import (
	. "github.com/mmcloughlin/avo/build"
)

func main() {
	ConstraintExpr("!purego")
	gemmKernels()
	packKernels()
	packCopyKernels()
	smallKernels()
	smallKernelsAVX2()
	packKernelsAVX2()
	bf16Kernels()
	int8Kernels()
	vecKernels()
	Generate()
}
