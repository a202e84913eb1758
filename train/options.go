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
package train

import (
	"fmt"
	"time"
)

// Options configure a training run. Zero values take the defaults of
// Defaults.
type Options struct {
	MaxTokens      int           `json:"max_tokens"`      // padded tokens per batch, source and target together
	Epochs         int           `json:"epochs"`          // passes over the data at most
	MaxSteps       int64         `json:"max_steps"`       // optimizer steps at most (0: no limit)
	TimeBudget     time.Duration `json:"time_budget"`     // wall-clock limit for this invocation (0: none)
	Schedule       string        `json:"schedule"`        // noam | inverse-sqrt | constant
	LR             float64       `json:"lr"`              // noam: factor; inverse-sqrt: peak; constant: the rate
	Warmup         int64         `json:"warmup"`          // warm-up steps
	Beta1          float64       `json:"beta1"`           // Adam
	Beta2          float64       `json:"beta2"`           // Adam
	Eps            float64       `json:"eps"`             // Adam
	WeightDecay    float64       `json:"weight_decay"`    // AdamW's decoupled decay
	ClipNorm       float64       `json:"clip_norm"`       // global gradient-norm limit (0: none)
	LabelSmoothing float32       `json:"label_smoothing"` // ε_ls
	Accum          int           `json:"accum"`           // batches per optimizer step
	ValidEvery     int64         `json:"valid_every"`     // steps between validations (0: once per epoch)
	Patience       int           `json:"patience"`        // validations without improvement before stopping (0: never stop early)
	KeepSnapshots  int           `json:"keep_snapshots"`  // keep the parameters of the last N validation points as step-N.safetensors, for averaging (0: none)
	Seed           uint64        `json:"seed"`            // data order and dropout
}

// Defaults are the paper's settings at the scale of a small model.
func Defaults() Options {
	return Options{
		MaxTokens: 4096, Epochs: 100, Schedule: "noam", LR: 1, Warmup: 4000,
		Beta1: 0.9, Beta2: 0.98, Eps: 1e-9, ClipNorm: 0, LabelSmoothing: 0.1,
		Accum: 1, Patience: 0, Seed: 1,
	}
}

// withDefaults fills zero fields from Defaults.
func (o Options) withDefaults() Options {
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
	if o.Warmup == 0 {
		o.Warmup = d.Warmup
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
	return o
}

func (o Options) validate() error {
	switch o.Schedule {
	case "noam", "inverse-sqrt", "constant":
	default:
		return fmt.Errorf("train: unknown schedule %q (noam, inverse-sqrt or constant)", o.Schedule)
	}
	if o.MaxTokens < 2 {
		return fmt.Errorf("train: max_tokens %d is too small", o.MaxTokens)
	}
	if o.LabelSmoothing < 0 || o.LabelSmoothing >= 1 {
		return fmt.Errorf("train: label_smoothing must be in [0, 1), got %g", o.LabelSmoothing)
	}
	if o.Accum < 1 {
		return fmt.Errorf("train: accum must be at least 1, got %d", o.Accum)
	}
	if o.KeepSnapshots < 0 {
		return fmt.Errorf("train: keep_snapshots must be at least 0, got %d", o.KeepSnapshots)
	}
	return nil
}
