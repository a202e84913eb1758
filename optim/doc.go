// Package optim updates parameters from their gradients: SGD with momentum,
// Adam, AdamW, learning-rate schedules, gradient clipping, and the state an
// optimizer needs to resume training exactly.
//
// Sources, and what each type follows:
//
//   - SGD with momentum and Nesterov momentum as in torch.optim.SGD (the
//     momentum buffer starts as the first gradient; weight decay is L2,
//     added to the gradient).
//   - Adam: Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization",
//     Algorithm 1, written the way torch.optim.Adam computes it: bias
//     corrections 1−β₁ᵗ and 1−β₂ᵗ, and ε added to √v̂ (not to √v), so
//     θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε). Weight decay in Adam is L2
//     (added to the gradient before the moments).
//   - AdamW: Loshchilov & Hutter 2019, "Decoupled Weight Decay
//     Regularization": the decay multiplies the parameter by 1 − lr·λ before
//     the Adam step and never enters the moments (torch.optim.AdamW).
//   - NoamSchedule: Vaswani et al. 2017, "Attention Is All You Need", §5.3:
//     lr = factor · d_model^−0.5 · min(step^−0.5, step · warmup^−1.5), with
//     step counted from 1.
//   - InverseSqrtSchedule: fairseq's inverse_sqrt: linear warm-up from an
//     initial rate to the peak, then peak · √(warmup/step).
//   - ClipGradNorm: Pascanu, Mikolov & Bengio 2013, "On the difficulty of
//     training recurrent neural networks", §3.2: rescale the whole gradient
//     when its global L2 norm exceeds a threshold, as
//     torch.nn.utils.clip_grad_norm_ does.
//
// The tests replay torch.optim.Adam, AdamW and SGD, a LambdaLR schedule and
// clip_grad_norm_ from a golden file made by testdata/gen_optim.py (run with
// Debian's python3-torch: `/usr/bin/python3 optim/testdata/gen_optim.py`).
//
// # A training step
//
//	lr := sched.LR(step)          // step = 1, 2, … (the update about to be made)
//	opt.SetLR(lr)
//	norm := optim.ClipGradNorm(params, 1.0)
//	opt.Step()
//	optim.ZeroGrad(params)
//
// # Gradient accumulation
//
// tensor.Graph.Backward adds into each parameter's Grad (it never
// overwrites), so a batch too large for memory can be split into k
// micro-batches of equal size: for each micro-batch build the graph, scale
// its mean loss by 1/k, call Backward and Reset the graph; then call Step
// once and ZeroGrad. Because the loss is a mean, the accumulated gradient
// is exactly the gradient of the mean loss over the whole batch, and the
// single Step is the step the whole batch would have made (up to float32
// rounding in the order of the sums). With micro-batches of unequal size n_i
// (or token-level losses), scale each by n_i/N instead of 1/k. Clip after
// accumulating, never per micro-batch. TestGradientAccumulation checks this
// on a least-squares model.
//
// # Resuming
//
// State returns the optimizer's moment tensors, named "<param>.exp_avg",
// "<param>.exp_avg_sq" (Adam, AdamW) or "<param>.momentum_buffer" (SGD),
// and a small map with the step count and hyper-parameters. Save the
// tensors with package checkpoint and the map as JSON; LoadState checks
// every name and shape and restores the optimizer bit for bit, so a resumed
// run continues exactly as the uninterrupted one would.
//
// Step allocates nothing: it is a plain loop over the parameters' values.
// Parameters whose gradient is turned off (tensor.Tensor.NeedsGrad false)
// are skipped, as PyTorch skips parameters without a gradient.
package optim
