//go:build purego || !amd64

package kernels

func archInt8Impls() []*int8Impl { return nil }
