//go:build purego || !amd64

package kernels

func archBF16Impls() []*gemmImpl { return nil }
