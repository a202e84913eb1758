package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/distill"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/placeholder"
	"github.com/qkv-dev/qkv/text/tokenize"
	"github.com/qkv-dev/qkv/text/vocab"
	"github.com/qkv-dev/qkv/train"
)

// More file names of a model directory: those a training run adds.
const (
	AverageFile = "average.safetensors" // qkv average's default output
	RunFile     = train.IdentityFile    // run.json: what the run is (train.Identity)
	LockFile    = train.LockFile        // .qkv.lock: held by the one qkv train writing the directory
)

// PrepareOptions say how to turn a corpus into training examples.
type PrepareOptions struct {
	Data      DataConfig `json:"-"`
	MinFreq   int        `json:"min_freq"`   // symbols seen fewer times become <unk> (default 1)
	MaxVocab  int        `json:"max_vocab"`  // vocabulary size cap including specials (0: none)
	BPEMerges int        `json:"bpe_merges"` // merges to learn for bpe tokenizers (default 8000)
}

// Bounds of the data and prepare settings.
const (
	MaxSeqLen    = 4096    // longest max_src_len / max_tgt_len
	MaxBPEMerges = 1000000 // most BPE merges
)

// Validate checks the data settings as given (a zero is not a default
// here): errors name the flag and the config key.
func (d DataConfig) Validate() error {
	for _, t := range []struct{ flag, key, v string }{
		{"--src-tok", "src_tokenizer", d.SrcTokenizer}, {"--tgt-tok", "tgt_tokenizer", d.TgtTokenizer},
	} {
		switch t.v {
		case TokChar, TokWord, TokBPE:
		default:
			return fmt.Errorf("data: %s %q is not a tokenizer: use char, word or bpe (config key data.%s)", t.flag, t.v, t.key)
		}
	}
	for _, l := range []struct {
		flag, key string
		v         int
	}{{"--max-src-len", "max_src_len", d.MaxSrcLen}, {"--max-tgt-len", "max_tgt_len", d.MaxTgtLen}} {
		if l.v < 1 || l.v > MaxSeqLen {
			return fmt.Errorf("data: %s %d is out of range: it must be between 1 and %d tokens (config key data.%s)", l.flag, l.v, MaxSeqLen, l.key)
		}
	}
	if a := d.MaxLenA; !(a >= 0 && a <= MaxLenAMax) {
		return fmt.Errorf("data: --max-len-a %v is out of range: it must be between 0 and %d output tokens per source token (config key data.max_len_a)", a, MaxLenAMax)
	}
	if b := d.MaxLenB; b < 0 || b > search.MaxOutputSteps {
		return fmt.Errorf("data: --max-len-b %d is out of range: it must be between 0 and %d output tokens (config key data.max_len_b)", b, search.MaxOutputSteps)
	}
	if d.Metric != "" && !slices.Contains(Metrics, d.Metric) {
		return fmt.Errorf("data: metric %q is not a metric: use %s (config key data.metric)", d.Metric, strings.Join(Metrics, ", "))
	}
	return nil
}

// Validate checks the prepare settings as given: errors name the flag and
// the config key.
func (o PrepareOptions) Validate() error {
	switch {
	case o.MinFreq < 1:
		return fmt.Errorf("prepare: --min-freq %d is out of range: it must be at least 1 (config key prepare.min_freq)", o.MinFreq)
	case o.MaxVocab < 0 || (o.MaxVocab > 0 && o.MaxVocab <= len(vocab.Specials)):
		return fmt.Errorf("prepare: prepare.max_vocab %d is out of range: it must be 0 (no cap) or more than the %d special symbols", o.MaxVocab, len(vocab.Specials))
	case o.BPEMerges < 1 || o.BPEMerges > MaxBPEMerges:
		return fmt.Errorf("prepare: --bpe-merges %d is out of range: it must be between 1 and %d (config key prepare.bpe_merges)", o.BPEMerges, MaxBPEMerges)
	}
	return nil
}

// markerCount is the count given to placeholder markers when vocabularies
// are built: above any cap and minimum frequency.
const markerCount = 1 << 40

// Prepared is a tokenized, vocabulary-encoded corpus, ready to train on.
type Prepared struct {
	Data           DataConfig
	Src, Tgt       *vocab.Vocab
	SrcTok, TgtTok tokenize.Tokenizer
	SrcBPE, TgtBPE *tokenize.BPE
	Train, Valid   []batch.Example
	Skipped        int // training pairs longer than MaxSrcLen/MaxTgtLen, left out
	SkippedValid   int // validation pairs longer than the limits, left out
	Unknown        int // training tokens the vocabularies lack, read as <unk> (PrepareFrom; Prepare's vocabularies hold every training token that --min-freq keeps)
}

// Prepare learns tokenizers (BPE) and vocabularies from the training pairs
// and encodes both sets. Validation symbols missing from the training data
// become <unk>. Training and validation pairs over the length limits are
// left out and counted (as fairseq's --skip-invalid-size-inputs-valid-test);
// a validation set with no pair left is an error. A BPE side never outputs
// a piece its vocabulary lacks (see tokenize.BPE.WithVocabulary), and its
// vocabulary holds every character of its training text. With
// Data.JointVocab, one vocabulary is built from both sides, and when both
// sides use BPE one set of merges is learned from both (subword-nmt's joint
// BPE); Src and Tgt (and SrcBPE and TgtBPE) are then the same.
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
	d := opt.Data
	learn := func(name string, side func(corpus.Pair) string) (tokenize.Tokenizer, *tokenize.BPE, error) {
		var bpe *tokenize.BPE
		if name == TokBPE {
			tr := tokenize.NewBPETrainer()
			for _, pr := range trainPairs {
				d.addText(tr, side(pr))
			}
			bpe = tr.Learn(opt.BPEMerges, 2)
		}
		tok, err := NewTokenizer(name, bpe)
		return d.wrap(tok), bpe, err
	}
	srcText := func(pr corpus.Pair) string { return d.sourceText(pr.Source) }
	tgtText := func(pr corpus.Pair) string { return d.targetText(pr.Source, pr.Target) }
	joint := opt.Data.JointVocab
	if joint && opt.Data.SrcTokenizer == TokBPE && opt.Data.TgtTokenizer == TokBPE {
		tr := tokenize.NewBPETrainer()
		for _, pr := range trainPairs {
			d.addText(tr, srcText(pr))
			d.addText(tr, tgtText(pr))
		}
		p.SrcBPE = tr.Learn(opt.BPEMerges, 2)
		p.TgtBPE = p.SrcBPE
		p.SrcTok, p.TgtTok = d.wrap(p.SrcBPE), d.wrap(p.TgtBPE)
	} else {
		if p.SrcTok, p.SrcBPE, err = learn(opt.Data.SrcTokenizer, srcText); err != nil {
			return nil, err
		}
		if p.TgtTok, p.TgtBPE, err = learn(opt.Data.TgtTokenizer, tgtText); err != nil {
			return nil, err
		}
	}
	srcToks := make([][]string, len(trainPairs))
	tgtToks := make([][]string, len(trainPairs))
	sc, tc := vocab.Counts{}, vocab.Counts{}
	for i, pr := range trainPairs {
		srcToks[i] = opt.Data.SourceTokens(p.SrcTok, pr.Source)
		tgtToks[i] = p.TgtTok.Tokenize(tgtText(pr))
		sc.Add(srcToks[i])
		tc.Add(tgtToks[i])
	}
	// A BPE side's vocabulary also holds every character of its training
	// text (counted at every occurrence, inside pieces too), so that the
	// segmenter can always fall back to pieces the model knows.
	if p.SrcBPE != nil {
		d.addBaseSymbols(sc, p.SrcBPE, trainPairs, srcText)
	}
	if p.TgtBPE != nil {
		d.addBaseSymbols(tc, p.TgtBPE, trainPairs, tgtText)
	}
	if d.Placeholders {
		// Every marker a message can hold gets an id on both sides, however
		// rare in the training data, so any placeholder can be read and copied.
		for k := 1; k <= placeholder.MaxMarkers; k++ {
			sc[placeholder.Marker(k)] = markerCount
			tc[placeholder.Marker(k)] = markerCount
		}
	}
	if joint {
		for s, n := range tc {
			sc[s] += n
		}
		p.Src = vocab.Build(sc, opt.MinFreq, opt.MaxVocab)
		p.Tgt = p.Src
	} else {
		p.Src = vocab.Build(sc, opt.MinFreq, opt.MaxVocab)
		p.Tgt = vocab.Build(tc, opt.MinFreq, opt.MaxVocab)
	}
	// BPE never outputs a piece outside its vocabulary: pieces the merges
	// make only on the way to longer ones, or that --min-freq or max_vocab
	// left out, are split into smaller known ones (subword-nmt's vocabulary
	// filter). The training data is segmented again where that changes it.
	if p.SrcBPE != nil {
		var dropped bool
		p.SrcTok, dropped = d.filterBPE(p.SrcBPE, p.Src, sc)
		if dropped {
			for i, pr := range trainPairs {
				srcToks[i] = d.SourceTokens(p.SrcTok, pr.Source)
			}
		}
	}
	if p.TgtBPE != nil {
		var dropped bool
		p.TgtTok, dropped = d.filterBPE(p.TgtBPE, p.Tgt, tc)
		if dropped {
			for i, pr := range trainPairs {
				tgtToks[i] = p.TgtTok.Tokenize(tgtText(pr))
			}
		}
	}
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
	for _, pr := range validPairs {
		s := opt.Data.SourceTokens(p.SrcTok, pr.Source)
		t := d.TargetTokens(p.TgtTok, pr.Source, pr.Target)
		if (d.MaxSrcLen > 0 && len(s) > d.MaxSrcLen) || (d.MaxTgtLen > 0 && len(t) > d.MaxTgtLen) {
			p.SkippedValid++
			continue
		}
		p.Valid = append(p.Valid, batch.Example{Src: toInt32(p.Src.Encode(s)), Tgt: toInt32(p.Tgt.Encode(t))})
	}
	if len(validPairs) > 0 && len(p.Valid) == 0 {
		return nil, fmt.Errorf("prepare: every one of the %d validation pairs is longer than the limits (%d source, %d target tokens): "+
			"give validation pairs that fit, or raise --max-src-len/--max-tgt-len", len(validPairs), d.MaxSrcLen, d.MaxTgtLen)
	}
	return p, nil
}

// addBaseSymbols counts, in c, the base symbols (characters, and the
// space marker) of one side of pairs (text gives it as the tokenizer reads
// it) as bpe reads them, at every occurrence; a symbol already counted as a
// piece keeps the larger count. Placeholder markers are not BPE's: they
// are left out.
func (d DataConfig) addBaseSymbols(c vocab.Counts, bpe *tokenize.BPE, pairs []corpus.Pair, text func(corpus.Pair) string) {
	occ := vocab.Counts{}
	for _, pr := range pairs {
		s := text(pr)
		if !d.Placeholders {
			occ.Add(bpe.Symbols(s))
			continue
		}
		for _, piece := range placeholder.TextPieces(s) {
			occ.Add(bpe.Symbols(piece))
		}
	}
	for s, n := range occ {
		c[s] = max(c[s], n)
	}
}

// filterBPE returns the side's tokenizer: bpe restricted to the pieces of
// v (see tokenize.BPE.WithVocabulary), wrapped as the data settings say;
// and whether v lacks any piece counted in counts, that is whether the
// restriction changes the training data's segmentation.
func (d DataConfig) filterBPE(bpe *tokenize.BPE, v *vocab.Vocab, counts vocab.Counts) (tokenize.Tokenizer, bool) {
	dropped := false
	for s := range counts {
		if !v.Has(s) {
			dropped = true
			break
		}
	}
	return d.wrap(bpe.WithVocabulary(v.Has)), dropped
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

// isRunName reports whether name is a file that qkv train (or qkv average,
// by default) writes in a run directory.
func isRunName(name string) bool {
	switch name {
	case ConfigFile, SrcVocabFile, TgtVocabFile, SrcBPEFile, TgtBPEFile, BestFile, LastFile, AverageFile, RunFile, train.ValidationsFile, distill.File:
		return true
	}
	_, ok := train.SnapshotStep(name)
	return ok
}

// IsRunFile reports whether name (a base name) is a file of a training
// run: one of the names above, a step-N.safetensors snapshot, or the
// temporary file of a writer of one of them killed before it finished
// (".last.safetensors.tmp-123"). The lock file is not one: it stays.
func IsRunFile(name string) bool {
	if atomicfile.IsTemp(name) {
		base, _, _ := strings.Cut(strings.TrimPrefix(name, "."), ".tmp-")
		return isRunName(base)
	}
	return isRunName(name)
}

// DirEntries lists the names in a run directory other than its lock file,
// sorted; a directory that does not exist has none.
func DirEntries(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Name() != LockFile {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// ClearRun removes the files of a previous training run from dir (those
// IsRunFile recognizes, and nothing else: files qkv did not write stay),
// and returns the names removed and the names left. Call it holding the
// directory's lock.
func ClearRun(dir string) (removed, left []string, err error) {
	names, err := DirEntries(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		st, err := os.Lstat(filepath.Join(dir, n))
		if err != nil || !st.Mode().IsRegular() || !IsRunFile(n) {
			left = append(left, n)
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return removed, left, fmt.Errorf("removing the previous run's %s: %w", n, err)
		}
		removed = append(removed, n)
	}
	return removed, left, nil
}
