package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/train"
)

// runConfig is the --config file (YAML or JSON): every section optional,
// flags given on the command line win.
type runConfig struct {
	Arch    string                   `json:"arch"`
	Preset  string                   `json:"preset"`
	Model   json.RawMessage          `json:"model"`
	Data    *pipeline.DataConfig     `json:"data"`
	Prepare *pipeline.PrepareOptions `json:"prepare"`
	Train   *train.Options           `json:"train"`
}

type trainFlags struct {
	arch, trainFile, validFile, out, config, preset string
	format                                          string
	maxSteps                                        int64
	timeBudget                                      time.Duration
	resume                                          bool
	srcTok, tgtTok                                  string
	lowercase                                       bool
	maxSrcLen, maxTgtLen, minFreq, bpeMerges        int
	opts                                            train.Options
	dropout                                         float64
	metric                                          string
	metricMax                                       int
	seed                                            uint64
}

var tf trainFlags

var trainCmd = &cobra.Command{
	Use:   "train --arch ARCH --train FILE --valid FILE --out DIR",
	Short: "Train a model on a parallel corpus (TSV: source<TAB>target, or CMUdict)",
	Long: `Train a seq2seq, rnnsearch or transformer model.

The corpus is TSV (source<TAB>target a line) or, with --format cmudict, the CMU
Pronouncing Dictionary. Settings come from a preset (--preset, e.g.
g2p-transformer or transformer-base), then a --config file (YAML or JSON with
sections arch, preset, model, data, prepare, train), then flags.

The run directory --out receives config.json, the vocabularies, best.safetensors
(best validation loss) and last.safetensors (everything needed to resume).
Ctrl-C saves the last checkpoint and exits; --resume continues exactly.`,
	Args: cobra.NoArgs,
	RunE: runTrain,
}

func init() {
	f := trainCmd.Flags()
	f.StringVar(&tf.arch, "arch", "", "architecture: seq2seq, rnnsearch or transformer")
	f.StringVar(&tf.trainFile, "train", "", "training corpus")
	f.StringVar(&tf.validFile, "valid", "", "validation corpus (if omitted, 2% of --train is held out)")
	f.StringVar(&tf.out, "out", "", "run directory for checkpoints")
	f.StringVar(&tf.config, "config", "", "YAML or JSON configuration file")
	f.StringVar(&tf.preset, "preset", "", "named model configuration: "+strings.Join(model.PresetNames(), ", "))
	f.StringVar(&tf.format, "format", "tsv", "corpus format: tsv or cmudict")
	f.Int64Var(&tf.maxSteps, "max-steps", 0, "stop after this many optimizer steps in all")
	f.DurationVar(&tf.timeBudget, "time-budget", 0, "stop after this much wall-clock time (e.g. 10m)")
	f.BoolVar(&tf.resume, "resume", false, "continue the run in --out from its last checkpoint")
	f.StringVar(&tf.srcTok, "src-tok", pipeline.TokChar, "source tokenizer: char, word or bpe")
	f.StringVar(&tf.tgtTok, "tgt-tok", pipeline.TokWord, "target tokenizer: char, word or bpe")
	f.BoolVar(&tf.lowercase, "lowercase", false, "lowercase sources")
	f.IntVar(&tf.maxSrcLen, "max-src-len", 128, "longest source in tokens (longer training pairs are skipped)")
	f.IntVar(&tf.maxTgtLen, "max-tgt-len", 128, "longest target in tokens")
	f.IntVar(&tf.minFreq, "min-freq", 1, "symbols seen fewer times become <unk>")
	f.IntVar(&tf.bpeMerges, "bpe-merges", 8000, "BPE merges to learn (with --src-tok/--tgt-tok bpe)")
	f.IntVar(&tf.opts.MaxTokens, "max-tokens", 4096, "padded tokens per batch (source + target)")
	f.IntVar(&tf.opts.Epochs, "epochs", 100, "passes over the training data at most")
	f.StringVar(&tf.opts.Schedule, "schedule", "noam", "learning-rate schedule: noam, inverse-sqrt or constant")
	f.Float64Var(&tf.opts.LR, "lr", 1, "noam: factor; inverse-sqrt: peak rate; constant: the rate")
	f.Int64Var(&tf.opts.Warmup, "warmup", 4000, "warm-up steps")
	f.Float64Var(&tf.opts.WeightDecay, "weight-decay", 0, "AdamW decoupled weight decay")
	f.Float64Var(&tf.opts.ClipNorm, "clip-norm", 0, "clip gradients to this global norm (0: off)")
	f.Float32Var(&tf.opts.LabelSmoothing, "label-smoothing", 0.1, "label smoothing ε")
	f.IntVar(&tf.opts.Accum, "accum", 1, "batches per optimizer step (gradient accumulation)")
	f.Int64Var(&tf.opts.ValidEvery, "valid-every", 0, "validate every N steps (0: every epoch)")
	f.IntVar(&tf.opts.Patience, "patience", 0, "stop after N validations without improvement (0: never)")
	f.IntVar(&tf.opts.KeepSnapshots, "keep-snapshots", 0, "keep the weights of the last N validation points as step-*.safetensors, for qkv average (0: none)")
	f.Float64Var(&tf.dropout, "dropout", 0.1, "dropout rate")
	f.Uint64Var(&tf.seed, "seed", 1, "seed for initialization, data order and dropout")
	f.StringVar(&tf.metric, "metric", "auto", "validation metric: wer, per, bleu, chrf, none, or auto (wer for char→word data, else bleu)")
	f.IntVar(&tf.metricMax, "metric-max", 1000, "validation sentences decoded for the metric")
	rootCmd.AddCommand(trainCmd)
}

func runTrain(cmd *cobra.Command, _ []string) error {
	if tf.out == "" {
		return errors.New("train: --out is required")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if tf.resume {
		return resumeTrain(ctx, cmd)
	}
	if tf.arch == "" && tf.config == "" && tf.preset == "" {
		return errors.New("train: --arch is required (seq2seq, rnnsearch or transformer)")
	}
	if tf.trainFile == "" {
		return errors.New("train: --train is required")
	}
	if _, err := os.Stat(filepath.Join(tf.out, train.LastFile)); err == nil {
		return fmt.Errorf("train: %s already holds a run; continue it with --resume or choose another --out", tf.out)
	}
	mc, data, prep, opts, err := resolveSettings(cmd)
	if err != nil {
		return err
	}
	trainPairs, validPairs, err := readTrainValid()
	if err != nil {
		return err
	}
	prep.Data = data
	pr, err := pipeline.Prepare(trainPairs, validPairs, prep)
	if err != nil {
		return err
	}
	if pr.Skipped > 0 {
		fmt.Fprintf(os.Stderr, "qkv: left out %d training pairs longer than %d/%d tokens\n", pr.Skipped, data.MaxSrcLen, data.MaxTgtLen)
	}
	mc.SrcVocab, mc.TgtVocab = pr.Src.Len(), pr.Tgt.Len()
	if mc.Arch == model.ArchTransformer && mc.MaxLen < max(data.MaxSrcLen, data.MaxTgtLen)+2 {
		mc.MaxLen = max(data.MaxSrcLen, data.MaxTgtLen) + 2
	}
	m, err := model.New(mc)
	if err != nil {
		return err
	}
	if err := pr.Save(tf.out, mc, opts); err != nil {
		return err
	}
	tr, err := train.New(m, pr.Train, pr.Valid, tf.out, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "qkv: %s with %s parameters; %d training and %d validation pairs; vocabularies %d/%d; %d batches an epoch\n",
		mc.Arch, humanCount(countParams(m)), len(pr.Train), len(pr.Valid), pr.Src.Len(), pr.Tgt.Len(), tr.BatchesPerEpoch())
	return runTrainer(ctx, tr, pr.Pipeline(tf.out, m), validPairs, data)
}

// resolveSettings merges preset, config file and flags, in that order.
func resolveSettings(cmd *cobra.Command) (model.Config, pipeline.DataConfig, pipeline.PrepareOptions, train.Options, error) {
	var rc runConfig
	if tf.config != "" {
		raw, err := os.ReadFile(tf.config)
		if err != nil {
			return model.Config{}, pipeline.DataConfig{}, pipeline.PrepareOptions{}, train.Options{}, err
		}
		if err := yaml.UnmarshalStrict(raw, &rc); err != nil {
			return model.Config{}, pipeline.DataConfig{}, pipeline.PrepareOptions{}, train.Options{}, fmt.Errorf("%s: %w", tf.config, err)
		}
	}
	changed := cmd.Flags().Changed
	arch := rc.Arch
	if changed("arch") || arch == "" {
		arch = tf.arch
	}
	preset := rc.Preset
	if changed("preset") || preset == "" {
		preset = tf.preset
	}
	var mc model.Config
	switch {
	case preset != "":
		p, ok := model.Presets[preset]
		if !ok {
			return mc, pipeline.DataConfig{}, pipeline.PrepareOptions{}, train.Options{}, fmt.Errorf("train: unknown preset %q (have %s)", preset, strings.Join(model.PresetNames(), ", "))
		}
		mc = p
		if arch != "" && arch != p.Arch {
			return mc, pipeline.DataConfig{}, pipeline.PrepareOptions{}, train.Options{}, fmt.Errorf("train: preset %s is a %s, not a %s", preset, p.Arch, arch)
		}
	default:
		var err error
		if mc, err = model.DefaultConfig(arch); err != nil {
			return mc, pipeline.DataConfig{}, pipeline.PrepareOptions{}, train.Options{}, fmt.Errorf("train: %w", err)
		}
	}
	if len(rc.Model) > 0 {
		if err := yaml.UnmarshalStrict(rc.Model, &mc); err != nil {
			return mc, pipeline.DataConfig{}, pipeline.PrepareOptions{}, train.Options{}, fmt.Errorf("%s: model: %w", tf.config, err)
		}
	}
	if changed("dropout") {
		mc.Dropout = float32(tf.dropout)
	}
	if changed("seed") || mc.Seed == 0 {
		mc.Seed = tf.seed
	}
	data := pipeline.DataConfig{SrcTokenizer: tf.srcTok, TgtTokenizer: tf.tgtTok, Lowercase: tf.lowercase, MaxSrcLen: tf.maxSrcLen, MaxTgtLen: tf.maxTgtLen}
	if rc.Data != nil {
		data = *rc.Data
		override(changed, "src-tok", &data.SrcTokenizer, tf.srcTok)
		override(changed, "tgt-tok", &data.TgtTokenizer, tf.tgtTok)
		override(changed, "lowercase", &data.Lowercase, tf.lowercase)
		override(changed, "max-src-len", &data.MaxSrcLen, tf.maxSrcLen)
		override(changed, "max-tgt-len", &data.MaxTgtLen, tf.maxTgtLen)
	}
	prep := pipeline.PrepareOptions{MinFreq: tf.minFreq, BPEMerges: tf.bpeMerges}
	if rc.Prepare != nil {
		prep = *rc.Prepare
		override(changed, "min-freq", &prep.MinFreq, tf.minFreq)
		override(changed, "bpe-merges", &prep.BPEMerges, tf.bpeMerges)
	}
	opts := tf.opts
	if rc.Train != nil {
		opts = *rc.Train
		override(changed, "max-tokens", &opts.MaxTokens, tf.opts.MaxTokens)
		override(changed, "epochs", &opts.Epochs, tf.opts.Epochs)
		override(changed, "schedule", &opts.Schedule, tf.opts.Schedule)
		override(changed, "lr", &opts.LR, tf.opts.LR)
		override(changed, "warmup", &opts.Warmup, tf.opts.Warmup)
		override(changed, "weight-decay", &opts.WeightDecay, tf.opts.WeightDecay)
		override(changed, "clip-norm", &opts.ClipNorm, tf.opts.ClipNorm)
		override(changed, "label-smoothing", &opts.LabelSmoothing, tf.opts.LabelSmoothing)
		override(changed, "accum", &opts.Accum, tf.opts.Accum)
		override(changed, "valid-every", &opts.ValidEvery, tf.opts.ValidEvery)
		override(changed, "patience", &opts.Patience, tf.opts.Patience)
		override(changed, "keep-snapshots", &opts.KeepSnapshots, tf.opts.KeepSnapshots)
	}
	opts.MaxSteps, opts.TimeBudget = tf.maxSteps, tf.timeBudget
	if changed("seed") || opts.Seed == 0 {
		opts.Seed = tf.seed
	}
	return mc, data, prep, opts, nil
}

// override sets *dst to v when the flag was given on the command line.
func override[T any](changed func(string) bool, flag string, dst *T, v T) {
	if changed(flag) {
		*dst = v
	}
}

func resumeTrain(ctx context.Context, cmd *cobra.Command) error {
	p, err := pipeline.LoadForResume(tf.out)
	if err != nil {
		return err
	}
	var opts train.Options
	if err := json.Unmarshal(p.Config.Train, &opts); err != nil {
		return fmt.Errorf("resume: %s: train options: %w", filepath.Join(tf.out, pipeline.ConfigFile), err)
	}
	opts.MaxSteps, opts.TimeBudget = tf.maxSteps, tf.timeBudget
	if cmd.Flags().Changed("epochs") {
		opts.Epochs = tf.opts.Epochs
	}
	if tf.trainFile == "" {
		return errors.New("resume: --train is required (the same corpus as the interrupted run)")
	}
	trainPairs, validPairs, err := readTrainValid()
	if err != nil {
		return err
	}
	trainEx, validEx, err := p.Encode(trainPairs, validPairs)
	if err != nil {
		return err
	}
	tr, err := train.New(p.Model, trainEx, validEx, tf.out, opts)
	if err != nil {
		return err
	}
	if err := tr.Resume(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "qkv: resuming %s at step %d\n", tf.out, tr.Step())
	return runTrainer(ctx, tr, p, validPairs, p.Config.Data)
}

// runTrainer runs the trainer with a progress display and a validation
// metric, and prints the outcome.
func runTrainer(ctx context.Context, tr *train.Trainer, p *pipeline.Pipeline, validPairs []corpus.Pair, data pipeline.DataConfig) error {
	if metric := chooseMetric(tf.metric, data); metric != "none" && len(validPairs) > 0 {
		sample := validPairs
		if tf.metricMax > 0 && len(sample) > tf.metricMax {
			sample = sample[:tf.metricMax]
		}
		tr.Metric = func(ctx context.Context, _ model.Model) (string, float64, error) {
			s, err := scorePairs(p, sample, metric, pipeline.Options{BatchSize: 256})
			return metric, s.Value, err
		}
	}
	show := newTrainDisplay(os.Stderr, tf.timeBudget)
	tr.OnStep = show.step
	tr.OnValid = show.valid
	res, err := tr.Run(ctx)
	show.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "qkv: stopped (%s) after %d steps, %d epochs; best validation loss %.4f; checkpoints in %s\n",
		res.Stopped, res.Steps, res.Epochs, res.BestLoss, tf.out)
	return nil
}

func chooseMetric(m string, d pipeline.DataConfig) string {
	if m != "auto" {
		return m
	}
	if d.SrcTokenizer == pipeline.TokChar && d.TgtTokenizer == pipeline.TokWord {
		return "wer"
	}
	return "bleu"
}

// readTrainValid reads --train and --valid, or holds out 2% of --train
// when --valid is not given.
func readTrainValid() (trainPairs, validPairs []corpus.Pair, err error) {
	if trainPairs, err = readCorpus(tf.trainFile, tf.format); err != nil {
		return nil, nil, err
	}
	if tf.validFile == "" {
		trainPairs, validPairs = holdOut(trainPairs, 50)
		return trainPairs, validPairs, nil
	}
	validPairs, err = readCorpus(tf.validFile, tf.format)
	return trainPairs, validPairs, err
}

// holdOut moves every n-th pair (by a hash of its source, so all
// pronunciations of a word stay together) to a validation set.
func holdOut(pairs []corpus.Pair, n int) (trainSet, validSet []corpus.Pair) {
	for _, p := range pairs {
		if fnv32(p.Source)%uint32(n) == 0 {
			validSet = append(validSet, p)
		} else {
			trainSet = append(trainSet, p)
		}
	}
	return trainSet, validSet
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// readCorpus reads a TSV or CMUdict file as pairs.
func readCorpus(path, format string) ([]corpus.Pair, error) {
	switch format {
	case "tsv":
		return corpus.ReadTSVFile(path)
	case "cmudict":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		prons, err := corpus.ReadCMUdict(f, path, corpus.CMUOptions{StripStress: true, Case: corpus.LowerCase})
		if err != nil {
			return nil, err
		}
		return corpus.G2PPairs(prons), nil
	}
	return nil, fmt.Errorf("unknown corpus format %q (tsv or cmudict)", format)
}

// trainDisplay shows training progress: a progress bar on a terminal, a log
// line every few seconds elsewhere.
type trainDisplay struct {
	w         io.Writer
	bar       *progressbar.ProgressBar
	lastLog   time.Time
	startStep int64         // the step before this invocation's first (after a resume)
	budget    time.Duration // the run's time budget, for the ETA
}

func newTrainDisplay(w *os.File, budget time.Duration) *trainDisplay {
	d := &trainDisplay{w: w, startStep: -1, budget: budget}
	if term.IsTerminal(int(w.Fd())) {
		d.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	return d
}

func (d *trainDisplay) describe(p train.Progress) string {
	eta := ""
	if p.TotalSteps > 0 && p.Step > 0 && p.Step < p.TotalSteps {
		if d.startStep < 0 {
			d.startStep = p.Step - 1
		}
		perStep := p.Elapsed / time.Duration(max(p.Step-d.startStep, 1))
		remaining := time.Duration(p.TotalSteps-p.Step) * perStep
		if d.budget > 0 && d.budget-p.Elapsed < remaining {
			remaining = d.budget - p.Elapsed
		}
		eta = " eta " + max(remaining, 0).Round(time.Second).String()
	}
	return fmt.Sprintf("epoch %d loss %.3f lr %.2e %s tok/s%s", p.Epoch+1, p.Loss, p.LR, humanCount(int64(p.TokensPerSec)), eta)
}

func (d *trainDisplay) step(p train.Progress) {
	if d.bar != nil {
		if p.TotalSteps > 0 && d.bar.GetMax64() != p.TotalSteps {
			d.bar.ChangeMax64(p.TotalSteps)
		}
		d.bar.Describe(d.describe(p))
		_ = d.bar.Set64(p.Step)
		return
	}
	if time.Since(d.lastLog) >= 10*time.Second {
		d.lastLog = time.Now()
		fmt.Fprintf(d.w, "step %d %s\n", p.Step, d.describe(p))
	}
}

func (d *trainDisplay) valid(v train.Validation) {
	if d.bar != nil {
		_ = d.bar.Clear()
	}
	best := ""
	if v.Best {
		best = " (best)"
	}
	metric := ""
	if v.Metric != "" {
		metric = fmt.Sprintf(" %s %.2f%%", v.Metric, v.Value)
	}
	if d.bar == nil {
		d.lastLog = time.Time{} // log the next step too
	}
	fmt.Fprintf(d.w, "validation at step %d (epoch %d): loss %.4f%s%s\n", v.Step, v.Epoch+1, v.Loss, metric, best)
}

func (d *trainDisplay) finish() {
	if d.bar != nil {
		_ = d.bar.Finish()
	}
}

func countParams(m model.Model) int64 {
	var n int64
	for _, p := range m.Params() {
		n += int64(p.Len())
	}
	return n
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
