package train

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/distill"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/optim"
	"github.com/qkv-dev/qkv/tensor"
)

// File names inside a run directory.
const (
	LastFile = "last.safetensors" // parameters, optimizer state and trainer state
	BestFile = "best.safetensors" // parameters of the best validation so far
)

// Progress is reported after every optimizer step.
type Progress struct {
	Step         int64
	Epoch        int     // counted from 0
	EpochDone    float64 // fraction of the current epoch done
	Loss         float64 // label-smoothed cross-entropy per target token of this step
	NLL          float64 // the same without label smoothing: −log p(target) per target token
	StepTokens   int64   // source and target tokens (BOS and EOS included) of this step's batches
	LR           float64
	GradNorm     float64 // before clipping
	Tokens       int64   // source and target tokens seen in this invocation
	TokensPerSec float64 // over this invocation
	Elapsed      time.Duration
	TotalSteps   int64 // the run's expected length in steps, for an ETA (0 if unknown)
}

// Validation is reported after every validation.
type Validation struct {
	Step    int64   `json:"step"`
	Epoch   int     `json:"epoch"`            // the epoch (from 0) it happened in, or at the end of
	Loss    float64 `json:"loss"`             // cross-entropy per target token, without label smoothing
	Metric  string  `json:"metric,omitempty"` // name of the extra metric, if any
	Value   float64 `json:"value,omitempty"`
	Best    bool    `json:"best,omitempty"` // the best so far (by Options.BestBy): best.safetensors was written
	Patient int     `json:"patient,omitempty"`
}

// Result summarizes a Run.
type Result struct {
	Steps    int64   // optimizer steps taken, in all (including before a resume)
	Epochs   int     // completed epochs
	Stopped  string  // why the run ended: epochs, max-steps, time-budget, early-stopping, interrupted
	BestLoss float64 // the lowest validation loss; NaN when there was no validation
	// BestMetric is the validation metric of best.safetensors with
	// Options.BestBy "metric" (NaN otherwise, or with no validation), and
	// Metric its name.
	BestMetric float64
	Metric     string
	LastLoss   float64
}

// MetricFunc scores the model on the validation data with a task metric
// (WER, BLEU, …) at each validation.
type MetricFunc func(ctx context.Context, m model.Model) (name string, value float64, err error)

// Trainer runs training of one model in one run directory.
type Trainer struct {
	OnStep  func(Progress)   // called after every step (may be nil)
	OnValid func(Validation) // called after every validation (may be nil)
	OnWarn  func(string)     // called with a warning about settings that will not work well (may be nil)
	Metric  MetricFunc       // extra validation metric (may be nil; needed by Options.BestBy "metric")
	// MetricHigherIsBetter says the metric's larger values are the better
	// ones (BLEU, chrF, ROUGE); false for error rates (WER, PER).
	MetricHigherIsBetter bool

	m       model.Model
	params  []*tensor.Tensor
	opt     *optim.Adam
	sched   optim.Schedule
	g       *tensor.Graph
	opts    Options
	dir     string
	batches []*batch.Batch // the training plan's batches, built once
	soft    []tensor.Soft  // the teacher's targets of each batch (SetTeacher), or nil
	valid   []*batch.Batch
	st      runState

	inStep     *stepStart // set while a training step runs
	updating   bool       // the optimizer is changing the parameters
	unsaveable bool       // the state is bad: a failure must not save it
}

// runState is what, beyond parameters and optimizer moments, a resumed run
// needs to continue exactly.
type runState struct {
	Step     int64   `json:"step"`
	Epoch    int     `json:"epoch"`
	Pos      int     `json:"pos"`       // batches of the epoch's order already consumed
	BestLoss float64 `json:"best_loss"` // valid only when Validated
	// BestMetric is the metric of the best validation with BestBy
	// "metric" (valid only when Validated).
	BestMetric float64 `json:"best_metric,omitempty"`
	Validated  bool    `json:"validated"`
	BadValids  int     `json:"bad_valids"`
	RNG        []byte  `json:"rng"`
	LastLoss   float64 `json:"last_loss"`
	Options    Options `json:"options"`
	// History is every validation of the run so far, in order: saved with
	// the rest of the state, so a resumed run's history is exactly its
	// saved past (ValidationsFile is written from it).
	History []Validation `json:"history,omitempty"`
}

// New prepares training of m on trainSet, validated on validSet (which may
// be empty), writing checkpoints to dir.
func New(m model.Model, trainSet, validSet []batch.Example, dir string, opts Options) (*Trainer, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(trainSet) == 0 {
		return nil, errors.New("train: the training set is empty")
	}
	if err := CheckMaxTokens(trainSet, opts.MaxTokens, "training"); err != nil {
		return nil, err
	}
	if err := CheckMaxTokens(validSet, opts.MaxTokens, "validation"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	t := &Trainer{m: m, params: m.Params(), opts: opts, dir: dir, g: tensor.NewGraph(opts.Seed)}
	prec, err := opts.GraphPrecision()
	if err != nil {
		return nil, err
	}
	t.g.SetPrecision(prec) // validation (ValidLoss) and decoding stay float32
	adam := optim.AdamConfig{Beta1: opts.Beta1, Beta2: opts.Beta2, Eps: opts.Eps, WeightDecay: opts.WeightDecay}
	if opts.WeightDecay > 0 {
		t.opt, err = optim.NewAdamW(t.params, adam)
	} else {
		t.opt, err = optim.NewAdam(t.params, adam)
	}
	if err != nil {
		return nil, err
	}
	switch opts.Schedule {
	case "noam":
		d := m.Config().DModel
		if d == 0 {
			d = m.Config().Hidden
		}
		t.sched = optim.NoamSchedule{DModel: d, Warmup: int(opts.Warmup), Factor: opts.LR}
	case "inverse-sqrt":
		t.sched = optim.InverseSqrtSchedule{Peak: opts.LR, Warmup: int(opts.Warmup)}
	case "cosine":
		t.sched = optim.CosineSchedule{Peak: opts.LR, Warmup: int(opts.Warmup), Total: opts.CosineSteps(), Min: opts.MinLR}
	default:
		t.sched = optim.ConstantSchedule(opts.LR)
	}
	if t.batches, err = makeBatches(trainSet, opts.MaxTokens); err != nil {
		return nil, err
	}
	if t.valid, err = makeBatches(validSet, opts.MaxTokens); err != nil {
		return nil, err
	}
	return t, nil
}

// PairCost is what one example costs in a batch's token budget: its longer
// side (the target with BOS and EOS) counted for source and target alike,
// as batch.Plan counts it.
func PairCost(e batch.Example) int { return 2 * max(len(e.Src), len(e.Tgt)+2) }

// CheckMaxTokens reports the longest example (of the set called what) that
// does not fit in a batch of maxTokens padded tokens on its own: batch.Plan
// would give it an oversized batch, larger than the budget that was meant
// to bound memory.
func CheckMaxTokens(examples []batch.Example, maxTokens int, what string) error {
	worst, at := 0, -1
	for i, e := range examples {
		if c := PairCost(e); c > worst {
			worst, at = c, i
		}
	}
	if worst <= maxTokens {
		return nil
	}
	e := examples[at]
	return fmt.Errorf("train: --max-tokens %d is smaller than the longest %s pair (#%d: %d source and %d target tokens, %d with <s> and </s>), which alone takes %d padded tokens; raise --max-tokens to at least %d, or lower --max-src-len/--max-tgt-len",
		maxTokens, what, at+1, len(e.Src), len(e.Tgt), len(e.Tgt)+2, worst, worst)
}

// SetTeacher gives a run with Options.Teacher its teacher's distributions
// over the training examples New was given (distill.Compute on the same
// examples, in the same order, with Options.TeacherTopK symbols a
// position); the loss then mixes them in with weight Options.TeacherWeight.
func (t *Trainer) SetTeacher(targets *distill.Targets) error {
	if len(t.opts.Teacher) == 0 {
		return errors.New("train: SetTeacher on a run without a teacher (Options.Teacher)")
	}
	if want := min(t.opts.TeacherTopK, t.m.Config().TgtVocab); targets.K != want {
		return fmt.Errorf("train: the teacher's targets keep %d symbols a position, the run's options %d (--teacher-top-k, at most the target vocabulary)", targets.K, want)
	}
	soft := make([]tensor.Soft, len(t.batches))
	for i, b := range t.batches {
		var err error
		if soft[i], err = targets.Batch(b); err != nil {
			return fmt.Errorf("train: the teacher's targets are not for this run's training data: %w", err)
		}
	}
	t.soft = soft
	return nil
}

func makeBatches(examples []batch.Example, maxTokens int) ([]*batch.Batch, error) {
	plan := batch.Plan(examples, maxTokens)
	out := make([]*batch.Batch, len(plan))
	for i, idx := range plan {
		b, err := batch.Make(examples, idx)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// Step is the number of optimizer steps taken so far.
func (t *Trainer) Step() int64 { return t.st.Step }

// BatchesPerEpoch is the number of training batches.
func (t *Trainer) BatchesPerEpoch() int { return len(t.batches) }

// Run trains until the epochs, the step limit or the time budget run out,
// validation stops improving, or ctx is cancelled; in every case it writes
// the last checkpoint before returning, so the run can be resumed.
//
// A failure after training started (an error of validation, of the metric
// or of a write, or a panic in a step or a callback) writes the last
// checkpoint too, as of the last whole step, before the error is returned:
// the run continues from there with Resume once the cause is fixed. Only
// when the state itself is bad (a diverged validation loss, a panic in the
// middle of a parameter update) is the last checkpoint left as it was.
func (t *Trainer) Run(ctx context.Context) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("train: panic at step %d: %v\n%s", t.st.Step, p, debug.Stack())
			if t.inStep != nil {
				t.rollBackStep()
			}
		}
		if err == nil {
			return
		}
		if t.unsaveable {
			err = fmt.Errorf("%w (%s in %s was left as it was, from its last save)", err, LastFile, t.dir)
			return
		}
		if serr := t.saveLast(); serr != nil {
			err = fmt.Errorf("%w; and saving the run after that failed too: %v", err, serr)
			return
		}
		err = fmt.Errorf("%w; the run was saved at step %d in %s: fix the cause and continue it with --resume", err, t.st.Step, filepath.Join(t.dir, LastFile))
	}()
	return t.run(ctx)
}

// stepStart is what a step changes in the trainer's state before its
// parameter update: a step that fails before the update is rolled back to
// it, so the saved run replays that step on resume.
type stepStart struct {
	pos int
	rng []byte
}

// rollBackStep undoes a step that failed (panicked) part-way. Before the
// update only the data position, the random state and the gradients had
// changed; during the update the parameters may be half-changed, and the
// state must not be saved.
func (t *Trainer) rollBackStep() {
	if t.updating {
		t.unsaveable = true
		return
	}
	t.st.Pos = t.inStep.pos
	if err := t.g.SetRNGState(t.inStep.rng); err != nil {
		t.unsaveable = true
	}
	t.g.Reset()
	optim.ZeroGrad(t.params)
	t.inStep = nil
}

func (t *Trainer) run(ctx context.Context) (Result, error) {
	if len(t.opts.Teacher) > 0 && t.soft == nil {
		return Result{}, fmt.Errorf("train: the run learns from a teacher (%s), whose distributions were not given (SetTeacher)", strings.Join(t.opts.Teacher, ", "))
	}
	if t.opts.BestBy == BestByMetric && t.Metric == nil && len(t.valid) > 0 {
		return Result{}, errors.New("train: --best-by metric chooses best.safetensors by the validation metric, but the run has none (--metric none): name a metric, or use --best-by loss")
	}
	start := time.Now()
	lastSave := start
	var tokens int64
	res := Result{Stopped: "epochs"}
	total := t.TotalSteps()
	firstStep := t.st.Step
	budgetChecked := t.warnWarmup(total) || t.opts.TimeBudget == 0
loop:
	for t.st.Epoch < t.opts.Epochs {
		order := batch.Shuffled(len(t.batches), t.opts.Seed, t.st.Epoch)
		for t.st.Pos < len(order) {
			switch {
			case ctx.Err() != nil:
				res.Stopped = "interrupted"
				break loop
			case t.opts.MaxSteps > 0 && t.st.Step >= t.opts.MaxSteps:
				res.Stopped = "max-steps"
				break loop
			case t.opts.TimeBudget > 0 && time.Since(start) >= t.opts.TimeBudget:
				res.Stopped = "time-budget"
				break loop
			}
			rng, err := t.g.RNGState()
			if err != nil {
				return res, err
			}
			t.inStep = &stepStart{pos: t.st.Pos, rng: rng}
			loss, nll, ntok, norm := t.trainStep(order)
			t.inStep = nil
			tokens += ntok
			if t.OnStep != nil {
				el := time.Since(start)
				t.OnStep(Progress{
					Step: t.st.Step, Epoch: t.st.Epoch, EpochDone: float64(t.st.Pos) / float64(len(order)),
					Loss: loss, NLL: nll, StepTokens: ntok, LR: t.opt.LR(), GradNorm: norm, Tokens: tokens,
					TokensPerSec: float64(tokens) / el.Seconds(), Elapsed: el, TotalSteps: total,
				})
			}
			if !budgetChecked {
				budgetChecked = t.warnBudget(time.Since(start), t.st.Step-firstStep)
			}
			if t.opts.ValidEvery > 0 && t.st.Step%t.opts.ValidEvery == 0 {
				stop, err := t.checkpointPoint(ctx, t.st.Epoch)
				if err != nil {
					return res, err
				}
				lastSave = time.Now()
				if stop {
					res.Stopped = "early-stopping"
					break loop
				}
			} else if e := t.opts.SaveEvery; (e.Steps > 0 && t.st.Step%e.Steps == 0) || (e.Time > 0 && time.Since(lastSave) >= e.Time) {
				if err := t.saveLast(); err != nil {
					return res, err
				}
				lastSave = time.Now()
			}
		}
		t.st.Epoch++
		t.st.Pos = 0
		if t.opts.ValidEvery == 0 {
			stop, err := t.checkpointPoint(ctx, t.st.Epoch-1)
			if err != nil {
				return res, err
			}
			lastSave = time.Now()
			if stop {
				res.Stopped = "early-stopping"
				break
			}
		}
	}
	if err := t.saveLast(); err != nil {
		return res, err
	}
	res.Steps, res.Epochs, res.LastLoss = t.st.Step, t.st.Epoch, t.st.LastLoss
	res.BestLoss, res.BestMetric = math.NaN(), math.NaN()
	if t.st.Validated {
		res.BestLoss = t.st.BestLoss
		if t.opts.BestBy == BestByMetric {
			res.BestMetric, res.Metric = t.st.BestMetric, t.metricName()
		}
	}
	return res, nil
}

// TotalSteps is the run's length in optimizer steps: the epochs' steps, or
// MaxSteps if that is smaller.
func (t *Trainer) TotalSteps() int64 {
	stepsPerEpoch := int64((len(t.batches) + t.opts.Accum - 1) / t.opts.Accum)
	total := int64(t.opts.Epochs) * stepsPerEpoch
	if t.opts.MaxSteps > 0 && t.opts.MaxSteps < total {
		total = t.opts.MaxSteps
	}
	return total
}

// DescribeSchedule says in words what learning rate the run's schedule
// gives and when: its peak and the step it reaches it, and what follows.
// Noam's --lr is a factor, not a rate (Vaswani et al. 2017, §5.3), so the
// rate it makes is spelled out, for a run whose model size sets it.
func (t *Trainer) DescribeSchedule() string {
	o := t.opts
	peakAt := int64(max(o.Warmup, 1))
	peak := t.sched.LR(peakAt)
	rise := fmt.Sprintf("rising to %.3g at step %d", peak, peakAt)
	if peakAt == 1 {
		rise = fmt.Sprintf("%.3g from the first step (no warm-up)", peak)
	}
	switch o.Schedule {
	case "noam":
		return fmt.Sprintf("noam: %s (--lr %g is the schedule's factor: %g·d_model^−0.5·warmup^−0.5), then falling as 1/√step",
			rise, o.LR, o.LR)
	case "inverse-sqrt":
		return fmt.Sprintf("inverse-sqrt: %s, then falling as 1/√step", rise)
	case "cosine":
		return fmt.Sprintf("cosine: %s, then down to %.3g at step %d", rise, o.MinLR, o.CosineSteps())
	}
	return fmt.Sprintf("constant: %.3g", o.LR)
}

func (t *Trainer) warn(format string, args ...any) {
	if t.OnWarn != nil {
		t.OnWarn(fmt.Sprintf(format, args...))
	}
}

// warnWarmup warns, before the first step, when the learning rate would
// still be warming up at the run's last step, and reports whether it did;
// it also warns when the run ends before a cosine decay does.
func (t *Trainer) warnWarmup(total int64) bool {
	if t.opts.Schedule == "cosine" && t.opts.CosineSteps() > total && t.st.Step < total {
		// The epochs end the run before the decay does.
		t.warn("the cosine decay ends at step %d (--decay-steps, or --max-steps), after the run's last step, %d (--epochs %d): the rate will still be %.3g when the run stops; use --decay-steps %d",
			t.opts.CosineSteps(), total, t.opts.Epochs, t.sched.LR(total), total)
	}
	if t.opts.Schedule == "constant" || t.opts.Warmup <= total || t.st.Step >= total {
		return false
	}
	limit := fmt.Sprintf("--epochs %d (%d steps)", t.opts.Epochs, total)
	if t.opts.MaxSteps > 0 && t.opts.MaxSteps == total {
		limit = fmt.Sprintf("--max-steps %d", total)
	}
	t.warn("the warm-up (--warmup %d steps) is longer than the whole run, %s: the learning rate will still be rising when the run stops; use --warmup %d or less (a tenth of the run is usual)",
		t.opts.Warmup, limit, max(total/10, 1))
	return true
}

// warnBudget estimates, after the first steps of this invocation, how many
// steps the time budget allows, and warns when the warm-up will not finish
// in them. It reports whether the check is done.
func (t *Trainer) warnBudget(elapsed time.Duration, steps int64) bool {
	// Wait for 20 steps and a twentieth of the budget: the first steps of
	// a run are not yet typical of its speed (a 50-minute run estimated
	// from its first 20 steps came out just above its warm-up and stayed
	// silent, then ended 15% short of it).
	if steps < 20 || elapsed < t.opts.TimeBudget/20 {
		return false // too early to tell
	}
	if t.opts.Schedule == "constant" || t.opts.Warmup == 0 {
		return true
	}
	perStep := elapsed / time.Duration(steps)
	if perStep <= 0 {
		return true
	}
	est := t.st.Step + int64((t.opts.TimeBudget-elapsed)/perStep)
	if end := t.opts.CosineSteps(); t.opts.Schedule == "cosine" && t.opts.Warmup <= est && est < end-end/20 {
		t.warn("at %s a step, --time-budget %s allows about %d steps in all, fewer than the cosine decay's %d: the rate will still be about %.3g when the budget ends; a decay that ends with the run anneals it (--decay-steps %d)",
			perStep.Round(time.Millisecond), t.opts.TimeBudget, est, end, t.sched.LR(est), est)
	}
	if t.opts.Warmup > est {
		t.warn("at %s a step, --time-budget %s allows about %d steps in all, fewer than the warm-up (--warmup %d): the learning rate will still be rising when the budget ends; use --warmup %d or less",
			perStep.Round(time.Millisecond), t.opts.TimeBudget, est, t.opts.Warmup, max(est/10, 1))
	}
	return true
}

// trainStep runs Accum batches forward and backward and makes one update.
// loss and nll are means over the batches of per-token means.
func (t *Trainer) trainStep(order []int) (loss, nll float64, tokens int64, norm float64) {
	n := 0
	for a := 0; a < t.opts.Accum && t.st.Pos < len(order); a++ {
		i := order[t.st.Pos]
		b := t.batches[i]
		t.st.Pos++
		logits := t.m.Forward(t.g, b)
		var ce *tensor.Tensor
		var bnll float64
		if t.soft != nil {
			ce, bnll = t.g.CrossEntropyDistillNLL(logits, b.TgtOut, batch.PAD, t.opts.LabelSmoothing, t.soft[i], t.opts.TeacherWeight)
		} else {
			ce, bnll = t.g.CrossEntropyNLL(logits, b.TgtOut, batch.PAD, t.opts.LabelSmoothing)
		}
		loss += float64(ce.Item())
		nll += bnll
		t.g.Backward(t.g.Scale(ce, 1/float32(t.opts.Accum)))
		t.g.Reset()
		tokens += int64(b.SrcTokens + b.TgtTokens)
		n++
	}
	// A short last group (fewer than Accum batches) is scaled as if full;
	// rescale so the update is the mean over the batches actually seen.
	if n < t.opts.Accum {
		s := float32(t.opts.Accum) / float32(n)
		for _, p := range t.params {
			for i := range p.Grad {
				p.Grad[i] *= s
			}
		}
	}
	loss /= float64(n)
	nll /= float64(n)
	if t.opts.ClipNorm > 0 {
		norm = optim.ClipGradNorm(t.params, t.opts.ClipNorm)
	} else {
		norm = optim.GradNorm(t.params)
	}
	t.st.Step++
	t.opt.SetLR(t.sched.LR(t.st.Step))
	if !math.IsNaN(norm) && !math.IsInf(norm, 0) {
		t.updating = true
		t.opt.Step()
		t.updating = false
	}
	optim.ZeroGrad(t.params)
	t.st.LastLoss = loss
	return loss, nll, tokens, norm
}

// ValidLoss is the cross-entropy per target token (no label smoothing) of m
// on batches, computed without recording gradients or dropout.
func ValidLoss(m model.Model, batches []*batch.Batch) float64 {
	g := tensor.NewGraph(0)
	g.SetTraining(false)
	g.SetNoGrad(true)
	var sum float64
	var count int
	for _, b := range batches {
		logits := m.Forward(g, b)
		ce, n := g.CrossEntropySum(logits, b.TgtOut, batch.PAD, 0)
		sum += float64(ce.Item())
		count += n
		g.Reset()
	}
	if count == 0 {
		return math.NaN()
	}
	return sum / float64(count)
}

// checkpointPoint runs at the end of every epoch, or every ValidEvery
// steps: it validates, keeps a snapshot of the parameters if asked to, and
// writes the last checkpoint. The last checkpoint comes after best and the
// snapshot, so a run killed in between resumes before this point, replays
// the same steps and writes the same files again.
func (t *Trainer) checkpointPoint(ctx context.Context, epoch int) (stop bool, err error) {
	if stop, err = t.validate(ctx, epoch); err != nil {
		return false, err
	}
	if t.opts.KeepSnapshots > 0 {
		if err := t.saveSnapshot(); err != nil {
			return false, err
		}
	}
	if err := t.saveLast(); err != nil {
		return false, err
	}
	return stop, nil
}

// SnapshotPattern is the file name pattern of the parameter snapshots that
// Options.KeepSnapshots keeps: step-<step, 8 digits>.safetensors.
const SnapshotPattern = "step-*.safetensors"

// saveSnapshot writes the parameters as step-<step>.safetensors and removes
// all but the newest KeepSnapshots snapshots.
func (t *Trainer) saveSnapshot() error {
	path := filepath.Join(t.dir, fmt.Sprintf("step-%08d.safetensors", t.st.Step))
	if err := checkpoint.Save(path, t.params, map[string]string{"step": fmt.Sprint(t.st.Step), "epoch": fmt.Sprint(t.st.Epoch)}); err != nil {
		return err
	}
	snaps, err := Snapshots(t.dir)
	if err != nil {
		return err
	}
	for len(snaps) > t.opts.KeepSnapshots {
		if err := os.Remove(snaps[0]); err != nil {
			return fmt.Errorf("train: removing an old snapshot: %w", err)
		}
		snaps = snaps[1:]
	}
	return nil
}

// Snapshots lists the parameter snapshots in a run directory, oldest first.
func Snapshots(dir string) ([]string, error) {
	snaps, err := filepath.Glob(filepath.Join(dir, SnapshotPattern))
	if err != nil {
		return nil, err
	}
	// By step: the step is zero-padded to 8 digits, but a run past 10⁸
	// steps has longer names. Names that are not a step (step-x.safetensors,
	// written by someone else) are left out: pruning must not remove them.
	snaps = slices.DeleteFunc(snaps, func(p string) bool { _, ok := SnapshotStep(p); return !ok })
	slices.SortFunc(snaps, func(a, b string) int {
		sa, _ := SnapshotStep(a)
		sb, _ := SnapshotStep(b)
		return cmp.Compare(sa, sb)
	})
	return snaps, nil
}

// validate computes the validation loss (and metric), writes the best
// checkpoint when the validation is the best so far (by Options.BestBy),
// and reports whether to stop early.
func (t *Trainer) validate(ctx context.Context, epoch int) (stop bool, err error) {
	if len(t.valid) == 0 {
		return false, nil
	}
	v := Validation{Step: t.st.Step, Epoch: epoch, Loss: ValidLoss(t.m, t.valid)}
	if !finite(v.Loss) {
		t.unsaveable = true // the weights are no good: keep the last save
		return false, fmt.Errorf("train: the validation loss at step %d is %v: training diverged (%s); start over with a lower --lr, a longer --warmup or --clip-norm 1",
			t.st.Step, v.Loss, t.bestNote())
	}
	// The metric comes before any bookkeeping, so that a failing metric
	// leaves the run as it was: saved, it resumes exactly.
	if t.Metric != nil {
		if v.Metric, v.Value, err = t.Metric(ctx, t.m); err != nil {
			return false, fmt.Errorf("train: validation metric at step %d: %w", t.st.Step, err)
		}
	}
	first := !t.st.Validated
	if first || v.Loss < t.st.BestLoss {
		t.st.BestLoss = v.Loss
		v.Best = true
	}
	if t.opts.BestBy == BestByMetric {
		v.Best = finite(v.Value) && (first || t.metricBetter(v.Value, t.st.BestMetric))
		if v.Best {
			t.st.BestMetric = v.Value
		}
	}
	t.st.Validated = true
	if v.Best {
		t.st.BadValids = 0
		meta := map[string]string{"step": fmt.Sprint(t.st.Step), "valid_loss": fmt.Sprint(v.Loss)}
		if v.Metric != "" {
			meta["valid_"+v.Metric] = fmt.Sprint(v.Value)
		}
		if err := checkpoint.Save(filepath.Join(t.dir, BestFile), t.params, meta); err != nil {
			return false, err
		}
	} else {
		t.st.BadValids++
	}
	v.Patient = t.st.BadValids
	t.st.History = append(t.st.History, v)
	if err := t.writeValidations(); err != nil {
		return false, err
	}
	if t.OnValid != nil {
		t.OnValid(v)
	}
	return t.opts.Patience > 0 && t.st.BadValids >= t.opts.Patience, nil
}

// metricBetter reports whether the metric's value a beats b.
func (t *Trainer) metricBetter(a, b float64) bool {
	if t.MetricHigherIsBetter {
		return a > b
	}
	return a < b
}

// bestNote says what best.safetensors holds, for an error message.
func (t *Trainer) bestNote() string {
	switch {
	case !t.st.Validated:
		return "no best.safetensors yet"
	case t.opts.BestBy == BestByMetric:
		return fmt.Sprintf("best.safetensors holds the best weights so far (validation %s %.2f)", t.metricName(), t.st.BestMetric)
	}
	return fmt.Sprintf("best.safetensors holds the best weights so far (validation loss %.4f)", t.st.BestLoss)
}

// metricName is the name of the validation metric in the run's history
// ("metric" before the first validation).
func (t *Trainer) metricName() string {
	for _, v := range slices.Backward(t.st.History) {
		if v.Metric != "" {
			return v.Metric
		}
	}
	return "metric"
}

// ValidationsFile is the run directory's table of every validation so
// far (as joeynmt's validations.txt): one line each, tab-separated, under a
// header naming the columns — step, epoch (from 1), loss (validation
// cross-entropy per target token, no label smoothing), the metric's value
// under its name (e.g. wer, in percent) when there is one, and best (1
// when best.safetensors was written). qkv plot --kind loss draws a column
// of it: "valid WER=run/validations.tsv#wer".
const ValidationsFile = "validations.tsv"

// writeValidations rewrites ValidationsFile from the run's history,
// atomically: whole, or as it was.
func (t *Trainer) writeValidations() error {
	return WriteValidations(filepath.Join(t.dir, ValidationsFile), t.st.History)
}

// WriteValidations writes history as ValidationsFile's table to path,
// atomically.
func WriteValidations(path string, history []Validation) error {
	var b strings.Builder
	metric := ""
	for _, v := range history {
		if v.Metric != "" {
			metric = v.Metric
			break
		}
	}
	b.WriteString("step\tepoch\tloss")
	if metric != "" {
		b.WriteString("\t" + metric)
	}
	b.WriteString("\tbest\n")
	for _, v := range history {
		fmt.Fprintf(&b, "%d\t%d\t%.6f", v.Step, v.Epoch+1, v.Loss)
		if metric != "" {
			if v.Metric == metric {
				fmt.Fprintf(&b, "\t%.4f", v.Value)
			} else {
				b.WriteString("\t") // a validation made without the metric
			}
		}
		best := 0
		if v.Best {
			best = 1
		}
		fmt.Fprintf(&b, "\t%d\n", best)
	}
	return atomicfile.WriteFile(path, []byte(b.String()))
}

// optimPrefix names optimizer tensors inside the last checkpoint.
const optimPrefix = "optim."

// saveLast writes parameters, optimizer state and run state to one file,
// atomically, so the three can never disagree.
func (t *Trainer) saveLast() error {
	rng, err := t.g.RNGState()
	if err != nil {
		return err
	}
	t.st.RNG = rng
	t.st.Options = t.opts
	runJSON, err := json.Marshal(t.st)
	if err != nil {
		return err
	}
	optTensors, optMeta := t.opt.State()
	optJSON, err := json.Marshal(optMeta)
	if err != nil {
		return err
	}
	all := append([]*tensor.Tensor(nil), t.params...)
	for _, o := range optTensors {
		r := tensor.FromData(o.Data, o.Shape...)
		r.Name = optimPrefix + o.Name
		all = append(all, r)
	}
	meta := map[string]string{"trainer": string(runJSON), "optimizer": string(optJSON), "step": fmt.Sprint(t.st.Step)}
	return checkpoint.Save(filepath.Join(t.dir, LastFile), all, meta)
}

// Resume restores parameters, optimizer and run state from the run
// directory's last checkpoint.
// A run killed before its first save has nothing to resume from: Resume
// then returns an error wrapping ErrNoCheckpoint.
//
// Snapshots from after the resumed step (written by the interrupted run
// after its last save) are removed: the resumed run writes its own, and
// pruning must never count the dead run's.
func (t *Trainer) Resume() error {
	path := filepath.Join(t.dir, LastFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("resume: %w: %s holds no %s (the run was stopped before its first save); start over with --overwrite", ErrNoCheckpoint, t.dir, LastFile)
	}
	optTensors, _ := t.opt.State()
	shadows := make([]*tensor.Tensor, len(optTensors))
	for i, o := range optTensors {
		shadows[i] = tensor.FromData(o.Data, o.Shape...)
		shadows[i].Name = optimPrefix + o.Name
	}
	if err := checkpoint.Load(path, append(append([]*tensor.Tensor(nil), t.params...), shadows...)); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	meta, err := checkpoint.ReadMetadata(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var st runState
	if err := json.Unmarshal([]byte(meta["trainer"]), &st); err != nil {
		return fmt.Errorf("resume: %s: trainer state: %w", path, err)
	}
	var optMeta map[string]any
	if err := json.Unmarshal([]byte(meta["optimizer"]), &optMeta); err != nil {
		return fmt.Errorf("resume: %s: optimizer state: %w", path, err)
	}
	// shadows already hold the moments (they share the optimizer's memory);
	// LoadState restores the scalars and checks the names and shapes.
	if err := t.opt.LoadState(optTensors, optMeta); err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if err := t.g.SetRNGState(st.RNG); err != nil {
		return fmt.Errorf("resume: %s: random state: %w", path, err)
	}
	st.Options = t.opts
	t.st = st
	t.opt.SetLR(t.sched.LR(t.st.Step))
	// The table holds the saved history only: validations the interrupted
	// run made after its last save are made again.
	if len(t.st.History) > 0 {
		if err := t.writeValidations(); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	snaps, err := Snapshots(t.dir)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if step, ok := SnapshotStep(s); ok && step > t.st.Step {
			if err := os.Remove(s); err != nil {
				return fmt.Errorf("resume: removing a snapshot from after step %d: %w", t.st.Step, err)
			}
		}
	}
	return nil
}

// ErrNoCheckpoint is the error of a resume in a run directory that holds no
// last checkpoint.
var ErrNoCheckpoint = errors.New("the run never saved a checkpoint")

// SnapshotStep is the step of a snapshot's file name (step-<step>.safetensors).
func SnapshotStep(path string) (int64, bool) {
	name := filepath.Base(path)
	digits, ok := strings.CutPrefix(name, "step-")
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, ".safetensors"); !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil && n >= 0
}

// Options are the trainer's options, with defaults filled in.
func (t *Trainer) Options() Options { return t.opts }
