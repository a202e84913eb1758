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


def golden(name, leaves, fn, extra=None, attrs=None, up_rows=None):
    """up_rows, if given, (N,) 0/1: rows of the output whose upstream
    gradient is zero (positions a loss ignores)."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in leaves.items()}
    out = fn(**leaves)
    up = rand(g, *out.shape)
    if up_rows is not None:
        up = up * up_rows.to(torch.float64).unsqueeze(1)
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


# ---- A whole Transformer with copy attention (model.Transformer with
# Config.Copy), written out in PyTorch with the same weights: post-norm
# layers as torch.nn.Transformer*Layer, embeddings scaled by √d plus
# sinusoidal positions, p_gen = σ(w·[c_t; y_t; x_t] + b) from the last
# decoder layer's cross-attention output c_t, the decoder output y_t and its
# input x_t, and that layer's cross-attention averaged over its heads as
# the copy distribution. The output is log P (B·T, V); the gradients are
# those of Σ log P · upstream for every parameter, with qkv's names. The
# upstream is zero at padded target positions, which the loss ignores (so
# the embeddings' padding rows get no gradient, in qkv as with PyTorch's
# padding_idx).

def posenc(d, n):
    import math
    pe = torch.zeros(n, d, dtype=torch.float64)
    pos = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def mha(P, name, xq, xkv, heads, pad=None, causal=False):
    F = torch.nn.functional
    B, Tq, D = xq.shape
    Tk = xkv.shape[1]
    dh = D // heads
    q = F.linear(xq, P[name + ".q_proj.weight"], P[name + ".q_proj.bias"]).view(B, Tq, heads, dh).transpose(1, 2)
    k = F.linear(xkv, P[name + ".k_proj.weight"], P[name + ".k_proj.bias"]).view(B, Tk, heads, dh).transpose(1, 2)
    v = F.linear(xkv, P[name + ".v_proj.weight"], P[name + ".v_proj.bias"]).view(B, Tk, heads, dh).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / dh ** 0.5
    if pad is not None:
        s = s.masked_fill(pad.view(B, 1, 1, Tk), float("-inf"))
    if causal:
        s = s.masked_fill(torch.ones(Tq, Tk, dtype=torch.bool).triu(1), float("-inf"))
    p = torch.softmax(s, -1)
    o = (p @ v).transpose(1, 2).reshape(B, Tq, D)
    return F.linear(o, P[name + ".out_proj.weight"], P[name + ".out_proj.bias"]), p.mean(1)


def copy_transformer(P, src, tgt_in, heads, enc_layers, dec_layers):
    F = torch.nn.functional
    D = P["encoder.embed.weight"].shape[1]
    B, S = src.shape
    T = tgt_in.shape[1]
    pe = posenc(D, 64)
    pad = src == 0

    def ln(x, name):
        return F.layer_norm(x, (D,), P[name + ".weight"], P[name + ".bias"], 1e-5)

    def ff(x, name):
        h = torch.relu(F.linear(x, P[name + ".linear1.weight"], P[name + ".linear1.bias"]))
        return F.linear(h, P[name + ".linear2.weight"], P[name + ".linear2.bias"])

    x = F.embedding(src, P["encoder.embed.weight"], padding_idx=0) * D ** 0.5 + pe[:S]
    for i in range(enc_layers):
        n = "encoder.layers.%d" % i
        x = ln(x + mha(P, n + ".self_attn", x, x, heads, pad)[0], n + ".norm1")
        x = ln(x + ff(x, n + ".ff"), n + ".norm2")
    y = F.embedding(tgt_in, P["decoder.embed.weight"], padding_idx=0) * D ** 0.5 + pe[:T]
    inp = y
    for i in range(dec_layers):
        n = "decoder.layers.%d" % i
        y = ln(y + mha(P, n + ".self_attn", y, y, heads, causal=True)[0], n + ".norm1")
        ctx, mean = mha(P, n + ".cross_attn", y, x, heads, pad)
        y = ln(y + ctx, n + ".norm2")
        y = ln(y + ff(y, n + ".ff"), n + ".norm3")
    logits = F.linear(y, P["decoder.out.weight"], P["decoder.out.bias"]).reshape(B * T, -1)
    gate = F.linear(torch.cat([ctx, y, inp], -1), P["decoder.copy_gate.weight"], P["decoder.copy_gate.bias"]).reshape(B * T, 1)
    ids = src.repeat_interleave(T, 0)  # output row b·T+t copies from source b
    return copy_mix(logits, gate, mean.reshape(B * T, S), ids)


def transformer_params(V, D, FF, enc_layers, dec_layers):
    shapes = {"encoder.embed.weight": (V, D), "decoder.embed.weight": (V, D)}

    def lin(name, i, o):
        shapes[name + ".weight"] = (o, i)
        shapes[name + ".bias"] = (o,)

    def attn(name):
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            lin(name + "." + p, D, D)

    for i in range(enc_layers):
        n = "encoder.layers.%d" % i
        attn(n + ".self_attn")
        lin(n + ".ff.linear1", D, FF)
        lin(n + ".ff.linear2", FF, D)
        for k in ("norm1", "norm2"):
            shapes[n + "." + k + ".weight"] = (D,)
            shapes[n + "." + k + ".bias"] = (D,)
    for i in range(dec_layers):
        n = "decoder.layers.%d" % i
        attn(n + ".self_attn")
        attn(n + ".cross_attn")
        lin(n + ".ff.linear1", D, FF)
        lin(n + ".ff.linear2", FF, D)
        for k in ("norm1", "norm2", "norm3"):
            shapes[n + "." + k + ".weight"] = (D,)
            shapes[n + "." + k + ".bias"] = (D,)
    lin("decoder.out", D, V)
    lin("decoder.copy_gate", 3 * D, 1)
    P = {}
    for name, shape in shapes.items():
        lo, hi = (0.7, 1.3) if ".norm" in name and name.endswith("weight") else (-0.5, 0.5)
        P[name] = rand(g, *shape, lo=lo, hi=hi)
    P["encoder.embed.weight"][0] = 0  # the padding rows, as qkv initializes them
    P["decoder.embed.weight"][0] = 0
    return P


V, D, FF, H, NE, ND = 11, 8, 12, 2, 1, 2
srcs = [[4, 6, 4, 9, 5], [7, 10, 5]]
tgts = [[6, 4, 8], [10, 7]]
S, T = max(map(len, srcs)), max(map(len, tgts)) + 1
src = torch.tensor([s + [0] * (S - len(s)) for s in srcs])
tgt_in = torch.tensor([[1] + t + [0] * (T - 1 - len(t)) for t in tgts])
params = transformer_params(V, D, FF, NE, ND)
golden("copy_transformer", params,
       lambda **P: copy_transformer(P, src, tgt_in, H, NE, ND),
       extra={"src": src.to(torch.float64), "tgt_in": tgt_in.to(torch.float64)},
       attrs={"vocab": V, "d_model": D, "d_ff": FF, "heads": H, "enc_layers": NE, "dec_layers": ND},
       up_rows=(tgt_in != 0).reshape(-1))
