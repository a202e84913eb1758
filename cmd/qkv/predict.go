package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

var pf struct {
	weights              string
	model, input, output string
	beam, nbest, maxLen  int
	alpha, temperature   float64
	sample               bool
	topK                 int
	seed                 uint64
	batchSize            int
	attention            string
}

var predictCmd = &cobra.Command{
	Use:   "predict --model DIR [--input FILE]",
	Short: "Decode lines of text with a trained model (stdin to stdout by default)",
	Long: `Read one source a line and write one output a line, in the same order.
Greedy by default; --beam K searches with a beam (length penalty --alpha);
--nbest N writes N lines per input, each "score<TAB>output"; --sample draws
outputs (--temperature, --top-k).

A line that cannot be decoded (empty, a symbol the model never saw, too long)
is reported on stderr with its line number and gives an empty output line, so
outputs stay aligned with inputs; qkv then exits with status 1.`,
	Args: cobra.NoArgs,
	RunE: runPredict,
}

func init() {
	f := predictCmd.Flags()
	f.StringVar(&pf.model, "model", "", "model directory (from qkv train)")
	f.StringVar(&pf.weights, "weights", "", "weights file in the model directory or a path (default: best.safetensors, else last.safetensors)")
	f.StringVar(&pf.input, "input", "", "input file (default stdin)")
	f.StringVar(&pf.output, "output", "", "output file (default stdout)")
	f.IntVar(&pf.beam, "beam", 1, "beam size (1: greedy)")
	f.IntVar(&pf.nbest, "nbest", 0, "write the N best outputs of each input as score<TAB>output")
	f.Float64Var(&pf.alpha, "alpha", 0, "length penalty α (GNMT): score = log P / ((5+|y|)/6)^α")
	f.IntVar(&pf.maxLen, "max-len", 0, "decoding steps at most (default: the longest training target + 1)")
	f.BoolVar(&pf.sample, "sample", false, "sample outputs instead of searching")
	f.Float64Var(&pf.temperature, "temperature", 1, "sampling temperature")
	f.IntVar(&pf.topK, "top-k", 0, "sample among the k most likely tokens (0: all)")
	f.Uint64Var(&pf.seed, "seed", 1, "sampling seed")
	f.IntVar(&pf.batchSize, "batch-size", 64, "inputs decoded together")
	f.StringVar(&pf.attention, "attention", "", "also write, for each input, the attention behind its best output as a JSON line to this file")
	rootCmd.AddCommand(predictCmd)
}

func runPredict(cmd *cobra.Command, _ []string) error {
	if pf.model == "" {
		return errors.New("predict: --model is required")
	}
	if pf.beam < 1 {
		return fmt.Errorf("predict: --beam must be at least 1, got %d", pf.beam)
	}
	if pf.nbest > 1 && !pf.sample && pf.nbest > pf.beam {
		return fmt.Errorf("predict: --nbest %d needs --beam of at least %d", pf.nbest, pf.nbest)
	}
	p, err := pipeline.LoadWeights(pf.model, pf.weights)
	if err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if pf.input != "" {
		f, err := os.Open(pf.input)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	var out io.Writer = os.Stdout
	if pf.output != "" {
		f, err := os.Create(pf.output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	opt := pipeline.Options{BatchSize: pf.batchSize, Search: search.Options{
		Beam: pf.beam, NBest: pf.nbest, LengthPenalty: pf.alpha, MaxLen: pf.maxLen,
		Sample: pf.sample, Temperature: pf.temperature, TopK: pf.topK, Seed: pf.seed,
		Attention: pf.attention != "",
	}}
	var attn *json.Encoder
	if pf.attention != "" {
		f, err := os.Create(pf.attention)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		attn = json.NewEncoder(bw)
	}
	// Decode in chunks so a long input streams out and memory stays flat.
	const chunk = 4096
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	lineNo, failed := 0, 0
	lines := make([]string, 0, chunk)
	flush := func() error {
		for i, r := range p.Translate(lines, opt) {
			n := lineNo - len(lines) + i + 1
			if attn != nil {
				if err := attn.Encode(attentionRecord(n, r)); err != nil {
					return err
				}
			}
			if r.Err != nil {
				failed++
				fmt.Fprintf(os.Stderr, "qkv predict: line %d: %v\n", n, r.Err)
				for range max(pf.nbest, 1) {
					fmt.Fprintln(w)
				}
				continue
			}
			if pf.nbest > 0 {
				for _, h := range r.Hyps {
					fmt.Fprintf(w, "%.4f\t%s\n", h.Score, h.Text)
				}
				continue
			}
			fmt.Fprintln(w, r.Hyps[0].Text)
		}
		lines = lines[:0]
		return w.Flush()
	}
	for sc.Scan() {
		lineNo++
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		if len(lines) == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("predict: reading input: %w", err)
	}
	if err := flush(); err != nil {
		return err
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
		}
		return out
	}
	for _, step := range h.Attention {
		rec.Steps = append(rec.Steps, toJSON(step))
	}
	rec.Encoder = toJSON(r.EncoderAttn)
	return rec
}
