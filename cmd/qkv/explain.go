package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/explain"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
)

var xf struct {
	model, weights, input, target, kind string
	queryToken, layer, head, top, dims  int
	json                                bool
}

var explainCmd = &cobra.Command{
	Use:   "explain --model DIR --input TEXT [--query-token I] [--kind enc-self|dec-self|cross] [--layer L] [--head H]",
	Short: "Walk through what one Transformer attention head computes for one query token: Q, K, V, scores, weights, output",
	Long: `Show, from the trained weights, what one head of a Transformer computes
for one query token:
  x                   the vector the projections see (which one depends on
                      pre- or post-norm: the output says)
  q = x·W_Q + b_Q     the query: the question this token asks
  k_j = x_j·W_K + b_K a key: the name tag each token wears
  v_j = x_j·W_V + b_V a value: what a token hands over when chosen
  q·k_j/√d_k          the scores, then softmax: the weights
  Σ_j w_j v_j         the weighted sum of the values
  (Σ_j w_j v_j)·W_O   this head's share of the attention output
--kind enc-self: the query is source token I (0-based) and the keys are
the source tokens. --kind dec-self and cross (the default): the query is
decoder step I, the one that writes output token I (the last step writes
</s>); the decoder runs on the model's own greedy output, or on --target.
dec-self's keys are <s> and the output before step I; cross's keys are
the source tokens. --layer defaults to the last layer, --head to 0.
The text lists the keys most attended first (--top); --json prints every
number.`,
	Args: cobra.NoArgs,
	RunE: runExplain,
}

func init() {
	f := explainCmd.Flags()
	f.StringVar(&xf.model, "model", "", "model directory (from qkv train; a Transformer)")
	f.StringVar(&xf.weights, "weights", "", "weights file in the model directory or a path (default: best.safetensors, else last.safetensors)")
	f.StringVar(&xf.input, "input", "", "the source text")
	f.StringVar(&xf.target, "target", "", "the output the decoder runs on, for dec-self and cross (default: the model's own greedy output)")
	f.StringVar(&xf.kind, "kind", explain.Cross, "which attention: enc-self, dec-self or cross")
	f.IntVar(&xf.queryToken, "query-token", 0, "the query's position, 0-based: a source token (enc-self) or a decoder step (dec-self, cross)")
	f.IntVar(&xf.layer, "layer", -1, "layer, 0-based, of the encoder (enc-self) or the decoder (default: the last)")
	f.IntVar(&xf.head, "head", 0, "head, 0-based")
	f.IntVar(&xf.top, "top", 10, "keys listed in the text, most attended first (0: all)")
	f.IntVar(&xf.dims, "dims", 4, "leading dimensions shown of each vector in the text")
	f.BoolVar(&xf.json, "json", false, "print every number as JSON instead of text")
	rootCmd.AddCommand(explainCmd)
}

func runExplain(cmd *cobra.Command, _ []string) error {
	if xf.model == "" {
		return errors.New("explain: --model is required")
	}
	if !cmd.Flags().Changed("input") {
		return errors.New("explain: --input is required: the source text to walk through")
	}
	if xf.top < 0 {
		return fmt.Errorf("explain: --top %d is out of range: give 0 (every key) or a positive number", xf.top)
	}
	if xf.dims < 1 || xf.dims > 4096 {
		return fmt.Errorf("explain: --dims %d is out of range: give 1 to 4096", xf.dims)
	}
	// An empty --target (an unset shell variable, say) would silently mean
	// the model's own output, which the user did not ask for.
	if cmd.Flags().Changed("target") && strings.TrimSpace(xf.target) == "" {
		return errors.New("explain: --target is empty: give the output the decoder runs on, or leave --target out for the model's own greedy output")
	}
	if xf.target != "" && xf.kind == explain.EncSelf {
		return errors.New("explain: --target sets the decoder's side, which enc-self does not use: drop it, or use --kind dec-self or cross")
	}
	p, err := pipeline.LoadWeights(xf.model, xf.weights)
	if err != nil {
		return err
	}
	q := explain.Query{Kind: xf.kind, Layer: xf.layer, Head: xf.head, Token: xf.queryToken, Target: xf.target}
	if !cmd.Flags().Changed("layer") && p.Config.Model.Arch == model.ArchTransformer {
		q.Layer = p.Config.Model.DecLayers - 1
		if xf.kind == explain.EncSelf {
			q.Layer = p.Config.Model.EncLayers - 1
		}
	}
	w, err := explain.Walk(p, xf.input, q)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	out := cmd.OutOrStdout()
	if xf.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", " ")
		if err := enc.Encode(w); err != nil {
			return fmt.Errorf("explain: writing the output: %w", err)
		}
		return nil
	}
	if err := w.WriteText(out, explain.TextOptions{TopKeys: xf.top, Dims: xf.dims}); err != nil {
		return fmt.Errorf("explain: writing the output: %w", err)
	}
	return nil
}
