"""Shared helpers for the gen_*.py scripts that write PyTorch golden files.

Each case stores inputs, outputs and the gradients of sum(out * upstream)
with respect to every input, computed in float64 so the reference itself
carries no float32 rounding. Run with Debian's python3-torch (/usr/bin/python3).
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def arr(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": [round(float(v), 12) for v in t.reshape(-1).tolist()]}


def rand(gen, *shape, lo=-1.0, hi=1.0):
    return (torch.rand(tuple(shape), generator=gen, dtype=torch.float64) * (hi - lo) + lo)


def save(name, inputs, outputs, grads, attrs=None):
    case = {
        "name": name,
        "attrs": attrs or {},
        "inputs": {k: arr(v) for k, v in inputs.items()},
        "outputs": {k: arr(v) for k, v in outputs.items()},
        "grads": {k: arr(v) for k, v in grads.items()},
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(case, f, separators=(",", ":"))
        f.write("\n")


def case(name, fn, inputs, attrs=None, gen=None, extra=None):
    """Run fn(**leaves) -> tensor or dict of tensors; back-propagate a random
    upstream gradient per output; save inputs (+ the upstream as 'up_<out>'),
    outputs and gradients of every floating input."""
    gen = gen or torch.Generator().manual_seed(1234)
    leaves = {k: (v.clone().requires_grad_(True) if v.is_floating_point() else v) for k, v in inputs.items()}
    out = fn(**leaves)
    outs = out if isinstance(out, dict) else {"out": out}
    total = 0
    ups = {}
    for k, v in outs.items():
        up = rand(gen, *v.shape)
        ups["up_" + k] = up
        total = total + (v * up).sum()
    total.backward()
    grads = {k: v.grad for k, v in leaves.items() if v.is_floating_point() and v.grad is not None}
    allin = dict(inputs)
    allin.update(ups)
    if extra:
        allin.update(extra)
    save(name, allin, outs, grads, attrs)
