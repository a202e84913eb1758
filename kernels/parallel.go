package kernels

import "sync/atomic"

// ParallelRange runs f over [0, n) split into contiguous pieces of at least
// grain indexes, on up to Threads() goroutines (the caller among them),
// pieces handed out on demand; below 2·grain, or with one thread, it calls
// f(0, n) on the caller. f must only touch what its range owns: it is for
// elementwise loops (dropout, ReLU) whose result does not depend on the
// split.
func ParallelRange(n, grain int, f func(lo, hi int)) {
	nt := threads()
	if n <= 0 {
		return
	}
	if nt <= 1 || n < 2*grain {
		f(0, n)
		return
	}
	pieces := min(2*nt, n/grain)
	nt = min(nt, pieces)
	var next atomic.Int32
	parallelDo(nt, func() {
		for {
			p := int(next.Add(1)) - 1
			if p >= pieces {
				return
			}
			f(n*p/pieces, n*(p+1)/pieces)
		}
	})
}
