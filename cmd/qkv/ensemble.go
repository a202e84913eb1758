package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
)

// modelFlags are --model and --weights of the commands that decode with
// one model or an ensemble (predict, eval).
type modelFlags struct {
	models, weights []string
}

// ensembleHelp is the paragraph predict's and eval's --help give
// ensembles.
const ensembleHelp = `Several --model (--model A --model B, or --model A,B) decode as one
ensemble, as fairseq's: at every step the models' next-token probabilities
are averaged (log of the mean probability, logsumexp − log n), in greedy
decoding, beam search and sampling alike. The models may be of any
architecture (transformer, rnnsearch, seq2seq) but must share their
vocabularies, tokenizers and lowercasing: train them on the same data with
the same data settings. --weights gives one weights file for every model
(a name each directory holds, e.g. average.safetensors) or one per --model,
in order.`

func (m *modelFlags) register(f *pflag.FlagSet) {
	f.StringSliceVar(&m.models, "model", nil, "model directory (from qkv train), builtin:NAME, or a weights file of a model directory (DIR/average.safetensors); several (--model A --model B or --model A,B) decode as an ensemble")
	f.StringSliceVar(&m.weights, "weights", nil, "weights file in the model directory or a path (default: best.safetensors, else last.safetensors); with an ensemble, one name for all or one per --model")
}

// members returns the models to load, or an error naming the flag that is
// wrong.
func (m *modelFlags) members() ([]pipeline.Member, error) {
	if len(m.models) == 0 {
		return nil, fmt.Errorf("--model is required: a model directory from qkv train")
	}
	for i, d := range m.models {
		if strings.TrimSpace(d) == "" {
			return nil, fmt.Errorf("--model: model %d of %d is empty (a stray comma?): give each model directory once", i+1, len(m.models))
		}
	}
	for i, w := range m.weights {
		if strings.TrimSpace(w) == "" {
			return nil, fmt.Errorf("--weights: file %d of %d is empty (a stray comma?)", i+1, len(m.weights))
		}
	}
	// A --model may name a weights file of a model directory
	// (run/average.safetensors), as qkv train's --init-from does.
	out := make([]pipeline.Member, len(m.models))
	for i, d := range m.models {
		out[i] = pipeline.MemberNamed(d)
	}
	set := func(i int, w string) error {
		if out[i].Weights != "" {
			return fmt.Errorf("--model %s is a weights file already: drop --weights %s, or give its directory", excerpt.Quote(m.models[i]), excerpt.Quote(w))
		}
		out[i].Weights = w
		return nil
	}
	switch n := len(m.weights); {
	case n == 0:
	case n == len(m.models):
		for i, w := range m.weights {
			if err := set(i, w); err != nil {
				return nil, err
			}
		}
	case n == 1:
		w := m.weights[0]
		if strings.ContainsRune(w, os.PathSeparator) {
			return nil, fmt.Errorf("--weights %s is one file for %d models: give one --weights per --model, in order, or a bare file name that every model directory holds (e.g. average.safetensors)", excerpt.Quote(w), len(m.models))
		}
		for i := range out {
			if err := set(i, w); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%d --weights for %d --model: give one weights file for all (a name in each directory) or one per --model, in order", n, len(m.models))
	}
	return out, nil
}

// builtinCard returns the card of a lone built-in model (or built-in
// ensemble) among members: what it was chosen to decode with and scored.
func builtinCard(members []pipeline.Member) (models.Card, bool) {
	if len(members) != 1 {
		return models.Card{}, false
	}
	name, ok := strings.CutPrefix(members[0].Dir, pipeline.BuiltinPrefix)
	if !ok {
		return models.Card{}, false
	}
	card, err := models.ReadCard(name)
	return card, err == nil && card.Beam > 0
}

// files are the files of every model directory that qkv reads: no output
// may be one of them.
func (m *modelFlags) files(members []pipeline.Member) []string {
	var files []string
	for _, mb := range members {
		files = append(files, modelFiles(mb.Dir, mb.Weights)...)
	}
	return files
}

// name is the models as the command line gave them, for reports.
func (m *modelFlags) name() string { return strings.Join(m.models, ",") }
