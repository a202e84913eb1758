// Package kernels holds the numerical inner loops of qkv: single-precision
// GEMM (C = αop(A)op(B) + βC, row-major, with transposes and leading
// dimensions) and its strided-batched form, and the vector kernels the models
// spend the rest of their time in.
//
// It is the only package that knows about instruction sets. Every assembly
// kernel has a pure-Go twin with the same doc comment; the `purego` build tag
// forces the twins.
package kernels

//go:generate sh -c "cd _asm && go run . -out ../asm_amd64.s -stubs ../asm_amd64_stubs.go -pkg kernels"
