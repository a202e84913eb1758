//go:build purego || !amd64

package kernels

func archImpls() []*impl { return nil }
