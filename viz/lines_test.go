package viz

import (
	"bytes"
	"image/png"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	ticks := []string{"≤4", "5–6", "7+"}
	f, err := Lines([]Series{{Label: "a", Y: []float64{10, 20, 30}}, {Label: "b", Y: []float64{5, math.NaN(), 25}}}, LineOptions{Title: "t", XTicks: ticks})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows != 2 || f.Cols != 3 {
		t.Errorf("figure of %d series × %d positions, want 2 × 3", f.Rows, f.Cols)
	}
	var buf bytes.Buffer
	if err := f.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Errorf("PNG: %v", err)
	}
	for _, c := range []struct {
		s    []Series
		want string
	}{
		{nil, "at least one series"},
		{[]Series{{Label: "a", Y: []float64{1, 2}}}, `series "a" has 2 values for 3 x positions`},
		{[]Series{{Label: "a", Y: []float64{1, math.Inf(1), 2}}}, "infinite"},
	} {
		if _, err := Lines(c.s, LineOptions{XTicks: ticks}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.s, err, c.want)
		}
	}
	for v, want := range map[float64]float64{49: 60, 9: 12, 0.4: 0.5, 100: 120} {
		if got := niceTop(v); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceTop(%v) = %v, want %v", v, got, want)
		}
	}
}

func TestCurves(t *testing.T) {
	steps := []float64{25, 50, 75, 100}
	f, err := Curves([]Curve{
		{Label: "peer NLL", X: steps, Y: []float64{8.1, 7.2, 6.6, 6.1}},
		{Label: "qkv NLL", X: steps, Y: []float64{8.0, 7.0, 6.5, 6.0}},
	}, CurveOptions{Title: "loss by step", XLabel: "step", YLabel: "NLL"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	svg := buf.String()
	for _, s := range []string{"peer NLL", "qkv NLL", "loss by step", ">step<", ">NLL<"} {
		if !strings.Contains(svg, s) {
			t.Errorf("the SVG lacks %q", s)
		}
	}
	buf.Reset()
	if err := f.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Errorf("PNG: %v", err)
	}
	for _, c := range []struct {
		c    []Curve
		want string
	}{
		{nil, "at least one curve"},
		{[]Curve{{Label: "a", X: steps, Y: []float64{1, 2}}}, `curve "a" has 4 x and 2 y values`},
		{[]Curve{{Label: "a"}}, `curve "a" has no points`},
		{[]Curve{{Label: "a", X: []float64{1, 2}, Y: []float64{1, math.NaN()}}}, "not a finite number at point 2"},
	} {
		if _, err := Curves(c.c, CurveOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.c, err, c.want)
		}
	}
}

// TestPlainTicks: every axis gets 3 to 9 labels at multiples of one nice
// step (1, 2, 2.5 or 5 times a power of ten) inside the range, written
// plainly, with unlabelled ticks between them.
func TestPlainTicks(t *testing.T) {
	for _, r := range [][2]float64{{0, 100}, {20, 100}, {17.3, 27.9}, {0, 19866}, {462, 19866}, {0.21, 0.29}, {0.5, 0.9}, {1e-5, 1e-3}, {-3, 3}, {0, 1}} {
		ts := plainTicks{}.Ticks(r[0], r[1])
		var labels []float64
		for _, tk := range ts {
			if tk.Value < r[0]-1e-9 || tk.Value > r[1]+1e-9 {
				t.Errorf("%v: tick %v outside the range", r, tk.Value)
			}
			if tk.Label == "" {
				continue
			}
			v, err := strconv.ParseFloat(tk.Label, 64)
			if err != nil || math.Abs(v-tk.Value) > 1e-9*math.Max(1, math.Abs(v)) || strings.Contains(tk.Label, "e") || len(tk.Label) > 8 {
				t.Errorf("%v: tick %v labelled %q", r, tk.Value, tk.Label)
			}
			labels = append(labels, v)
		}
		if len(labels) < 3 || len(labels) > 9 || len(ts) <= len(labels) {
			t.Errorf("%v: %d labels %v among %d ticks", r, len(labels), labels, len(ts))
			continue
		}
		step := labels[1] - labels[0]
		mant := step / math.Pow(10, math.Floor(math.Log10(step)))
		if !slices.ContainsFunc([]float64{1, 2, 2.5, 5}, func(m float64) bool { return math.Abs(m-mant) < 1e-9 }) {
			t.Errorf("%v: step %v is not 1, 2, 2.5 or 5 times a power of ten", r, step)
		}
		for i := 1; i < len(labels); i++ {
			if math.Abs(labels[i]-labels[i-1]-step) > 1e-9*step*10 {
				t.Errorf("%v: labels %v are not evenly spaced", r, labels)
				break
			}
		}
	}
}
