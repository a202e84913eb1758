// Package train fits a model to a parallel corpus the way the Transformer
// paper describes (Vaswani et al. 2017, §5): batches by token count, Adam
// with the warm-up schedule, label smoothing (Szegedy et al. 2016), and
// gradient clipping by global norm (Pascanu et al. 2013), with validation,
// best and last checkpoints, early stopping, and exact resumption.
//
// Everything a run depends on is in the last checkpoint: the parameters,
// the optimizer's moments, the dropout generator's state and the position
// in the data. The order of batches in an epoch is a function of the seed
// and the epoch alone, so a resumed run sees the same batches, draws the
// same dropout masks and reproduces the losses of an uninterrupted run.
//
// The last checkpoint is written atomically at every validation point,
// every Options.SaveEvery steps or minutes, at the end and when the run is
// interrupted, so a run killed at any moment (kill -9, out of memory, a
// power cut) resumes from its latest save. A run directory belongs to one
// trainer at a time (Lock), and records what the run is (Identity), so a
// resume can refuse other settings or other data.
package train

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/qkv-dev/qkv/tensor"
)

// Options configure a training run. Zero values of the fields that cannot
// be zero (MaxTokens, Epochs, Schedule, LR, Beta1, Beta2, Eps, Accum) take
// the defaults of Defaults in New; Warmup and SaveEvery zero mean none.
type Options struct {
	MaxTokens      int           `json:"max_tokens"`      // padded tokens per batch, source and target together
	Epochs         int           `json:"epochs"`          // passes over the data at most
	MaxSteps       int64         `json:"max_steps"`       // optimizer steps at most (0: no limit)
	TimeBudget     time.Duration `json:"time_budget"`     // wall-clock limit for this invocation (0: none)
	Schedule       string        `json:"schedule"`        // noam | inverse-sqrt | cosine | constant
	LR             float64       `json:"lr"`              // noam: factor; inverse-sqrt and cosine: peak; constant: the rate
	Warmup         int64         `json:"warmup"`          // warm-up steps (0: none)
	Beta1          float64       `json:"beta1"`           // Adam
	Beta2          float64       `json:"beta2"`           // Adam
	Eps            float64       `json:"eps"`             // Adam
	WeightDecay    float64       `json:"weight_decay"`    // AdamW's decoupled decay
	ClipNorm       float64       `json:"clip_norm"`       // global gradient-norm limit (0: none)
	LabelSmoothing float32       `json:"label_smoothing"` // ε_ls
	Accum          int           `json:"accum"`           // batches per optimizer step
	ValidEvery     int64         `json:"valid_every"`     // steps between validations (0: once per epoch)
	Patience       int           `json:"patience"`        // validations without improvement (of BestBy) before stopping (0: never stop early)
	KeepSnapshots  int           `json:"keep_snapshots"`  // keep the parameters of the last N validation points as step-N.safetensors, for averaging (0: none)
	SaveEvery      Every         `json:"save_every"`      // write the last checkpoint this often besides validation points (zero: only there, at the end and on interrupt)
	Seed           uint64        `json:"seed"`            // data order and dropout
	// Precision of the matrix products in training: "" or "fp32" (float32),
	// or "bf16" (mixed precision, tensor.BF16: bfloat16 operands, float32
	// accumulation; weights, optimizer state, checkpoints, validation and
	// decoding stay float32). WithDefaults writes fp32 as "", so that a run
	// recorded before the option and one with --precision fp32 are the same.
	Precision string `json:"precision,omitempty"`
	// DecaySteps is where the cosine schedule reaches MinLR (0: at
	// MaxSteps), and MinLR the rate it ends at; both only with "cosine".
	// Omitted when zero, so runs recorded before them resume.
	DecaySteps int64   `json:"decay_steps,omitempty"`
	MinLR      float64 `json:"min_lr,omitempty"`
	// Teacher names the models whose next-token distributions the run
	// learns from besides the references (token-level distillation,
	// package distill): model directories or builtin:NAME, an ensemble when
	// several. TeacherWeight is λ, the teacher's share of the loss, and
	// TeacherTopK the symbols of its distribution kept at each position.
	// The trainer reads the teacher's distributions through SetTeacher;
	// all three are omitted without a teacher.
	Teacher       []string `json:"teacher,omitempty"`
	TeacherWeight float32  `json:"teacher_weight,omitempty"`
	TeacherTopK   int      `json:"teacher_top_k,omitempty"`
	// InitFrom names the trained model (a directory or builtin:NAME) whose
	// weights, shape, vocabularies and tokenizers a new run starts from;
	// the optimizer and the schedule start afresh (the caller sets the
	// weights). Recorded; omitted when the run started from scratch.
	InitFrom string `json:"init_from,omitempty"`
	// VocabFrom names the trained model whose vocabularies and tokenizers
	// a new run takes instead of building its own; recorded, omitted when
	// the run built them.
	VocabFrom string `json:"vocab_from,omitempty"`
	// BestBy is what makes a validation the best so far, for
	// best.safetensors and for Patience: "" for the validation loss (the
	// default; "loss" is written ""), or "metric" for the trainer's
	// validation metric (Trainer.Metric: WER, BLEU, …), which late in a
	// run can keep improving after the loss has stopped (joeynmt's
	// early_stopping_metric). Omitted for the loss, so runs recorded
	// before it resume.
	BestBy string `json:"best_by,omitempty"`
}

// BestByMetric is the value of Options.BestBy that chooses the best
// validation by the validation metric.
const BestByMetric = "metric"

// Teacher defaults: half the loss from the teacher (Kim & Rush 2016's
// word-level distillation mixes the two equally), its 8 likeliest symbols.
const (
	DefaultTeacherWeight = 0.5
	DefaultTeacherTopK   = 8
)

// CosineSteps is the step where the cosine schedule ends its decay:
// DecaySteps, or MaxSteps when DecaySteps is 0 (0 when neither is set).
func (o Options) CosineSteps() int64 {
	if o.DecaySteps > 0 {
		return o.DecaySteps
	}
	return o.MaxSteps
}

// Defaults are the paper's settings at the scale of a small model, with the
// last checkpoint saved at least every 10 minutes.
func Defaults() Options {
	return Options{
		MaxTokens: 4096, Epochs: 100, Schedule: "noam", LR: 1, Warmup: 4000,
		Beta1: 0.9, Beta2: 0.98, Eps: 1e-9, ClipNorm: 0, LabelSmoothing: 0.1,
		Accum: 1, Patience: 0, SaveEvery: Every{Time: 10 * time.Minute}, Seed: 1,
	}
}

// WithDefaults fills the zero fields that cannot be zero from Defaults.
func (o Options) WithDefaults() Options {
	d := Defaults()
	if o.MaxTokens == 0 {
		o.MaxTokens = d.MaxTokens
	}
	if o.Epochs == 0 {
		o.Epochs = d.Epochs
	}
	if o.Schedule == "" {
		o.Schedule = d.Schedule
	}
	if o.LR == 0 {
		o.LR = d.LR
	}
	if o.Beta1 == 0 {
		o.Beta1 = d.Beta1
	}
	if o.Beta2 == 0 {
		o.Beta2 = d.Beta2
	}
	if o.Eps == 0 {
		o.Eps = d.Eps
	}
	if o.Accum == 0 {
		o.Accum = d.Accum
	}
	o.Precision = NormalizePrecision(o.Precision)
	o.BestBy = NormalizeBestBy(o.BestBy)
	return o.WithDecayEnd()
}

// WithDecayEnd fixes where a cosine decay ends (CosineSteps) in DecaySteps,
// so that once recorded, a resume with more --max-steps keeps that end and
// trains on at MinLR.
func (o Options) WithDecayEnd() Options {
	if o.Schedule == "cosine" {
		o.DecaySteps = o.CosineSteps()
	}
	return o
}

// NormalizePrecision returns the recorded form of a precision: "" for
// fp32 (the default), the name otherwise.
func NormalizePrecision(p string) string {
	if p == "fp32" {
		return ""
	}
	return p
}

// NormalizeBestBy returns the recorded form of a BestBy: "" for the
// loss (the default), the name otherwise.
func NormalizeBestBy(b string) string {
	if b == "loss" {
		return ""
	}
	return b
}

// GraphPrecision returns the tensor precision of o.Precision.
func (o Options) GraphPrecision() (tensor.Precision, error) {
	p, err := tensor.ParsePrecision(o.Precision)
	if err != nil {
		return p, fmt.Errorf("train: --precision %q is not a precision: use fp32 or bf16 (config key train.precision)", o.Precision)
	}
	return p, nil
}

// Upper bounds of the options that size memory or work.
const (
	MaxMaxTokens = 1 << 20 // padded tokens in one batch
	MaxAccum     = 1 << 16 // batches per step
)

// optionFlags names the qkv train flag of each option that has one.
var optionFlags = map[string]string{
	"max_tokens": "--max-tokens", "epochs": "--epochs", "max_steps": "--max-steps", "time_budget": "--time-budget",
	"schedule": "--schedule", "lr": "--lr", "warmup": "--warmup", "weight_decay": "--weight-decay",
	"clip_norm": "--clip-norm", "label_smoothing": "--label-smoothing", "accum": "--accum",
	"valid_every": "--valid-every", "patience": "--patience", "keep_snapshots": "--keep-snapshots",
	"save_every": "--save-every", "precision": "--precision", "decay_steps": "--decay-steps", "min_lr": "--min-lr",
	"teacher": "--teacher", "teacher_weight": "--teacher-weight", "teacher_top_k": "--teacher-top-k",
	"best_by": "--best-by",
}

// outOfRange is the error for an option outside its range: it names the
// flag (if there is one) and the config key.
func outOfRange(key string, v any, want string) error {
	if f, ok := optionFlags[key]; ok {
		return fmt.Errorf("train: %s %v is out of range: it must be %s; config key train.%s", f, v, want, key)
	}
	return fmt.Errorf("train: train.%s %v is out of range: it must be %s", key, v, want)
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate checks every option against its range, as given: a zero that
// New would replace by a default is an error here, so that a flag or a
// config key set to 0 by mistake is reported rather than silently replaced.
// Errors name the flag and the config key.
func (o Options) Validate() error {
	switch o.Schedule {
	case "noam", "inverse-sqrt", "cosine", "constant":
	default:
		return fmt.Errorf("train: --schedule %q is not a schedule: use noam, inverse-sqrt, cosine or constant (config key train.schedule)", o.Schedule)
	}
	switch o.BestBy {
	case "", "loss", BestByMetric:
	default:
		return fmt.Errorf("train: --best-by %q is not a choice: use loss or metric (config key train.best_by)", o.BestBy)
	}
	checks := []struct {
		ok   bool
		key  string
		v    any
		want string
	}{
		{o.MaxTokens >= 2 && o.MaxTokens <= MaxMaxTokens, "max_tokens", o.MaxTokens, fmt.Sprintf("between 2 and %d", MaxMaxTokens)},
		{o.Epochs >= 1, "epochs", o.Epochs, "at least 1"},
		{o.MaxSteps >= 0, "max_steps", o.MaxSteps, "at least 0 (0: no limit)"},
		{o.TimeBudget >= 0, "time_budget", o.TimeBudget, "at least 0 (0: no limit)"},
		{o.LR > 0 && finite(o.LR), "lr", o.LR, "greater than 0"},
		{o.Warmup >= 0, "warmup", o.Warmup, "at least 0"},
		{o.Beta1 >= 0 && o.Beta1 < 1, "beta1", o.Beta1, "in [0, 1)"},
		{o.Beta2 >= 0 && o.Beta2 < 1, "beta2", o.Beta2, "in [0, 1)"},
		{o.Eps > 0 && finite(o.Eps), "eps", o.Eps, "greater than 0"},
		{o.WeightDecay >= 0 && finite(o.WeightDecay), "weight_decay", o.WeightDecay, "at least 0"},
		{o.ClipNorm >= 0 && finite(o.ClipNorm), "clip_norm", o.ClipNorm, "at least 0 (0: no clipping)"},
		{o.LabelSmoothing >= 0 && o.LabelSmoothing < 1, "label_smoothing", o.LabelSmoothing, "in [0, 1)"},
		{o.Accum >= 1 && o.Accum <= MaxAccum, "accum", o.Accum, fmt.Sprintf("between 1 and %d", MaxAccum)},
		{o.ValidEvery >= 0, "valid_every", o.ValidEvery, "at least 0 (0: once per epoch)"},
		{o.Patience >= 0, "patience", o.Patience, "at least 0 (0: never stop early)"},
		{o.KeepSnapshots >= 0, "keep_snapshots", o.KeepSnapshots, "at least 0 (0: none)"},
		{o.SaveEvery.Steps >= 0 && o.SaveEvery.Time >= 0, "save_every", o.SaveEvery, "a number of steps or a duration, at least 0"},
		{o.DecaySteps >= 0, "decay_steps", o.DecaySteps, "at least 0 (0: --max-steps)"},
		{o.MinLR >= 0 && finite(o.MinLR) && (o.MinLR < o.LR || o.MinLR == 0), "min_lr", o.MinLR, fmt.Sprintf("at least 0 and below the peak rate --lr %g", o.LR)},
	}
	for _, c := range checks {
		if !c.ok {
			return outOfRange(c.key, c.v, c.want)
		}
	}
	if o.Schedule == "cosine" {
		// The decay needs its end: a time budget or an epoch count does
		// not say at which step the run will stop.
		end := o.CosineSteps()
		if end == 0 {
			return fmt.Errorf("train: --schedule cosine decays to --min-lr at a known step: give --max-steps or --decay-steps (config keys train.max_steps, train.decay_steps)")
		}
		if end <= o.Warmup {
			return fmt.Errorf("train: --schedule cosine: the decay would end at step %d, within the warm-up (--warmup %d); use a shorter warm-up or a later end (--decay-steps, --max-steps)", end, o.Warmup)
		}
	} else if o.DecaySteps != 0 || o.MinLR != 0 {
		return fmt.Errorf("train: --decay-steps and --min-lr belong to --schedule cosine, not %s (config keys train.decay_steps, train.min_lr)", o.Schedule)
	}
	if len(o.Teacher) > 0 {
		if !(o.TeacherWeight > 0 && o.TeacherWeight <= 1) {
			return outOfRange("teacher_weight", o.TeacherWeight, "in (0, 1] with a teacher")
		}
		if o.TeacherTopK < 1 {
			return outOfRange("teacher_top_k", o.TeacherTopK, "at least 1 with a teacher")
		}
		for _, t := range o.Teacher {
			if strings.TrimSpace(t) == "" {
				return fmt.Errorf("train: --teacher has an empty model name (config key train.teacher)")
			}
		}
	} else if o.TeacherWeight != 0 || o.TeacherTopK != 0 {
		return fmt.Errorf("train: --teacher-weight and --teacher-top-k need a --teacher to learn from (config keys train.teacher_weight, train.teacher_top_k)")
	}
	_, err := o.GraphPrecision()
	return err
}

// Every is a period: a number of optimizer steps, or a wall-clock interval.
// Its text form (a flag, a config value) is an integer for steps ("500") or
// a Go duration ("10m", "90s"); "0" is never.
type Every struct {
	Steps int64
	Time  time.Duration
}

// ParseEvery reads "500" (steps) or "10m" (a duration).
func ParseEvery(s string) (Every, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Every{}, fmt.Errorf("%d steps is negative", n)
		}
		return Every{Steps: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Every{}, fmt.Errorf("%q is neither a number of steps (500) nor a duration (10m)", s)
	}
	if d < 0 {
		return Every{}, fmt.Errorf("%s is negative", d)
	}
	return Every{Time: d}, nil
}

// IsZero reports whether the period is never.
func (e Every) IsZero() bool { return e.Steps == 0 && e.Time == 0 }

func (e Every) String() string {
	switch {
	case e.Time != 0:
		return e.Time.String()
	default:
		return strconv.FormatInt(e.Steps, 10)
	}
}

// Set and Type make *Every a command-line flag value (pflag.Value).
func (e *Every) Set(s string) error {
	v, err := ParseEvery(s)
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// Type names the flag's value in help text.
func (e *Every) Type() string { return "steps|duration" }

// MarshalJSON writes a number of steps, or a duration as a string.
func (e Every) MarshalJSON() ([]byte, error) {
	if e.Time != 0 {
		return json.Marshal(e.Time.String())
	}
	return json.Marshal(e.Steps)
}

// UnmarshalJSON reads a number of steps, or a string ("500", "10m").
func (e *Every) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		if n < 0 {
			return fmt.Errorf("save_every: %d steps is negative", n)
		}
		*e = Every{Steps: n}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("save_every: want a number of steps or a duration such as \"10m\", got %s", b)
	}
	v, err := ParseEvery(s)
	if err != nil {
		return fmt.Errorf("save_every: %w", err)
	}
	*e = v
	return nil
}
