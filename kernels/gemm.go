package kernels

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(A) is m×k and op(B) is k×n. A is stored m×k (lda ≥ k) or, when transA,
// k×m (lda ≥ m); likewise B is k×n (ldb ≥ n) or, when transB, n×k (ldb ≥ k).
// C is m×n with ldc ≥ n. When beta is 0, C is not read (NaNs in C vanish).
//
// Reference loop:
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			var s float32
//			for p := 0; p < k; p++ { s += opA(i, p) * opB(p, j) }
//			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
//		}
//	}
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(crow)
		} else if beta != 1 {
			for j := range crow {
				crow[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if transB {
				for j := range crow {
					crow[j] += av * b[j*ldb+p]
				}
			} else {
				brow := b[p*ldb : p*ldb+n]
				for j := range crow {
					crow[j] += av * brow[j]
				}
			}
		}
	}
}

// SgemmStrided computes batch independent products
// C_i = alpha·op(A_i)·op(B_i) + beta·C_i, where A_i starts at a[i*strideA],
// B_i at b[i*strideB] and C_i at c[i*strideC]; each is laid out as for Sgemm.
// It is the form per-head attention uses.
func SgemmStrided(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	for i := 0; i < batch; i++ {
		Sgemm(transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
	}
}
