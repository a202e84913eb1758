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
//
// The work is packed into cache-sized panels and run through a register-blocked
// microkernel (AVX-512, AVX2+FMA or pure Go, see Impl); products big enough to
// pay for it are split over Threads() goroutines.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemmParallel(cur.gemm, threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmStrided computes batch independent products
// C_i = alpha·op(A_i)·op(B_i) + beta·C_i, where A_i starts at a[i*strideA],
// B_i at b[i*strideB] and C_i at c[i*strideC]; each is laid out as for Sgemm.
// It is the form per-head attention uses.
//
// Reference loop:
//
//	for i := 0; i < batch; i++ {
//		Sgemm(transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
//	}
//
// Small products are spread over Threads() goroutines a batch slice each;
// large ones are run one after the other, each split over the goroutines.
func SgemmStrided(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	if m <= 0 || n <= 0 || batch <= 0 {
		return
	}
	checkStrided(transA, transB, m, n, k, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batch)
	gemmBatched(cur.gemm, threads(), transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
}

// checkGemm panics, as an out-of-range slice index would, when a matrix does
// not fit its slice or a leading dimension is too small.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if k < 0 {
		panic("kernels: negative k")
	}
	if ldc < n || len(c) < (m-1)*ldc+n {
		panic("kernels: C too small for m×n with ldc")
	}
	if k == 0 {
		return
	}
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	if lda < ca || len(a) < (ra-1)*lda+ca {
		panic("kernels: A too small for its shape with lda")
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	if ldb < cb || len(b) < (rb-1)*ldb+cb {
		panic("kernels: B too small for its shape with ldb")
	}
}

// checkStrided validates every product of a strided batch up front (cheap,
// O(batch)), so that no goroutine panics half-way through.
func checkStrided(transA, transB bool, m, n, k int, a []float32, lda, strideA int, b []float32, ldb, strideB int, c []float32, ldc, strideC int, batch int) {
	for i := 0; i < batch; i++ {
		var as, bs []float32
		if k > 0 {
			as, bs = a[i*strideA:], b[i*strideB:]
		}
		checkGemm(transA, transB, m, n, k, as, lda, bs, ldb, c[i*strideC:], ldc)
	}
}
