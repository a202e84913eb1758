package explain

import (
	"math"
	"strings"
	"testing"
)

// TestCopyFromOutput: the copy probabilities that the last layer's
// cross-attention maps carry become Attention.Copy, one per step;
// CopyOf shows them beside that layer's maps only; CopyMap is P(copy)
// times the head average, so its rows sum to P(copy); a model whose steps
// do not all report copying is refused.
func TestCopyFromOutput(t *testing.T) {
	out := handMade()
	pc := []float32{0.9, 0.2, 0.75, 0.05}
	for s, step := range out.Attention {
		for i := range step {
			if step[i].Name == "decoder.1.cross_attn" {
				step[i].Copies, step[i].PCopy = true, pc[s]
			}
		}
	}
	a, err := FromOutput([]string{"a", "b", "c"}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.CopyModule != "decoder.1.cross_attn" || len(a.Copy) != 4 {
		t.Fatalf("copy module %q, copy %v", a.CopyModule, a.Copy)
	}
	for s, p := range pc {
		if a.Copy[s] != p {
			t.Errorf("step %d: P(copy) %g, want %g", s, a.Copy[s], p)
		}
	}
	if a.CopyOf(a.Map(Cross, 1, 1)) == nil || a.CopyOf(a.Map(Cross, 0, 0)) != nil || a.CopyOf(a.Map(DecSelf, 1, 0)) != nil {
		t.Error("CopyOf: want the copy probabilities beside layer 1's cross-attention only")
	}
	cm := a.CopyMap()
	if cm == nil || cm.Head != -1 || len(cm.Weights) != 4 {
		t.Fatalf("CopyMap = %+v", cm)
	}
	// Step 1, layer 1: heads (0.6, 0.2, 0.2) and (0, 0, 1) average to
	// (0.3, 0.1, 0.6), times P(copy) 0.2.
	for j, want := range []float32{0.06, 0.02, 0.12} {
		if math.Abs(float64(cm.Weights[1][j]-want)) > 1e-6 {
			t.Errorf("copied[1][%d] = %g, want %g", j, cm.Weights[1][j], want)
		}
	}
	for s, row := range cm.Weights {
		var sum float32
		for _, w := range row {
			sum += w
		}
		if math.Abs(float64(sum-pc[s])) > 1e-6 {
			t.Errorf("copied row %d sums to %g, want P(copy) %g", s, sum, pc[s])
		}
	}

	out.Attention[2][3].Copies = false // step 2 no longer says how it copied
	if _, err := FromOutput([]string{"a", "b", "c"}, out, nil); err == nil || !strings.Contains(err.Error(), "copy") {
		t.Errorf("a step without its copy probability gave %v", err)
	}
	plain, err := FromOutput([]string{"a", "b", "c"}, handMade(), nil)
	if err != nil || plain.CopyModule != "" || plain.Copy != nil || plain.CopyMap() != nil {
		t.Errorf("a model without copy attention: %v, %q %v", err, plain.CopyModule, plain.Copy)
	}
}
