package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/internal/excerpt"
)

// WeightsFor reads weights to average with the model p (qkv average):
// every tensor by name, as float32. name is a weights file (a path), or a
// model, named as --init-from names one (MemberNamed): a model directory
// (its best weights, else its last) or builtin:NAME, such as the model a
// run started from. Averaging across a run and its origin is how
// stochastic weight averaging (Izmailov et al. 2018) combines the ends of
// cycles of the learning rate.
//
// A weights file of a model directory loads into that model, so that only
// its parameters count (last.safetensors also holds the optimizer's
// state). A model named, or the model directory a weights file lies in,
// must have p's architecture and vocabularies, symbol for symbol in the
// same order: the rows of the embeddings and of the output layer stand for
// those symbols, and a mean of rows that stand for different ones means
// nothing. A weights file outside any model directory is read as it is:
// its shapes are checked, nothing more can be.
func WeightsFor(p *Pipeline, name string) (map[string]checkpoint.Array, error) {
	st, err := os.Stat(name)
	switch {
	case err == nil && st.Mode().IsRegular():
		if _, err := os.Stat(filepath.Join(filepath.Dir(name), ConfigFile)); err != nil {
			// Outside any model directory: the file as it is.
			arrays, _, err := checkpoint.ReadAll(name)
			return arrays, err
		}
		// A file of a model directory loads into its model, so that
		// only parameters are averaged: last.safetensors also holds the
		// optimizer's moments.
	case IsBuiltin(name) || err == nil && st.IsDir():
	default:
		return nil, fmt.Errorf("%s: not a weights file, a model directory or builtin:NAME", excerpt.Quote(name))
	}
	m := MemberNamed(name)
	q, err := LoadWeights(m.Dir, m.Weights)
	if err != nil {
		return nil, err
	}
	if q.Config.Quantized != "" {
		return nil, fmt.Errorf("%s is quantized (%s) for decoding: average the float weights it was quantized from", name, q.Config.Quantized)
	}
	if a, b := p.Config.Model.Arch, q.Config.Model.Arch; a != b {
		return nil, fmt.Errorf("%s is a model of architecture %s and %s of %s: only weights of one model can be averaged", name, b, p.Dir, a)
	}
	if err := sameVocabularies(p, q); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	arrays := map[string]checkpoint.Array{}
	for _, t := range q.Model.Params() {
		arrays[t.Name] = checkpoint.Array{Shape: slices.Clone(t.Shape), Data: t.Data, DType: checkpoint.F32}
	}
	return arrays, nil
}

// sameVocabularies refuses a model q whose vocabularies are not p's, in
// the same order.
func sameVocabularies(p, q *Pipeline) error {
	for _, v := range []struct {
		file string
		a, b []string
	}{{SrcVocabFile, p.Src.Symbols(), q.Src.Symbols()}, {TgtVocabFile, p.Tgt.Symbols(), q.Tgt.Symbols()}} {
		if slices.Equal(v.a, v.b) {
			continue
		}
		why := fmt.Sprintf("%d symbols against %d", len(v.b), len(v.a))
		if len(v.a) == len(v.b) {
			for i := range v.a {
				if v.a[i] != v.b[i] {
					why = fmt.Sprintf("symbol %d is %s there and %s here", i, excerpt.Quote(v.b[i]), excerpt.Quote(v.a[i]))
					break
				}
			}
		}
		return fmt.Errorf("its model's %s is not that of %s (%s): the rows of their weights stand for other symbols, and their mean would mean nothing", v.file, p.Dir, why)
	}
	return nil
}
