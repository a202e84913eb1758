#!/usr/bin/env python3
"""Golden values for the tensor package's operations, from PyTorch (float64).

Run: /usr/bin/python3 internal/golden/gen_ops.py   (needs Debian's python3-torch)
"""
import torch

from golden_common import case, rand

torch.manual_seed(0)
g = torch.Generator().manual_seed(42)

case("matmul", lambda a, b: a @ b, {"a": rand(g, 3, 5), "b": rand(g, 5, 4)})
case("matmul_ta_tb", lambda a, b: a.T @ b.T, {"a": rand(g, 5, 3), "b": rand(g, 4, 5)})
case("bmm", lambda a, b: torch.bmm(a, b.transpose(1, 2)), {"a": rand(g, 2, 3, 4), "b": rand(g, 2, 5, 4)})
case("linear", lambda x, w, b: torch.nn.functional.linear(x, w, b),
     {"x": rand(g, 2, 3, 4), "w": rand(g, 5, 4), "b": rand(g, 5)})

# Elementwise arithmetic with suffix broadcasting (b's shape is a suffix of a's).
F = torch.nn.functional
case("add", lambda a, b: a + b, {"a": rand(g, 2, 3, 4), "b": rand(g, 2, 3, 4)})
case("add_bcast", lambda a, b: a + b, {"a": rand(g, 2, 3, 4), "b": rand(g, 3, 4)})
case("add_bias", lambda a, b: a + b, {"a": rand(g, 2, 3, 4), "b": rand(g, 4)})
case("add_scaled", lambda a, b: a + 0.3 * b, {"a": rand(g, 2, 3, 4), "b": rand(g, 3, 4)}, attrs={"s": 0.3})
case("mul", lambda a, b: a * b, {"a": rand(g, 2, 3, 4), "b": rand(g, 2, 3, 4)})
case("mul_bcast", lambda a, b: a * b, {"a": rand(g, 2, 3, 4), "b": rand(g, 3, 4)})
case("scale", lambda a: -1.7 * a, {"a": rand(g, 3, 5)}, attrs={"s": -1.7})

# Concatenation and slicing along an axis.
case("concat_axis1", lambda a, b, c: torch.cat([a, b, c], dim=1),
     {"a": rand(g, 2, 3, 4), "b": rand(g, 2, 1, 4), "c": rand(g, 2, 2, 4)})
case("concat_last4", lambda a, b, c, d: torch.cat([a, b, c, d], dim=-1),
     {"a": rand(g, 2, 3, 2), "b": rand(g, 2, 3, 1), "c": rand(g, 2, 3, 3), "d": rand(g, 2, 3, 2)})
case("slice_axis1", lambda x: x[:, 1:4, :], {"x": rand(g, 2, 5, 3)}, attrs={"axis": 1, "start": 1, "end": 4})
case("slice_last", lambda x: x[..., 2:5], {"x": rand(g, 3, 2, 6)}, attrs={"axis": -1, "start": 2, "end": 5})
case("split", lambda x: dict(zip(["out0", "out1", "out2"], torch.split(x, [2, 3, 1], dim=-1))),
     {"x": rand(g, 2, 3, 6)})

# Embedding lookup with repeated ids (their gradients add up).
case("embedding", lambda w, ids: F.embedding(ids, w),
     {"w": rand(g, 7, 3), "ids": torch.tensor([[1, 4, 4, 0], [6, 1, 2, 4]])})

# Activations.
case("tanh", torch.tanh, {"x": rand(g, 3, 5, lo=-3, hi=3)})
case("sigmoid", torch.sigmoid, {"x": rand(g, 3, 5, lo=-6, hi=6)})
case("relu", torch.relu, {"x": rand(g, 3, 5, lo=-3, hi=3)})
case("gelu", F.gelu, {"x": rand(g, 3, 5, lo=-4, hi=4)})


# Softmax and log-softmax along the last axis. Masks are stored as "keep"
# (1 keep, 0 drop; JSON has no -Inf); the Go test turns them into additive
# 0/-Inf masks. qkv gives zeros and zero gradient on fully masked rows (PyTorch
# gives NaN), and log-softmax outputs at masked positions are constants (-Inf)
# that pass no gradient: the references express both with safe masks.
def masked(fn, x, keep, log):
    full = keep.expand_as(x)
    dead = (full.sum(-1, keepdim=True) == 0).to(x.dtype)
    add = torch.where(full > 0, 0.0, float("-inf")).to(x.dtype)
    add = torch.where(dead > 0, 0.0, add)
    y = fn(x + add, dim=-1)
    if log:
        y = torch.where(full > 0, y, torch.zeros_like(y))
    return y * (1 - dead)


causal_dead = torch.tensor([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.float64)
case("softmax", lambda x: torch.softmax(x, dim=-1), {"x": rand(g, 2, 3, 5, lo=-3, hi=3)})
case("softmax_mask", lambda x, keep: masked(torch.softmax, x, keep, False),
     {"x": rand(g, 2, 3, 5, lo=-3, hi=3), "keep": causal_dead})
case("log_softmax", lambda x: torch.log_softmax(x, dim=-1), {"x": rand(g, 2, 3, 5, lo=-3, hi=3)})
keep_full = (torch.rand(2, 3, 5, generator=g) > 0.4).to(torch.float64)
keep_full[1, 2] = 0  # a fully masked row
keep_full[0, 0, 1] = 1
case("log_softmax_mask", lambda x, keep: masked(torch.log_softmax, x, keep, True),
     {"x": rand(g, 2, 3, 5, lo=-3, hi=3), "keep": keep_full})

# Layer norm over the last axis (biased variance), with and without affine.
case("layernorm", lambda x, gamma, beta: F.layer_norm(x, (6,), gamma, beta, 1e-5),
     {"x": rand(g, 2, 3, 6, lo=-2, hi=3), "gamma": rand(g, 6, lo=0.5, hi=1.5), "beta": rand(g, 6)},
     attrs={"eps": 1e-5})
case("layernorm_plain", lambda x: F.layer_norm(x, (5,), None, None, 1e-3),
     {"x": rand(g, 4, 5, lo=-1, hi=1)}, attrs={"eps": 1e-3})

# Cross-entropy: mean over non-ignored targets, label smoothing as torch computes it.
case("cross_entropy_smooth", lambda logits, targets: F.cross_entropy(logits, targets, ignore_index=0, label_smoothing=0.1),
     {"logits": rand(g, 6, 7, lo=-3, hi=3), "targets": torch.tensor([3, 0, 6, 1, 0, 2])},
     attrs={"ignore": 0, "smoothing": 0.1})
case("cross_entropy", lambda logits, targets: F.cross_entropy(logits, targets, ignore_index=-100),
     {"logits": rand(g, 5, 4, lo=-3, hi=3), "targets": torch.tensor([0, 3, 2, 2, 1])},
     attrs={"ignore": -100, "smoothing": 0})

# Reductions to a scalar.
case("sum", torch.sum, {"x": rand(g, 3, 4)})
case("mean", torch.mean, {"x": rand(g, 3, 4)})

# Dropout: PyTorch's mask cannot be reproduced, so the Go test only checks that
# qkv follows the same conventions (kept values scaled by 1/(1-p), gradient =
# mask * up / (1-p)) that this reference exhibits.
torch.manual_seed(5)
case("dropout", lambda x: F.dropout(x, 0.25, training=True), {"x": rand(g, 8, 16, lo=0.5, hi=1.5)}, attrs={"p": 0.25})

# Token-level distillation: (1 − λ)·label-smoothed cross-entropy + λ·cross-entropy
# against a teacher's sparse distribution q (K ids and probabilities a row; an id
# may repeat), the mean over the rows whose target is not ignored.
dg = torch.Generator().manual_seed(7)
d_targets = torch.tensor([3, 0, 6, 1, 5, 2])
d_ids = torch.tensor([[3, 1, 4], [0, 0, 0], [6, 2, 2], [1, 0, 5], [5, 6, 3], [2, 4, 1]])
d_raw = torch.rand((6, 3), generator=dg, dtype=torch.float64)
d_q = d_raw / d_raw.sum(-1, keepdim=True)


def distill(logits, targets):
    lam, eps = 0.3, 0.1
    hard = F.cross_entropy(logits, targets, ignore_index=0, label_smoothing=eps)
    dense = torch.zeros_like(logits).scatter_add(1, d_ids, d_q)
    keep = targets != 0
    soft = -(dense * F.log_softmax(logits, -1)).sum(-1)[keep].mean()
    return (1 - lam) * hard + lam * soft


case("cross_entropy_distill", distill,
     {"logits": rand(g, 6, 7, lo=-3, hi=3), "targets": d_targets},
     attrs={"ignore": 0, "smoothing": 0.1, "weight": 0.3, "k": 3},
     extra={"soft_ids": d_ids.to(torch.float64), "soft_p": d_q})
