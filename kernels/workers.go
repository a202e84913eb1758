package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Helper goroutines for the parallel kernels. Starting a goroutine for each
// product costs a wake-up of an idle thread, tens of microseconds under KVM,
// which is 5% of a 2048×256×256 product at 2 threads. So helpers are started
// once and, after each job, keep polling for the next one for helperSpin
// (yielding the processor between polls) before they block. A job that a
// helper picks up after the caller has finished all the work is skipped.

// helperSpin is how long an idle helper polls for work before it blocks.
const helperSpin = 100 * time.Microsecond

var (
	jobs        = make(chan *parallelJob, 64)
	helpersMu   sync.Mutex
	helpersLive int
)

// parallelJob is one call of parallelDo as the helpers see it. state counts
// the helpers inside work; jobClosed is set by the caller once it has done
// all the work it could find, after which no helper enters.
type parallelJob struct {
	work  func()
	state atomic.Int64
}

const jobClosed = 1 << 40

func (j *parallelJob) run() {
	for {
		v := j.state.Load()
		if v&jobClosed != 0 {
			return
		}
		if j.state.CompareAndSwap(v, v+1) {
			break
		}
	}
	j.work()
	j.state.Add(-1)
}

func helper() {
	for {
		j := <-jobs
		j.run()
		for t0 := time.Now(); time.Since(t0) < helperSpin; {
			select {
			case j := <-jobs:
				j.run()
				t0 = time.Now()
			default:
				runtime.Gosched()
			}
		}
	}
}

func ensureHelpers(n int) {
	helpersMu.Lock()
	for helpersLive < n {
		helpersLive++
		go helper()
	}
	helpersMu.Unlock()
}

// parallelDo runs work on the calling goroutine and offers it to nt-1
// helpers. work must share its work out on demand (an atomic counter), so
// that it is done whether or not the helpers come: parallelDo returns once
// the caller's call has returned and every helper that joined has left.
func parallelDo(nt int, work func()) {
	if nt <= 1 {
		work()
		return
	}
	ensureHelpers(nt - 1)
	j := &parallelJob{work: work}
	for i := 1; i < nt; i++ {
		jobs <- j
	}
	work()
	for {
		v := j.state.Load()
		if j.state.CompareAndSwap(v, v|jobClosed) {
			break
		}
	}
	for i := 0; j.state.Load() != jobClosed; i++ {
		if i < 1000 {
			runtime.Gosched()
		} else {
			time.Sleep(10 * time.Microsecond)
		}
	}
	// A helper that has not yet taken its copy of j from the channel will
	// find it closed and never call work; until then j must not keep what
	// work refers to (the graph's arena, which a Reset may be replacing)
	// from the garbage collector.
	j.work = nil
}
