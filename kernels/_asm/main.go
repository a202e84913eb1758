// Command _asm generates the amd64 assembly of package kernels with avo:
// the GEMM microkernels (gemm.go) and the vector kernels (vec.go).
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
	bf16Kernels()
	int8Kernels()
	vecKernels()
	Generate()
}
