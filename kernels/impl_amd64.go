//go:build !purego

package kernels

func archImpls() []*impl { return nil }
