package kernels

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

// impl is one instruction-set level: a GEMM microkernel with its blocking,
// and the level the vector kernels run at.
type impl struct {
	name string
	gemm *gemmImpl
	vec  vecLevel
	// simd, if not nil, replaces the vector kernels of vec (Go-SIMD).
	simd *vecTable
}

// vecLevel says which vector kernels run.
type vecLevel int

const (
	vecGeneric vecLevel = iota
	vecAVX2
	vecAVX512
)

// impls lists the implementations this CPU can run, best first; the last is
// always "generic". Filled in by init.
var impls []*impl

// cur is the implementation in use.
var cur *impl

var genericImpl = &impl{name: "generic", gemm: gemmGeneric, vec: vecGeneric}

func init() {
	impls = append(append(archImpls(), simdImpls()...), genericImpl)
	cur = impls[0]
}

// Impls returns the names of the implementations this CPU (and build) can
// run, best first: some of "avx512", "avx2", "gosimd512", "gosimd256", then
// always "generic".
func Impls() []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	return names
}

// Impl returns the name of the implementation in use.
func Impl() string { return cur.name }

// SetImpl selects an implementation by name (one of Impls()) for GEMM and the
// vector kernels and returns the previous name. It is meant for tests and
// benchmarks and must not be called while kernels run.
func SetImpl(name string) (prev string, err error) {
	for _, im := range impls {
		if im.name == name {
			prev = cur.name
			cur = im
			return prev, nil
		}
	}
	return cur.name, fmt.Errorf("kernels: implementation %q not available (have %v)", name, Impls())
}

var nthreads atomic.Int32

// SetThreads sets how many goroutines Sgemm and SgemmStrided may use; n < 1
// means runtime.GOMAXPROCS(0). It returns the previous setting.
func SetThreads(n int) int {
	if n < 1 {
		n = 0
	}
	return int(nthreads.Swap(int32(n)))
}

// Threads returns how many goroutines Sgemm and SgemmStrided use.
func Threads() int {
	return threads()
}

func threads() int {
	if n := nthreads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}
