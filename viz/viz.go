// Package viz draws attention: a heat map of one head's weights with the
// tokens on both axes and a colour bar (Heatmap), and an overview grid of
// every layer × head of one kind of attention (Grid), written as SVG or
// PNG. It draws with gonum.org/v1/plot and never prints or reads flags:
// the qkv commands and the server share it.
package viz

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Matrix is one attention map: row i is query Rows[i]'s weights over the
// columns. A row shorter than Cols is masked after its end (decoder
// self-attention cannot see later positions): those cells are left blank,
// never coloured as zero.
type Matrix struct {
	Rows, Cols []string
	Weights    [][]float32
	// Side, when not empty, is one probability per row, drawn as a strip
	// of cells with their values right of the map and titled SideLabel:
	// copy attention's probability of copying each output token.
	Side      []float32
	SideLabel string
}

// Check reports a matrix that cannot be drawn.
func (m Matrix) Check() error {
	if len(m.Rows) == 0 || len(m.Cols) == 0 {
		return errors.New("viz: an attention map needs at least one row and one column")
	}
	if len(m.Weights) != len(m.Rows) {
		return fmt.Errorf("viz: %d rows of weights for %d row labels", len(m.Weights), len(m.Rows))
	}
	for i, r := range m.Weights {
		if len(r) > len(m.Cols) {
			return fmt.Errorf("viz: row %d has %d weights for %d columns", i, len(r), len(m.Cols))
		}
	}
	if len(m.Side) > 0 && len(m.Side) != len(m.Rows) {
		return fmt.Errorf("viz: %d side values for %d rows", len(m.Side), len(m.Rows))
	}
	for i, v := range m.Side {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("viz: side value %g of row %d is not a probability", v, i)
		}
	}
	return nil
}

// Cells counts the cells a heat map of m colours (the unmasked ones).
func (m Matrix) Cells() int {
	n := 0
	for _, r := range m.Weights {
		n += len(r)
	}
	return n
}

// Options for Heatmap and Grid.
type Options struct {
	Title          string
	XLabel, YLabel string  // axis titles (keys, queries)
	Max            float64 // top of the colour scale; 0 means 1 (weights are probabilities)
}

func (o Options) scaleMax() float64 {
	if o.Max > 0 && !math.IsInf(o.Max, 0) {
		return o.Max
	}
	return 1
}

// Figure is a drawing ready to be written. Rows and Cols are the grid of
// cells of a heat map (or of tiles of an overview).
type Figure struct {
	Rows, Cols int
	Cells      int // coloured (unmasked) heat-map cells in the figure
	w, h       vg.Length
	draw       func(draw.Canvas)
}

// Size is the figure's size.
func (f *Figure) Size() (w, h vg.Length) { return f.w, f.h }

// WriteSVG writes the figure as SVG.
func (f *Figure) WriteSVG(w io.Writer) error {
	c := vgsvg.New(f.w, f.h)
	f.render(c)
	_, err := c.WriteTo(w)
	return err
}

// PNGDPI is the resolution of WritePNG: screen resolution keeps files
// small.
const PNGDPI = 96

// WritePNG writes the figure as PNG.
func (f *Figure) WritePNG(w io.Writer) error {
	c := vgimg.NewWith(vgimg.UseWH(f.w, f.h), vgimg.UseDPI(PNGDPI))
	f.render(c)
	_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

// Write writes the figure in format "svg" or "png".
func (f *Figure) Write(w io.Writer, format string) error {
	switch format {
	case "svg":
		return f.WriteSVG(w)
	case "png":
		return f.WritePNG(w)
	}
	return fmt.Errorf("viz: unknown format %q (svg or png)", format)
}

func (f *Figure) render(c vg.CanvasSizer) {
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	f.draw(dc)
}

// grid is a Matrix as a gonum GridXYZ: column c at x = c, row i at
// y = rows−1−i (the first row on top); masked cells are NaN.
type grid struct{ m Matrix }

func (g grid) Dims() (c, r int) { return len(g.m.Cols), len(g.m.Rows) }
func (g grid) X(c int) float64  { return float64(c) }
func (g grid) Y(r int) float64  { return float64(r) }
func (g grid) Z(c, r int) float64 {
	row := g.m.Weights[len(g.m.Rows)-1-r]
	if c >= len(row) {
		return math.NaN()
	}
	return float64(row[c])
}

// heatPlot is the heat map of m without its colour bar; labels adds the
// tokens as tick labels.
func heatPlot(m Matrix, max float64, labels bool, fontSize vg.Length) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil
	hm := plotter.NewHeatMap(grid{m}, Palette(256))
	hm.Min, hm.Max = 0, max
	hm.Overflow = Palette(256).Colors()[255]
	hm.NaN = nil // masked: not drawn
	p.Add(hm)
	nc, nr := len(m.Cols), len(m.Rows)
	p.X.Min, p.X.Max = -0.5, float64(nc)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(nr)-0.5
	p.X.Padding, p.Y.Padding = 0, 0
	if !labels {
		p.HideAxes()
		return p
	}
	xt := make(plot.ConstantTicks, nc)
	for c, s := range m.Cols {
		xt[c] = plot.Tick{Value: float64(c), Label: clip(s, 14)}
	}
	yt := make(plot.ConstantTicks, nr)
	for i, s := range m.Rows {
		yt[nr-1-i] = plot.Tick{Value: float64(nr - 1 - i), Label: clip(s, 14)}
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Tick.Label.Font.Size = fontSize
		a.Label.TextStyle.Font.Size = fontSize + 1
		a.Tick.Length = 2
		a.LineStyle.Width = 0
	}
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return p
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Heatmap draws one attention map: keys across (column labels rotated),
// queries down, the first query on top, one cell per (query, key), masked
// cells blank, a colour bar on the right and the title on top. The size
// follows the number of tokens, and labels shrink past 25 and 50 tokens.
func Heatmap(m Matrix, opt Options) (*Figure, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	nc, nr := len(m.Cols), len(m.Rows)
	n := max(nc, nr)
	fontSize := vg.Length(10)
	switch {
	case n > 50:
		fontSize = 6
	case n > 25:
		fontSize = 8
	}
	cell := max(vg.Length(7), min(vg.Length(24), vg.Length(420)/vg.Length(n)))
	labelW := vg.Length(0)
	ts := draw.TextStyle{Font: font.From(plot.DefaultFont, fontSize), Handler: plot.DefaultTextHandler}
	for _, s := range append(append([]string(nil), m.Rows...), m.Cols...) {
		labelW = max(labelW, ts.Width(clip(s, 14)))
	}
	const barW = vg.Length(70)
	pad := vg.Length(12)
	stripW := vg.Length(0) // the side strip: gap, cell, gap, value
	if len(m.Side) > 0 {
		stripW = 6 + cell + 3 + ts.Width("0.00")
		labelW = max(labelW, ts.Width(clip(m.SideLabel, 14)))
	}
	titleH := vg.Length(0)
	if opt.Title != "" {
		titleH = 24
	}
	axisTitle := vg.Length(0)
	if opt.XLabel != "" || opt.YLabel != "" {
		axisTitle = fontSize + 8
	}
	w := labelW + axisTitle + vg.Length(nc)*cell + stripW + barW + 3*pad
	h := labelW + axisTitle + vg.Length(nr)*cell + titleH + 2*pad
	w, h = max(w, 240, titleWidth(opt.Title)+2*pad), max(h, 160)
	mx := opt.scaleMax()
	p := heatPlot(m, mx, true, fontSize)
	p.X.Label.Text, p.Y.Label.Text = opt.XLabel, opt.YLabel
	bar := colourBar(mx, fontSize)
	f := &Figure{Rows: nr, Cols: nc, Cells: m.Cells(), w: w, h: h}
	f.draw = func(c draw.Canvas) {
		c = draw.Crop(c, pad, -pad, pad, -pad)
		if opt.Title != "" {
			drawTitle(c, opt.Title, 12)
			c.Max.Y -= titleH
		}
		// Keep cells square: the heat map gets exactly its cells plus labels.
		hw := labelW + axisTitle + vg.Length(nc)*cell + 6
		hh := labelW + axisTitle + vg.Length(nr)*cell + 6
		hc := c
		hc.Max.X = hc.Min.X + hw
		hc.Min.Y = hc.Max.Y - hh
		p.Draw(hc)
		if len(m.Side) > 0 {
			drawSide(c, p.DataCanvas(hc), hc.Max.X, cell, m, ts)
		}
		bc := c
		bc.Min.X = hc.Max.X + stripW + pad
		bc.Max.X = bc.Min.X + barW - pad
		bc.Min.Y = hc.Min.Y + labelW + axisTitle
		bc.Max.Y = hc.Max.Y
		if bc.Max.Y-bc.Min.Y < 60 {
			bc.Min.Y = bc.Max.Y - 60
		}
		bar.Draw(bc)
	}
	return f, nil
}

// drawSide draws m.Side beside the heat map whose cells fill data: at x0,
// one cell per row in the map's palette (0 to 1), its value to its right,
// and m.SideLabel under the strip, rotated as the column labels are.
func drawSide(c, data draw.Canvas, x0, cell vg.Length, m Matrix, ts draw.TextStyle) {
	nr := len(m.Rows)
	rowH := (data.Max.Y - data.Min.Y) / vg.Length(nr)
	x0 += 6
	ts.Color = color.Black
	ts.XAlign, ts.YAlign = draw.XLeft, draw.YCenter
	for i, v := range m.Side {
		top := data.Max.Y - vg.Length(i)*rowH
		c.FillPolygon(at(float64(v)), []vg.Point{{X: x0, Y: top}, {X: x0 + cell, Y: top}, {X: x0 + cell, Y: top - rowH}, {X: x0, Y: top - rowH}})
		c.FillText(ts, vg.Point{X: x0 + cell + 3, Y: top - rowH/2}, fmt.Sprintf("%.2f", v))
	}
	ts.Rotation = math.Pi / 2
	ts.XAlign, ts.YAlign = draw.XRight, draw.YCenter
	c.FillText(ts, vg.Point{X: x0 + cell/2, Y: data.Min.Y - 4}, clip(m.SideLabel, 14))
}

// colourBar is a vertical colour bar from 0 to max.
func colourBar(max float64, fontSize vg.Length) *plot.Plot {
	cm := &colourMap{max: max}
	p := plot.New()
	p.BackgroundColor = nil
	p.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true, Colors: 128})
	p.HideX()
	p.Y.Padding = 0
	p.Y.Tick.Label.Font.Size = fontSize
	p.Y.Label.Text = "weight"
	p.Y.Label.TextStyle.Font.Size = fontSize
	return p
}

// titleWidth is the width of a figure's title.
func titleWidth(title string) vg.Length {
	if title == "" {
		return 0
	}
	ts := draw.TextStyle{Font: font.From(plot.DefaultFont, 12), Handler: plot.DefaultTextHandler}
	return min(ts.Width(title), 900)
}

func drawTitle(c draw.Canvas, title string, size vg.Length) {
	ts := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, size), Handler: plot.DefaultTextHandler, XAlign: draw.XLeft, YAlign: draw.YTop}
	for ts.Width(title) > c.Max.X-c.Min.X && len([]rune(title)) > 10 {
		title = clip(title, len([]rune(title))-4)
	}
	c.FillText(ts, vg.Point{X: c.Min.X, Y: c.Max.Y}, title)
}

// GridOptions for Grid.
type GridOptions struct {
	Title string
	Max   float64 // top of the colour scale; 0 means 1
	Tile  vg.Length
}

// Grid draws the overview of one kind of attention: maps[layer][head] as
// thumbnails, layers down and heads across, each titled "layer L · head
// H", on one colour scale, with the colour bar on the right.
func Grid(maps [][]Matrix, opt GridOptions) (*Figure, error) {
	rows := len(maps)
	if rows == 0 || len(maps[0]) == 0 {
		return nil, errors.New("viz: an overview needs at least one map")
	}
	cols := len(maps[0])
	cells := 0
	for l, row := range maps {
		if len(row) != cols {
			return nil, fmt.Errorf("viz: layer %d has %d maps, layer 0 has %d", l, len(row), cols)
		}
		for _, m := range row {
			if err := m.Check(); err != nil {
				return nil, err
			}
			cells += m.Cells()
		}
	}
	tile := opt.Tile
	if tile <= 0 {
		tile = 110
	}
	const gap, barW, pad, label = vg.Length(10), vg.Length(60), vg.Length(12), vg.Length(14)
	titleH := vg.Length(0)
	if opt.Title != "" {
		titleH = 24
	}
	w := max(vg.Length(cols)*(tile+gap)+barW+2*pad, titleWidth(opt.Title)+2*pad)
	h := vg.Length(rows)*(tile+gap+label) + titleH + 2*pad
	mx := GridOptions(opt).scaleMax()
	bar := colourBar(mx, 8)
	f := &Figure{Rows: rows, Cols: cols, Cells: cells, w: w, h: h}
	f.draw = func(c draw.Canvas) {
		c = draw.Crop(c, pad, -pad, pad, -pad)
		if opt.Title != "" {
			drawTitle(c, opt.Title, 12)
			c.Max.Y -= titleH
		}
		ts := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 9), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YTop}
		for l, row := range maps {
			for hd, m := range row {
				x0 := c.Min.X + vg.Length(hd)*(tile+gap)
				y1 := c.Max.Y - vg.Length(l)*(tile+gap+label)
				c.FillText(ts, vg.Point{X: x0 + tile/2, Y: y1}, fmt.Sprintf("layer %d · head %d", l, hd))
				tc := c
				tc.Min.X, tc.Max.X = x0, x0+tile
				tc.Max.Y = y1 - label
				tc.Min.Y = tc.Max.Y - tile
				heatPlot(m, mx, false, 0).Draw(tc)
			}
		}
		bc := c
		bc.Min.X = c.Min.X + vg.Length(cols)*(tile+gap)
		bc.Max.X = bc.Min.X + barW - gap
		bc.Max.Y = c.Max.Y - label
		bc.Min.Y = max(c.Min.Y, bc.Max.Y-max(tile, 120))
		bar.Draw(bc)
	}
	return f, nil
}

func (o GridOptions) scaleMax() float64 { return Options{Max: o.Max}.scaleMax() }

// Palette returns n colours from pale yellow (weight 0) through green to
// dark blue (the largest weight), ColorBrewer's YlGnBu: zero is a colour,
// distinct from the blank of a masked cell.
func Palette(n int) palette.Palette { return pal(n) }

type pal int

var ylGnBu = []color.RGBA{
	{0xff, 0xff, 0xd9, 0xff}, {0xed, 0xf8, 0xb1, 0xff}, {0xc7, 0xe9, 0xb4, 0xff},
	{0x7f, 0xcd, 0xbb, 0xff}, {0x41, 0xb6, 0xc4, 0xff}, {0x1d, 0x91, 0xc0, 0xff},
	{0x22, 0x5e, 0xa8, 0xff}, {0x25, 0x34, 0x94, 0xff}, {0x08, 0x1d, 0x58, 0xff},
}

func (p pal) Colors() []color.Color {
	n := max(int(p), 2)
	out := make([]color.Color, n)
	for i := range out {
		out[i] = at(float64(i) / float64(n-1))
	}
	return out
}

// at interpolates the palette at t in [0, 1].
func at(t float64) color.Color {
	t = math.Max(0, math.Min(1, t)) * float64(len(ylGnBu)-1)
	i := min(int(t), len(ylGnBu)-2)
	f := t - float64(i)
	a, b := ylGnBu[i], ylGnBu[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + f*(float64(y)-float64(x)))) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

// colourMap is the palette as a gonum ColorMap over [0, max], for the
// colour bar.
type colourMap struct {
	min, max, alpha float64
}

func (c *colourMap) At(v float64) (color.Color, error) {
	if v < c.min || v > c.max || math.IsNaN(v) {
		return nil, palette.ErrOverflow
	}
	return at((v - c.min) / (c.max - c.min)), nil
}
func (c *colourMap) Max() float64                  { return c.max }
func (c *colourMap) SetMax(v float64)              { c.max = v }
func (c *colourMap) Min() float64                  { return c.min }
func (c *colourMap) SetMin(v float64)              { c.min = v }
func (c *colourMap) Alpha() float64                { return 1 }
func (c *colourMap) SetAlpha(float64)              {}
func (c *colourMap) Palette(n int) palette.Palette { return pal(n) }
