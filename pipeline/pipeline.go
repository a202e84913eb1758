// Package pipeline ties a trained model to the text it reads and writes: a
// model directory holds the model's configuration, its vocabularies and
// tokenizers, and its weights, and a Pipeline turns lines of text into
// decoded lines of text (with scores and attention) and back.
//
// A model directory holds:
//
//	config.json        model, data and training settings
//	src.vocab          source vocabulary, one symbol a line (text/vocab)
//	tgt.vocab          target vocabulary
//	src.bpe, tgt.bpe   BPE merges, when that tokenizer is used
//	best.safetensors   weights of the best validation (else last.safetensors)
//	last.safetensors   weights, optimizer and trainer state of the last step
//	step-*.safetensors snapshots kept for averaging (train --keep-snapshots)
//	average.safetensors their average (qkv average), loaded with --weights
//	run.json           what the run is: settings, their hash, data fingerprints
//	.qkv.lock          locked by the one qkv train that writes the directory
package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/tensor"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/tokenize"
	"github.com/qkv-dev/qkv/text/vocab"
)

// File names inside a model directory.
const (
	ConfigFile   = "config.json"
	SrcVocabFile = "src.vocab"
	TgtVocabFile = "tgt.vocab"
	SrcBPEFile   = "src.bpe"
	TgtBPEFile   = "tgt.bpe"
	BestFile     = "best.safetensors"
	LastFile     = "last.safetensors"
)

// Tokenizer names.
const (
	TokChar = "char"
	TokWord = "word"
	TokBPE  = "bpe"
)

// DataConfig says how text becomes tokens.
type DataConfig struct {
	SrcTokenizer string `json:"src_tokenizer"` // char, word or bpe
	TgtTokenizer string `json:"tgt_tokenizer"`
	Lowercase    bool   `json:"lowercase,omitempty"` // lowercase the source before tokenizing
	MaxSrcLen    int    `json:"max_src_len"`         // longest source accepted, in tokens
	MaxTgtLen    int    `json:"max_tgt_len"`         // longest target trained on / generated, in tokens

	// One vocabulary (and one set of BPE merges) for both sides, as
	// fairseq's --joined-dictionary: src.vocab and tgt.vocab are the same.
	JointVocab bool `json:"joint_vocab,omitempty"`

	// Placeholders protects printf directives, markup, accelerators and
	// the like (text/placeholder) as tokens ⟦1⟧, ⟦2⟧, … in training pairs
	// and in every input, restores them in every output, and constrains
	// the search to copy each exactly once.
	Placeholders bool `json:"placeholders,omitempty"`

	// The model's decoding limit that follows the source (fairseq's
	// --max-len-a/--max-len-b): at most ⌊max_len_a·|source|⌋ + max_len_b
	// output tokens, counting EOS; predict, eval, serve and the validation
	// metric use it unless told otherwise. Both 0 (a model from before
	// them) means DefaultMaxLenA and DefaultMaxLenB.
	MaxLenA float64 `json:"max_len_a,omitempty"`
	MaxLenB int     `json:"max_len_b,omitempty"`

	// Metric is the task's metric as qkv train --metric named it (wer,
	// per, bleu, chrf, rouge or sbleu; "" when it was auto): eval, the
	// validation of a resumed run and bench decode score with it unless
	// told otherwise, so a summarization model reports ROUGE, not BLEU.
	Metric string `json:"metric,omitempty"`
}

// Metrics are the names DataConfig.Metric and --metric take: wer (with
// per), per, bleu (with chrf), chrf, rouge (ROUGE-1/2/L and smoothed
// BLEU-4, chosen by ROUGE-L) and sbleu (the same, chosen by smoothed
// BLEU-4).
var Metrics = []string{"wer", "per", "bleu", "chrf", "rouge", "sbleu"}

// MetricHigherIsBetter says which way a metric of Metrics improves: error
// rates (wer, per) fall, scores of overlap (bleu, chrf, rouge, sbleu) rise.
func MetricHigherIsBetter(metric string) bool {
	return metric != "wer" && metric != "per"
}

// Config is config.json.
type Config struct {
	Model model.Config    `json:"model"`
	Data  DataConfig      `json:"data"`
	Train json.RawMessage `json:"train,omitempty"` // the training options, for the record
	// Quantized is "int8" for a directory qkv quantize wrote: its Linear
	// weights are stored as I8 with scales beside them (quantize.go).
	Quantized string `json:"quantized,omitempty"`
}

// Pipeline is a loaded model directory.
type Pipeline struct {
	Dir    string
	Config Config
	Model  model.Model
	Src    *vocab.Vocab
	Tgt    *vocab.Vocab
	SrcTok tokenize.Tokenizer
	TgtTok tokenize.Tokenizer

	files modelFiles // where Dir's files are read from (nil: Dir on disk)
}

// NewTokenizer returns the tokenizer called name; bpe needs merges.
func NewTokenizer(name string, bpe *tokenize.BPE) (tokenize.Tokenizer, error) {
	switch name {
	case TokChar:
		return tokenize.Char{}, nil
	case TokWord:
		return tokenize.Word{}, nil
	case TokBPE:
		if bpe == nil {
			return nil, errors.New("pipeline: bpe tokenizer without merges")
		}
		return bpe, nil
	}
	return nil, fmt.Errorf("pipeline: unknown tokenizer %q (char, word or bpe)", name)
}

// Load reads a model directory with its best weights (else its last).
// Every missing or malformed file gives an error that names it.
func Load(dir string) (*Pipeline, error) { return LoadWeights(dir, "") }

// LoadWeights is Load with the weights read from a file of the caller's
// choosing (e.g. an average of snapshots, or one snapshot): a name in the
// directory or a path with a directory part. Empty means Load's choice.
// A dir of the form builtin:NAME is a model embedded in the binary
// (LoadBuiltin).
func LoadWeights(dir, weights string) (*Pipeline, error) {
	if name, ok := strings.CutPrefix(dir, BuiltinPrefix); ok {
		return LoadBuiltin(name, weights)
	}
	p, err := LoadForResume(dir)
	if err != nil {
		return nil, err
	}
	if weights != "" {
		weights = InDir(dir, weights)
		if _, err := os.Stat(weights); err != nil {
			return nil, fmt.Errorf("weights: %w", err)
		}
	} else {
		weights = filepath.Join(dir, BestFile)
		if _, err := os.Stat(weights); err != nil {
			weights = filepath.Join(dir, LastFile)
			if _, err := os.Stat(weights); err != nil {
				return nil, fmt.Errorf("%s: no weights: neither %s nor %s exists", dir, BestFile, LastFile)
			}
		}
	}
	if p.Config.Quantized != "" {
		if err := p.loadQuantized(weights); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := loadParams(weights, p.Model.Params()); err != nil {
		return nil, err
	}
	return p, nil
}

// OptimizerPrefix starts the names of the optimizer state that the last
// checkpoint holds beside the parameters (train writes it): the only
// tensors a weights file may hold that the model does not use.
const OptimizerPrefix = "optim."

// loadParams fills params from the weights file, which must hold every
// parameter and nothing else but optimizer state: a tensor the model does
// not use means the configuration was edited (enc_layers lowered, say) or
// the file belongs to another model, and loading the rest would run a
// model that was never trained.
func loadParams(weights string, params []*tensor.Tensor) error {
	extra, err := checkpoint.LoadSubset(weights, params)
	if err != nil {
		return err
	}
	return refuseUnused(weights, extra)
}

// refuseUnused is loadParams' check of the tensors nothing asked for.
func refuseUnused(weights string, extra []string) error {
	var unused []string
	for _, name := range extra {
		if !strings.HasPrefix(name, OptimizerPrefix) {
			unused = append(unused, name)
		}
	}
	if len(unused) == 0 {
		return nil
	}
	const show = 3
	list := make([]string, 0, show)
	for _, name := range unused[:min(show, len(unused))] {
		list = append(list, excerpt.Quote(name))
	}
	more := ""
	if len(unused) > show {
		more = fmt.Sprintf(" and %d more", len(unused)-show)
	}
	return fmt.Errorf("%s: %d tensors that the model of %s does not use (%s%s): "+
		"the configuration was edited after training (fewer layers? smaller sizes?) or the weights belong to another model; "+
		"restore the configuration the weights were trained with, or pass the weights of this model",
		weights, len(unused), ConfigFile, strings.Join(list, ", "), more)
}

// InDir resolves a file name given for a model directory: a bare name is
// in dir, a path (with a directory part) is taken as it is.
func InDir(dir, name string) string {
	if strings.ContainsRune(name, os.PathSeparator) {
		return name
	}
	return filepath.Join(dir, name)
}

// LoadForResume reads a model directory's configuration, vocabularies and
// tokenizers and builds the model with fresh weights, for a trainer to
// restore from its checkpoint.
func LoadForResume(dir string) (*Pipeline, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("model directory %s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a model directory (qkv train writes %s into one): %w", dir, ConfigFile, err)
	}
	return loadFiles(diskFiles(dir))
}

// loadFiles is LoadForResume on the files of a model directory wherever
// they are: on disk, or embedded in the binary.
func loadFiles(files modelFiles) (*Pipeline, error) {
	dir := files.dir()
	p := &Pipeline{Dir: dir, files: files}
	b, err := files.read(ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := checkpoint.DecodeJSON(b, files.path(ConfigFile), &p.Config); err != nil {
		return nil, err
	}
	if err := p.Config.Data.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", files.path(ConfigFile), err)
	}
	if p.Src, err = loadVocab(files, SrcVocabFile); err != nil {
		return nil, err
	}
	if p.Tgt, err = loadVocab(files, TgtVocabFile); err != nil {
		return nil, err
	}
	if p.SrcTok, err = loadTokenizer(files, p.Config.Data.SrcTokenizer, SrcBPEFile); err != nil {
		return nil, err
	}
	if p.TgtTok, err = loadTokenizer(files, p.Config.Data.TgtTokenizer, TgtBPEFile); err != nil {
		return nil, err
	}
	// BPE outputs only pieces of the vocabulary, as at training time.
	if b, ok := p.SrcTok.(*tokenize.BPE); ok {
		p.SrcTok = b.WithVocabulary(p.Src.Has)
	}
	if b, ok := p.TgtTok.(*tokenize.BPE); ok {
		p.TgtTok = b.WithVocabulary(p.Tgt.Has)
	}
	p.SrcTok, p.TgtTok = p.Config.Data.wrap(p.SrcTok), p.Config.Data.wrap(p.TgtTok)
	mc := p.Config.Model
	if mc.SrcVocab != p.Src.Len() || mc.TgtVocab != p.Tgt.Len() {
		return nil, fmt.Errorf("%s: vocabulary sizes %d/%d do not match %s (%d/%d)",
			dir, p.Src.Len(), p.Tgt.Len(), ConfigFile, mc.SrcVocab, mc.TgtVocab)
	}
	if mc.ShareEmb && mc.Arch == model.ArchTransformer {
		if err := sameVocab(p.Src, p.Tgt); err != nil {
			return nil, fmt.Errorf("%s: share_emb gives source and target one embedding table, so %s and %s must be one vocabulary, but %v; "+
				"train with a joint vocabulary, or without share_emb", dir, SrcVocabFile, TgtVocabFile, err)
		}
	}
	if mc.Copy {
		if err := sameVocab(p.Src, p.Tgt); err != nil {
			return nil, fmt.Errorf("%s: copy attention reads source tokens as target tokens, so %s and %s must be one vocabulary, but %v; "+
				"train with a joint vocabulary (--joined-dictionary)", dir, SrcVocabFile, TgtVocabFile, err)
		}
	}
	if p.Model, err = model.New(mc); err != nil {
		return nil, fmt.Errorf("%s: %w", files.path(ConfigFile), err)
	}
	return p, nil
}

// Encode tokenizes and encodes pairs with the pipeline's tokenizers and
// vocabularies (unknown symbols become <unk>), leaving out training and
// validation pairs over the length limits, as Prepare did; skippedValid
// counts the validation pairs left out.
func (p *Pipeline) Encode(trainPairs, validPairs []corpus.Pair) (trainSet, validSet []batch.Example, skippedValid int, err error) {
	d := p.Config.Data
	enc := func(pr corpus.Pair) (batch.Example, bool) {
		s := d.SourceTokens(p.SrcTok, pr.Source)
		t := d.TargetTokens(p.TgtTok, pr.Source, pr.Target)
		if (d.MaxSrcLen > 0 && len(s) > d.MaxSrcLen) || (d.MaxTgtLen > 0 && len(t) > d.MaxTgtLen) {
			return batch.Example{}, false
		}
		return batch.Example{Src: toInt32(p.Src.Encode(s)), Tgt: toInt32(p.Tgt.Encode(t))}, true
	}
	for _, pr := range trainPairs {
		if ex, ok := enc(pr); ok {
			trainSet = append(trainSet, ex)
		}
	}
	for _, pr := range validPairs {
		ex, ok := enc(pr)
		if !ok {
			skippedValid++
			continue
		}
		validSet = append(validSet, ex)
	}
	if len(trainSet) == 0 {
		return nil, nil, 0, errors.New("no training pairs within the length limits")
	}
	if len(validPairs) > 0 && len(validSet) == 0 {
		return nil, nil, 0, fmt.Errorf("every one of the %d validation pairs is over the length limits %d/%d", len(validPairs), d.MaxSrcLen, d.MaxTgtLen)
	}
	return trainSet, validSet, skippedValid, nil
}

// sameVocab reports where two vocabularies first differ, or nil when they
// hold the same symbols in the same order.
func sameVocab(a, b *vocab.Vocab) error {
	as, bs := a.Symbols(), b.Symbols()
	for id := range min(len(as), len(bs)) {
		if as[id] != bs[id] {
			return fmt.Errorf("id %d is %s in one and %s in the other", id, excerpt.Quote(as[id]), excerpt.Quote(bs[id]))
		}
	}
	if len(as) != len(bs) {
		return fmt.Errorf("they hold %d and %d symbols", len(as), len(bs))
	}
	return nil
}

func loadTokenizer(files modelFiles, name, bpeFile string) (tokenize.Tokenizer, error) {
	var bpe *tokenize.BPE
	if name == TokBPE {
		b, err := files.read(bpeFile)
		if err != nil {
			return nil, err
		}
		if bpe, err = tokenize.LoadBPE(bytes.NewReader(b), files.path(bpeFile)); err != nil {
			return nil, err
		}
	}
	return NewTokenizer(name, bpe)
}

func loadVocab(files modelFiles, name string) (*vocab.Vocab, error) {
	b, err := files.read(name)
	if err != nil {
		return nil, err
	}
	return vocab.Load(bytes.NewReader(b), files.path(name))
}

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

func toInt(ids []int32) []int {
	out := make([]int, len(ids))
	for i, v := range ids {
		out[i] = int(v)
	}
	return out
}
