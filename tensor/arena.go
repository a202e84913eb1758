package tensor

import "runtime/debug"

// arenaAlign is the allocation granularity in elements: 16 float32 = 64
// bytes, one cache line and one AVX-512 register.
const arenaAlign = 16

// arena hands out slices of one large buffer and takes them all back at once.
// A step that needs more than the buffer holds is served from overflow
// allocations; the next reset grows the buffer to the step's total, so from
// then on identical steps allocate nothing.
type arena[T any] struct {
	buf      []T
	off      int
	overflow int // elements served outside buf since the last reset
	used     int // the most elements one reset interval took since the last trim
}

// alloc returns n elements, not zeroed.
func (a *arena[T]) alloc(n int) []T {
	rounded := (n + arenaAlign - 1) &^ (arenaAlign - 1)
	if a.off+rounded <= len(a.buf) {
		s := a.buf[a.off : a.off+n : a.off+n]
		a.off += rounded
		return s
	}
	a.overflow += rounded
	return make([]T, n)
}

// reset takes back everything handed out. After an overflow the buffer is
// replaced by one that holds the whole step; the old buffer and the
// overflow slices are returned to the operating system first, so the
// process's peak memory is one step's worth, not two.
func (a *arena[T]) reset() {
	a.used = max(a.used, a.off+a.overflow)
	if a.overflow > 0 {
		size := a.off + a.overflow + a.off/8
		a.buf = nil
		debug.FreeOSMemory()
		a.buf = make([]T, size)
	}
	a.off, a.overflow = 0, 0
}

// minTrim is the least a trim frees, in elements (16 MB of float32): a
// smaller saving is not worth the collection it costs.
const minTrim = 4 << 20

// trim resets the arena and, when the intervals since the last trim used
// less than half of the buffer and that frees at least minTrim elements,
// replaces the buffer by one of what they used (and an eighth), returning
// the old one to the operating system first.
func (a *arena[T]) trim() {
	a.reset()
	if need := a.used + a.used/8; need < len(a.buf)/2 && len(a.buf)-need >= minTrim {
		a.buf = nil
		debug.FreeOSMemory()
		a.buf = make([]T, need)
	}
	a.used = 0
}

// size is the arena's capacity in elements.
func (a *arena[T]) size() int { return len(a.buf) }
