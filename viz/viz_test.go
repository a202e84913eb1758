package viz

import (
	"bytes"
	"image/png"
	"regexp"
	"strings"
	"testing"
)

// triangle is a decoder self-attention map: row i sees i+1 keys; the
// others are masked. Row 1 holds a true zero.
func triangle() Matrix {
	return Matrix{
		Rows:    []string{"K", "AE", "T", "</s>"},
		Cols:    []string{"<s>", "K", "AE", "T"},
		Weights: [][]float32{{1}, {0, 1}, {0.1, 0.2, 0.7}, {0.25, 0.25, 0.25, 0.25}},
	}
}

var filled = regexp.MustCompile(`<path [^>]*style="fill:#([0-9a-fA-F]+)`)

// TestHeatmapSVGHasOneCellPerVisiblePair: the SVG holds one filled
// rectangle per unmasked (query, key) pair and the page background: the
// masked cells are not drawn at all, while a weight of exactly 0 is drawn
// in the palette's zero colour.
func TestHeatmapSVGHasOneCellPerVisiblePair(t *testing.T) {
	m := triangle()
	f, err := Heatmap(m, Options{Title: "dec-self", XLabel: "keys", YLabel: "queries"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows != 4 || f.Cols != 4 || f.Cells != 10 {
		t.Errorf("figure %d×%d with %d cells, want 4×4 with 10", f.Rows, f.Cols, f.Cells)
	}
	var b bytes.Buffer
	if err := f.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	fills := filled.FindAllStringSubmatch(b.String(), -1)
	if len(fills) != 10+1 {
		t.Errorf("%d filled paths, want 10 cells + 1 background (6 masked cells must stay blank)", len(fills))
	}
	zero := colourHex(0)
	nZero := 0
	for _, f := range fills {
		if strings.ToLower(f[1]) == zero {
			nZero++
		}
	}
	if nZero != 1 {
		t.Errorf("%d cells in the zero colour #%s, want 1 (the one true zero)", nZero, zero)
	}
	for _, tok := range []string{"&lt;s&gt;", "AE", "&lt;/s&gt;", "dec-self", "keys", "queries", "weight"} {
		if !strings.Contains(b.String(), tok) {
			t.Errorf("SVG lacks the label %s", tok)
		}
	}
}

func colourHex(t float64) string {
	c := at(t)
	r, g, b, _ := c.RGBA()
	return strings.ToLower(hex2(r>>8) + hex2(g>>8) + hex2(b>>8))
}

func hex2(v uint32) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[v>>4], digits[v&15]})
}

func TestHeatmapPNG(t *testing.T) {
	f, err := Heatmap(triangle(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.WritePNG(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	w, h := f.Size()
	if got := img.Bounds().Dx(); got != int(w.Dots(PNGDPI)+0.5) {
		t.Errorf("PNG is %d pixels wide, figure %v", got, w)
	}
	_ = h
}

// TestHeatmapManyTokens: 60 tokens a side still draw every cell, in a
// figure that grows with them and labels cut to 14 characters.
func TestHeatmapManyTokens(t *testing.T) {
	var m Matrix
	for i := range 60 {
		m.Rows = append(m.Rows, "row")
		m.Cols = append(m.Cols, strings.Repeat("x", 30))
		row := make([]float32, 60)
		row[i] = 1
		m.Weights = append(m.Weights, row)
	}
	f, err := Heatmap(m, Options{Title: "big"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	if n := len(filled.FindAllString(b.String(), -1)); n != 3600+1 {
		t.Errorf("%d filled paths, want 3600 cells + background", n)
	}
	if strings.Contains(b.String(), strings.Repeat("x", 15)) || !strings.Contains(b.String(), strings.Repeat("x", 13)+"…") {
		t.Error("long labels are not cut to 14 characters")
	}
	if w, _ := f.Size(); w < 60*7 {
		t.Errorf("figure %v wide for 60 columns", w)
	}
}

func TestGrid(t *testing.T) {
	m := triangle()
	f, err := Grid([][]Matrix{{m, m, m}, {m, m, m}}, GridOptions{Title: "dec-self: layers × heads"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows != 2 || f.Cols != 3 || f.Cells != 60 {
		t.Errorf("grid %d×%d with %d cells", f.Rows, f.Cols, f.Cells)
	}
	var b bytes.Buffer
	if err := f.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	if n := len(filled.FindAllString(b.String(), -1)); n != 60+1 {
		t.Errorf("%d filled paths, want 60 cells + background", n)
	}
	if !strings.Contains(b.String(), "layer 1 · head 2") {
		t.Error("tiles are not titled")
	}
	b.Reset()
	if err := f.WritePNG(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&b); err != nil {
		t.Fatal(err)
	}
}

// TestHeatmapSideStrip: copy probabilities beside a map add one cell per
// row in the palette's colour of the value, the values as text and the
// strip's label, and widen the figure.
func TestHeatmapSideStrip(t *testing.T) {
	m := triangle()
	plain, err := Heatmap(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Side, m.SideLabel = []float32{0.9, 0.125, 1, 0.375}, "P(copy)"
	f, err := Heatmap(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w0, _ := plain.Size()
	if w, _ := f.Size(); w <= w0 {
		t.Errorf("a figure with a side strip is %v wide, no wider than without (%v)", w, w0)
	}
	var b bytes.Buffer
	if err := f.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	fills := filled.FindAllStringSubmatch(svg, -1)
	if len(fills) != 10+4+1 {
		t.Errorf("%d filled paths, want 10 cells + 4 side cells + the background", len(fills))
	}
	count := map[string]int{}
	for _, f := range fills {
		count[strings.ToLower(f[1])]++
	}
	for _, v := range m.Side {
		if count[colourHex(float64(v))] == 0 {
			t.Errorf("no cell in the colour of side value %g", v)
		}
	}
	for _, s := range []string{"0.90", "0.12", "1.00", "0.38", "P(copy)"} {
		if !strings.Contains(svg, s) {
			t.Errorf("SVG lacks %q", s)
		}
	}
}

func TestBadMatrices(t *testing.T) {
	for _, m := range []Matrix{
		{},
		{Rows: []string{"a"}, Cols: []string{"b"}},
		{Rows: []string{"a"}, Cols: []string{"b"}, Weights: [][]float32{{0.5, 0.5}}},
		{Rows: []string{"a"}, Cols: []string{"b"}, Weights: [][]float32{{1}}, Side: []float32{0.5, 0.5}},
		{Rows: []string{"a"}, Cols: []string{"b"}, Weights: [][]float32{{1}}, Side: []float32{1.5}},
	} {
		if _, err := Heatmap(m, Options{}); err == nil {
			t.Errorf("%+v was drawn", m)
		}
	}
	if _, err := Grid(nil, GridOptions{}); err == nil {
		t.Error("an empty grid was drawn")
	}
	if _, err := Grid([][]Matrix{{triangle()}, {}}, GridOptions{}); err == nil {
		t.Error("a ragged grid was drawn")
	}
}
