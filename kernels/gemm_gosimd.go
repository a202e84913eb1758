//go:build goexperiment.simd && amd64

package kernels

import "simd/archsimd"

// The "gosimd" implementations are GEMM microkernels written in Go with the
// vector types of Go's experimental simd/archsimd package (GOEXPERIMENT=simd,
// Go 1.26): no assembly, so they are part of the pure-Go fallback that the
// `purego` tag leaves, and the compiler, not avo, picks the instructions.
//
// The tiles are smaller than the assembly kernels' because Go's register
// allocator uses 16 vector registers (Z0–Z15), not 32, and hoists the
// broadcasts of A ahead of the multiply-adds: 4×32 with 512-bit vectors
// (8 accumulators, 2 B vectors, 4 broadcasts) and 4×16 with 256-bit vectors
// do not spill, where 6×32 and 12×32 did in a prototype (85 and 38 GFLOP/s
// against 168 on one Zen 5 core). Walking the panels by reslicing (a = a[4:])
// rather than indexing them by step saves the address arithmetic.
// BenchmarkMicroKernel measures the kernels alone.

var gemmGoSIMD512 = &gemmImpl{
	name: "gosimd512",
	mr:   4, nr: 32,
	// The 32-column B panel (kc·128 bytes, 32 KiB) stays in L1, the
	// mc×kc A block in L2, the kc×nc B block in L3.
	kc: 256, mc: 384, nc: 4096,
	kernel: gemmKernelGoSIMD4x32,
}

var gemmGoSIMD256 = &gemmImpl{
	name: "gosimd256",
	mr:   4, nr: 16,
	kc: 256, mc: 384, nc: 4096,
	kernel: gemmKernelGoSIMD4x16,
}

// simdImpls returns the Go-SIMD implementations this CPU can run, best first.
func simdImpls() []*impl {
	var l []*impl
	if archsimd.X86.AVX512() {
		l = append(l, &impl{name: gemmGoSIMD512.name, gemm: gemmGoSIMD512, vec: vecGeneric, simd: goSIMDVec})
	}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		l = append(l, &impl{name: gemmGoSIMD256.name, gemm: gemmGoSIMD256, vec: vecGeneric, simd: goSIMDVec})
	}
	return l
}

// gemmKernelGoSIMD4x32 is the microKernel for mr = 4, nr = 32.
func gemmKernelGoSIMD4x32(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var acc [4 * 32]float32
	dot4x32(a[:4*k], b[:32*k], &acc)
	epilogue16(acc[:], 32, 4, c, ldc, alpha, beta)
}

// gemmKernelGoSIMD4x16 is the microKernel for mr = 4, nr = 16.
func gemmKernelGoSIMD4x16(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var acc [4 * 16]float32
	dot4x16(a[:4*k], b[:16*k], &acc)
	epilogue8(acc[:], 16, 4, c, ldc, alpha, beta)
}

// epilogue16 writes c[i*ldc+j] = alpha·acc[i*nr+j] + beta·c[i*ldc+j] for the
// mr×nr tile (nr a multiple of 16) with 512-bit vectors, not reading c when
// beta is 0.
func epilogue16(acc []float32, nr, mr int, c []float32, ldc int, alpha, beta float32) {
	va := archsimd.BroadcastFloat32x16(alpha)
	vb := archsimd.BroadcastFloat32x16(beta)
	for i := range mr {
		row := c[i*ldc : i*ldc+nr : i*ldc+nr]
		for j := 0; j < nr; j += 16 {
			s := archsimd.LoadFloat32x16((*[16]float32)(acc[i*nr+j : i*nr+j+16]))
			if beta == 0 {
				s = s.Mul(va)
			} else {
				s = s.MulAdd(va, archsimd.LoadFloat32x16((*[16]float32)(row[j:j+16])).Mul(vb))
			}
			s.Store((*[16]float32)(row[j : j+16]))
		}
	}
}

// epilogue8 is epilogue16 with 256-bit vectors (nr a multiple of 8).
func epilogue8(acc []float32, nr, mr int, c []float32, ldc int, alpha, beta float32) {
	va := archsimd.BroadcastFloat32x8(alpha)
	vb := archsimd.BroadcastFloat32x8(beta)
	for i := range mr {
		row := c[i*ldc : i*ldc+nr : i*ldc+nr]
		for j := 0; j < nr; j += 8 {
			s := archsimd.LoadFloat32x8((*[8]float32)(acc[i*nr+j : i*nr+j+8]))
			if beta == 0 {
				s = s.Mul(va)
			} else {
				s = s.MulAdd(va, archsimd.LoadFloat32x8((*[8]float32)(row[j:j+8])).Mul(vb))
			}
			s.Store((*[8]float32)(row[j : j+8]))
		}
	}
}

// dot4x32 sets acc[i*32+j] = Σ_p a[4p+i]·b[32p+j]. It is kept out of line
// so that the caller's alpha, beta and c take no registers in its loop.
//
//go:noinline
func dot4x32(a, b []float32, acc *[4 * 32]float32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16
	b = b[:32*(len(a)/4)]
	for len(a) >= 4 && len(b) >= 32 {
		ap, bp := a[:4:4], b[:32:32]
		b0 := archsimd.LoadFloat32x16((*[16]float32)(bp[0:16]))
		b1 := archsimd.LoadFloat32x16((*[16]float32)(bp[16:32]))
		x := archsimd.BroadcastFloat32x16(ap[0])
		c00 = x.MulAdd(b0, c00)
		c01 = x.MulAdd(b1, c01)
		x = archsimd.BroadcastFloat32x16(ap[1])
		c10 = x.MulAdd(b0, c10)
		c11 = x.MulAdd(b1, c11)
		x = archsimd.BroadcastFloat32x16(ap[2])
		c20 = x.MulAdd(b0, c20)
		c21 = x.MulAdd(b1, c21)
		x = archsimd.BroadcastFloat32x16(ap[3])
		c30 = x.MulAdd(b0, c30)
		c31 = x.MulAdd(b1, c31)
		a, b = a[4:], b[32:]
	}
	c00.Store((*[16]float32)(acc[0:16]))
	c01.Store((*[16]float32)(acc[16:32]))
	c10.Store((*[16]float32)(acc[32:48]))
	c11.Store((*[16]float32)(acc[48:64]))
	c20.Store((*[16]float32)(acc[64:80]))
	c21.Store((*[16]float32)(acc[80:96]))
	c30.Store((*[16]float32)(acc[96:112]))
	c31.Store((*[16]float32)(acc[112:128]))
}

// dot4x16 sets acc[i*16+j] = Σ_p a[4p+i]·b[16p+j] with 256-bit vectors.
//
//go:noinline
func dot4x16(a, b []float32, acc *[4 * 16]float32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x8
	b = b[:16*(len(a)/4)]
	for len(a) >= 4 && len(b) >= 16 {
		ap, bp := a[:4:4], b[:16:16]
		b0 := archsimd.LoadFloat32x8((*[8]float32)(bp[0:8]))
		b1 := archsimd.LoadFloat32x8((*[8]float32)(bp[8:16]))
		x := archsimd.BroadcastFloat32x8(ap[0])
		c00 = x.MulAdd(b0, c00)
		c01 = x.MulAdd(b1, c01)
		x = archsimd.BroadcastFloat32x8(ap[1])
		c10 = x.MulAdd(b0, c10)
		c11 = x.MulAdd(b1, c11)
		x = archsimd.BroadcastFloat32x8(ap[2])
		c20 = x.MulAdd(b0, c20)
		c21 = x.MulAdd(b1, c21)
		x = archsimd.BroadcastFloat32x8(ap[3])
		c30 = x.MulAdd(b0, c30)
		c31 = x.MulAdd(b1, c31)
		a, b = a[4:], b[16:]
	}
	c00.Store((*[8]float32)(acc[0:8]))
	c01.Store((*[8]float32)(acc[8:16]))
	c10.Store((*[8]float32)(acc[16:24]))
	c11.Store((*[8]float32)(acc[24:32]))
	c20.Store((*[8]float32)(acc[32:40]))
	c21.Store((*[8]float32)(acc[40:48]))
	c30.Store((*[8]float32)(acc[48:56]))
	c31.Store((*[8]float32)(acc[56:64]))
}
