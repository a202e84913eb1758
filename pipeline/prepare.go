package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/tokenize"
	"github.com/qkv-dev/qkv/text/vocab"
)

// PrepareOptions say how to turn a corpus into training examples.
type PrepareOptions struct {
	Data      DataConfig
	MinFreq   int // symbols seen fewer times become <unk> (default 1)
	MaxVocab  int // vocabulary size cap including specials (0: none)
	BPEMerges int // merges to learn for bpe tokenizers (default 8000)
}

// Prepared is a tokenized, vocabulary-encoded corpus, ready to train on.
type Prepared struct {
	Data           DataConfig
	Src, Tgt       *vocab.Vocab
	SrcTok, TgtTok tokenize.Tokenizer
	SrcBPE, TgtBPE *tokenize.BPE
	Train, Valid   []batch.Example
	Skipped        int // training pairs longer than MaxSrcLen/MaxTgtLen, left out
}

// Prepare learns tokenizers (BPE) and vocabularies from the training pairs
// and encodes both sets. Validation symbols missing from the training data
// become <unk>. Training pairs over the length limits are left out and
// counted; over-long validation pairs are an error naming the line.
func Prepare(trainPairs, validPairs []corpus.Pair, opt PrepareOptions) (*Prepared, error) {
	if len(trainPairs) == 0 {
		return nil, fmt.Errorf("prepare: no training pairs")
	}
	if opt.MinFreq <= 0 {
		opt.MinFreq = 1
	}
	if opt.BPEMerges <= 0 {
		opt.BPEMerges = 8000
	}
	p := &Prepared{Data: opt.Data}
	var err error
	learn := func(name string, side func(corpus.Pair) string, lower bool) (tokenize.Tokenizer, *tokenize.BPE, error) {
		var bpe *tokenize.BPE
		if name == TokBPE {
			tr := tokenize.NewBPETrainer()
			for _, pr := range trainPairs {
				s := side(pr)
				if lower {
					s = lowerString(s)
				}
				tr.Add(s)
			}
			bpe = tr.Learn(opt.BPEMerges, 2)
		}
		tok, err := NewTokenizer(name, bpe)
		return tok, bpe, err
	}
	if p.SrcTok, p.SrcBPE, err = learn(opt.Data.SrcTokenizer, func(pr corpus.Pair) string { return pr.Source }, opt.Data.Lowercase); err != nil {
		return nil, err
	}
	if p.TgtTok, p.TgtBPE, err = learn(opt.Data.TgtTokenizer, func(pr corpus.Pair) string { return pr.Target }, false); err != nil {
		return nil, err
	}
	srcToks := make([][]string, len(trainPairs))
	tgtToks := make([][]string, len(trainPairs))
	sc, tc := vocab.Counts{}, vocab.Counts{}
	for i, pr := range trainPairs {
		srcToks[i] = opt.Data.SourceTokens(p.SrcTok, pr.Source)
		tgtToks[i] = p.TgtTok.Tokenize(pr.Target)
		sc.Add(srcToks[i])
		tc.Add(tgtToks[i])
	}
	p.Src = vocab.Build(sc, opt.MinFreq, opt.MaxVocab)
	p.Tgt = vocab.Build(tc, opt.MinFreq, opt.MaxVocab)
	d := opt.Data
	for i := range trainPairs {
		if (d.MaxSrcLen > 0 && len(srcToks[i]) > d.MaxSrcLen) || (d.MaxTgtLen > 0 && len(tgtToks[i]) > d.MaxTgtLen) {
			p.Skipped++
			continue
		}
		p.Train = append(p.Train, batch.Example{Src: toInt32(p.Src.Encode(srcToks[i])), Tgt: toInt32(p.Tgt.Encode(tgtToks[i]))})
	}
	if len(p.Train) == 0 {
		return nil, fmt.Errorf("prepare: every training pair is longer than the limits (%d source, %d target tokens)", d.MaxSrcLen, d.MaxTgtLen)
	}
	for i, pr := range validPairs {
		s := opt.Data.SourceTokens(p.SrcTok, pr.Source)
		t := p.TgtTok.Tokenize(pr.Target)
		if (d.MaxSrcLen > 0 && len(s) > d.MaxSrcLen) || (d.MaxTgtLen > 0 && len(t) > d.MaxTgtLen) {
			return nil, fmt.Errorf("prepare: validation pair %d is %d/%d tokens long, over the limits %d/%d", i+1, len(s), len(t), d.MaxSrcLen, d.MaxTgtLen)
		}
		p.Valid = append(p.Valid, batch.Example{Src: toInt32(p.Src.Encode(s)), Tgt: toInt32(p.Tgt.Encode(t))})
	}
	return p, nil
}

// Save writes config.json, the vocabularies and the BPE merges to dir.
// Weights are written by training.
func (p *Prepared) Save(dir string, mc model.Config, trainOptions any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.Marshal(trainOptions)
	if err != nil {
		return err
	}
	cfg := Config{Model: mc, Data: p.Data, Train: raw}
	if err := checkpoint.SaveJSON(filepath.Join(dir, ConfigFile), cfg); err != nil {
		return err
	}
	if err := p.Src.SaveFile(filepath.Join(dir, SrcVocabFile)); err != nil {
		return err
	}
	if err := p.Tgt.SaveFile(filepath.Join(dir, TgtVocabFile)); err != nil {
		return err
	}
	if p.SrcBPE != nil {
		if err := p.SrcBPE.SaveFile(filepath.Join(dir, SrcBPEFile)); err != nil {
			return err
		}
	}
	if p.TgtBPE != nil {
		if err := p.TgtBPE.SaveFile(filepath.Join(dir, TgtBPEFile)); err != nil {
			return err
		}
	}
	return nil
}

// Pipeline returns a pipeline around a model trained on p.
func (p *Prepared) Pipeline(dir string, m model.Model) *Pipeline {
	return &Pipeline{Dir: dir, Config: Config{Model: m.Config(), Data: p.Data}, Model: m, Src: p.Src, Tgt: p.Tgt, SrcTok: p.SrcTok, TgtTok: p.TgtTok}
}
