package viz

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one line of a line plot: a value per x position (NaN where the
// series has none, e.g. an empty bucket: no point is drawn there and the
// line skips it).
type Series struct {
	Label string
	Y     []float64
}

// LineOptions for Lines.
type LineOptions struct {
	Title, XLabel, YLabel string
	// XTicks label the x positions 0, 1, …, one per value of a series.
	XTicks []string
}

// lineColours tell the series apart in print and for colour-blind
// readers (Okabe & Ito's palette); markers and dashes differ too.
var lineColours = []color.RGBA{
	{0, 114, 178, 255},   // blue
	{213, 94, 0, 255},    // vermillion
	{0, 158, 115, 255},   // bluish green
	{204, 121, 167, 255}, // reddish purple
	{230, 159, 0, 255},   // orange
	{86, 180, 233, 255},  // sky blue
	{0, 0, 0, 255},       // black
}

// Lines draws several series over the same labelled x positions, with a
// point at every value and a legend: e.g. the word error rate of several
// systems by source length, as Bahdanau et al. 2014 (Fig. 2) plot BLEU by
// sentence length. Figure.Rows is the number of series, Cols of x
// positions.
func Lines(series []Series, opt LineOptions) (*Figure, error) {
	if len(series) == 0 {
		return nil, errors.New("viz: a line plot needs at least one series")
	}
	n := len(opt.XTicks)
	if n == 0 {
		return nil, errors.New("viz: a line plot needs labelled x positions")
	}
	top := 0.0
	for _, s := range series {
		if len(s.Y) != n {
			return nil, fmt.Errorf("viz: series %q has %d values for %d x positions", s.Label, len(s.Y), n)
		}
		for _, y := range s.Y {
			if math.IsInf(y, 0) {
				return nil, fmt.Errorf("viz: series %q has an infinite value", s.Label)
			}
			if !math.IsNaN(y) {
				top = max(top, y)
			}
		}
	}
	p := plot.New()
	p.Title.Text = opt.Title
	p.Title.TextStyle.Font.Size = 13
	p.X.Label.Text, p.Y.Label.Text = opt.XLabel, opt.YLabel
	p.X.Min, p.X.Max = -0.3, float64(n-1)+0.3
	p.Y.Min, p.Y.Max = 0, niceTop(top)
	p.Y.Tick.Marker = yTicks(p.Y.Max)
	ticks := make(plot.ConstantTicks, n)
	for i, l := range opt.XTicks {
		ticks[i] = plot.Tick{Value: float64(i), Label: l}
	}
	p.X.Tick.Marker = ticks
	p.Add(plotter.NewGrid())
	// Error rates grow with length: the top left is the emptiest corner.
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(12), vg.Points(-6)
	p.Legend.Padding = vg.Points(2)
	for k, s := range series {
		var pts plotter.XYs
		for i, y := range s.Y {
			if !math.IsNaN(y) {
				pts = append(pts, plotter.XY{X: float64(i), Y: y})
			}
		}
		if len(pts) == 0 {
			continue
		}
		c := lineColours[k%len(lineColours)]
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("viz: series %q: %w", s.Label, err)
		}
		l.Color, l.Width = c, vg.Points(1.8)
		if k >= len(lineColours) { // colours come round again: dash them
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		sc.Color, sc.Radius = c, vg.Points(3.2)
		sc.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PlusGlyph{}, draw.CrossGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}}[k%7]
		p.Add(l, sc)
		p.Legend.Add(s.Label, l, sc)
	}
	w := max(vg.Points(480), vg.Points(70*float64(n)+120))
	h := vg.Points(340)
	f := &Figure{Rows: len(series), Cols: n, w: w, h: h}
	f.draw = func(c draw.Canvas) { p.Draw(c) }
	return f, nil
}

// niceTop is a round upper limit for a y axis holding values up to v,
// with room above the highest point for the legend.
func niceTop(v float64) float64 {
	if v <= 0 {
		return 1
	}
	step := yStep(v * 1.2)
	return math.Ceil(v*1.2/step) * step
}

// yStep is a round tick spacing (1, 2 or 5 times a power of ten) giving
// at most 8 intervals up to top.
func yStep(top float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(top)))
	for _, m := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10} {
		if top/(m*p) <= 8 {
			return m * p
		}
	}
	return 10 * p
}

// yTicks labels every step from 0 to top.
func yTicks(top float64) plot.ConstantTicks {
	step := yStep(top)
	var ts plot.ConstantTicks
	for i := 0; float64(i)*step <= top*(1+1e-9); i++ {
		v := float64(i) * step
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 4, 64)})
	}
	return ts
}

// Curve is one line of a curve plot: points (X[i], Y[i]) in order of X,
// e.g. a loss by training step.
type Curve struct {
	Label string
	X, Y  []float64
}

// CurveOptions for Curves.
type CurveOptions struct {
	Title, XLabel, YLabel string
}

// Curves draws several curves over a numeric x axis, as lines without
// point markers (there are hundreds of points), with a legend: e.g. the
// training loss of two systems by step. The y axis spans the values (not
// from 0: losses live far from it), with a margin.
func Curves(curves []Curve, opt CurveOptions) (*Figure, error) {
	if len(curves) == 0 {
		return nil, errors.New("viz: a curve plot needs at least one curve")
	}
	p := plot.New()
	p.Title.Text = opt.Title
	p.Title.TextStyle.Font.Size = 13
	p.X.Label.Text, p.Y.Label.Text = opt.XLabel, opt.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(-6), vg.Points(-6)
	p.Legend.Padding = vg.Points(2)
	lo, hi := math.Inf(1), math.Inf(-1)
	for k, c := range curves {
		if len(c.X) != len(c.Y) {
			return nil, fmt.Errorf("viz: curve %q has %d x and %d y values", c.Label, len(c.X), len(c.Y))
		}
		if len(c.X) == 0 {
			return nil, fmt.Errorf("viz: curve %q has no points", c.Label)
		}
		pts := make(plotter.XYs, len(c.X))
		for i := range c.X {
			if !finiteValue(c.X[i]) || !finiteValue(c.Y[i]) {
				return nil, fmt.Errorf("viz: curve %q has a value that is not a finite number at point %d", c.Label, i+1)
			}
			pts[i] = plotter.XY{X: c.X[i], Y: c.Y[i]}
			lo, hi = min(lo, c.Y[i]), max(hi, c.Y[i])
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("viz: curve %q: %w", c.Label, err)
		}
		l.Color, l.Width = lineColours[k%len(lineColours)], vg.Points(1.5)
		if k >= len(lineColours) {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(c.Label, l)
	}
	margin := max((hi-lo)*0.05, 1e-6)
	p.Y.Min, p.Y.Max = lo-margin, hi+margin
	p.X.Tick.Marker, p.Y.Tick.Marker = plainTicks{}, plainTicks{}
	f := &Figure{Rows: len(curves), Cols: 1, w: vg.Points(560), h: vg.Points(360)}
	f.draw = func(c draw.Canvas) { p.Draw(c) }
	return f, nil
}

func finiteValue(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// plainTicks label a "nice" step (1, 2, 2.5 or 5 times a power of ten)
// chosen so that an axis gets 3 to 9 labels, with unlabelled minor ticks
// between them, each label with as few digits as it needs: 2500, not
// 2500.00. gonum's default ticks give about three labels, too few to read a
// curve's values from.
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || !finiteValue(lo) || !finiteValue(hi) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	step, minor := niceStep(hi - lo)
	var ts []plot.Tick
	// Integer multiples, so that no rounding error accumulates along the axis.
	for k := math.Ceil(lo / minor); k*minor <= hi*(1+1e-12); k++ {
		v := k * minor
		label := ""
		if r := math.Remainder(v, step); math.Abs(r) < minor/1e6 {
			label = strconv.FormatFloat(roundTo(v, minor), 'f', -1, 64)
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
	}
	return ts
}

// niceStep is the labelled step for a span, the smallest of 1, 2, 2.5 and 5
// times a power of ten that is at least an eighth of the span,
// and the minor step between labels: 3 to 9 labels on an axis.
func niceStep(span float64) (step, minor float64) {
	pow := math.Pow(10, math.Floor(math.Log10(span/10)))
	for _, m := range []struct{ step, minor float64 }{{1, 0.5}, {2, 1}, {2.5, 0.5}, {5, 1}, {10, 5}, {20, 10}, {25, 5}, {50, 10}} {
		if span/(m.step*pow) <= 8 {
			return m.step * pow, m.minor * pow
		}
	}
	return 100 * pow, 50 * pow // not reached: span/pow < 100
}

// roundTo rounds v to the decimal places of unit, so 0.30000000000000004
// is labelled 0.3.
func roundTo(v, unit float64) float64 {
	d := math.Max(0, -math.Floor(math.Log10(unit))+1)
	p := math.Pow(10, d)
	return math.Round(v*p) / p
}
