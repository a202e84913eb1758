package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/qkv-dev/qkv/explain"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

var pf struct {
	models         modelFlags
	input, output  string
	attention      string
	printAlignment bool
	alignmentLayer int
	decode         decodeFlags
}

var predictCmd = &cobra.Command{
	Use:   "predict --model DIR [--model DIR …] [--input FILE]",
	Short: "Decode lines of text with a trained model (stdin to stdout by default)",
	Long: `Read one source a line and write one output a line, in the same order.
Greedy by default (a built-in model decodes as chosen for it on validation
data: see qkv models); --beam K searches with a beam (length penalty --alpha);
--nbest N writes N lines per input, each "score<TAB>output"; --sample draws
outputs (--temperature, --top-k). Each input line samples from its own
random stream, derived from --seed and the line's number, so the samples do
not depend on --batch-size and the same seed gives the same samples.
The output never holds <pad> or <s>, nor <unk> unless --allow-unk.

A source symbol the model never saw is read as <unk>, and a count of such
lines is printed on stderr at the end (--strict makes them errors instead).
A line that cannot be decoded (empty, invalid UTF-8, too long, or unknown
symbols with --strict) is reported on stderr with its line number and
gives an empty output line, so outputs stay aligned with inputs; qkv then
exits with status 1.

--print-alignment adds, after a TAB, the word alignment of each output in
Pharaoh format, "i-j" pairs (source token i, output token j, 0-based,
EOS left out), as fairseq's --print-alignment: each output token is aligned
to the source token its cross-attention, averaged over the heads of layer
--alignment-layer (default: the last, as fairseq), weighs most; RNNsearch
uses its one attention. So a line is "output<TAB>alignment", or with
--nbest "score<TAB>output<TAB>alignment". seq2seq has no attention to align.

--output and --attention are written to a temporary file and renamed into
place when decoding is done: an interrupted or failed run leaves any
previous file as it was. Neither may be the input or a file of the model.

` + ensembleHelp + ` An ensemble has no single attention: --attention and
--print-alignment need one model.`,
	Args: cobra.NoArgs,
	RunE: runPredict,
}

func init() {
	f := predictCmd.Flags()
	pf.models.register(f)
	f.StringVar(&pf.input, "input", "", "input file (default stdin)")
	f.StringVar(&pf.output, "output", "", "output file (default stdout)")
	f.StringVar(&pf.attention, "attention", "", "also write, for each input, the attention behind its best output as a JSON line to this file")
	f.BoolVar(&pf.printAlignment, "print-alignment", false, "add a TAB and the output's word alignment, Pharaoh \"i-j\" pairs (source i, output j, 0-based), from the cross-attention")
	f.IntVar(&pf.alignmentLayer, "alignment-layer", explain.LastLayer, "decoder layer (0-based) whose cross-attention, averaged over its heads, gives --print-alignment (default: the last)")
	pf.decode.register(f, true, 64)
	rootCmd.AddCommand(predictCmd)
}

// decodeFlags are the decoding flags of predict and eval, range-checked by
// one function (pipeline.Options.Check, through options).
type decodeFlags struct {
	beam, nbest, maxLen, topK, batchSize int
	alpha, temperature                   float64
	sample, strict, allowUnk             bool
	seed                                 uint64
	lenFlags                             lengthFlags
	flags                                *pflag.FlagSet
}

// lengthFlags are --max-len-a and --max-len-b: given, they override the
// model's decoding limit (data.max_len_a/b).
type lengthFlags struct {
	a     float64
	b     int
	flags *pflag.FlagSet
}

func (l *lengthFlags) register(f *pflag.FlagSet) {
	l.flags = f
	// Zero defaults, used only when given: the model's own apply otherwise.
	f.Float64Var(&l.a, "max-len-a", 0, fmt.Sprintf("outputs stop at ⌊a·|source|⌋ + b tokens (counting </s>), as fairseq's --max-len-a: a (default: the model's data.max_len_a, %v unless qkv train was told otherwise)", pipeline.DefaultMaxLenA))
	f.IntVar(&l.b, "max-len-b", 0, fmt.Sprintf("b of that limit (default: the model's data.max_len_b, %d unless told otherwise); either way never over the longest training target + 1", pipeline.DefaultMaxLenB))
}

// set fills the options' limit from the flags given on the command line.
func (l *lengthFlags) set(opt *pipeline.Options) {
	if l.flags == nil {
		return
	}
	if l.flags.Changed("max-len-a") {
		a := l.a
		opt.MaxLenA = &a
	}
	if l.flags.Changed("max-len-b") {
		b := l.b
		opt.MaxLenB = &b
	}
}

// register adds the flags; sampling ones (--nbest, --sample, …) only when
// sampling is true.
func (d *decodeFlags) register(f *pflag.FlagSet, sampling bool, batchSize int) {
	d.flags = f
	f.IntVar(&d.beam, "beam", 1, fmt.Sprintf("beam size: 1 (greedy) to %d (each beam entry holds a copy of the decoder state, so memory grows with it) (default for a built-in model: the beam chosen for it on validation data, see qkv models)", search.MaxBeam))
	f.Float64Var(&d.alpha, "alpha", 0, "length penalty α (GNMT): score = log P / ((5+|y|)/6)^α (default for a built-in model: the one chosen for it)")
	f.IntVar(&d.maxLen, "max-len", 0, fmt.Sprintf("decoding steps at most, up to %d, for every input (default: the longest training target + 1; never more than the model's positions); --max-len-a/-b limit each by its source", search.MaxOutputSteps))
	f.IntVar(&d.batchSize, "batch-size", batchSize, fmt.Sprintf("inputs decoded together, 1 to %d", pipeline.MaxBatchSize))
	f.BoolVar(&d.strict, "strict", false, "refuse input lines holding symbols the model never saw (default: read them as <unk>)")
	f.BoolVar(&d.allowUnk, "allow-unk", false, "let the output hold <unk> (by default it is never chosen)")
	d.lenFlags.register(f)
	if !sampling {
		return
	}
	f.IntVar(&d.nbest, "nbest", 0, fmt.Sprintf("write the N best outputs of each input as score<TAB>output (N ≤ --beam; with --sample, N samples, at most %d)", search.MaxSamples))
	f.BoolVar(&d.sample, "sample", false, "sample outputs instead of searching")
	f.Float64Var(&d.temperature, "temperature", 1, "sampling temperature, ≥ 0 (0: always the most likely token, i.e. greedy)")
	f.IntVar(&d.topK, "top-k", 0, "sample among the k most likely tokens (0: all)")
	f.Uint64Var(&d.seed, "seed", 1, "sampling seed")
}

// takeCard makes a built-in model decode as its card says (the beam and
// length penalty chosen for it on validation data, as Marian's decoder.yml
// does for its models) where the command line does not: --beam and
// --alpha, when not given, come from the card of a lone builtin:NAME
// (a built-in ensemble too). Sampling keeps the flags' own defaults, and
// greedy decoding (--beam 1) takes no length penalty from the card: it
// would not change the output, only what eval reports.
func (d *decodeFlags) takeCard(members []pipeline.Member) {
	card, ok := builtinCard(members)
	if !ok || d.sample {
		return
	}
	if !d.flags.Changed("beam") {
		d.beam = card.Beam
	}
	if !d.flags.Changed("alpha") && d.beam > 1 {
		d.alpha = card.Alpha
	}
}

// options returns the pipeline options the flags ask for, or an error that
// names the first flag out of range.
func (d *decodeFlags) options() (pipeline.Options, error) {
	opt := pipeline.Options{BatchSize: d.batchSize, Strict: d.strict, Search: search.Options{
		Beam: d.beam, NBest: d.nbest, LengthPenalty: d.alpha, MaxLen: d.maxLen,
		Sample: d.sample, Temperature: d.temperature, TopK: d.topK, Seed: d.seed, AllowUnk: d.allowUnk,
	}}
	d.lenFlags.set(&opt)
	if d.strict && d.allowUnk {
		return opt, errors.New("--strict and --allow-unk do not go together: --strict refuses inputs with unknown symbols, --allow-unk lets the output hold <unk>")
	}
	return opt, opt.Check()
}

// unknownTally counts input lines that held symbols the model never saw.
type unknownTally struct {
	lines, symbols int
	example        string
}

func (u *unknownTally) add(r pipeline.Result) {
	if len(r.Unknown) == 0 {
		return
	}
	u.lines++
	u.symbols += len(r.Unknown)
	if u.example == "" {
		u.example = r.Unknown[0]
	}
}

// note is the end-of-run warning, or "" when every symbol was known.
func (u *unknownTally) note(cmd string) string {
	if u.lines == 0 {
		return ""
	}
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	hint := " (--strict refuses such lines)"
	if strings.HasPrefix(cmd, "train") { // train has no --strict: its metric scores every line
		hint = ""
	}
	return fmt.Sprintf("qkv %s: %s held %s the model never saw, e.g. %s; they were read as <unk>%s",
		cmd, plural(u.lines, "input line", "input lines"), plural(u.symbols, "symbol", "symbols"), excerpt.Quote(u.example), hint)
}

// modelFiles are the files of a model directory that qkv reads: no output
// may be one of them.
func modelFiles(dir, weights string) []string {
	files := []string{pipeline.ConfigFile, pipeline.SrcVocabFile, pipeline.TgtVocabFile, pipeline.SrcBPEFile, pipeline.TgtBPEFile, pipeline.BestFile, pipeline.LastFile}
	for i, f := range files {
		files[i] = filepath.Join(dir, f)
	}
	if weights != "" {
		files = append(files, pipeline.InDir(dir, weights))
	}
	return files
}

// checkOutputs refuses, before anything is written, an output flag that
// names one of the inputs (by device and inode, so links count), the same
// file as another output, or a path no file can be written to. outputs are
// flag → path; "" is not given.
func checkOutputs(outputs [][2]string, inputs ...string) error {
	for i, o := range outputs {
		flag, path := o[0], o[1]
		if path == "" {
			continue
		}
		if err := atomicfile.NotAnInput(path, inputs...); err != nil {
			return fmt.Errorf("%s: %w; write it elsewhere", flag, err)
		}
		// A path no file can be written to (a directory, a missing
		// directory) is refused now, not after all the decoding.
		if err := atomicfile.CanCreate(path); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
		for _, o2 := range outputs[:i] {
			if o2[1] == "" {
				continue
			}
			same := atomicfile.NotAnInput(path, o2[1]) != nil
			if a, err := filepath.Abs(path); err == nil {
				if b, err := filepath.Abs(o2[1]); err == nil && a == b {
					same = true
				}
			}
			if same {
				return fmt.Errorf("%s and %s name the same file %s: give each its own", o2[0], flag, path)
			}
		}
	}
	return nil
}

// stdoutIsInput refuses to write to a standard output redirected (>>) to
// the file being read, which would read its own output forever.
func stdoutIsInput(inputs ...string) error {
	st, err := os.Stdout.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	for _, in := range inputs {
		if in == "" || in == "-" {
			continue
		}
		if is, err := os.Stat(in); err == nil && os.SameFile(st, is) {
			return fmt.Errorf("standard output is the input %s: redirect it to another file, or use --output", in)
		}
	}
	return nil
}

// outputGuard makes Ctrl-C (SIGINT) or SIGTERM remove the temporary files
// of the outputs being written, leaving any previous outputs as they were,
// and exit with status 130. It watches from the moment it is made, so make
// it before the first output file (create them through it): a signal that
// comes between the two would otherwise leave a temporary file behind.
// Writers hold it (Lock) while they write, so a file is never aborted in
// the middle of a write.
type outputGuard struct {
	sync.Mutex
	files []*atomicfile.File
	stop  func()
}

func guardOutputs(cmdName string) *outputGuard {
	g := &outputGuard{}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			g.Lock()
			for _, f := range g.files {
				f.Abort()
			}
			if len(g.files) > 0 {
				fmt.Fprintf(os.Stderr, "qkv: %s: interrupted; no output file was written or changed\n", cmdName)
			}
			os.Exit(130)
		case <-done:
		}
	}()
	g.stop = func() {
		signal.Stop(sig)
		close(done)
	}
	return g
}

// create starts writing an output file that an interrupt will abort.
func (g *outputGuard) create(path string) (*atomicfile.File, error) {
	g.Lock()
	defer g.Unlock()
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	g.files = append(g.files, f)
	return f, nil
}

func runPredict(cmd *cobra.Command, _ []string) error {
	members, err := pf.models.members()
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	pf.decode.takeCard(members)
	opt, err := pf.decode.options()
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	// Without --sample the search is greedy or a beam, and these flags
	// would do nothing: a user who forgot --sample would get the search's
	// output and believe it sampled.
	if !pf.decode.sample {
		for _, name := range []string{"temperature", "top-k", "seed"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("predict: --%s applies to sampling: add --sample (without it, decoding is greedy or --beam search)", name)
			}
		}
	}
	opt.Search.Attention = pf.attention != "" || pf.printAlignment
	if cmd.Flags().Changed("alignment-layer") && !pf.printAlignment {
		return errors.New("predict: --alignment-layer chooses the layer of --print-alignment: add --print-alignment")
	}
	if len(members) > 1 && opt.Search.Attention {
		flag := "--attention"
		if pf.printAlignment {
			flag = "--print-alignment"
		}
		return fmt.Errorf("predict: %s needs one model, and %d are given: the models of an ensemble each attend in their own way (and a Transformer's maps and RNNsearch's do not even have the same shape); give the --model whose attention you want alone", flag, len(members))
	}
	inputs := append([]string{pf.input}, pf.models.files(members)...)
	if err := checkOutputs([][2]string{{"--output", pf.output}, {"--attention", pf.attention}}, inputs...); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if pf.output == "" {
		if err := stdoutIsInput(inputs...); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
	}
	p, err := pipeline.LoadEnsemble(members)
	if err != nil {
		return err
	}
	if pf.printAlignment {
		if err := checkAlignmentLayer(p.Config.Model, pf.alignmentLayer); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
	}
	var in io.Reader = os.Stdin
	if pf.input != "" {
		f, err := os.Open(pf.input)
		if err != nil {
			return fmt.Errorf("predict: --input: %w", err)
		}
		defer f.Close()
		in = f
	}
	// Files are written to temporary files and renamed into place at the
	// end (Commit); any error before that removes them (Abort).
	var out io.Writer = os.Stdout
	var outFile, attnFile *atomicfile.File
	writing := guardOutputs("predict")
	defer writing.stop()
	if pf.output != "" {
		if outFile, err = writing.create(pf.output); err != nil {
			return fmt.Errorf("predict: --output: %w", err)
		}
		defer outFile.Abort()
		out = outFile
	}
	w := bufio.NewWriter(out)
	var attn *json.Encoder
	if pf.attention != "" {
		if attnFile, err = writing.create(pf.attention); err != nil {
			return fmt.Errorf("predict: --attention: %w", err)
		}
		defer attnFile.Abort()
		attn = json.NewEncoder(attnFile)
	}
	// Decode in chunks so a long input streams out and memory stays flat.
	const chunk = 4096
	sc := bufio.NewScanner(in)
	const maxLine = 1 << 24
	sc.Buffer(make([]byte, 1<<20), maxLine)
	lineNo, failed := 0, 0
	var unk unknownTally
	lines := make([]string, 0, chunk)
	nbest := pf.decode.nbest
	flush := func() error {
		opt.FirstLine = lineNo - len(lines)
		results := p.Translate(lines, opt)
		writing.Lock()
		defer writing.Unlock()
		for i, r := range results {
			n := opt.FirstLine + i + 1
			if attn != nil {
				if err := attn.Encode(attentionRecord(n, r)); err != nil {
					return fmt.Errorf("--attention: %w", err)
				}
			}
			unk.add(r)
			if r.Err != nil {
				failed++
				fmt.Fprintf(os.Stderr, "qkv predict: line %d: %v\n", n, r.Err)
				for range max(nbest, 1) {
					w.WriteByte('\n')
				}
				continue
			}
			if nbest > 0 {
				for k, h := range r.Hyps {
					fmt.Fprintf(w, "%.4f\t%s", h.Score, h.Text)
					if err := writeAlignment(w, r, k); err != nil {
						return fmt.Errorf("line %d: %w", n, err)
					}
					w.WriteByte('\n')
				}
				continue
			}
			w.WriteString(r.Hyps[0].Text)
			if err := writeAlignment(w, r, 0); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			w.WriteByte('\n')
		}
		lines = lines[:0]
		if err := w.Flush(); err != nil {
			if pf.output == "" {
				return fmt.Errorf("writing the output: %w", err)
			}
			return err
		}
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // a byte-order mark is not text
		}
		lines = append(lines, line)
		if len(lines) == chunk {
			if err := flush(); err != nil {
				return fmt.Errorf("predict: %w", err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("predict: input line %d is longer than %d MB: split it, or give one sentence a line", lineNo+1, maxLine>>20)
		}
		return fmt.Errorf("predict: reading input: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	writing.Lock()
	defer writing.Unlock()
	if outFile != nil {
		if err := outFile.Commit(); err != nil {
			return fmt.Errorf("predict: --output: %w", err)
		}
	}
	if attnFile != nil {
		if err := attnFile.Commit(); err != nil {
			return fmt.Errorf("predict: --attention: %w", err)
		}
	}
	if note := unk.note("predict"); note != "" {
		fmt.Fprintln(os.Stderr, note)
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d lines could not be decoded", failed, lineNo)
	}
	return nil
}

// attentionJSON is one line of --attention: what the model attended to for
// each output token of the best hypothesis. Maps hold Heads rows of Keys
// weights; keys are source tokens for cross-attention (and RNNsearch's
// attention), earlier output tokens (with <s> first) for decoder
// self-attention. The encoder's self-attention, when the model has one,
// has one row per (head, source token).
type attentionJSON struct {
	Line    int         `json:"line"`
	Source  []string    `json:"source"`
	Output  []string    `json:"output"`
	Error   string      `json:"error,omitempty"`
	Steps   [][]mapJSON `json:"steps,omitempty"`   // per output token, EOS last
	Encoder []mapJSON   `json:"encoder,omitempty"` // per encoder layer
}

type mapJSON struct {
	Name    string    `json:"name"`
	Heads   int       `json:"heads"`
	Keys    int       `json:"keys"`
	Weights []float32 `json:"weights"`
	// PCopy, with copy attention, on the map the step copied through (its
	// weights averaged over the heads): the probability 1 − p_gen of
	// copying rather than generating.
	PCopy *float32 `json:"p_copy,omitempty"`
}

func attentionRecord(line int, r pipeline.Result) attentionJSON {
	rec := attentionJSON{Line: line, Source: r.SourceTokens}
	if r.Err != nil {
		rec.Error = r.Err.Error()
		return rec
	}
	h := r.Hyps[0]
	rec.Output = h.Tokens
	toJSON := func(maps []search.Map) []mapJSON {
		out := make([]mapJSON, len(maps))
		for i, m := range maps {
			out[i] = mapJSON{Name: m.Name, Heads: m.Heads, Keys: m.Keys, Weights: m.Weights}
			if m.Copies {
				out[i].PCopy = &m.PCopy
			}
		}
		return out
	}
	for _, step := range h.Attention {
		rec.Steps = append(rec.Steps, toJSON(step))
	}
	rec.Encoder = toJSON(r.EncoderAttn)
	return rec
}
