//go:build !purego

package kernels

// int8AVX2 is the AVX2 microkernel (VPMADDUBSW, VPMADDWD) and row quantizer.
var int8AVX2 = &int8Impl{
	name: "avx2",
	kernel: func(kg int, a []uint8, lda int, b []int8, c []int32, ldc int) {
		_ = a[3*lda+4*kg-1]
		_ = b[kg*int8NR*4-1]
		_ = c[3*ldc+int8NR-1]
		int8Kernel4x16AVX2(kg, &a[0], lda, &b[0], &c[0], ldc)
	},
	quantize: func(x []float32, inv, z float32, q []uint8) {
		n := len(x) &^ 31
		if n > 0 {
			_ = q[n-1]
			quantizeRowAVX2(n, &x[0], inv, z, &q[0])
		}
		quantizeRowGeneric(x[n:], inv, z, q[n:len(x)])
	},
}

func archInt8Impls() []*int8Impl {
	if hasAVX2 {
		return []*int8Impl{int8AVX2}
	}
	return nil
}
