package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/metrics"
	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/train"
	"github.com/qkv-dev/qkv/viz"
)

var plf struct {
	outs                []string
	title, metric, kind string
	smooth              int
}

var plotCmd = &cobra.Command{
	Use:   "plot --out FIG.svg [--out FIG.png] [--title TEXT] [--metric wer|per] LABEL=EVAL.json …  |  plot --kind loss --out FIG.svg [--smooth N] LABEL=LOG.tsv[#COLUMN] …",
	Short: "Draw the error rate by source length of several systems (from qkv eval --by-length), or training loss curves (--kind loss)",
	Long: `With --kind length (the default): read the JSON lines that 'qkv eval --by-length' prints, one file per system,
and draw each system's word error rate (or --metric per) by source length as
one line: the analogue of Bahdanau et al.'s BLEU-by-sentence-length figure,
where the fixed-vector encoder-decoder falls off on long inputs. For G2P the
source length is the word's length in letters.

Each argument is LABEL=FILE (the label is the line's name in the legend) or
FILE (labelled by its name). FILE may be builtin:NAME: the line of the
built-in model's own test scoring, kept when it was shipped (qkv models
lists them). The files must score the same test set: every
length bucket must hold the same number of sources in each. The x axis shows
each bucket with its number of sources.

--out may be given twice, e.g. --out fig.svg --out fig.png; the format
follows the extension (.svg or .png). Files are written atomically.

  qkv eval --model t2t --test test.tsv --by-length > transformer.json
  qkv eval --model rnn --test test.tsv --by-length > rnnsearch.json
  qkv plot --out wer-by-length.svg --out wer-by-length.png \
    Transformer=transformer.json RNNsearch=rnnsearch.json
  qkv plot --out built-in.svg Transformer=builtin:g2p-en RNNsearch=rnnsearch.json

With --kind loss: draw training curves by step, one line per argument
LABEL=LOG.tsv[#COLUMN], from TSV files whose first column is the step: the
--loss-log of qkv train (columns named in its header: loss, nll, lr,
grad_norm, tokens; the default is loss), or a file without a header such as
the PyTorch peer's --loss-log (step, loss, lr), whose column is a number
counted from 1 (the default is 2). --smooth N draws the mean of the last N
steps at each step, since one batch's loss is noisy.

  qkv train … --loss-log qkv.tsv
  qkv plot --kind loss --smooth 25 --out loss.svg \
    "qkv NLL=qkv.tsv#nll" "qkv loss=qkv.tsv" "PyTorch loss=peer.log#2"`,
	RunE: runPlot,
}

func init() {
	f := plotCmd.Flags()
	f.StringSliceVar(&plf.outs, "out", nil, "figure to write, .svg or .png (may be given twice)")
	f.StringVar(&plf.title, "title", "", "title (default: \"Word error rate by source length\")")
	f.StringVar(&plf.metric, "metric", "wer", "what to plot: wer or per (--kind length)")
	f.StringVar(&plf.kind, "kind", "length", "length: error rate by source length (qkv eval --by-length); loss: training curves by step (--loss-log files)")
	f.IntVar(&plf.smooth, "smooth", 1, "--kind loss: draw the mean of the last N steps at each step")
	rootCmd.AddCommand(plotCmd)
}

// evalByLength is what plot reads of an eval JSON line.
type evalByLength struct {
	Test     string                 `json:"test"`
	ByLength []metrics.LengthBucket `json:"by_length"`
}

// plotInput is one system: its label and file.
type plotInput struct{ label, file string }

func parsePlotArgs(args []string) ([]plotInput, error) {
	if len(args) == 0 {
		return nil, errors.New("give at least one LABEL=EVAL.json (the output of qkv eval --by-length)")
	}
	var ins []plotInput
	for _, a := range args {
		label, file, ok := strings.Cut(a, "=")
		if !ok {
			file = a
			label = strings.TrimSuffix(filepath.Base(a), filepath.Ext(a))
		}
		if file == "" {
			return nil, fmt.Errorf("%s names no file: write LABEL=FILE", excerpt.Quote(a))
		}
		if strings.TrimSpace(label) == "" {
			return nil, fmt.Errorf("%s has an empty label: write LABEL=FILE", excerpt.Quote(a))
		}
		ins = append(ins, plotInput{label, file})
	}
	return ins, nil
}

// readByLength reads the first JSON value of an eval output file, or of
// builtin:NAME's test.json: the line its single test scoring wrote when it
// was shipped.
func readByLength(path string) (evalByLength, error) {
	var e evalByLength
	raw, err := readEvalFile(path)
	if err != nil {
		return e, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&e); err != nil {
		if errors.Is(err, io.EOF) {
			return e, fmt.Errorf("%s is empty: it should hold the JSON line of qkv eval --by-length", path)
		}
		return e, fmt.Errorf("%s is not the JSON line of qkv eval: %v", path, err)
	}
	if len(e.ByLength) == 0 {
		return e, fmt.Errorf("%s has no by_length: run qkv eval with --by-length (and a G2P test set: WER is broken down by length)", path)
	}
	return e, nil
}

// readEvalFile reads an eval output file, or a built-in model's test.json.
func readEvalFile(path string) ([]byte, error) {
	name, ok := strings.CutPrefix(path, pipeline.BuiltinPrefix)
	if !ok {
		return os.ReadFile(path)
	}
	if !slices.Contains(pipeline.Builtins(), name) {
		return nil, fmt.Errorf("%s: no such built-in model (qkv models lists them)", excerpt.Quote(path))
	}
	// Every built-in model has one (the models test checks it).
	return fs.ReadFile(models.FS, name+"/"+models.TestFile)
}

// bucketLabel names a bucket of source lengths: "≤4", "5–6", "13+".
func bucketLabel(b metrics.LengthBucket) string {
	switch {
	case b.Hi < 0:
		return fmt.Sprintf("%d+", b.Lo)
	case b.Lo <= 1:
		return fmt.Sprintf("≤%d", b.Hi)
	case b.Lo == b.Hi:
		return fmt.Sprint(b.Lo)
	}
	return fmt.Sprintf("%d–%d", b.Lo, b.Hi)
}

// lengthSeries turns eval outputs into one series per system over the
// same buckets, with the x tick labels; buckets no source falls in are
// left out of the plot.
func lengthSeries(ins []plotInput, metric string) ([]viz.Series, []string, error) {
	var (
		series []viz.Series
		first  []metrics.LengthBucket
	)
	for i, in := range ins {
		e, err := readByLength(in.file)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			first = e.ByLength
		} else {
			if len(e.ByLength) != len(first) {
				return nil, nil, fmt.Errorf("%s has %d length buckets and %s %d: plot outputs of one qkv version on one test set", in.file, len(e.ByLength), ins[0].file, len(first))
			}
			for j, b := range e.ByLength {
				f := first[j]
				if b.Lo != f.Lo || b.Hi != f.Hi || b.Count != f.Count {
					return nil, nil, fmt.Errorf("%s and %s do not score the same test set: length %s holds %d sources in one and %d in the other; compare systems on one test set",
						ins[0].file, in.file, bucketLabel(f), f.Count, b.Count)
				}
			}
		}
		s := viz.Series{Label: in.label}
		for _, b := range e.ByLength {
			r := b.WER
			if metric == "per" {
				r = b.PER
			}
			s.Y = append(s.Y, r.Rate)
		}
		series = append(series, s)
	}
	// Keep the buckets that hold sources.
	var keep []int
	var ticks []string
	for j, b := range first {
		if b.Count > 0 {
			keep = append(keep, j)
			ticks = append(ticks, fmt.Sprintf("%s\n%d", bucketLabel(b), b.Count))
		}
	}
	if len(keep) == 0 {
		return nil, nil, fmt.Errorf("%s: every length bucket is empty", ins[0].file)
	}
	for k := range series {
		y := make([]float64, len(keep))
		for i, j := range keep {
			y[i] = series[k].Y[j]
			if math.IsNaN(y[i]) {
				return nil, nil, fmt.Errorf("%s: a rate is not a number", ins[k].file)
			}
		}
		series[k].Y = y
	}
	return series, ticks, nil
}

func runPlot(cmd *cobra.Command, args []string) error {
	if len(plf.outs) == 0 {
		return errors.New("plot: --out is required: a .svg or .png file (give --out twice for both)")
	}
	metric := strings.ToLower(plf.metric)
	if plf.kind != "length" && plf.kind != "loss" {
		return fmt.Errorf("plot: --kind %s: use length or loss", excerpt.Quote(plf.kind))
	}
	if plf.smooth < 1 || plf.smooth > 100000 {
		return fmt.Errorf("plot: --smooth %d is out of range: it must be from 1 to 100000 steps", plf.smooth)
	}
	if metric != "wer" && metric != "per" {
		return fmt.Errorf("plot: --metric %s: use wer or per", excerpt.Quote(plf.metric))
	}
	formats := make([]string, len(plf.outs))
	for i, o := range plf.outs {
		switch strings.ToLower(filepath.Ext(o)) {
		case ".svg":
			formats[i] = "svg"
		case ".png":
			formats[i] = "png"
		default:
			return fmt.Errorf("plot: --out %s: end the name with .svg or .png, the format to write", excerpt.Quote(o))
		}
	}
	ins, err := parsePlotArgs(args)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	var files []string
	for _, in := range ins {
		file := in.file
		if plf.kind == "loss" {
			file, _, _ = strings.Cut(file, "#")
		}
		files = append(files, file)
	}
	outs := make([][2]string, len(plf.outs))
	for i, o := range plf.outs {
		outs[i] = [2]string{"--out", o}
	}
	if err := checkOutputs(outs, files...); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	var fig *viz.Figure
	if plf.kind == "loss" {
		fig, err = lossFigure(ins)
	} else {
		fig, err = lengthFigure(ins, metric)
	}
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	for i, o := range plf.outs {
		if err := atomicfile.Write(o, func(w io.Writer) error { return fig.Write(w, formats[i]) }); err != nil {
			return fmt.Errorf("plot: --out: %w", err)
		}
		fmt.Fprintln(cmd.OutOrStdout(), o)
	}
	return nil
}

// lossFigure draws the loss curves of --kind loss.
func lossFigure(ins []plotInput) (*viz.Figure, error) {
	var curves []viz.Curve
	for _, in := range ins {
		c, err := lossCurve(in, plf.smooth)
		if err != nil {
			return nil, err
		}
		curves = append(curves, c)
	}
	// The axis says what the columns drawn are, when they are all one.
	what, ylabel := "Training loss", "loss per target token"
	cols := map[string]bool{}
	validations := true // every file is a run's validations.tsv
	for _, in := range ins {
		file, col, _ := strings.Cut(in.file, "#")
		cols[col] = true
		validations = validations && filepath.Base(file) == train.ValidationsFile
	}
	if validations {
		what = "Validation loss"
	}
	if len(cols) == 1 {
		for col := range cols {
			switch col {
			case "", "loss", "2":
			case "nll":
				what = "Training NLL"
			case "lr":
				what, ylabel = "Learning rate", "learning rate"
			case "grad_norm":
				what, ylabel = "Gradient norm", "gradient norm before clipping"
			case "tokens":
				what, ylabel = "Tokens a step", "source and target tokens"
			default: // a metric of a run's validations.tsv: wer, per, bleu…
				what, ylabel = "Validation "+strings.ToUpper(col), strings.ToUpper(col)+" %"
			}
		}
	}
	title := plf.title
	if title == "" {
		title = what + " by step"
		if plf.smooth > 1 {
			title += fmt.Sprintf(" (mean of the last %d points)", plf.smooth)
		}
	}
	return viz.Curves(curves, viz.CurveOptions{Title: title, XLabel: "optimizer step", YLabel: ylabel})
}

// lengthFigure draws the error rates by source length of --kind length.
func lengthFigure(ins []plotInput, metric string) (*viz.Figure, error) {
	series, ticks, err := lengthSeries(ins, metric)
	if err != nil {
		return nil, err
	}
	title := plf.title
	if title == "" {
		title = "Word error rate by source length"
		if metric == "per" {
			title = "Phoneme error rate by source length"
		}
	}
	return viz.Lines(series, viz.LineOptions{
		Title: title, XLabel: "source length in tokens (letters of the word, for G2P), and sources of that length",
		YLabel: strings.ToUpper(metric) + " %", XTicks: ticks,
	})
}
