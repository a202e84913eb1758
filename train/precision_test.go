package train

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/tensor"
)

func TestPrecisionOption(t *testing.T) {
	for _, p := range []string{"", "fp32", "bf16"} {
		o := Defaults()
		o.Precision = p
		if err := o.Validate(); err != nil {
			t.Errorf("precision %q: %v", p, err)
		}
	}
	o := Defaults()
	o.Precision = "fp16"
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--precision") || !strings.Contains(err.Error(), "train.precision") || !strings.Contains(err.Error(), "bf16") {
		t.Errorf("precision fp16: error %v, want one naming --precision, train.precision and the choices", err)
	}
	if _, err := New(newModel(t, model.ArchTransformer), copyTask(10, 1), nil, t.TempDir(), o); err == nil {
		t.Error("New accepted precision fp16")
	}
	// fp32 is recorded as the default, so a run with --precision fp32 is
	// the same run as one without; bf16 is recorded, so a resume must agree.
	if got := (Options{Precision: "fp32"}).WithDefaults().Precision; got != "" {
		t.Errorf("WithDefaults: precision fp32 recorded as %q, want the default \"\"", got)
	}
	js := func(o Options) json.RawMessage {
		raw, err := SettingsJSON(map[string]any{"train": o})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	d, _ := DiffSettings(js(Options{}), js(Options{Precision: NormalizePrecision("fp32")}))
	if len(d) != 0 {
		t.Errorf("fp32 differs from the default: %v", d)
	}
	d, _ = DiffSettings(js(Options{}), js(Options{Precision: "bf16"}))
	if len(d) != 1 || d[0].Key != "train.precision" {
		t.Errorf("bf16 against fp32: diffs %v, want train.precision", d)
	}
}

// validCurve trains the tiny Transformer of the trainer tests on the copy
// task for epochs epochs and returns the validation loss after each.
func validCurve(t *testing.T, precision string, seed uint64, epochs int) []float64 {
	t.Helper()
	opts := Options{MaxTokens: 200, Epochs: epochs, Schedule: "inverse-sqrt", LR: 3e-3, Warmup: 20, Seed: seed, Precision: precision}
	tr, err := New(newModel(t, model.ArchTransformer), copyTask(300, 1), copyTask(40, 2), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]tensor.Precision{"": tensor.FP32, "bf16": tensor.BF16}[precision]; tr.g.Precision() != want {
		t.Fatalf("precision %q: the training graph runs %v", precision, tr.g.Precision())
	}
	var losses []float64
	tr.OnValid = func(v Validation) { losses = append(losses, v.Loss) }
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return losses
}

// TestBF16TracksFP32 trains the same model on the same batches in fp32 and
// in bf16, and compares their validation-loss curves. bfloat16 changes
// every product by about 2⁻⁸ relative, so the two runs' weights drift apart
// as a run with another dropout seed does, not more: the tolerance is the
// distance between two fp32 runs that differ only in the data order and
// dropout seed, measured here (mean absolute difference over the curve),
// plus 2% of the loss. Both curves must also fall (the bf16 run learns).
func TestBF16TracksFP32(t *testing.T) {
	const epochs = 20
	fp32 := validCurve(t, "", 1, epochs)
	other := validCurve(t, "", 2, epochs)
	bf16 := validCurve(t, "bf16", 1, epochs)
	var dSeed, dBF16, mean float64
	for i := range fp32 {
		dSeed += math.Abs(other[i]-fp32[i]) / epochs
		dBF16 += math.Abs(bf16[i]-fp32[i]) / epochs
		mean += fp32[i] / epochs
	}
	t.Logf("validation loss fp32 %.4f → %.4f, bf16 %.4f → %.4f; mean |bf16−fp32| %.4f, |seed 2−seed 1| %.4f",
		fp32[0], fp32[epochs-1], bf16[0], bf16[epochs-1], dBF16, dSeed)
	if dBF16 > dSeed+0.02*mean {
		t.Errorf("bf16 strays from fp32 by %.4f on average, more than another seed does (%.4f) + 2%% of the loss", dBF16, dSeed)
	}
	if bf16[epochs-1] > bf16[0]/2 {
		t.Errorf("bf16 validation loss went from %.3f to only %.3f", bf16[0], bf16[epochs-1])
	}
	if last16, last32 := bf16[epochs-1], fp32[epochs-1]; math.Abs(last16-last32) > 0.1*last32+dSeed {
		t.Errorf("final validation loss: bf16 %.4f, fp32 %.4f", last16, last32)
	}
}
