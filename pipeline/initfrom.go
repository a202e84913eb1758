package pipeline

import (
	"fmt"

	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/tokenize"
	"github.com/qkv-dev/qkv/text/vocab"
)

// PrepareFrom prepares a corpus for a run that starts from p's model
// (qkv train --init-from): p's tokenizers (its BPE merges included) and
// vocabularies encode the pairs, instead of ones learned from them, so
// that p's weights mean the same symbols in the new run. data gives the
// length limits and the metric; how it reads text (tokenizers, lowercasing,
// joint vocabulary, placeholders) must be p's. Symbols p's vocabularies
// lack read as <unk>, counted in Prepared.Unknown, and pairs over the
// limits are left out, as Prepare does.
func (p *Pipeline) PrepareFrom(trainPairs, validPairs []corpus.Pair, data DataConfig) (*Prepared, error) {
	if p.Config.Quantized != "" {
		return nil, fmt.Errorf("prepare: the model in %s is quantized (%s) for decoding: training starts from float weights; give the model it was quantized from", p.Dir, p.Config.Quantized)
	}
	if d := p.Config.Data; d.SrcTokenizer != data.SrcTokenizer || d.TgtTokenizer != data.TgtTokenizer || d.Lowercase != data.Lowercase ||
		d.JointVocab != data.JointVocab || d.Placeholders != data.Placeholders {
		return nil, fmt.Errorf("prepare: the run reads text otherwise than the model in %s (tokenizers %s/%s, lowercase %v, joint vocabulary %v, placeholders %v; the model's: %s/%s, %v, %v, %v)",
			p.Dir, data.SrcTokenizer, data.TgtTokenizer, data.Lowercase, data.JointVocab, data.Placeholders,
			d.SrcTokenizer, d.TgtTokenizer, d.Lowercase, d.JointVocab, d.Placeholders)
	}
	q := *p
	q.Config.Data = data
	trainSet, validSet, skippedValid, err := q.Encode(trainPairs, validPairs)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	pr := &Prepared{Data: data, Src: p.Src, Tgt: p.Tgt, SrcTok: p.SrcTok, TgtTok: p.TgtTok,
		Train: trainSet, Valid: validSet, Skipped: len(trainPairs) - len(trainSet), SkippedValid: skippedValid}
	files := p.files
	if files == nil {
		files = diskFiles(p.Dir)
	}
	for _, side := range []struct {
		tok  string
		file string
		dst  **tokenize.BPE
	}{{data.SrcTokenizer, SrcBPEFile, &pr.SrcBPE}, {data.TgtTokenizer, TgtBPEFile, &pr.TgtBPE}} {
		if side.tok != TokBPE {
			continue
		}
		t, err := loadTokenizer(files, side.tok, side.file)
		if err != nil {
			return nil, err
		}
		*side.dst = t.(*tokenize.BPE) // the merges as saved, for the run's directory
	}
	for _, e := range pr.Train {
		pr.Unknown += countUnk(e.Src) + countUnk(e.Tgt)
	}
	return pr, nil
}

func countUnk(ids []int32) int {
	n := 0
	for _, id := range ids {
		if id == vocab.UNK {
			n++
		}
	}
	return n
}
