//go:build !purego

package kernels

import (
	"slices"
	"testing"
)

// TestAVX2Listed makes sure that on a CPU with AVX2+FMA the tests above run
// the "avx2" implementation (its few-row path and packers included), since
// they run whatever Impls lists.
func TestAVX2Listed(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2+FMA on this CPU")
	}
	if !slices.Contains(Impls(), "avx2") {
		t.Fatalf("Impls() = %v: no avx2 on a CPU that has it", Impls())
	}
	if gemmAVX2.small == nil || gemmAVX2.packA == nil || gemmAVX2.packB == nil {
		t.Fatal("gemmAVX2 has lost its few-row path or its packers")
	}
}
