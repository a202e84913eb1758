package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/viz"
)

// lossCurve reads one curve for qkv plot --kind loss from in.file: a TSV of
// steps, the first column the step. COLUMN (from FILE#COLUMN) names the
// column to draw by its header name (qkv train --loss-log writes a header:
// step, loss, nll, lr, …) or, in a file without a header (the PyTorch
// peer's --loss-log: step, loss, lr), by its number counted from 1; the
// default is "loss", or column 2 without a header. smooth > 1 draws the
// mean of each point's last smooth steps (a batch's loss is noisy), from
// the first point that has them.
func lossCurve(in plotInput, smooth int) (viz.Curve, error) {
	file, col, _ := strings.Cut(in.file, "#")
	raw, err := os.ReadFile(file)
	if err != nil {
		return viz.Curve{}, err
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return viz.Curve{}, fmt.Errorf("%s is empty: it should hold a loss log (step<TAB>loss… a line)", file)
	}
	first := strings.Split(lines[0], "\t")
	if len(first) < 2 {
		return viz.Curve{}, fmt.Errorf("%s is not a loss log: its first line, %s, has no tab (want step<TAB>loss… a line, as qkv train --loss-log writes)", file, excerpt.Quote(lines[0]))
	}
	index := -1
	if _, err := strconv.ParseFloat(first[0], 64); err == nil { // no header
		if col == "" {
			col = "2"
		}
		n, err := strconv.Atoi(col)
		if err != nil || n < 2 || n > len(first) {
			return viz.Curve{}, fmt.Errorf("%s has no header line: give the column as a number from 2 to %d (FILE#2), not %s", file, len(first), excerpt.Quote(col))
		}
		index = n - 1
	} else {
		if col == "" {
			col = "loss"
		}
		for i, name := range first {
			if name == col && i > 0 {
				index = i
			}
		}
		if index < 0 {
			return viz.Curve{}, fmt.Errorf("%s has no column %s: its columns are %s", file, excerpt.Quote(col), strings.Join(first[1:], ", "))
		}
		lines = lines[1:]
	}
	c := viz.Curve{Label: in.label}
	var window []float64
	last := 0.0
	for n, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) <= index {
			if n == len(lines)-1 {
				break // a partial last line of a run still going
			}
			return viz.Curve{}, fmt.Errorf("%s: line %d has %d columns, fewer than %d: %s", file, n+1, len(f), index+1, excerpt.Quote(line))
		}
		x, err1 := strconv.ParseFloat(f[0], 64)
		y, err2 := strconv.ParseFloat(f[index], 64)
		if err1 != nil || err2 != nil {
			return viz.Curve{}, fmt.Errorf("%s: line %d is not numbers: %s", file, n+1, excerpt.Quote(line))
		}
		if n > 0 && x <= last {
			return viz.Curve{}, fmt.Errorf("%s: line %d: step %g does not follow step %g", file, n+1, x, last)
		}
		last = x
		window = append(window, y)
		if len(window) > smooth {
			window = window[1:]
		}
		if len(window) < smooth {
			continue // not a full window yet
		}
		var sum float64
		for _, v := range window {
			sum += v
		}
		c.X = append(c.X, x)
		c.Y = append(c.Y, sum/float64(len(window)))
	}
	if len(c.X) == 0 {
		return viz.Curve{}, fmt.Errorf("%s has fewer steps than --smooth %d", file, smooth)
	}
	return c, nil
}
