#!/usr/bin/env python3
"""Golden values for the fused attention/LSTM ops (package tensor) and the
layers of package nn, from PyTorch in float64.

MultiHeadAttention is checked against torch.nn.MultiheadAttention and LSTM
against torch.nn.LSTM (with pack_padded_sequence) given the same weights:
forward outputs and the gradients of sum(out * upstream) w.r.t. the inputs
and every weight. Masks are stored as 0/1 arrays among the inputs.

Run: /usr/bin/python3 internal/golden/gen_layers.py   (needs Debian's python3-torch)
"""
import torch
import torch.nn.functional as F

from golden_common import rand, save

torch.manual_seed(0)
g = torch.Generator().manual_seed(7)


def golden(name, leaves, fn, extra=None, no_upstream=(), attrs=None):
    """leaves: float64 tensors to differentiate; fn(**leaves) -> dict of
    outputs; outputs named in no_upstream are saved but get no upstream."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in leaves.items()}
    outs = fn(**leaves)
    total = 0
    ups = {}
    for k, v in outs.items():
        if k in no_upstream:
            continue
        up = rand(g, *v.shape)
        ups["up_" + k] = up
        total = total + (v * up).sum()
    total.backward()
    grads = {k: v.grad for k, v in leaves.items() if v.grad is not None}
    inputs = dict(leaves)
    inputs.update(ups)
    inputs.update(extra or {})
    save(name, inputs, outs, grads, attrs)


def mask01(m):
    return m.to(torch.float64)


# ---- tensor.Graph.Attention: softmax(QKᵀ/√Dh)V per head, heads as column blocks

def attention_ref(q, k, v, heads, pad, causal):
    B, Tq, D = q.shape
    Tk = k.shape[1]
    dh = D // heads
    qh = q.view(B, Tq, heads, dh).transpose(1, 2)
    kh = k.view(B, Tk, heads, dh).transpose(1, 2)
    vh = v.view(B, Tk, heads, dh).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) / dh ** 0.5
    allowed = torch.ones(B, 1, Tq, Tk, dtype=torch.bool)
    if pad is not None:
        allowed = allowed & ~pad.view(B, 1, 1, Tk)
    if causal:
        i = torch.arange(Tq).view(Tq, 1)
        j = torch.arange(Tk).view(1, Tk)
        allowed = allowed & (j <= i + Tk - Tq)
    p = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1)
    o = (p @ vh).transpose(1, 2).reshape(B, Tq, D)
    return o, p


for name, (B, Tq, Tk, D, H, causal) in {
    "attention_pad": (2, 3, 5, 8, 2, False),
    "attention_causal_offset": (2, 3, 5, 6, 3, True),
}.items():
    pad = torch.zeros(B, Tk, dtype=torch.bool)
    pad[0, Tk - 1] = True
    pad[1, Tk - 2:] = True
    golden(name, {"q": rand(g, B, Tq, D), "k": rand(g, B, Tk, D), "v": rand(g, B, Tk, D)},
           lambda q, k, v: dict(zip(("out", "probs"), attention_ref(q, k, v, H, pad, causal))),
           extra={"pad": mask01(pad)}, no_upstream=("probs",), attrs={"heads": H, "causal": int(causal)})


# ---- tensor.Graph.LSTMCell (gate order i, f, g, o; padded rows carry the state)

def lstm_cell(gates, h, c, pad):
    i, f, gg, o = gates.chunk(4, -1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    h2 = torch.sigmoid(o) * torch.tanh(c2)
    p = pad.view(-1, 1)
    return {"h": torch.where(p, h, h2), "c": torch.where(p, c, c2)}


pad = torch.tensor([False, True, False])
golden("lstm_cell", {"gates": rand(g, 3, 4 * 5, lo=-2, hi=2), "h": rand(g, 3, 5), "c": rand(g, 3, 5)},
       lambda gates, h, c: lstm_cell(gates, h, c, pad), extra={"pad": mask01(pad)})


# ---- tensor.Graph.AdditiveAttention: e_j = vᵀ tanh(q + k_j), α = softmax(e), c = Σ α_j values_j

def additive(query, keys, v, values, pad):
    e = torch.tanh(query.unsqueeze(1) + keys) @ v
    w = torch.softmax(e.masked_fill(pad, float("-inf")), -1)
    return {"context": (w.unsqueeze(1) @ values).squeeze(1), "weights": w}


pad = torch.tensor([[False, False, False, True], [False, False, False, False]])
golden("additive_attention", {"query": rand(g, 2, 3), "keys": rand(g, 2, 4, 3), "v": rand(g, 3),
                              "values": rand(g, 2, 4, 5)},
       lambda query, keys, v, values: additive(query, keys, v, values, pad), extra={"pad": mask01(pad)})


# ---- nn.AdditiveAttention: W·s and U·h_j (no biases) then the op

def additive_layer(s, h, W, U, v, pad):
    return additive(F.linear(s, W), F.linear(h, U), v, h, pad)


pad = torch.tensor([[False, False, True, True, True], [False, False, False, False, False]])
golden("nn_additive_attention",
       {"s": rand(g, 2, 4), "h": rand(g, 2, 5, 6), "query_proj.weight": rand(g, 3, 4),
        "key_proj.weight": rand(g, 3, 6), "v": rand(g, 3)},
       lambda **a: additive_layer(a["s"], a["h"], a["query_proj.weight"], a["key_proj.weight"], a["v"], pad),
       extra={"pad": mask01(pad)})


# ---- nn.MultiHeadAttention vs torch.nn.MultiheadAttention(batch_first=True)

def mha_case(name, B, Tq, Tk, D, H, self_attn, causal, pad):
    mha = torch.nn.MultiheadAttention(D, H, batch_first=True).double()
    W = {"q_proj.weight": rand(g, D, D), "k_proj.weight": rand(g, D, D), "v_proj.weight": rand(g, D, D),
         "q_proj.bias": rand(g, D), "k_proj.bias": rand(g, D), "v_proj.bias": rand(g, D),
         "out_proj.weight": rand(g, D, D), "out_proj.bias": rand(g, D)}
    leaves = dict(W)
    leaves["x"] = rand(g, B, Tq, D)
    if not self_attn:
        leaves["mem"] = rand(g, B, Tk, D)
    mask = None
    if causal:
        mask = torch.ones(Tq, Tk, dtype=torch.bool).triu(1)  # True = not allowed

    def fn(**a):
        # Load the leaves into the module functionally (so their gradients flow).
        del mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias
        mha.in_proj_weight = torch.cat([a["q_proj.weight"], a["k_proj.weight"], a["v_proj.weight"]])
        mha.in_proj_bias = torch.cat([a["q_proj.bias"], a["k_proj.bias"], a["v_proj.bias"]])
        mha.out_proj.weight = a["out_proj.weight"]
        mha.out_proj.bias = a["out_proj.bias"]
        src = a["x"] if self_attn else a["mem"]
        out, probs = mha(a["x"], src, src, key_padding_mask=pad, attn_mask=mask,
                         need_weights=True, average_attn_weights=False)
        return {"out": out, "probs": probs}

    golden(name, leaves, fn, extra={"pad": mask01(pad)}, no_upstream=("probs",),
           attrs={"heads": H, "causal": int(causal)})


pad = torch.zeros(2, 5, dtype=torch.bool)
pad[0, 3:] = True
mha_case("mha_cross", 2, 3, 5, 8, 2, False, False, pad)
pad = torch.zeros(2, 4, dtype=torch.bool)
pad[1, 2:] = True
mha_case("mha_self_causal", 2, 4, 4, 8, 4, True, True, pad)


# ---- nn.LSTM vs torch.nn.LSTM(batch_first=True)

def lstm_case(name, In, Hd, layers, bidir, B, T, lengths, init):
    lstm = torch.nn.LSTM(In, Hd, layers, batch_first=True, bidirectional=bidir).double()
    names = [n for n, _ in lstm.named_parameters()]
    leaves = {n: rand(g, *p.shape) for n, p in lstm.named_parameters()}
    leaves["x"] = rand(g, B, T, In)
    dirs = 2 if bidir else 1
    if init:
        leaves["h0"] = rand(g, layers * dirs, B, Hd)
        leaves["c0"] = rand(g, layers * dirs, B, Hd)

    def fn(**a):
        for n in names:
            delattr(lstm, n)
            setattr(lstm, n, a[n])
        lstm._flat_weights = [getattr(lstm, n) for n in lstm._flat_weights_names]
        x = a["x"]
        hc = (a["h0"], a["c0"]) if init else None
        if lengths is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                                             enforce_sorted=False)
            out, (h, c) = lstm(packed, hc)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        else:
            out, (h, c) = lstm(x, hc)
        return {"out": out, "h_n": h, "c_n": c}

    extra = {}
    if lengths is not None:
        extra["lengths"] = torch.tensor(lengths, dtype=torch.float64)
    golden(name, leaves, fn, extra=extra,
           attrs={"input": In, "hidden": Hd, "layers": layers, "bidirectional": int(bidir)})


lstm_case("lstm_packed_bidir", 3, 4, 2, True, 3, 5, [3, 5, 2], False)
lstm_case("lstm_init_state", 3, 4, 2, False, 2, 4, None, True)


# ---- nn.SinusoidalPositions vs the peer's PosEnc (../shared/bench/peers/pytorch_g2p.py), float32 as there

def peer_posenc(d, max_len):
    import math
    pe = torch.zeros(max_len, d)
    pos = torch.arange(max_len).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


save("sinusoidal_positions", {}, {"pe": peer_posenc(16, 64)}, {}, {"dim": 16, "max_len": 64})
