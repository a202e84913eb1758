package kernels

// gemmGeneric is the pure-Go microkernel: one row by four columns, the k
// loop unrolled by four with the four products of each column summed before
// they join the accumulator. Go has no vector types, and its register
// allocator spills larger tiles (2×4, 4×4) to the stack, which puts a
// store-to-load round trip on every accumulator's dependency chain; this
// shape keeps everything in registers and the floating-point pipes busy.
var gemmGeneric = &gemmImpl{
	name: "generic",
	mr:   1, nr: 4,
	kc: 256, mc: 128, nc: 1024,
	kernel: gemmKernelGeneric1x4,
}

// gemmKernelGeneric1x4 is the microKernel for mr = 1, nr = 4.
func gemmKernelGeneric1x4(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	c0, c1, c2, c3 := dot1x4(a[:k], b[:4*k])
	c = c[:4]
	if beta == 0 {
		c[0], c[1], c[2], c[3] = alpha*c0, alpha*c1, alpha*c2, alpha*c3
		return
	}
	c[0] = alpha*c0 + beta*c[0]
	c[1] = alpha*c1 + beta*c[1]
	c[2] = alpha*c2 + beta*c[2]
	c[3] = alpha*c3 + beta*c[3]
}

// dot1x4 returns c[j] = Σ_p a[p]·b[4p+j] for j < 4. It is kept out of line so
// that the caller's alpha and beta do not take registers in its loop.
//
//go:noinline
func dot1x4(a, b []float32) (c0, c1, c2, c3 float32) {
	n := len(a) / 4
	a4 := a[:4*n]
	b4 := b[:16*n]
	for i := 0; i < n; i++ {
		ap := a4[4*i : 4*i+4 : 4*i+4]
		bp := b4[16*i : 16*i+16 : 16*i+16]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		c0 += (a0*bp[0] + a1*bp[4]) + (a2*bp[8] + a3*bp[12])
		c1 += (a0*bp[1] + a1*bp[5]) + (a2*bp[9] + a3*bp[13])
		c2 += (a0*bp[2] + a1*bp[6]) + (a2*bp[10] + a3*bp[14])
		c3 += (a0*bp[3] + a1*bp[7]) + (a2*bp[11] + a3*bp[15])
	}
	a, b = a[4*n:], b[16*n:]
	for len(a) >= 1 && len(b) >= 4 {
		a0 := a[0]
		c0 += a0 * b[0]
		c1 += a0 * b[1]
		c2 += a0 * b[2]
		c3 += a0 * b[3]
		a, b = a[1:], b[4:]
	}
	return
}
