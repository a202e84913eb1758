#!/usr/bin/env python3
"""Golden values for copy attention (See et al. 2017, "Get To The Point"),
from PyTorch in float64: the pointer-generator's mixed distribution
(tensor.Graph.CopyMix) and the head-averaged attention probabilities the
Transformer copies with (tensor.Graph.AttentionHeadMean).

The mixture is written the way PyTorch implementations write it (fairseq's
transformer_pointer_generator, OpenNMT-py's CopyGenerator): probabilities
mixed directly and scattered onto the source ids, then one log. qkv
computes the same in log space; the two must agree.

Run: /usr/bin/python3 internal/golden/gen_copy.py   (needs Debian's python3-torch)
"""
import torch

from golden_common import rand, save

torch.manual_seed(0)
g = torch.Generator().manual_seed(12)


def golden(name, leaves, fn, extra=None, attrs=None):
    leaves = {k: v.clone().requires_grad_(True) for k, v in leaves.items()}
    out = fn(**leaves)
    up = rand(g, *out.shape)
    (out * up).sum().backward()
    grads = {k: v.grad for k, v in leaves.items() if v.grad is not None}
    inputs = dict(leaves)
    inputs["up_out"] = up
    inputs.update(extra or {})
    save(name, inputs, {"out": out}, grads, attrs)


def copy_mix(logits, gate, attn, ids):
    """log(p_gen·softmax(logits) + (1 − p_gen)·scatter_add(attn onto ids))."""
    p = torch.sigmoid(gate)                                   # (N, 1)
    copy = torch.zeros_like(logits).scatter_add(1, ids, attn)  # (N, V)
    return torch.log(p * torch.softmax(logits, -1) + (1 - p) * copy)


# Two sources of S = 5 (the second padded after 3 tokens), T = 3 output
# rows each: rows 0–2 copy from source 0, rows 3–5 from source 1. Source 0
# repeats id 4, so its mass adds up; padding (id 0) gets zero attention.
# The attention is a masked softmax of free scores, as in a model: the
# gradient PyTorch gives the weights at padding differs from qkv's (which
# leaves it 0), but both vanish through the softmax, so the scores' agree.
N, V, S = 6, 9, 5
src = torch.tensor([[4, 2, 4, 7, 3], [5, 1, 8, 0, 0]])
row_of = torch.tensor([0, 0, 0, 1, 1, 1])
keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float64)[row_of]
golden("copy_mix",
       {"logits": rand(g, N, V, lo=-3, hi=3), "gate": rand(g, N, 1, lo=-3, hi=3), "scores": rand(g, N, S, lo=-2, hi=2)},
       lambda logits, gate, scores: copy_mix(logits, gate, torch.softmax(scores.masked_fill(keep == 0, float("-inf")), -1), src[row_of]),
       extra={"src": src.to(torch.float64), "row_of": row_of.to(torch.float64), "keep": keep})


def head_mean(q, k, heads, pad):
    """softmax(QKᵀ/√Dh) per head (heads as column blocks, padded keys
    masked), averaged over the heads: (B, Tq, Tk)."""
    B, Tq, D = q.shape
    Tk = k.shape[1]
    dh = D // heads
    qh = q.view(B, Tq, heads, dh).transpose(1, 2)
    kh = k.view(B, Tk, heads, dh).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) / dh ** 0.5
    s = s.masked_fill(pad.view(B, 1, 1, Tk), float("-inf"))
    return torch.softmax(s, -1).mean(1)


pad = torch.tensor([[False, False, False, False], [False, False, True, True]])
golden("attention_head_mean",
       {"q": rand(g, 2, 3, 8), "k": rand(g, 2, 4, 8)},
       lambda q, k: head_mean(q, k, 2, pad),
       extra={"pad": pad.to(torch.float64)}, attrs={"heads": 2})
