package pipeline

import (
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/qkv-dev/qkv/search"
)

// TestLargeCachesCollectedAfterTheirBatch: once a batch's search is done,
// caches of collectAfter bytes or more are collected at once, not left to
// the collector's pacing: with the threshold lowered to one byte, decoding
// three batches runs one collection more per batch than with it out of
// reach, and the outputs are the same.
func TestLargeCachesCollectedAfterTheirBatch(t *testing.T) {
	p := untrained(t, charWord)
	lines := slices.Repeat([]string{"Open the file", "Save", "Quit now"}, 2)
	opt := Options{Search: search.Options{Beam: 4}, BatchSize: 2} // 3 batches
	defer debug.SetGCPercent(debug.SetGCPercent(-1))              // only forced collections
	defer func(c int) { collectAfter = c }(collectAfter)
	run := func(threshold int) (gcs uint32, out []string) {
		collectAfter = threshold
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.NumGC
		for _, r := range p.Translate(lines, opt) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			out = append(out, r.Hyps[0].Text)
		}
		runtime.ReadMemStats(&ms)
		return ms.NumGC - before, out
	}
	never, want := run(math.MaxInt)
	always, got := run(1)
	if always-never != 3 {
		t.Errorf("3 batches ran %d collections with every cache collected and %d with none: want 3 more", always, never)
	}
	if !slices.Equal(got, want) {
		t.Errorf("outputs differ: %q, want %q", got, want)
	}
}
