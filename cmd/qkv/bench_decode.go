package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
)

var bdf struct {
	weights             string
	model, test, format string
	beams               []int
	batchSize           int
	lenFlags            lengthFlags
}

var benchDecodeCmd = &cobra.Command{
	Use:   "decode --model DIR --test FILE",
	Short: "Measure decoding speed: greedy and beam search over a whole test file",
	Long: `Decode every distinct source of a test corpus, batched, once per --beam size,
and print one JSON line per size with words_per_s (distinct sources a second,
as ../shared/bench/peers/pytorch_g2p.py counts eval_words_per_s) and the
scores (WER and PER for G2P data, BLEU and chrF for text).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		if bdf.model == "" || bdf.test == "" {
			return errors.New("bench decode: --model and --test are required")
		}
		for _, beam := range bdf.beams {
			opt := pipeline.Options{Search: search.Options{Beam: beam}, BatchSize: bdf.batchSize}
			bdf.lenFlags.set(&opt)
			if err := opt.Check(); err != nil {
				return fmt.Errorf("bench decode: %w", err)
			}
		}
		p, err := loadModelOrEnsemble(bdf.model, bdf.weights)
		if err != nil {
			return err
		}
		pairs, err := readCorpus(bdf.test, bdf.format)
		if err != nil {
			return err
		}
		metric := chooseMetric("auto", p.Config.Data)
		enc := json.NewEncoder(os.Stdout)
		for _, beam := range bdf.beams {
			opt := pipeline.Options{Search: search.Options{Beam: beam}, BatchSize: bdf.batchSize}
			bdf.lenFlags.set(&opt)
			s, err := scorePairs(p, pairs, metric, false, opt)
			if err != nil {
				return err
			}
			out := map[string]any{
				"peer": "qkv", "beam": beam, "words": s.Sentences, "eval_seconds": round(s.Seconds, 2),
				"eval_words_per_s": round(float64(s.Sentences)/s.Seconds, 1), "batch_size": bdf.batchSize,
				"threads": kernels.Threads(), "gomaxprocs": runtime.GOMAXPROCS(0), "peak_rss_mb": round(peakRSSMB(), 1),
			}
			for k, v := range s.All {
				out[k] = round(v, 4)
			}
			if err := enc.Encode(out); err != nil {
				return err
			}
		}
		return nil
	},
}

func init() {
	f := benchDecodeCmd.Flags()
	f.StringVar(&bdf.model, "model", "", "model directory, builtin:NAME, or DIR1,DIR2,… for an ensemble")
	f.StringVar(&bdf.weights, "weights", "", "weights file in the model directory or a path (default: best.safetensors, else last.safetensors)")
	f.StringVar(&bdf.test, "test", "", "test corpus")
	f.StringVar(&bdf.format, "format", "tsv", "corpus format: tsv or cmudict")
	f.IntSliceVar(&bdf.beams, "beam", []int{1, 4}, "beam sizes (1: greedy)")
	f.IntVar(&bdf.batchSize, "batch-size", 256, "sources decoded together (the peer uses 256)")
	bdf.lenFlags.register(f)
	benchCmd.AddCommand(benchDecodeCmd)
}
