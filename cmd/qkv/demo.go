package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/data/cmudict"
	"github.com/qkv-dev/qkv/explain"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/train"
)

var df struct {
	budget time.Duration
	out    string
	preset string
	seed   uint64
	words  int
}

var demoCmd = &cobra.Command{
	Use:   "demo",
	Short: "Train a small Transformer on the built-in CMU Pronouncing Dictionary, then pronounce words it never saw",
	Long: `The demo needs no download: the CMU Pronouncing Dictionary is inside the binary.
It holds out 1% of the words, trains a small Transformer (Vaswani et al. 2017)
to turn letters into ARPAbet phones for --time (two minutes by default),
then pronounces held-out words and reports its word error rate on them.
The model is saved in a new directory, ready for qkv predict.`,
	Args: cobra.NoArgs,
	RunE: runDemo,
}

func init() {
	f := demoCmd.Flags()
	f.DurationVar(&df.budget, "time", 2*time.Minute, "training time")
	f.StringVar(&df.out, "out", "qkv-demo", "model directory (a new one: -2, -3, … is appended if it exists)")
	f.StringVar(&df.preset, "preset", "demo-transformer", "model preset")
	f.Uint64Var(&df.seed, "seed", 1, "seed")
	f.IntVar(&df.words, "words", 1000, "held-out words to pronounce for the word error rate at the end")
	rootCmd.AddCommand(demoCmd)
}

// demoSplit returns G2P pairs for training and the held-out words with all
// their pronunciations (1% of words, chosen by a hash so the split never
// changes).
func demoSplit() (trainPairs []corpus.Pair, heldOut []corpus.Pronunciation, err error) {
	prons, err := cmudict.Entries(corpus.CMUOptions{StripStress: true, Case: corpus.LowerCase})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range prons {
		if !isLetters(p.Word) {
			continue // abbreviations with digits or punctuation teach little
		}
		if fnv32(p.Word)%100 == 0 {
			heldOut = append(heldOut, p)
			continue
		}
		trainPairs = append(trainPairs, corpus.G2PPairs([]corpus.Pronunciation{p})...)
	}
	return trainPairs, heldOut, nil
}

func isLetters(w string) bool {
	for _, r := range w {
		if (r < 'a' || r > 'z') && r != '\'' {
			return false
		}
	}
	return w != ""
}

// freshDir returns base, or base-2, base-3, … : the first that does not exist.
func freshDir(base string) string {
	dir := base
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return dir
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}

// lockFreshDir makes and locks a new run directory: base, or base-2,
// base-3, … when base exists (or another demo took it first).
func lockFreshDir(base string) (string, *train.DirLock, error) {
	for range 1000 {
		dir := freshDir(base)
		lock, err := train.Lock(dir)
		if errors.Is(err, train.ErrLocked) {
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("demo: %w", err)
		}
		if names, err := pipeline.DirEntries(dir); err == nil && len(names) == 0 {
			return dir, lock, nil
		}
		lock.Unlock() // another process made it between freshDir and Lock
	}
	return "", nil, fmt.Errorf("demo: no free directory name like %s", base)
}

func runDemo(cmd *cobra.Command, _ []string) error {
	if df.budget <= 0 {
		return fmt.Errorf("demo: --time %s is out of range: it must be more than 0 (e.g. 2m)", df.budget)
	}
	if df.words < 1 {
		return fmt.Errorf("demo: --words %d is out of range: it must be at least 1", df.words)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := cmd.ErrOrStderr()
	trainPairs, heldOut, err := demoSplit()
	if err != nil {
		return err
	}
	var validPairs []corpus.Pair
	for _, p := range heldOut {
		validPairs = append(validPairs, corpus.G2PPairs([]corpus.Pronunciation{p})...)
	}
	mc, ok := model.Presets[df.preset]
	if !ok {
		return fmt.Errorf("demo: unknown preset %q (have %s)", df.preset, strings.Join(model.PresetNames(), ", "))
	}
	// The words are lowercased (cmudict.Entries above), and the config says
	// so, so that predict and eval lowercase theirs: "ABADI" reads as "abadi".
	data := pipeline.DataConfig{SrcTokenizer: pipeline.TokChar, TgtTokenizer: pipeline.TokWord, Lowercase: true, MaxSrcLen: 40, MaxTgtLen: 40}
	pr, err := pipeline.Prepare(trainPairs, validPairs, pipeline.PrepareOptions{Data: data})
	if err != nil {
		return err
	}
	mc.SrcVocab, mc.TgtVocab, mc.Seed = pr.Src.Len(), pr.Tgt.Len(), df.seed
	m, err := model.New(mc)
	if err != nil {
		return err
	}
	out, lock, err := lockFreshDir(df.out)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	opts := train.Defaults()
	opts.MaxTokens, opts.Epochs, opts.TimeBudget, opts.Schedule, opts.LR, opts.Warmup = 4096, 1000, df.budget, "inverse-sqrt", 3e-3, 300
	opts.LabelSmoothing, opts.ValidEvery, opts.SaveEvery, opts.Seed = 0.1, 200, train.Every{Time: time.Minute}, df.seed
	s := settings{Model: mc, Data: data, Prepare: pipeline.PrepareOptions{MinFreq: 1, BPEMerges: 8000}, Train: opts}
	id, err := train.NewIdentity(mc.Arch, s, fingerprint(trainPairs), fingerprint(validPairs), false)
	if err != nil {
		return err
	}
	if err := id.Write(out); err != nil {
		return err
	}
	if err := pr.Save(out, mc, opts); err != nil {
		return err
	}
	tr, err := train.New(m, pr.Train, pr.Valid, out, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "qkv demo: the CMU Pronouncing Dictionary is built in: %d training pronunciations, %d held-out words.\n", len(pr.Train), len(heldOut))
	fmt.Fprintf(w, "Training a %s-parameter Transformer (d_model %d, %d heads, %d+%d layers) for %s on %d cores…\n",
		humanCount(countParams(m)), mc.DModel, mc.Heads, mc.EncLayers, mc.DecLayers, df.budget, maxProcs())
	show := newTrainDisplay(os.Stderr, df.budget)
	tr.OnStep = show.step
	tr.OnValid = show.valid
	res, err := tr.Run(ctx)
	show.finish()
	if err != nil {
		return err
	}
	p, err := pipeline.Load(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nTrained %d steps (%s). Pronouncing held-out words the model never saw:\n\n", res.Steps, res.Stopped)
	// A varied sample: the held-out words in the order of another hash.
	sample := slices.Clone(heldOut)
	slices.SortFunc(sample, func(a, b corpus.Pronunciation) int { return cmp.Compare(fnv32(b.Word+"#"), fnv32(a.Word+"#")) })
	if len(sample) > df.words {
		sample = sample[:df.words]
	}
	words := make([]string, len(sample))
	for i, h := range sample {
		words[i] = h.Word
	}
	results := p.Translate(words, pipeline.Options{Search: search.Options{Beam: 4}, BatchSize: 128})
	right := 0
	for i, r := range results {
		ok := false
		if r.Err == nil {
			for _, ref := range sample[i].Phones {
				if strings.Join(ref, " ") == r.Hyps[0].Text {
					ok = true
				}
			}
		}
		if ok {
			right++
		}
		if i < 15 {
			mark := "✓"
			if !ok {
				mark = "✗ (dictionary: " + strings.Join(sample[i].Phones[0], " ") + ")"
			}
			hyp := ""
			if r.Err == nil {
				hyp = r.Hyps[0].Text
			}
			fmt.Fprintf(w, "  %-16s %-28s %s\n", words[i], hyp, mark)
		}
	}
	fmt.Fprintf(w, "\nWord error rate on %d held-out words: %.1f%% (published systems reach about 20%% after hours of training).\n",
		len(sample), 100*float64(len(sample)-right)/float64(len(sample)))
	if pic, word, err := demoAttention(p, out, words, results, sample); err != nil {
		fmt.Fprintf(w, "\n(No attention picture: %v.)\n", err)
	} else if pic != "" {
		fmt.Fprintf(w, "\nWhat the model looked at while it pronounced “%s”, letter by letter (cross-attention, every layer and head):\n  %s\n"+
			"One picture per layer and head is beside it; qkv attention draws any word.\n", word, pic)
	}
	fmt.Fprintf(w, `
The model is in %[1]s. Use it (make build makes the static qkv binary):
  echo qubit | qkv predict --model %[1]s --beam 4 --nbest 3
  qkv eval --model %[1]s --test ../shared/data/g2p/cmudict-g014b2b.test.tsv --beam 4
qkv g2p already pronounces with the best built-in model, no training needed. To train your own on
the standard G2P split, RNNsearch gives the best model per hour (about 21.6%% WER after 2 hours on
one core; recipes/ and docs/g2p.md are in the repository). Ctrl-C saves, --resume continues:
  qkv train --config recipes/g2p-rnnsearch-cosine.yaml \
    --train ../shared/data/g2p/cmudict-g014b2b.train.tsv --out g2p-model
  qkv average --model g2p-model --last 5
  qkv eval --model g2p-model --weights average.safetensors --beam 8 --test ../shared/data/g2p/cmudict-g014b2b.test.tsv
`, out)
	return nil
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }

// demoAttention draws the attention behind one held-out word the demo
// pronounced (qkv attention's pictures, into DIR/attention/WORD/) and
// returns the cross-attention overview's path and the word, or "" when the
// model has no attention (a seq2seq preset). It picks the first word shown
// that came out right and is 5 to 10 letters long, else the first decoded.
func demoAttention(p *pipeline.Pipeline, dir string, words []string, results []pipeline.Result, sample []corpus.Pronunciation) (string, string, error) {
	if p.Config.Model.Arch == model.ArchSeq2Seq {
		return "", "", nil
	}
	pick := -1
	for i, r := range results[:min(15, len(results))] {
		if r.Err != nil {
			continue
		}
		if pick < 0 {
			pick = i
		}
		n := len([]rune(words[i]))
		right := slices.ContainsFunc(sample[i].Phones, func(ph []string) bool { return strings.Join(ph, " ") == r.Hyps[0].Text })
		if right && n >= 5 && n <= 10 {
			pick = i
			break
		}
	}
	if pick < 0 {
		return "", "", errors.New("no word was decoded")
	}
	word := words[pick]
	r := p.Translate([]string{word}, pipeline.Options{Search: search.Options{Beam: 4, Attention: true}, BatchSize: 1})[0]
	if r.Err != nil {
		return "", "", r.Err
	}
	a, err := explain.FromResult(r, 0)
	if err != nil {
		return "", "", err
	}
	picDir := filepath.Join(dir, "attention", slug(word))
	overviews, err := drawInput(picDir, word, r.Hyps[0].Text, a, p.Config.Model.Arch, []string{"png", "svg"})
	if err != nil {
		return "", "", err
	}
	for _, o := range overviews {
		if strings.HasPrefix(o, "overview-"+explain.Cross) {
			return filepath.Join(picDir, o), word, nil
		}
	}
	return "", "", errors.New("the model has no cross-attention to draw")
}
