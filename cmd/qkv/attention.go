package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/explain"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/viz"
)

var af struct {
	model, weights, out string
	input, inputFile    string
	formats             []string
	force               bool
	decode              decodeFlags
}

var attentionCmd = &cobra.Command{
	Use:   "attention --model DIR --out DIR (--input TEXT | --input-file FILE)",
	Short: "Draw the attention of a trained model as heat maps (SVG and PNG) and save the weights as JSON",
	Long: `Decode each input and draw every attention map behind its output:
  Transformer: encoder self-attention (source × source), decoder
               self-attention (output × <s> and earlier output; later
               positions are masked and left blank) and cross-attention
               (output × source), one heat map per layer and head;
  RNNsearch:   its additive attention (output × source), as cross-layer0-head0;
  seq2seq:     has no attention to draw.
With copy attention (qkv train --copy-attention), the map the model copies
through (RNNsearch's attention, the Transformer's last cross-attention)
shows each output token's probability of being copied, P(copy) = 1 − p_gen,
in a strip on its right, and copy.png draws what was copied: P(copy) times
that map averaged over its heads, so row t sums to P(copy) of token t.
Rows are queries (the first on top), columns keys; the colour bar runs
from 0 to 1. Each input gets its own directory, numbered in input order:
  OUT/001-<input>/enc-self-layer0-head2.png   one map (and .svg)
  OUT/001-<input>/overview-cross.png          every layer × head of a kind
  OUT/001-<input>/copy.png                    with copy attention: what was copied
  OUT/001-<input>/attention.json              the weights, per map, row by row
  OUT/index.html                              every input with its overviews
Files are written atomically. OUT must be new or empty unless --force.`,
	Args: cobra.NoArgs,
	RunE: runAttention,
}

func init() {
	f := attentionCmd.Flags()
	f.StringVar(&af.model, "model", "", "model directory (from qkv train)")
	f.StringVar(&af.weights, "weights", "", "weights file in the model directory or a path (default: best.safetensors, else last.safetensors)")
	f.StringVar(&af.out, "out", "", "directory for the pictures (new or empty, unless --force)")
	f.StringVar(&af.input, "input", "", "one input text")
	f.StringVar(&af.inputFile, "input-file", "", "a file of inputs, one a line")
	f.StringSliceVar(&af.formats, "format", []string{"png", "svg"}, "picture formats: png, svg or both")
	f.BoolVar(&af.force, "force", false, "write into an --out that already holds files (files of the same names are replaced)")
	af.decode.register(f, false, 16)
	rootCmd.AddCommand(attentionCmd)
}

// maxAttentionInputs bounds the inputs of one run: each writes dozens of
// pictures.
const maxAttentionInputs = 1000

func runAttention(cmd *cobra.Command, _ []string) error {
	if af.model == "" {
		return errors.New("attention: --model is required")
	}
	if af.out == "" {
		return errors.New("attention: --out is required: the directory to write the pictures to")
	}
	if cmd.Flags().Changed("input") == cmd.Flags().Changed("input-file") {
		return errors.New("attention: give exactly one of --input TEXT and --input-file FILE")
	}
	for _, f := range af.formats {
		if f != "png" && f != "svg" {
			return fmt.Errorf("attention: --format %s: use png, svg or png,svg", excerpt.Quote(f))
		}
	}
	if len(af.formats) == 0 {
		return errors.New("attention: --format is empty: use png, svg or png,svg")
	}
	opt, err := af.decode.options()
	if err != nil {
		return fmt.Errorf("attention: %w", err)
	}
	opt.Search.Attention = true
	lines := []string{af.input}
	if af.inputFile != "" {
		if lines, err = readInputLines(af.inputFile); err != nil {
			return fmt.Errorf("attention: --input-file: %w", err)
		}
		if len(lines) == 0 {
			return fmt.Errorf("attention: --input-file %s holds no lines", af.inputFile)
		}
		if len(lines) > maxAttentionInputs {
			return fmt.Errorf("attention: --input-file holds %d lines; draw at most %d at a time (each writes dozens of pictures)", len(lines), maxAttentionInputs)
		}
	}
	if err := checkOutDir(af.out, af.force, append([]string{af.inputFile}, modelFiles(af.model, af.weights)...)); err != nil {
		return fmt.Errorf("attention: %w", err)
	}
	p, err := pipeline.LoadWeights(af.model, af.weights)
	if err != nil {
		return err
	}
	if p.Config.Model.Arch == model.ArchSeq2Seq {
		return errors.New("attention: this model is seq2seq (Sutskever et al. 2014), which has no attention to draw: its decoder sees the source only through the encoder's last state. Train --arch rnnsearch or transformer to see attention")
	}
	if err := os.MkdirAll(af.out, 0o755); err != nil {
		return fmt.Errorf("attention: --out: %w", err)
	}
	results := p.Translate(lines, opt)
	var entries []indexEntry
	failed := 0
	for i, r := range results {
		n := i + 1
		if r.Err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "qkv attention: input %d: %v\n", n, r.Err)
			continue
		}
		a, err := explain.FromResult(r, 0)
		if err != nil {
			return fmt.Errorf("attention: input %d: %w", n, err)
		}
		dir := fmt.Sprintf("%03d-%s", n, slug(r.Source))
		files, err := drawInput(filepath.Join(af.out, dir), r.Source, r.Hyps[0].Text, a, p.Config.Model.Arch, af.formats)
		if err != nil {
			return fmt.Errorf("attention: input %d: %w", n, err)
		}
		entries = append(entries, indexEntry{Dir: dir, Source: r.Source, Output: r.Hyps[0].Text, Overviews: files})
		fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\n", filepath.Join(af.out, dir), r.Source, r.Hyps[0].Text)
	}
	if len(entries) > 0 {
		if err := atomicfile.Write(filepath.Join(af.out, "index.html"), func(w io.Writer) error { return writeIndex(w, p, entries) }); err != nil {
			return fmt.Errorf("attention: %w", err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("attention: %d of %d inputs could not be decoded", failed, len(lines))
	}
	return nil
}

// readInputLines reads a file of inputs, one a line, as predict does.
func readInputLines(path string) ([]string, error) {
	const maxBytes = 16 << 20
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() > maxBytes {
		return nil, fmt.Errorf("%s is %d MB; give at most %d inputs (16 MB) at a time", path, st.Size()>>20, maxAttentionInputs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimPrefix(string(data), "\uFEFF")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil, nil
	}
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], "\r")
	}
	return lines, nil
}

// checkOutDir refuses an --out that is a file, one of the inputs, or a
// directory already holding files (unless force).
func checkOutDir(dir string, force bool, inputs []string) error {
	for _, in := range inputs {
		if in != "" && atomicfile.NotAnInput(dir, in) != nil {
			return fmt.Errorf("--out %s is one of the inputs: write elsewhere", dir)
		}
	}
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--out %s is a file, not a directory: give a new directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if len(ents) > 0 && !force {
		return fmt.Errorf("--out %s already holds %d files or directories: give a new directory, or --force to write among them", dir, len(ents))
	}
	return nil
}

// slug makes a short, safe directory name from an input: letters and
// digits kept (lowercased), runs of anything else become one '-'.
func slug(s string) string {
	var b strings.Builder
	dash := false
	n := 0
	for _, r := range s {
		if n >= 24 {
			break
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
			dash = false
			n++
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
			n++
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "input"
	}
	return out
}

var kindTitle = map[string]string{
	explain.EncSelf: "encoder self-attention",
	explain.DecSelf: "decoder self-attention",
	explain.Cross:   "cross-attention",
}

// attentionFile is attention.json: the maps and what they belong to.
type attentionFile struct {
	Arch  string `json:"arch"`
	Input string `json:"input"`
	Text  string `json:"output_text"`
	*explain.Attention
}

// copySource says where a copy distribution comes from.
func copySource(module string) string {
	if module == "attention" {
		return "the additive attention"
	}
	return module + ", mean of its heads"
}

// copyLabel titles the strip of copy probabilities beside a map.
const copyLabel = "P(copy)"

// drawInput writes one input's pictures and JSON into dir and returns the
// overview file names (for the index).
func drawInput(dir, source, output string, a *explain.Attention, arch string, formats []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	write := func(name string, fig *viz.Figure, format string) error {
		return atomicfile.Write(filepath.Join(dir, name+"."+format), func(w io.Writer) error { return fig.Write(w, format) })
	}
	quote := "“" + clipRunes(source, 40) + "”"
	var overviews []string
	for _, kind := range explain.Kinds {
		layers, heads := a.Layers(kind)
		if layers == 0 {
			continue
		}
		title := kindTitle[kind]
		if a.Additive {
			title = "additive attention (RNNsearch)"
		}
		xl, yl := "source", "output"
		switch kind {
		case explain.EncSelf:
			xl, yl = "source (keys)", "source (queries)"
		case explain.DecSelf:
			xl, yl = "output so far (keys)", "output (queries)"
		}
		grid := make([][]viz.Matrix, layers)
		for l := range layers {
			for h := range heads {
				m := a.Map(kind, l, h)
				if m == nil {
					return nil, fmt.Errorf("no %s map for layer %d head %d", kind, l, h)
				}
				vm := viz.Matrix{Rows: m.Rows, Cols: m.Cols, Weights: m.Weights, Side: a.CopyOf(m), SideLabel: copyLabel}
				grid[l] = append(grid[l], vm)
				where := "decoder layer"
				if kind == explain.EncSelf {
					where = "encoder layer"
				}
				heading := fmt.Sprintf("%s · %s %d · head %d — %s", title, where, l, h, quote)
				if a.Additive {
					heading = title + " — " + quote
				}
				fig, err := viz.Heatmap(vm, viz.Options{Title: heading, XLabel: xl, YLabel: yl})
				if err != nil {
					return nil, err
				}
				for _, f := range formats {
					if err := write(fmt.Sprintf("%s-layer%d-head%d", kind, l, h), fig, f); err != nil {
						return nil, err
					}
				}
			}
		}
		fig, err := viz.Grid(grid, viz.GridOptions{Title: fmt.Sprintf("%s: %d layers × %d heads — %s", title, layers, heads, quote)})
		if err != nil {
			return nil, err
		}
		for _, f := range formats {
			if err := write("overview-"+kind, fig, f); err != nil {
				return nil, err
			}
		}
		overviews = append(overviews, "overview-"+kind+"."+formats[0])
	}
	if cm := a.CopyMap(); cm != nil {
		fig, err := viz.Heatmap(viz.Matrix{Rows: cm.Rows, Cols: cm.Cols, Weights: cm.Weights, Side: a.Copy, SideLabel: copyLabel},
			viz.Options{Title: "copied: P(copy) × copy distribution (" + copySource(cm.Module) + ") — " + quote, XLabel: "source", YLabel: "output"})
		if err != nil {
			return nil, err
		}
		for _, f := range formats {
			if err := write("copy", fig, f); err != nil {
				return nil, err
			}
		}
		overviews = append(overviews, "copy."+formats[0])
	}
	err := atomicfile.Write(filepath.Join(dir, "attention.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		return enc.Encode(attentionFile{Arch: arch, Input: source, Text: output, Attention: a})
	})
	return overviews, err
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

type indexEntry struct {
	Dir, Source, Output string
	Overviews           []string
}

// writeIndex writes a plain HTML page listing every input with its
// overviews, linking to its directory.
func writeIndex(w io.Writer, p *pipeline.Pipeline, entries []indexEntry) error {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<meta charset=\"utf-8\">\n<title>qkv attention</title>\n")
	b.WriteString("<style>body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}img{max-width:100%;border:1px solid #ddd}</style>\n")
	fmt.Fprintf(&b, "<h1>Attention of %s</h1>\n<p>%s model. Rows are queries, columns keys; each input's directory holds one map per layer and head, and attention.json the weights.</p>\n",
		html.EscapeString(p.Dir), html.EscapeString(p.Config.Model.Arch))
	for _, e := range entries {
		fmt.Fprintf(&b, "<h2><a href=\"%s/\">%s</a></h2>\n<p>%s → %s</p>\n", html.EscapeString(e.Dir), html.EscapeString(e.Dir), html.EscapeString(e.Source), html.EscapeString(e.Output))
		for _, o := range e.Overviews {
			fmt.Fprintf(&b, "<p><a href=\"%s/%s\"><img src=\"%s/%s\" alt=\"%s\"></a></p>\n", html.EscapeString(e.Dir), o, html.EscapeString(e.Dir), o, o)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// checkAlignmentLayer refuses --print-alignment for a model without
// cross-attention and an --alignment-layer the model does not have.
func checkAlignmentLayer(cfg model.Config, layer int) error {
	layers := 1 // RNNsearch: one attention
	switch cfg.Arch {
	case model.ArchSeq2Seq:
		return errors.New("--print-alignment needs attention, and this model is seq2seq, which has none (its decoder sees only the encoder's last state): use an rnnsearch or transformer model")
	case model.ArchTransformer:
		layers = cfg.DecLayers
	}
	if layer != explain.LastLayer && (layer < 0 || layer >= layers) {
		return fmt.Errorf("--alignment-layer %d is out of range: the model has %d decoder layers with cross-attention (0 to %d; default: the last)", layer, layers, layers-1)
	}
	return nil
}

// writeAlignment writes TAB and the Pharaoh alignment of hypothesis k of
// r, when --print-alignment asks for it.
func writeAlignment(w io.Writer, r pipeline.Result, k int) error {
	if !pf.printAlignment {
		return nil
	}
	a, err := explain.FromResult(r, k)
	if err != nil {
		return err
	}
	pairs, err := explain.Alignment(a, pf.alignmentLayer)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "\t"+explain.Pharaoh(pairs))
	return err
}
