//go:build !(goexperiment.simd && amd64)

package kernels

// simdImpls returns nil: the Go-SIMD kernels need GOEXPERIMENT=simd on amd64.
func simdImpls() []*impl { return nil }
