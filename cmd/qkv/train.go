package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/distill"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/vocab"
	"github.com/qkv-dev/qkv/train"
)

// runConfig is the --config file (YAML or JSON): every section optional,
// each key laid over the defaults (of the flags, or of the run being
// resumed); flags given on the command line win.
type runConfig struct {
	Arch    string          `json:"arch"`
	Preset  string          `json:"preset"`
	Model   json.RawMessage `json:"model"`
	Data    json.RawMessage `json:"data"`
	Prepare json.RawMessage `json:"prepare"`
	Train   json.RawMessage `json:"train"`
}

// settings are a run's resolved configuration: what config.json and
// run.json record.
type settings struct {
	Model   model.Config            `json:"model"`
	Data    pipeline.DataConfig     `json:"data"`
	Prepare pipeline.PrepareOptions `json:"prepare"`
	Train   train.Options           `json:"train"`
}

type trainFlags struct {
	arch, trainFile, validFile, out, config, preset string
	format                                          string
	resume, overwrite                               bool
	srcTok, tgtTok                                  string
	lowercase, joint, placeholders, copyAttn        bool
	maxSrcLen, maxTgtLen, minFreq, bpeMerges        int
	maxLenA                                         float64
	maxLenB                                         int
	opts                                            train.Options
	dropout                                         float64
	metric                                          string
	metricMax                                       int
	seed                                            uint64
	lossLog                                         string
}

var tf = trainFlags{opts: train.Defaults()}

var trainCmd = &cobra.Command{
	Use:   "train --arch ARCH --train FILE --valid FILE --out DIR",
	Short: "Train a model on a parallel corpus (TSV: source<TAB>target, or CMUdict)",
	Long: `Train a seq2seq, rnnsearch or transformer model.

The corpus is TSV (source<TAB>target a line) or, with --format cmudict, the CMU
Pronouncing Dictionary. Settings come from a preset (--preset, e.g.
g2p-transformer or transformer-base), then a --config file (YAML or JSON with
sections arch, preset, model, data, prepare, train), then flags.

The run directory --out receives config.json, run.json (what the run is: its
settings and a fingerprint of its data), the vocabularies, best.safetensors
(the best validation loss, or with --best-by metric the best validation
metric, e.g. WER), last.safetensors (everything needed to resume) and
validations.tsv (every validation: step, epoch, loss, the metric, best; draw
it with qkv plot --kind loss "valid=RUN/validations.tsv#wer").
last.safetensors is written at every validation, every --save-every (steps or
a duration), at the end and on Ctrl-C, so even a run killed with kill -9
continues with --resume from its latest save. --resume refuses other
settings or other data (only --max-steps, --time-budget, --epochs,
--save-every, --valid-every, --patience and --keep-snapshots may change).
A new run refuses a directory that already holds files unless --overwrite
is given. One qkv train at a time holds a directory: a second is refused.

--teacher MODEL[,MODEL…] distills a teacher into the run (token-level
knowledge distillation; Sun et al. 2019 for G2P): before the first step
the teacher (a model directory, one of its weights files such as
DIR/average.safetensors, or builtin:NAME; several average their
probabilities, as an ensemble decodes) reads every training pair as
training does, and the loss at each target position becomes
(1 − λ)·(the label-smoothed loss on the reference) + λ·(the cross-entropy
against the teacher's --teacher-top-k likeliest symbols), λ =
--teacher-weight. The teacher must know every symbol of the run's
vocabularies and read text the same way. Its distributions are kept in
memory and in the run directory (teacher.targets, 8 bytes a symbol kept a
target token), from which --resume reads them back; run.json records the
teacher's fingerprint, so a resume without that file runs the teacher
again only if its weights are unchanged.

--init-from MODEL starts a new run from a trained model (a directory or
builtin:NAME): its architecture, sizes, vocabularies, tokenizers and
weights, with a fresh optimizer and learning-rate schedule (fine-tuning on
new data, or training on past a schedule's end). Only --dropout, --seed
and the length limits may differ from the model's; symbols the model lacks
read as <unk>. --vocab-from MODEL takes only the model's vocabularies,
BPE merges and tokenizers, for fresh weights of any architecture and size:
models that share them decode as one ensemble and can teach each other.`,
	Args: cobra.NoArgs,
	RunE: runTrain,
}

func init() {
	f := trainCmd.Flags()
	f.StringVar(&tf.arch, "arch", "", "architecture: seq2seq, rnnsearch or transformer")
	f.StringVar(&tf.trainFile, "train", "", "training corpus")
	f.StringVar(&tf.validFile, "valid", "", "validation corpus (if omitted, 2% of --train is held out, at least one source)")
	f.StringVar(&tf.out, "out", "", "run directory for checkpoints (new or empty, unless --resume or --overwrite)")
	f.StringVar(&tf.config, "config", "", "YAML or JSON configuration file")
	f.StringVar(&tf.preset, "preset", "", "named model configuration: "+strings.Join(model.PresetNames(), ", "))
	f.StringVar(&tf.format, "format", "tsv", "corpus format: tsv or cmudict")
	f.Int64Var(&tf.opts.MaxSteps, "max-steps", 0, "stop after this many optimizer steps in all (0: no limit)")
	f.DurationVar(&tf.opts.TimeBudget, "time-budget", 0, "stop after this much wall-clock time in this invocation (e.g. 10m; 0: no limit)")
	f.BoolVar(&tf.resume, "resume", false, "continue the run in --out from its last checkpoint")
	f.BoolVar(&tf.overwrite, "overwrite", false, "start a new run in an --out that holds a previous run, removing that run's files (only files qkv writes)")
	f.StringVar(&tf.srcTok, "src-tok", pipeline.TokChar, "source tokenizer: char, word or bpe")
	f.StringVar(&tf.tgtTok, "tgt-tok", pipeline.TokWord, "target tokenizer: char, word or bpe")
	f.BoolVar(&tf.lowercase, "lowercase", false, "lowercase sources")
	f.BoolVar(&tf.placeholders, "placeholders", false, "protect printf directives, markup, accelerators and the like as tokens the model copies and the search keeps exactly once (text/placeholder); default: on when neither side uses the char tokenizer (translation), off otherwise (G2P) and for --metric rouge|sbleu (summarization); --placeholders=false turns it off")
	f.BoolVar(&tf.joint, "joined-dictionary", false, "one vocabulary (and one set of BPE merges) for source and target; needed by share_emb and --copy-attention")
	f.BoolVar(&tf.copyAttn, "copy-attention", false, "rnnsearch and transformer: copy attention (See et al. 2017's pointer-generator): mix generating from the vocabulary with copying source tokens through the cross-attention, so rare names and identifiers can be copied; needs --joined-dictionary (config key model.copy)")
	f.IntVar(&tf.maxSrcLen, "max-src-len", 128, fmt.Sprintf("longest source in tokens, 1 to %d (longer training and validation pairs are skipped)", pipeline.MaxSeqLen))
	f.IntVar(&tf.maxTgtLen, "max-tgt-len", 128, fmt.Sprintf("longest target in tokens, 1 to %d", pipeline.MaxSeqLen))
	f.IntVar(&tf.minFreq, "min-freq", 1, "symbols seen fewer times become <unk> (BPE splits such pieces into smaller known ones instead)")
	f.Float64Var(&tf.maxLenA, "max-len-a", pipeline.DefaultMaxLenA, "decoding stops at ⌊a·|source|⌋ + b tokens (counting </s>; fairseq's --max-len-a/-b): a, for the validation metric and, recorded in config.json, for predict, eval and serve")
	f.IntVar(&tf.maxLenB, "max-len-b", pipeline.DefaultMaxLenB, "b of that limit")
	f.IntVar(&tf.bpeMerges, "bpe-merges", 8000, "BPE merges to learn (with --src-tok/--tgt-tok bpe)")
	f.IntVar(&tf.opts.MaxTokens, "max-tokens", tf.opts.MaxTokens, "padded tokens per batch (source + target); must hold the longest pair")
	f.IntVar(&tf.opts.Epochs, "epochs", tf.opts.Epochs, "passes over the training data at most")
	f.StringVar(&tf.opts.Schedule, "schedule", tf.opts.Schedule, "learning-rate schedule: noam (the paper's), inverse-sqrt (fairseq's), cosine (a linear warm-up, then half a cosine down to --min-lr at --decay-steps) or constant")
	f.Float64Var(&tf.opts.LR, "lr", tf.opts.LR, "noam: factor; inverse-sqrt and cosine: peak rate; constant: the rate")
	f.Int64Var(&tf.opts.Warmup, "warmup", tf.opts.Warmup, "warm-up steps (0: none)")
	f.Int64Var(&tf.opts.DecaySteps, "decay-steps", 0, "cosine: the step where the rate reaches --min-lr, recorded with the run (0: --max-steps)")
	f.Float64Var(&tf.opts.MinLR, "min-lr", 0, "cosine: the rate the decay ends at, and keeps after --decay-steps")
	f.Float64Var(&tf.opts.WeightDecay, "weight-decay", 0, "AdamW decoupled weight decay")
	f.Float64Var(&tf.opts.ClipNorm, "clip-norm", 0, "clip gradients to this global norm (0: off)")
	f.Float32Var(&tf.opts.LabelSmoothing, "label-smoothing", tf.opts.LabelSmoothing, "label smoothing ε, in [0, 1)")
	f.IntVar(&tf.opts.Accum, "accum", tf.opts.Accum, "batches per optimizer step (gradient accumulation)")
	f.Int64Var(&tf.opts.ValidEvery, "valid-every", 0, "validate (and save) every N steps (0: every epoch)")
	f.IntVar(&tf.opts.Patience, "patience", 0, "stop after N validations without improvement (of --best-by) (0: never)")
	f.StringVar(&tf.opts.BestBy, "best-by", "loss", "what makes a validation the best, for best.safetensors and --patience: loss (validation cross-entropy) or metric (the --metric on the validation sample, e.g. WER, which late in a run can keep improving after the loss has stopped)")
	f.IntVar(&tf.opts.KeepSnapshots, "keep-snapshots", 0, "keep the weights of the last N validation points as step-*.safetensors, for qkv average (0: none)")
	f.StringVar(&tf.opts.Precision, "precision", "fp32", "precision of the matrix products: fp32, or bf16 (bfloat16 operands, float32 accumulation; weights, optimizer and checkpoints stay fp32)")
	f.Var(&tf.opts.SaveEvery, "save-every", "also write last.safetensors every N steps (500) or every duration (10m); 0: only at validations")
	f.StringSliceVar(&tf.opts.Teacher, "teacher", nil, "learn from a teacher's next-token distributions besides the references (token-level distillation): a model directory, one of its weights files (DIR/average.safetensors) or builtin:NAME, several (--teacher A,B) as an ensemble; it must share the run's symbols and tokenizers, and reads the training data once before the first step")
	f.Float32Var(&tf.opts.TeacherWeight, "teacher-weight", 0, fmt.Sprintf("λ, the teacher's share of the loss, in (0, 1]: (1 − λ)·(label-smoothed loss) + λ·(cross-entropy against the teacher) (default with --teacher: %g)", train.DefaultTeacherWeight))
	f.IntVar(&tf.opts.TeacherTopK, "teacher-top-k", 0, fmt.Sprintf("keep the teacher's K likeliest symbols at each position, renormalized (default with --teacher: %d)", train.DefaultTeacherTopK))
	f.StringVar(&tf.opts.InitFrom, "init-from", "", "start from a trained model (a model directory, one of its weights files such as DIR/average.safetensors, or builtin:NAME): its architecture, sizes, vocabularies, tokenizers and weights; the optimizer and the learning-rate schedule start afresh (fine-tuning, or training on past a schedule's end); only --dropout, --seed and the length limits may differ from the model's")
	f.StringVar(&tf.opts.VocabFrom, "vocab-from", "", "take the vocabularies, BPE merges and tokenizers of a trained model (a model directory or builtin:NAME) instead of building them from --train, with fresh weights of any architecture and size: models that share them can decode as one ensemble or teach each other (fairseq's --srcdict/--tgtdict); symbols the model lacks read as <unk>")
	f.Float64Var(&tf.dropout, "dropout", 0.1, "dropout rate, in [0, 1)")
	f.Uint64Var(&tf.seed, "seed", 1, "seed for initialization, data order and dropout")
	f.StringVar(&tf.metric, "metric", "auto", "validation metric: wer, per, bleu, chrf, rouge, sbleu, none, or auto (wer for char→word data, else bleu); a named one is recorded in config.json (data.metric) as the metric eval reports")
	f.IntVar(&tf.metricMax, "metric-max", 1000, "validation sentences decoded for the metric, taken evenly from the whole file (0: all)")
	f.StringVar(&tf.lossLog, "loss-log", "", "append step, loss, NLL, learning rate, gradient norm and tokens of every optimizer step to this TSV file (--resume keeps its lines up to the resumed step)")
	rootCmd.AddCommand(trainCmd)
}

// checkRunFlags checks the flags that are not settings of the run.
func checkRunFlags() error {
	if tf.metric != "auto" && tf.metric != "none" && !slices.Contains(pipeline.Metrics, tf.metric) {
		return fmt.Errorf("train: --metric %q is not a metric: use %s, none or auto", tf.metric, strings.Join(pipeline.Metrics, ", "))
	}
	if tf.metricMax < 0 {
		return fmt.Errorf("train: --metric-max %d is out of range: it must be at least 0 (0: all validation sentences)", tf.metricMax)
	}
	switch tf.format {
	case "tsv", "cmudict":
	default:
		return fmt.Errorf("train: --format %q is not a corpus format: use tsv or cmudict", tf.format)
	}
	if tf.resume && tf.overwrite {
		return errors.New("train: --resume continues the run in --out and --overwrite replaces it: give one of them")
	}
	return nil
}

func runTrain(cmd *cobra.Command, _ []string) error {
	if tf.out == "" {
		return errors.New("train: --out is required")
	}
	if pipeline.IsBuiltin(tf.out) {
		return fmt.Errorf("train: --out %s names a model built into qkv, which cannot be trained further or written to: give a directory", tf.out)
	}
	if err := checkRunFlags(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if tf.resume {
		return resumeTrain(ctx, cmd)
	}
	if tf.arch == "" && tf.config == "" && tf.preset == "" && tf.opts.InitFrom == "" {
		return errors.New("train: --arch is required (seq2seq, rnnsearch or transformer), or --init-from a trained model")
	}
	if tf.trainFile == "" {
		return errors.New("train: --train is required")
	}
	from, err := loadOrigin(cmd)
	if err != nil {
		return err
	}
	s, err := resolveSettings(cmd, nil, from)
	if err != nil {
		return err
	}
	if err := checkModelEarly(s.Model); err != nil {
		return err
	}
	// Nothing is written or removed in --out before its lock is held.
	lock, err := train.Lock(tf.out)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer lock.Unlock()
	if err := clearOut(tf.out, tf.overwrite); err != nil {
		return err
	}
	log, err := startLossLog(-1)
	if err != nil {
		return err
	}
	trainPairs, validPairs, heldOut, err := readTrainValid()
	if err != nil {
		return err
	}
	var pr *pipeline.Prepared
	if from != nil {
		pr, err = from.p.PrepareFrom(trainPairs, validPairs, s.Data)
	} else {
		prep := s.Prepare
		prep.Data = s.Data
		pr, err = pipeline.Prepare(trainPairs, validPairs, prep)
	}
	if err != nil {
		return err
	}
	noteSkipped(pr.Skipped, pr.SkippedValid, s.Data)
	if pr.Unknown > 0 {
		fmt.Fprintf(os.Stderr, "qkv: warning: %d tokens of the training pairs are not in the vocabularies of %s and read as <unk>\n", pr.Unknown, from.name)
	}
	s.Model.SrcVocab, s.Model.TgtVocab = pr.Src.Len(), pr.Tgt.Len()
	if err := s.Model.CheckMemory(model.TrainBytesPerParam); err != nil {
		return err
	}
	m, err := model.New(s.Model)
	if err != nil {
		return err
	}
	if from != nil && from.weights {
		if err := model.CopyParams(m, from.p.Model); err != nil {
			return fmt.Errorf("train: --init-from %s: %w", from.name, err)
		}
	}
	tr, err := train.New(m, pr.Train, pr.Valid, tf.out, s.Train)
	if err != nil {
		return err
	}
	id, err := train.NewIdentity(s.Model.Arch, s, fingerprint(trainPairs), fingerprint(validPairs), heldOut)
	if err != nil {
		return err
	}
	if err := id.Write(tf.out); err != nil {
		return err
	}
	if err := pr.Save(tf.out, s.Model, s.Train); err != nil {
		return err
	}
	held := ""
	if heldOut {
		held = " (held out of --train)"
	}
	origin := ""
	switch {
	case from != nil && from.weights:
		origin = ", starting from the weights of " + from.name
	case from != nil:
		origin = ", with the vocabularies of " + from.name
	}
	fmt.Fprintf(os.Stderr, "qkv: %s with %s parameters%s; %d training and %d validation pairs%s; vocabularies %d/%d; %d batches an epoch\n",
		s.Model.Arch, humanCount(countParams(m)), origin, len(pr.Train), len(pr.Valid), held, pr.Src.Len(), pr.Tgt.Len(), tr.BatchesPerEpoch())
	fmt.Fprintf(os.Stderr, "qkv: learning rate %s\n", tr.DescribeSchedule())
	p := pr.Pipeline(tf.out, m)
	if err := teach(ctx, tr, p, pr.Train, s.Train, id); err != nil {
		// Nothing was trained: remove what this run wrote, so that the
		// same command can start it again.
		if _, _, cerr := pipeline.ClearRun(tf.out); cerr != nil {
			return fmt.Errorf("%w; and removing the run's files from %s failed: %v", err, tf.out, cerr)
		}
		return err
	}
	return runTrainer(ctx, tr, p, validPairs, s.Data, log)
}

// startLossLog opens --loss-log (if given) for a new run (resumeStep < 0)
// or a run resumed at resumeStep.
func startLossLog(resumeStep int64) (*lossLog, error) {
	if tf.lossLog == "" {
		return nil, nil
	}
	return openLossLog(tf.lossLog, resumeStep, tf.overwrite, tf.trainFile, tf.validFile, tf.config)
}

// noteSkipped says how many training and validation pairs were left out
// for being over the length limits.
func noteSkipped(train, valid int, d pipeline.DataConfig) {
	if train > 0 {
		fmt.Fprintf(os.Stderr, "qkv: left out %d training pairs longer than %d/%d tokens\n", train, d.MaxSrcLen, d.MaxTgtLen)
	}
	if valid > 0 {
		fmt.Fprintf(os.Stderr, "qkv: left out %d validation pairs longer than %d/%d tokens from the validation loss (the validation metric decodes such sources from their first %d tokens)\n",
			valid, d.MaxSrcLen, d.MaxTgtLen, d.MaxSrcLen)
	}
}

// clearOut makes sure a new run starts in an empty directory: files there
// are an error, unless overwrite is set, when the previous run's files (and
// only those) are removed. The caller holds the directory's lock.
func clearOut(dir string, overwrite bool) error {
	names, err := pipeline.DirEntries(dir)
	if err != nil {
		return fmt.Errorf("train: --out: %w", err)
	}
	if len(names) == 0 {
		return nil
	}
	if !overwrite {
		return fmt.Errorf("train: --out %s already holds files (%s): continue it with --resume, or start over with --overwrite, or choose another --out",
			dir, listNames(names))
	}
	removed, left, err := pipeline.ClearRun(dir)
	if err != nil {
		return fmt.Errorf("train: --overwrite: %w", err)
	}
	fmt.Fprintf(os.Stderr, "qkv: --overwrite: removed %d files of the previous run from %s\n", len(removed), dir)
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "qkv: left %d files there that qkv did not write: %s\n", len(left), listNames(left))
	}
	return nil
}

// listNames lists file names for a message: the first five, then a count.
func listNames(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … %d in all", strings.Join(names[:5], ", "), len(names))
}

// fingerprint identifies pairs as read.
func fingerprint(pairs []corpus.Pair) train.Fingerprint {
	f := train.NewFingerprinter()
	for _, p := range pairs {
		f.Add(p.Source, p.Target)
	}
	return f.Sum()
}

// resolveSettings lays the --config file and the flags over a base: the
// run being resumed (base), or for a new run the preset (or the
// architecture's default) and the flags' defaults. Then every value is
// checked against its range.
//
// A new run that starts from a trained model (from: --init-from) takes its
// model and how it reads text from it, one with a model's vocabularies
// (--vocab-from) how it reads text; settings that would change them are
// refused by name.
func resolveSettings(cmd *cobra.Command, base *settings, from *origin) (settings, error) {
	rc, err := readRunConfig()
	if err != nil {
		return settings{}, err
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
	var s settings
	switch {
	case preset != "":
		p, ok := model.Presets[preset]
		if !ok {
			return s, fmt.Errorf("train: unknown preset %q (have %s)", preset, strings.Join(model.PresetNames(), ", "))
		}
		if arch != "" && arch != p.Arch {
			return s, fmt.Errorf("train: preset %s is a %s, not a %s", preset, p.Arch, arch)
		}
		s.Model = p
		if base != nil {
			s.Model.SrcVocab, s.Model.TgtVocab, s.Model.Seed = base.Model.SrcVocab, base.Model.TgtVocab, base.Model.Seed
		}
		if from != nil {
			s.Model.SrcVocab, s.Model.TgtVocab = from.s.Model.SrcVocab, from.s.Model.TgtVocab
		}
	case base != nil:
		s.Model = base.Model
		if arch != "" {
			s.Model.Arch = arch // a different one shows as a difference
		}
	case from != nil && from.weights:
		s.Model = from.s.Model
		if arch != "" {
			s.Model.Arch = arch // a different one shows as a difference
		}
	default:
		var err error
		if s.Model, err = model.DefaultConfig(arch); err != nil {
			return s, fmt.Errorf("train: %w", err)
		}
	}
	if base != nil {
		s.Data, s.Prepare, s.Train = base.Data, base.Prepare, base.Train
	} else {
		s.Data = pipeline.DataConfig{SrcTokenizer: tf.srcTok, TgtTokenizer: tf.tgtTok, Lowercase: tf.lowercase,
			MaxSrcLen: tf.maxSrcLen, MaxTgtLen: tf.maxTgtLen, JointVocab: tf.joint, MaxLenA: tf.maxLenA, MaxLenB: tf.maxLenB}
		s.Prepare = pipeline.PrepareOptions{MinFreq: tf.minFreq, BPEMerges: tf.bpeMerges}
		s.Train = tf.opts
		if from != nil {
			s.Data = from.s.Data
			if changed("min-freq") || changed("bpe-merges") || len(rc.Prepare) > 0 && string(rc.Prepare) != "null" {
				return s, fmt.Errorf("train: %s %s: the run takes the model's vocabularies and BPE merges, so --min-freq, --bpe-merges and a prepare section have nothing to do: drop them", from.flag, from.name)
			}
		}
	}
	for _, sec := range []struct {
		name string
		raw  json.RawMessage
		dst  any
	}{{"model", rc.Model, &s.Model}, {"data", rc.Data, &s.Data}, {"prepare", rc.Prepare, &s.Prepare}, {"train", rc.Train, &s.Train}} {
		if len(sec.raw) > 0 && string(sec.raw) != "null" {
			if sec.name == "train" {
				var err error
				if sec.raw, err = durationsAsNanoseconds(sec.raw, "time_budget"); err != nil {
					return s, fmt.Errorf("%s: %s: %w", tf.config, sec.name, err)
				}
			}
			if err := yaml.UnmarshalStrict(sec.raw, sec.dst); err != nil {
				return s, fmt.Errorf("%s: %s: %w", tf.config, sec.name, err)
			}
		}
	}
	if changed("dropout") {
		if !(tf.dropout >= 0 && tf.dropout < 1) {
			return s, fmt.Errorf("train: --dropout %g is out of range: it must be in [0, 1) (config key model.dropout)", tf.dropout)
		}
		s.Model.Dropout = float32(tf.dropout)
	}
	if changed("seed") || s.Model.Seed == 0 {
		s.Model.Seed = tf.seed
	}
	override(changed, "src-tok", &s.Data.SrcTokenizer, tf.srcTok)
	override(changed, "tgt-tok", &s.Data.TgtTokenizer, tf.tgtTok)
	override(changed, "lowercase", &s.Data.Lowercase, tf.lowercase)
	override(changed, "joined-dictionary", &s.Data.JointVocab, tf.joint)
	override(changed, "copy-attention", &s.Model.Copy, tf.copyAttn)
	if base == nil && changed("metric") && tf.metric != "auto" && tf.metric != "none" {
		s.Data.Metric = tf.metric // the task's metric, for eval (a resumed run keeps its own)
	}
	override(changed, "placeholders", &s.Data.Placeholders, tf.placeholders)
	if base == nil && from == nil && !changed("placeholders") && !hasKey(rc.Data, "placeholders") {
		// A new run protects placeholders unless a side reads characters
		// (G2P) or it summarizes (ROUGE): a summary need not repeat every
		// %s or {name} of its source, which protection would force.
		s.Data.Placeholders = s.Data.SrcTokenizer != pipeline.TokChar && s.Data.TgtTokenizer != pipeline.TokChar &&
			s.Data.Metric != "rouge" && s.Data.Metric != "sbleu"
	}
	override(changed, "max-src-len", &s.Data.MaxSrcLen, tf.maxSrcLen)
	override(changed, "max-tgt-len", &s.Data.MaxTgtLen, tf.maxTgtLen)
	override(changed, "max-len-a", &s.Data.MaxLenA, tf.maxLenA)
	override(changed, "max-len-b", &s.Data.MaxLenB, tf.maxLenB)
	override(changed, "min-freq", &s.Prepare.MinFreq, tf.minFreq)
	override(changed, "bpe-merges", &s.Prepare.BPEMerges, tf.bpeMerges)
	o, t := &s.Train, tf.opts
	override(changed, "max-tokens", &o.MaxTokens, t.MaxTokens)
	override(changed, "epochs", &o.Epochs, t.Epochs)
	override(changed, "max-steps", &o.MaxSteps, t.MaxSteps)
	override(changed, "time-budget", &o.TimeBudget, t.TimeBudget)
	override(changed, "schedule", &o.Schedule, t.Schedule)
	override(changed, "lr", &o.LR, t.LR)
	override(changed, "warmup", &o.Warmup, t.Warmup)
	override(changed, "weight-decay", &o.WeightDecay, t.WeightDecay)
	override(changed, "clip-norm", &o.ClipNorm, t.ClipNorm)
	override(changed, "label-smoothing", &o.LabelSmoothing, t.LabelSmoothing)
	override(changed, "accum", &o.Accum, t.Accum)
	override(changed, "valid-every", &o.ValidEvery, t.ValidEvery)
	override(changed, "patience", &o.Patience, t.Patience)
	override(changed, "best-by", &o.BestBy, t.BestBy)
	o.BestBy = train.NormalizeBestBy(o.BestBy)
	override(changed, "keep-snapshots", &o.KeepSnapshots, t.KeepSnapshots)
	override(changed, "save-every", &o.SaveEvery, t.SaveEvery)
	override(changed, "precision", &o.Precision, t.Precision)
	o.Precision = train.NormalizePrecision(o.Precision)
	override(changed, "decay-steps", &o.DecaySteps, t.DecaySteps)
	override(changed, "min-lr", &o.MinLR, t.MinLR)
	override(changed, "teacher", &o.Teacher, t.Teacher)
	override(changed, "teacher-weight", &o.TeacherWeight, t.TeacherWeight)
	override(changed, "teacher-top-k", &o.TeacherTopK, t.TeacherTopK)
	override(changed, "init-from", &o.InitFrom, t.InitFrom)
	override(changed, "vocab-from", &o.VocabFrom, t.VocabFrom)
	if base == nil && len(o.Teacher) > 0 { // a resumed run keeps what it recorded
		if !changed("teacher-weight") && !hasKey(rc.Train, "teacher_weight") {
			o.TeacherWeight = train.DefaultTeacherWeight
		}
		if !changed("teacher-top-k") && !hasKey(rc.Train, "teacher_top_k") {
			o.TeacherTopK = train.DefaultTeacherTopK
		}
	}
	*o = o.WithDecayEnd() // recorded in run.json
	if changed("seed") || o.Seed == 0 {
		o.Seed = tf.seed
	}
	if s.Model.Arch == model.ArchTransformer && s.Model.MaxLen < max(s.Data.MaxSrcLen, s.Data.MaxTgtLen)+2 {
		s.Model.MaxLen = max(s.Data.MaxSrcLen, s.Data.MaxTgtLen) + 2
	}
	if from != nil {
		if err := from.check(s); err != nil {
			return s, err
		}
	}
	return s, s.validate()
}

// readRunConfig reads the --config file, if any.
func readRunConfig() (runConfig, error) {
	var rc runConfig
	if tf.config == "" {
		return rc, nil
	}
	raw, err := os.ReadFile(tf.config)
	if err != nil {
		return rc, fmt.Errorf("train: --config: %w", err)
	}
	if err := yaml.UnmarshalStrict(raw, &rc); err != nil {
		return rc, fmt.Errorf("%s: %w", tf.config, err)
	}
	return rc, nil
}

// origin is the trained model a new run starts from: its weights, shape,
// vocabularies and tokenizers (--init-from), or its vocabularies and
// tokenizers alone (--vocab-from).
type origin struct {
	p       *pipeline.Pipeline
	s       settings // the model's model and data settings
	flag    string   // --init-from or --vocab-from
	name    string   // a model directory or builtin:NAME
	weights bool     // --init-from
}

// loadOrigin loads the model a new run starts from (--init-from or
// --vocab-from, or the config's train.init_from or train.vocab_from), or
// returns nil when it starts from scratch.
func loadOrigin(cmd *cobra.Command) (*origin, error) {
	rc, err := readRunConfig()
	if err != nil {
		return nil, err
	}
	var t struct {
		InitFrom  string `json:"init_from"`
		VocabFrom string `json:"vocab_from"`
	}
	if len(rc.Train) > 0 {
		if err := yaml.Unmarshal(rc.Train, &t); err != nil {
			return nil, fmt.Errorf("%s: train: %w", tf.config, err)
		}
	}
	changed := cmd.Flags().Changed
	override(changed, "init-from", &t.InitFrom, tf.opts.InitFrom)
	override(changed, "vocab-from", &t.VocabFrom, tf.opts.VocabFrom)
	o := &origin{flag: "--init-from", name: t.InitFrom, weights: true}
	switch {
	case t.InitFrom != "" && t.VocabFrom != "":
		return nil, fmt.Errorf("train: --init-from %s already takes the model's vocabularies: drop --vocab-from %s (config keys train.init_from, train.vocab_from)", t.InitFrom, t.VocabFrom)
	case t.VocabFrom != "":
		o = &origin{flag: "--vocab-from", name: t.VocabFrom}
	case t.InitFrom == "":
		return nil, nil
	}
	m := pipeline.MemberNamed(o.name)
	if o.p, err = pipeline.LoadWeights(m.Dir, m.Weights); err != nil {
		return nil, fmt.Errorf("train: %s %s: %w", o.flag, o.name, err)
	}
	if q := o.p.Config.Quantized; q != "" && o.weights {
		return nil, fmt.Errorf("train: --init-from %s: the model is quantized (%s) for decoding; a run starts from float weights: give the model it was quantized from", o.name, q)
	}
	o.s = settings{Model: o.p.Config.Model, Data: o.p.Config.Data}
	return o, nil
}

// check refuses settings that would change how the model reads text, or
// with --init-from the model itself: of the model, only dropout, the seed
// and the length of the positional table may differ.
func (o *origin) check(s settings) error {
	reading := func(d pipeline.DataConfig) pipeline.DataConfig {
		return pipeline.DataConfig{SrcTokenizer: d.SrcTokenizer, TgtTokenizer: d.TgtTokenizer, Lowercase: d.Lowercase,
			JointVocab: d.JointVocab, Placeholders: d.Placeholders}
	}
	was, now := settings{Data: reading(o.s.Data)}, settings{Data: reading(s.Data)}
	rule := "a run that takes a model's vocabularies reads text as the model does"
	if o.weights {
		was.Model, now.Model = o.s.Model, s.Model
		was.Model.Dropout, was.Model.AttnDropout, was.Model.Seed, was.Model.MaxLen = s.Model.Dropout, s.Model.AttnDropout, s.Model.Seed, s.Model.MaxLen
		rule = "a run that starts from a model keeps its architecture, sizes and way of reading text (only --dropout, --seed and the length limits may change)"
	}
	a, err := json.Marshal(was)
	if err != nil {
		return err
	}
	b, err := json.Marshal(now)
	if err != nil {
		return err
	}
	diffs, err := train.DiffSettings(a, b)
	if err != nil || len(diffs) == 0 {
		return err
	}
	return fmt.Errorf("train: %s %s: %s, but this one asks for %s; drop those settings",
		o.flag, o.name, rule, train.DescribeDiffs(diffs, settingFlag))
}

// checkModelEarly checks a new run's model sizes before the corpus is read
// and BPE learned: the vocabularies are not known yet, so they count as the
// smallest possible here (the check is repeated with the real sizes before
// the model is built). A resumed run's model was checked when its
// config.json was loaded.
func checkModelEarly(mc model.Config) error {
	mc.SrcVocab, mc.TgtVocab = max(mc.SrcVocab, len(vocab.Specials)), max(mc.TgtVocab, len(vocab.Specials))
	if err := mc.Validate(); err != nil {
		return err
	}
	return mc.CheckMemory(model.TrainBytesPerParam)
}

// validate checks every setting against its range, and the settings
// against each other.
func (s settings) validate() error {
	if err := s.Data.Validate(); err != nil {
		return err
	}
	if err := s.Prepare.Validate(); err != nil {
		return err
	}
	if err := s.Train.Validate(); err != nil {
		return err
	}
	if s.Train.BestBy == train.BestByMetric && tf.metric == "none" {
		return errors.New("train: --best-by metric (config key train.best_by) chooses best.safetensors by the validation metric, which --metric none turns off: name a metric, or use --best-by loss")
	}
	if d := s.Model.Dropout; !(d >= 0 && d < 1) {
		return fmt.Errorf("train: --dropout %g is out of range: it must be in [0, 1) (config key model.dropout)", d)
	}
	if s.Model.ShareEmb && !s.Data.JointVocab {
		return errors.New("train: model.share_emb (one embedding table for both sides) needs one vocabulary for both sides: add --joined-dictionary (config key data.joint_vocab: true), or drop share_emb")
	}
	if s.Model.Copy {
		if s.Model.Arch == model.ArchSeq2Seq {
			return errors.New("train: --copy-attention (model.copy) copies through the cross-attention, which seq2seq does not have: use --arch rnnsearch or transformer")
		}
		if !s.Data.JointVocab {
			return errors.New("train: --copy-attention (model.copy) reads source tokens as target tokens, so it needs one vocabulary for both sides: add --joined-dictionary (config key data.joint_vocab: true)")
		}
	}
	return nil
}

// durationsAsNanoseconds lets a config section write the durations named
// by keys as a flag would ("30m", "1h30m") as well as a number of
// nanoseconds (what config.json records): a string value is parsed and
// replaced by its nanoseconds; every other key is left for the strict
// decoder to check.
func durationsAsNanoseconds(raw json.RawMessage, keys ...string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := yaml.Unmarshal(raw, &m); err != nil || m == nil {
		return raw, nil // not a mapping: the strict decoder says what is wrong
	}
	changed := false
	for _, k := range keys {
		var str string
		if v, ok := m[k]; !ok || json.Unmarshal(v, &str) != nil {
			continue
		}
		d, err := time.ParseDuration(str)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not a duration (e.g. 30m, 1h30m)", k, str)
		}
		m[k] = json.RawMessage(strconv.FormatInt(int64(d), 10))
		changed = true
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(m)
}

// hasKey reports whether a config section (YAML or JSON) sets key.
func hasKey(raw json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	if len(raw) == 0 || yaml.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

// override sets *dst to v when the flag was given on the command line.
func override[T any](changed func(string) bool, flag string, dst *T, v T) {
	if changed(flag) {
		*dst = v
	}
}

// settingFlags names the flag of each setting that has one, for messages.
var settingFlags = map[string]string{
	"model.arch": "--arch", "model.dropout": "--dropout", "model.seed": "--seed", "train.seed": "--seed", "model.copy": "--copy-attention",
	"data.src_tokenizer": "--src-tok", "data.tgt_tokenizer": "--tgt-tok", "data.lowercase": "--lowercase",
	"data.joint_vocab": "--joined-dictionary", "data.placeholders": "--placeholders", "data.max_src_len": "--max-src-len", "data.max_tgt_len": "--max-tgt-len",
	"data.max_len_a": "--max-len-a", "data.max_len_b": "--max-len-b",
	"prepare.min_freq": "--min-freq", "prepare.bpe_merges": "--bpe-merges",
	"train.max_tokens": "--max-tokens", "train.schedule": "--schedule", "train.lr": "--lr", "train.warmup": "--warmup",
	"train.weight_decay": "--weight-decay", "train.clip_norm": "--clip-norm", "train.label_smoothing": "--label-smoothing",
	"train.accum": "--accum", "train.precision": "--precision", "train.decay_steps": "--decay-steps", "train.min_lr": "--min-lr",
	"train.teacher": "--teacher", "train.teacher_weight": "--teacher-weight", "train.teacher_top_k": "--teacher-top-k",
	"train.init_from": "--init-from", "train.vocab_from": "--vocab-from",
}

func settingFlag(key string) string {
	if f, ok := settingFlags[key]; ok {
		return f
	}
	if strings.HasPrefix(key, "model.") {
		return "--preset or --config"
	}
	return "--config"
}

func resumeTrain(ctx context.Context, cmd *cobra.Command) error {
	if st, err := os.Stat(tf.out); err != nil {
		return fmt.Errorf("resume: --out: %w (there is no run to resume)", err)
	} else if !st.IsDir() {
		return fmt.Errorf("resume: --out %s is not a directory", tf.out)
	}
	if names, err := pipeline.DirEntries(tf.out); err != nil || !slices.ContainsFunc(names, func(n string) bool { return n == pipeline.ConfigFile || n == pipeline.RunFile }) {
		return fmt.Errorf("resume: --out %s holds no qkv run (no %s): there is no run to resume", tf.out, pipeline.ConfigFile)
	}
	lock, err := train.Lock(tf.out)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer lock.Unlock()
	stale, err := atomicfile.RemoveStale(tf.out)
	if err != nil {
		return fmt.Errorf("resume: removing temporary files: %w", err)
	}
	if len(stale) > 0 {
		fmt.Fprintf(os.Stderr, "qkv: removed %d temporary files left by an interrupted write in %s\n", len(stale), tf.out)
	}
	if _, err := os.Stat(filepath.Join(tf.out, train.LastFile)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("resume: %w: %s holds no %s (the run was stopped before its first save); start over with --overwrite",
			train.ErrNoCheckpoint, tf.out, train.LastFile)
	}
	p, err := pipeline.LoadForResume(tf.out)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	cfgPath := filepath.Join(tf.out, pipeline.ConfigFile)
	base := settings{Model: p.Config.Model, Data: p.Config.Data, Prepare: pipeline.PrepareOptions{MinFreq: 1, BPEMerges: 8000}}
	if err := json.Unmarshal(p.Config.Train, &base.Train); err != nil {
		return fmt.Errorf("resume: %s: train options: %w", cfgPath, err)
	}
	id, err := train.ReadIdentity(tf.out)
	switch {
	case train.IsNotExist(err):
		// A run from before run identities: its options' zeros meant the
		// defaults, and its settings and data cannot be checked.
		fmt.Fprintf(os.Stderr, "qkv: warning: %s has no %s (a run from an older qkv): its settings and data cannot be checked\n", tf.out, train.IdentityFile)
		base.Train = legacyDefaults(base.Train)
	case err != nil:
		return fmt.Errorf("resume: %w", err)
	default:
		var rec settings
		if err := json.Unmarshal(id.Settings, &rec); err != nil {
			return fmt.Errorf("resume: %s: %w", filepath.Join(tf.out, train.IdentityFile), err)
		}
		base.Prepare = rec.Prepare
		if err := checkSame(base, id.Settings, func(d string) string {
			return fmt.Sprintf("resume: %s was changed after the run started (%s); restore it, or start over with --overwrite", cfgPath, d)
		}); err != nil {
			return err
		}
	}
	req, err := resolveSettings(cmd, &base, nil)
	if err != nil {
		return err
	}
	want, err := train.SettingsJSON(base)
	if err != nil {
		return err
	}
	if err := checkSame(req, want, func(d string) string {
		return fmt.Sprintf("resume: the run in %s has other settings than this command asks for: %s. A resumed run keeps its settings; only --max-steps, --time-budget, --epochs, --save-every, --valid-every, --patience and --keep-snapshots may change. Drop the others, or start a new run (another --out, or --overwrite)", tf.out, d)
	}); err != nil {
		return err
	}
	if tf.trainFile == "" {
		return errors.New("resume: --train is required (the same data as the interrupted run)")
	}
	trainPairs, validPairs, heldOut, err := readTrainValid()
	if err != nil {
		return err
	}
	if id != nil {
		switch {
		case id.ValidHeldOut && !heldOut:
			return fmt.Errorf("resume: the run validated on pairs held out of --train, not on a --valid file: drop --valid %s", tf.validFile)
		case !id.ValidHeldOut && heldOut:
			return fmt.Errorf("resume: the run validated on a --valid file (%s): give it again with --valid", id.Valid)
		}
		if got := fingerprint(trainPairs); got != id.Train {
			return fmt.Errorf("resume: --train %s is not the run's training data: the run trained on %s, this gives %s; resume with the same data (its path may differ), or start a new run", tf.trainFile, id.Train, got)
		}
		if got := fingerprint(validPairs); got != id.Valid {
			return fmt.Errorf("resume: --valid %s is not the run's validation data: the run validated on %s, this gives %s; resume with the same data (its path may differ), or start a new run", tf.validFile, id.Valid, got)
		}
	}
	trainEx, validEx, skippedValid, err := p.Encode(trainPairs, validPairs)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	noteSkipped(len(trainPairs)-len(trainEx), skippedValid, p.Config.Data)
	tr, err := train.New(p.Model, trainEx, validEx, tf.out, req.Train)
	if err != nil {
		return err
	}
	if err := tr.Resume(); err != nil {
		return err
	}
	log, err := startLossLog(tr.Step())
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "qkv: resuming %s at step %d\n", tf.out, tr.Step())
	if err := teach(ctx, tr, p, trainEx, req.Train, id); err != nil {
		return err
	}
	return runTrainer(ctx, tr, p, validPairs, p.Config.Data, log)
}

// teach gives a run with a teacher (--teacher) the teacher's distributions
// over the student's training examples. They are kept in the run directory
// (distill.File) under a key of the teacher's fingerprint, the examples and
// K, and the fingerprint is recorded in id (run.json): a resume reads them
// back instead of running the teacher again, and a resume that must run it
// again (the file is gone) refuses a teacher whose weights have changed.
func teach(ctx context.Context, tr *train.Trainer, student *pipeline.Pipeline, examples []batch.Example, o train.Options, id *train.Identity) error {
	if len(o.Teacher) == 0 {
		return nil
	}
	tgtV := student.Tgt.Len()
	k := min(o.TeacherTopK, tgtV)
	path := filepath.Join(student.Dir, distill.File)
	if id != nil && id.TeacherSHA256 != "" {
		targets, err := distill.ReadFile(path, distill.Key(id.TeacherSHA256, examples, k), tgtV)
		switch {
		case err == nil:
			fmt.Fprintf(os.Stderr, "qkv: the teacher's distributions over the %d training pairs, as it gave them when the run started, from %s\n", len(examples), path)
			return tr.SetTeacher(targets)
		case !errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(os.Stderr, "qkv: warning: %v; the teacher reads the training data again\n", err)
		}
	}
	members, err := pipeline.LoadTeacher(o.Teacher, student)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	fp, err := distill.Fingerprint(members)
	if err != nil {
		return fmt.Errorf("train: the teacher: %w", err)
	}
	if id != nil && id.TeacherSHA256 != "" && id.TeacherSHA256 != fp {
		return fmt.Errorf("train: the teacher %s is not the one this run learned from: its weights or symbols have changed since the run started (fingerprint %s now, %s in %s), and the run's copy of what it taught (%s) is gone; restore the teacher's files, or start a new run",
			strings.Join(o.Teacher, ","), fp[:12], id.TeacherSHA256[:min(12, len(id.TeacherSHA256))], train.IdentityFile, distill.File)
	}
	what := "the teacher"
	if len(members) > 1 {
		what = fmt.Sprintf("the teacher (an ensemble of %d)", len(members))
	}
	fmt.Fprintf(os.Stderr, "qkv: %s, %s, reads the %d training pairs (λ = %g, its %d likeliest symbols a position)\n",
		what, strings.Join(o.Teacher, ","), len(examples), o.TeacherWeight, o.TeacherTopK)
	start, last := time.Now(), time.Now()
	targets, err := distill.Compute(ctx, members, tgtV, examples, distill.Options{
		K: o.TeacherTopK, MaxTokens: o.MaxTokens,
		Progress: func(done, total int) {
			if time.Since(last) >= 30*time.Second {
				last = time.Now()
				fmt.Fprintf(os.Stderr, "qkv: the teacher has read %d of %d pairs (%s)\n", done, total, time.Since(start).Round(time.Second))
			}
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("train: interrupted while the teacher read the training data: %w (nothing was trained since the last save; the same command starts the run again, or resumes it)", err)
		}
		return fmt.Errorf("train: the teacher: %w", err)
	}
	fmt.Fprintf(os.Stderr, "qkv: the teacher read them in %s\n", time.Since(start).Round(time.Second))
	if err := tr.SetTeacher(targets); err != nil {
		return err
	}
	if id == nil { // a run from before run.json: nothing to key the copy to
		return nil
	}
	if id.TeacherSHA256 != fp {
		id.TeacherSHA256 = fp
		if err := id.Write(student.Dir); err != nil {
			return fmt.Errorf("train: recording the teacher's fingerprint: %w", err)
		}
	}
	// The copy only saves time: a run that cannot write it still trains.
	if err := targets.WriteFile(path, distill.Key(fp, examples, targets.K)); err != nil {
		fmt.Fprintf(os.Stderr, "qkv: warning: keeping the teacher's distributions for a resume: %v (a resume will run the teacher again)\n", err)
	}
	return nil
}

// checkSame compares settings with a record (SettingsJSON) and returns an
// error made by msg from the differences, if any.
func checkSame(s settings, record json.RawMessage, msg func(diffs string) string) error {
	got, err := train.SettingsJSON(s)
	if err != nil {
		return err
	}
	diffs, err := train.DiffSettings(record, got)
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		return nil
	}
	return errors.New(msg(train.DescribeDiffs(diffs, settingFlag)))
}

// legacyDefaults fills the zeros of options recorded by a qkv from before
// run identities, which meant the defaults (a zero warm-up and save
// interval included).
func legacyDefaults(o train.Options) train.Options {
	d := train.Defaults()
	o = o.WithDefaults()
	if o.Warmup == 0 {
		o.Warmup = d.Warmup
	}
	if o.SaveEvery.IsZero() {
		o.SaveEvery = d.SaveEvery
	}
	return o
}

// spreadSample returns the pairs of n sources taken at even steps through
// the file (all pairs when n is 0 or not less than the number of sources),
// in order of first appearance: a validation file grouped by catalogue or
// package, as qkv data writes them, is sampled from every group, not from
// the first ones only. A chosen source keeps every pair it has, wherever
// they are: its other targets are the metric's other references (a word's
// second pronunciation), and scoring against one of them would count a
// right answer as an error.
func spreadSample(pairs []corpus.Pair, n int) []corpus.Pair {
	first := make(map[string]int) // source → index among distinct sources
	var sources int
	for _, p := range pairs {
		if _, ok := first[p.Source]; !ok {
			first[p.Source] = sources
			sources++
		}
	}
	if n <= 0 || sources <= n {
		return pairs
	}
	// The k-th chosen source is the one of index ⌊k·sources/n⌋.
	chosen := make([]bool, sources)
	for k := range n {
		chosen[k*sources/n] = true
	}
	var out []corpus.Pair
	for _, p := range pairs {
		if chosen[first[p.Source]] {
			out = append(out, p)
		}
	}
	return out
}

// runTrainer runs the trainer with a progress display and a validation
// metric, and prints the outcome.
// log (if not nil) receives every step and is closed at the end.
func runTrainer(ctx context.Context, tr *train.Trainer, p *pipeline.Pipeline, validPairs []corpus.Pair, data pipeline.DataConfig, log *lossLog) error {
	if metric := chooseMetric(tf.metric, data); metric != "none" && len(validPairs) > 0 {
		sample := spreadSample(validPairs, tf.metricMax)
		noted := false
		tr.Metric = func(ctx context.Context, _ model.Model) (string, float64, error) {
			s, err := scorePairs(p, sample, metric, false, pipeline.Options{BatchSize: 256})
			if !noted { // the same sources every time: say it once
				noted = true
				for _, note := range []string{s.Unknown.note("train: validation metric"), s.truncatedNote("train: validation metric", data.MaxSrcLen)} {
					if note != "" {
						fmt.Fprintln(os.Stderr, note)
					}
				}
			}
			if metric == "rouge" {
				return "rougeL", s.Value, err
			}
			return metric, s.Value, err
		}
		tr.MetricHigherIsBetter = pipeline.MetricHigherIsBetter(metric)
		if tr.Options().BestBy == train.BestByMetric {
			way := "lowest"
			if tr.MetricHigherIsBetter {
				way = "highest"
			}
			fmt.Fprintf(os.Stderr, "qkv: best.safetensors keeps the validation of %s %s on %d validation pairs (--best-by metric)\n", way, metric, len(sample))
		}
	}
	show := newTrainDisplay(os.Stderr, tr.Options().TimeBudget)
	tr.OnStep = show.step
	if log != nil {
		tr.OnStep = func(p train.Progress) { log.step(p); show.step(p) }
	}
	tr.OnValid = show.valid
	tr.OnWarn = show.warn
	res, err := tr.Run(ctx)
	show.finish()
	if log != nil {
		if cerr := log.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	best := "no validation yet"
	if !math.IsNaN(res.BestMetric) {
		best = fmt.Sprintf("best validation %s %.2f%% (best.safetensors), lowest loss %.4f", res.Metric, res.BestMetric, res.BestLoss)
	} else if !math.IsNaN(res.BestLoss) {
		best = fmt.Sprintf("best validation loss %.4f", res.BestLoss)
	}
	fmt.Fprintf(os.Stderr, "qkv: stopped (%s) after %d steps, %d epochs; %s; checkpoints in %s\n",
		res.Stopped, res.Steps, res.Epochs, best, tf.out)
	return nil
}

// chooseMetric resolves --metric: a named metric, else the one the model
// recorded (data.metric), else WER for char→word data and BLEU for the rest.
func chooseMetric(m string, d pipeline.DataConfig) string {
	if m != "auto" {
		return m
	}
	if d.Metric != "" {
		return d.Metric
	}
	if d.SrcTokenizer == pipeline.TokChar && d.TgtTokenizer == pipeline.TokWord {
		return "wer"
	}
	return "bleu"
}

// readTrainValid reads --train and --valid, or holds out 2% of --train
// (at least one source's pairs) when --valid is not given.
func readTrainValid() (trainPairs, validPairs []corpus.Pair, heldOut bool, err error) {
	if trainPairs, err = readCorpus(tf.trainFile, tf.format); err != nil {
		return nil, nil, false, err
	}
	if len(trainPairs) == 0 {
		return nil, nil, false, fmt.Errorf("train: --train %s holds no pairs", tf.trainFile)
	}
	if tf.validFile == "" {
		trainPairs, validPairs, err = holdOut(trainPairs, 50)
		if err != nil {
			return nil, nil, false, fmt.Errorf("train: --train %s: %w", tf.trainFile, err)
		}
		return trainPairs, validPairs, true, nil
	}
	if validPairs, err = readCorpus(tf.validFile, tf.format); err != nil {
		return nil, nil, false, err
	}
	if len(validPairs) == 0 {
		return nil, nil, false, fmt.Errorf("train: --valid %s holds no pairs: give a validation file with pairs, or omit --valid to hold out 2%% of --train", tf.validFile)
	}
	return trainPairs, validPairs, false, nil
}

// holdOut moves the pairs of every n-th source (by a hash of the source, so
// all pronunciations of a word stay together) to a validation set. When
// that picks no source (a small corpus) or every source, the source with
// the smallest hash is held out alone; a corpus of one source cannot be
// split.
func holdOut(pairs []corpus.Pair, n int) (trainSet, validSet []corpus.Pair, err error) {
	var first string
	firstHash := ^uint32(0)
	sources := map[string]bool{}
	for _, p := range pairs {
		sources[p.Source] = true
		if h := fnv32(p.Source); h < firstHash || (h == firstHash && p.Source < first) {
			first, firstHash = p.Source, h
		}
	}
	if len(sources) < 2 {
		return nil, nil, fmt.Errorf("all %d pairs have one source: too few to hold out validation pairs; give --valid", len(pairs))
	}
	held := func(s string) bool { return fnv32(s)%uint32(n) == 0 }
	some, all := false, true
	for s := range sources {
		some = some || held(s)
		all = all && held(s)
	}
	if !some || all {
		held = func(s string) bool { return s == first }
	}
	for _, p := range pairs {
		if held(p.Source) {
			validSet = append(validSet, p)
		} else {
			trainSet = append(trainSet, p)
		}
	}
	return trainSet, validSet, nil
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

func (d *trainDisplay) warn(msg string) {
	if d.bar != nil {
		_ = d.bar.Clear()
	}
	fmt.Fprintf(d.w, "qkv: warning: %s\n", msg)
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
