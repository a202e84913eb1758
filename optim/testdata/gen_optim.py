"""Golden values for package optim, computed by PyTorch in float32.

Run with Debian's python3-torch from the repository root:

    /usr/bin/python3 optim/testdata/gen_optim.py

It writes optim/testdata/optim.json: for each case, the initial parameters,
the gradient and learning rate of every step, and the parameters after each
torch.optim step (learning rates from torch.optim.lr_scheduler.LambdaLR
where a schedule is named); and for torch.nn.utils.clip_grad_norm_, the
gradients before and after and the returned norm.
"""
import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.json")


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def make_params(gen):
    # Three parameters with different scales so that ε and the bias
    # corrections matter: a matrix, a vector, and a scalar-like [1].
    shapes = {"w": [3, 4], "b": [4], "s": [1]}
    return {k: (torch.rand(*v, generator=gen) * 2 - 1).float() for k, v in shapes.items()}, shapes


def make_grads(gen, shapes, step):
    scale = {"w": 1.0, "b": 100.0, "s": 1e-4}
    gs = {}
    for k, v in shapes.items():
        g = (torch.rand(*v, generator=gen) * 2 - 1).float() * scale[k]
        if k == "w" and step == 2:
            g[0, 0] = 0.0  # a zero gradient mid-run
        gs[k] = g
    return gs


def noam(factor, d_model, warmup):
    def f(step):  # step counted from 1
        return factor * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
    return f


def inverse_sqrt(peak, warmup, init):
    def f(step):
        if step < warmup:
            return init + step * (peak - init) / warmup
        return peak * math.sqrt(warmup / step)
    return f


def run(name, kind, config, steps, schedule=None):
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    init, shapes = make_params(gen)
    params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
    plist = [params[k] for k in shapes]
    if kind == "Adam":
        opt = torch.optim.Adam(plist, lr=config["lr"], betas=(config["beta1"], config["beta2"]),
                               eps=config["eps"], weight_decay=config["weight_decay"])
    elif kind == "AdamW":
        opt = torch.optim.AdamW(plist, lr=config["lr"], betas=(config["beta1"], config["beta2"]),
                                eps=config["eps"], weight_decay=config["weight_decay"])
    elif kind == "SGD":
        opt = torch.optim.SGD(plist, lr=config["lr"], momentum=config["momentum"],
                              dampening=config["dampening"], nesterov=config["nesterov"],
                              weight_decay=config["weight_decay"])
    else:
        raise ValueError(kind)
    sched = None
    if schedule is not None:
        fn = {"noam": noam, "inverse_sqrt": inverse_sqrt}[schedule["kind"]](**schedule["args"])
        # LambdaLR multiplies the base rate (config lr, 1 here) by fn of the
        # number of scheduler steps taken so far, from 0; the paper counts
        # updates from 1, hence s + 1.
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: fn(s + 1))
    out_steps = []
    for step in range(1, steps + 1):
        grads = make_grads(gen, shapes, step)
        for k in shapes:
            params[k].grad = grads[k].clone()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        if sched is not None:
            sched.step()
        out_steps.append({
            "lr": lr,
            "grads": {k: flat(grads[k]) for k in shapes},
            "params": {k: flat(params[k]) for k in shapes},
        })
    return {
        "name": name,
        "kind": kind,
        "config": config,
        "schedule": schedule,
        "shapes": shapes,
        "init": {k: flat(init[k]) for k in shapes},
        "steps": out_steps,
    }


def clip_case(name, max_norm, scale):
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    shapes = {"a": [2, 3], "b": [5]}
    ps = {k: torch.nn.Parameter(torch.zeros(*v)) for k, v in shapes.items()}
    before = {}
    for k, v in shapes.items():
        g = (torch.rand(*v, generator=gen) * 2 - 1).float() * scale
        before[k] = flat(g)
        ps[k].grad = g
    norm = torch.nn.utils.clip_grad_norm_([ps[k] for k in shapes], max_norm)
    return {
        "name": name,
        "max_norm": max_norm,
        "shapes": shapes,
        "before": before,
        "after": {k: flat(ps[k].grad) for k in shapes},
        "norm": float(norm),
    }


def main():
    adam = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    cases = [
        run("adam", "Adam", adam, 6),
        run("adam_l2", "Adam", dict(adam, weight_decay=0.1), 6),
        run("adamw", "AdamW", dict(adam, weight_decay=0.1), 6),
        run("adam_noam", "Adam", {"lr": 1.0, "beta1": 0.9, "beta2": 0.98, "eps": 1e-9, "weight_decay": 0.0}, 8,
            {"kind": "noam", "args": {"factor": 2.0, "d_model": 16, "warmup": 3}}),
        run("adamw_inverse_sqrt", "AdamW", {"lr": 1.0, "beta1": 0.9, "beta2": 0.98, "eps": 1e-6, "weight_decay": 0.01}, 8,
            {"kind": "inverse_sqrt", "args": {"peak": 0.005, "warmup": 4, "init": 1e-4}}),
        run("sgd", "SGD", {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}, 4),
        run("sgd_momentum", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "nesterov": False, "weight_decay": 0.01}, 5),
        run("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.0, "nesterov": True, "weight_decay": 0.0}, 5),
    ]
    clips = [
        clip_case("clip", 1.0, 2.0),
        clip_case("clip_noop", 100.0, 2.0),
    ]
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases, "clip": clips}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
