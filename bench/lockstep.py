#!/usr/bin/env python3
"""Lock-step: PyTorch trains the model qkv trained, from the same weights on the same batches.

bench/lockstep (Go) writes a directory DIR: the initial weights (DIR/init), step 1's gradients
(DIR/grad1), the weights after chosen steps (DIR/step-K), every step's batch (DIR/batches.jsonl)
and qkv's losses (DIR/qkv.tsv). This script loads DIR/init into the peer's Model
(../shared/bench/peers/pytorch_g2p.py: nn.Transformer, post-norm with final norms) through the
peer's own load_qkv, trains it as the peer does (Adam 0.9/0.98/1e-9, the noam schedule
256^-0.5·min(s^-0.5, s·w^-1.5) through LambdaLR, CrossEntropyLoss(ignore_index=PAD,
label_smoothing)) on the same batches in the same order, and reports:
  - step 1: each gradient tensor against qkv's (‖Δ‖/‖g‖ and max|Δ|/max|g|),
  - after each step K that qkv dumped: each weight tensor against qkv's,
  - every step: both losses and gradient norms (DIR/torch.tsv), and the first step where the
    losses differ by more than --tol (relative).
Other modes: --resync-only (gradients from qkv's weights after each dumped step), --exact K (that
gradient in float64), --perturb EPS (PyTorch against PyTorch with its weights perturbed: the drift
float noise alone causes), --mean-grads N (dropout: mean gradients over N draws), --collapse N.

    nice -n 15 env GOMAXPROCS=1 go run ./bench/lockstep -train /work/runs/cmp/pieces-s1.tsv \\
        -out /tmp/ls/d0 -max-tokens 1024 -steps 300 -dropout 0 -label-smoothing 0 -dump-at 1,10,100
    nice -n 15 /usr/bin/python3 bench/lockstep.py --dir /tmp/ls/d0 --dropout 0 --label-smoothing 0

--dropout must be what the Go side used (it sets every nn.Dropout and the attention dropout);
with dropout the two sides draw different masks, so only the loss curves compare.
Run with /usr/bin/python3 (Debian's, which has torch).
"""
import argparse, json, math, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--peers", default=os.path.join(HERE, "..", "..", "shared", "bench", "peers"),
                    help="directory of pytorch_g2p.py (default ../shared/bench/peers beside the checkout)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--warmup", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: every batch)")
    ap.add_argument("--tol", type=float, default=1e-3, help="relative loss difference reported as a divergence")
    ap.add_argument("--resync-only", action="store_true",
                    help="skip the lock-step run: only compare, for each DIR/step-K with a DIR/gradK+1, "
                         "PyTorch's gradient of batch K+1 from qkv's weights after step K with qkv's")
    ap.add_argument("--mean-grads", type=int, default=0,
                    help="dropout check: average step 1's gradients over this many dropout draws, twice (torch "
                         "seeds 1 and 2), and compare both with qkv's mean (DIR/grad1-mean, bench/lockstep "
                         "-mean-grads): same placement and scaling give a qkv–torch distance like torch's own")
    ap.add_argument("--exact", type=int, default=0, metavar="K",
                    help="with DIR/step-K and DIR/gradK+1: the gradient of batch K+1 from qkv's weights in float64 "
                         "(the exact one, to float32's eyes) against qkv's and PyTorch's float32 gradients")
    ap.add_argument("--collapse", type=int, default=0, metavar="N",
                    help="for DIR/init and each DIR/step-K: how far the encoder's output varies over a source's "
                         "positions, and the cross-attention's entropy, on batch N")
    ap.add_argument("--perturb", type=float, default=0.0,
                    help="control: multiply every initial weight by 1 + PERTURB·N(0, 1) and compare with the "
                         "unperturbed PyTorch run (DIR/torch.tsv) instead of qkv, writing DIR/torch-perturbed.tsv: "
                         "how fast float noise alone drives two PyTorch runs apart")
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.peers))
    import pytorch_g2p as g2p  # the peer's Model and load_qkv, unchanged
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    def load(sub):
        m = g2p.load_qkv(os.path.join(a.dir, sub))[0]
        for mod in m.modules():
            if isinstance(mod, nn.Dropout):
                mod.p = a.dropout
            elif isinstance(mod, nn.MultiheadAttention):
                mod.dropout = a.dropout
        return m.train()

    model = load("init")
    if a.perturb:
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + a.perturb * torch.randn(p.shape, generator=g))
    d = model.d
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: d ** -0.5 * min((s + 1) ** -0.5, (s + 1) * a.warmup ** -1.5))
    lossf = nn.CrossEntropyLoss(ignore_index=g2p.PAD, label_smoothing=a.label_smoothing)

    def forward_loss(m, b):
        src = torch.tensor(b["src"], dtype=torch.long).view(b["B"], b["S"])
        tin = torch.tensor(b["tgt_in"], dtype=torch.long).view(b["B"], b["T"])
        tout = torch.tensor(b["tgt_out"], dtype=torch.long).view(-1)
        logits = m(src, tin).reshape(-1, m.out.out_features)
        return logits, tout, lossf(logits, tout)

    def compare(what, ours, ref_dir):
        """Print each tensor of ours (name → tensor) against the qkv model directory ref_dir.
        The key projections' biases are listed apart: they add q·b_k to every score of a query,
        which the softmax cancels, so their gradient is 0 in exact arithmetic and float noise on
        both sides (Adam turns it into steps of ±lr, with no effect on any output)."""
        ref = g2p.load_qkv(ref_dir)[0].state_dict()
        rows, kbias = [], []
        for name, t in ours.items():
            r = ref[name]
            parts = [(name, t, r)]
            if name.endswith("in_proj_weight") or name.endswith("in_proj_bias"):
                parts = [(f"{name}[{x}]", t[i * d:(i + 1) * d], r[i * d:(i + 1) * d]) for i, x in enumerate("qkv")]
            for n, x, y in parts:
                rn = float(y.norm())
                rel = float((x - y).norm()) / rn if rn > 0 else float((x - y).norm())
                mx = float(y.abs().max())
                rmax = float((x - y).abs().max()) / mx if mx > 0 else float((x - y).abs().max())
                (kbias if n.endswith("in_proj_bias[k]") else rows).append((rel, rmax, n, rn))
        print(f"{what}: {len(rows)} tensors; worst first (‖Δ‖/‖ref‖, max|Δ|/max|ref|, ‖ref‖):")
        for rel, rmax, n, rn in sorted(rows, reverse=True)[:8]:
            print(f"  {rel:.3e}  {rmax:.3e}  {rn:.4g}  {n}")
        print(f"  ({len(kbias)} key biases apart: ‖ref‖ at most {max(r[3] for r in kbias):.3g}, ‖Δ‖/‖ref‖ up to "
              f"{max(r[0] for r in kbias):.3g}; they have no effect)")
        return rows

    qkv_log = {}
    ref_name = "torch.tsv" if a.perturb else "qkv.tsv"
    with open(os.path.join(a.dir, ref_name)) as f:
        head = next(f).rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(head, line.rstrip("\n").split("\t")))
            qkv_log[int(r["step"])] = (float(r["loss"]), float(r["nll"]), float(r["grad_norm"]), float(r["lr"]))
    out = open(os.path.join(a.dir, "torch-perturbed.tsv" if a.perturb else "torch.tsv"), "w", buffering=1)
    out.write("step\tloss\tnll\tgrad_norm\tlr\tref_loss\tref_grad_norm\trel_loss\n")
    first_bad = None
    worst = 0.0
    step = 0
    batches = [json.loads(line) for line in open(os.path.join(a.dir, "batches.jsonl"))]

    def resync(k):
        """PyTorch's gradient of batch k+1 from qkv's weights after step k, against qkv's."""
        m2 = load(f"step-{k}")
        _, _, l2 = forward_loss(m2, batches[k])
        l2.backward()
        print(f"from qkv's weights after step {k}: torch loss of batch {k + 1} {float(l2):.7f}")
        compare(f"step {k + 1} gradients from qkv's weights after step {k}",
                {n: p.grad for n, p in m2.named_parameters()}, os.path.join(a.dir, f"grad{k + 1}"))

    if a.mean_grads:
        mean_grads(a, load, forward_loss, batches[0], g2p, torch)
        return

    if a.exact:
        exact(a, load, batches[a.exact], g2p, torch, F)
        return
    if a.collapse:
        collapse(a, g2p, batches[a.collapse - 1], torch)
        return

    if a.resync_only:
        for k in range(1, len(batches)):
            if os.path.isdir(os.path.join(a.dir, f"step-{k}")) and os.path.isdir(os.path.join(a.dir, f"grad{k + 1}")):
                resync(k)
        return
    for b in batches:
        logits, tout, loss = forward_loss(model, b)
        with torch.no_grad():
            nll = float(F.cross_entropy(logits, tout, ignore_index=g2p.PAD))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        step += 1
        gn = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in model.parameters() if p.grad is not None))
        if step == 1 and not a.perturb:
            compare("step 1 gradients", {n: p.grad for n, p in model.named_parameters()}, os.path.join(a.dir, "grad1"))
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        q = qkv_log.get(step)
        rel = abs(float(loss) - q[0]) / q[0] if q else float("nan")
        out.write(f"{step}\t{float(loss):.7g}\t{nll:.7g}\t{gn:.7g}\t{lr:.7g}\t"
                  f"{q[0] if q else ''}\t{q[2] if q else ''}\t{rel:.3e}\n")
        if q:
            worst = max(worst, rel)
            if first_bad is None and rel > a.tol:
                first_bad = step
        if step % 25 == 0 or step <= 3:
            print(f"step {step}: torch loss {float(loss):.6f} nll {nll:.6f} |g| {gn:.5f} lr {lr:.4e}"
                  + (f"; ref loss {q[0]:.6f} |g| {q[2]:.5f} lr {q[3]:.4e}; rel {rel:.2e}" if q else ""))
        kdir = os.path.join(a.dir, f"step-{step}")
        if os.path.isdir(kdir) and not a.perturb:
            torch.save(model.state_dict(), os.path.join(a.dir, f"torch-step-{step}.pt"))  # for --collapse
            compare(f"weights after step {step}", {n: p.detach() for n, p in model.named_parameters()}, kdir)
            if os.path.isdir(os.path.join(a.dir, f"grad{step + 1}")) and step < len(batches):
                resync(step)
        if a.steps and step >= a.steps:
            break
    print(json.dumps({"steps": step, "worst_rel_loss": worst, "first_step_over_tol": first_bad, "tol": a.tol}))


def mean_grads(a, load, forward_loss, b, g2p, torch):
    """Step 1's gradient averaged over a.mean_grads dropout draws: torch twice, against qkv's mean."""
    def mean(seed, p):
        m = load("init")
        for mod in m.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = p
            elif isinstance(mod, torch.nn.MultiheadAttention):
                mod.dropout = p
        torch.manual_seed(seed)
        draws = a.mean_grads if p else 1
        for _ in range(draws):
            forward_loss(m, b)[2].backward()  # gradients add up
        return {n: q.grad / draws for n, q in m.named_parameters()}
    A, B, none = mean(1, a.dropout), mean(2, a.dropout), mean(1, 0.0)
    Q = g2p.load_qkv(os.path.join(a.dir, "grad1-mean"))[0].state_dict()
    rows = []
    for n in A:
        if n.endswith("in_proj_bias"):
            continue  # the key biases' gradient is 0: only noise
        an = float(A[n].norm())
        rows.append((float((Q[n] - A[n]).norm()) / an, float((B[n] - A[n]).norm()) / an,
                     float((none[n] - A[n]).norm()) / an, n))
    print(f"step 1's gradient, mean of {a.mean_grads} dropout draws (p {a.dropout}); distances relative to torch "
          "seed 1's mean: qkv's mean, torch seed 2's mean, torch without dropout")
    for r in sorted(rows, key=lambda r: r[0] / max(r[1], 1e-30), reverse=True)[:10]:
        print("  qkv %.3e  torch-2 %.3e  no-dropout %.3e  %s" % r)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(json.dumps({"draws": a.mean_grads, "tensors": len(rows), "median_qkv": med([r[0] for r in rows]),
                      "median_torch2": med([r[1] for r in rows]), "median_no_dropout": med([r[2] for r in rows]),
                      "qkv_over_torch2": sum(r[0] for r in rows) / sum(r[1] for r in rows)}))


def exact(a, load, b, g2p, torch, F):
    """Batch K+1's gradient from qkv's weights after step K: float64 against qkv and PyTorch float32."""
    src = torch.tensor(b["src"]).view(b["B"], b["S"])
    tin = torch.tensor(b["tgt_in"]).view(b["B"], b["T"])
    tout = torch.tensor(b["tgt_out"]).view(-1)
    mask = tin.ne(g2p.PAD).view(-1)

    def grads(dtype):
        m = load(f"step-{a.exact}").to(dtype)
        m.pos.pe = m.pos.pe.to(dtype)
        pre = {}
        for i, L in enumerate(m.tf.decoder.layers):  # the feed-forward's pre-activations, for ReLU sign flips
            L.linear1.register_forward_hook(lambda mod, inp, out, i=i: pre.__setitem__(i, out.detach()))
        logits = m(src, tin).reshape(-1, m.out.out_features)
        F.cross_entropy(logits, tout, ignore_index=g2p.PAD, label_smoothing=a.label_smoothing).backward()
        return {n: p.grad.double() for n, p in m.named_parameters()}, pre

    g32, pre32 = grads(torch.float32)
    g64, pre64 = grads(torch.float64)
    q = g2p.load_qkv(os.path.join(a.dir, f"grad{a.exact + 1}"))[0].state_dict()
    rows = []
    for n, r in g64.items():
        if n.endswith("in_proj_bias"):
            continue  # the key biases' exact gradient is 0
        rn = float(r.norm())
        rows.append((float((q[n].double() - r).norm()) / rn, float((g32[n] - r).norm()) / rn, n))
    print(f"batch {a.exact + 1} from qkv's weights after step {a.exact}: ‖qkv − f64‖/‖f64‖, ‖torch f32 − f64‖/‖f64‖")
    for r in sorted(rows, key=lambda r: max(r[0], r[1]), reverse=True)[:8]:
        print("  %.3e  %.3e  %s" % r)
    print("  mean over %d tensors: qkv %.3e, torch %.3e; max: qkv %.3e, torch %.3e" % (
        len(rows), sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows),
        max(r[0] for r in rows), max(r[1] for r in rows)))
    for i in pre64:
        x64 = pre64[i].reshape(-1, pre64[i].shape[-1])[mask]
        x32 = pre32[i].double().reshape(-1, pre32[i].shape[-1])[mask]
        print(f"  decoder layer {i}: {int(((x64 > 0) != (x32 > 0)).sum())} of {x64.numel()} ReLU inputs change sign "
              "between PyTorch's float32 and float64")


def collapse(a, g2p, b, torch):
    """Encoder collapse: the spread of the memory over a source's positions (RMS distance from the
    sentence's mean vector over RMS norm; 0 when every position is the same) and the entropy of
    each decoder layer's cross-attention (ln S when uniform), for qkv's weights (DIR/init,
    DIR/step-K) and PyTorch's after the same steps of the lock-step run (DIR/torch-step-K.pt)."""
    src = torch.tensor(b["src"]).view(b["B"], b["S"])
    tin = torch.tensor(b["tgt_in"]).view(b["B"], b["T"])
    dirs = ["init"] + sorted((d for d in os.listdir(a.dir) if d.startswith("step-")), key=lambda d: int(d[5:]))
    dirs += [f"torch-{d}" for d in dirs if os.path.exists(os.path.join(a.dir, f"torch-{d}.pt"))]
    for d in dirs:
        if d.startswith("torch-"):  # PyTorch's own weights after its lock-step run
            m = g2p.load_qkv(os.path.join(a.dir, "init"))[0]
            m.load_state_dict(torch.load(os.path.join(a.dir, d + ".pt")))
        else:
            m = g2p.load_qkv(os.path.join(a.dir, d))[0]
        m.train()
        for mod in m.modules():  # training mode without dropout: nn.Transformer's plain path
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0
            elif isinstance(mod, torch.nn.MultiheadAttention):
                mod.dropout = 0
        with torch.no_grad():
            pad = src.eq(g2p.PAD)
            mem = m.encode(src).masked_fill(pad[..., None], float("nan"))
            dev = mem - torch.nanmean(mem, 1, keepdim=True)
            spread = float(torch.nanmean((dev ** 2).sum(-1)).sqrt() / torch.nanmean((mem ** 2).sum(-1)).sqrt())
            mem = mem.nan_to_num(0)
            h = m.pos(m.te(tin) * math.sqrt(m.d))
            causal = m.tf.generate_square_subsequent_mask(tin.size(1))
            ents = []
            for L in m.tf.decoder.layers:
                h1 = L.norm1(h + L.self_attn(h, h, h, attn_mask=causal, key_padding_mask=tin.eq(g2p.PAD))[0])
                w = L.multihead_attn(h1, mem, mem, key_padding_mask=pad)[1]  # (B, T, S), mean of the heads
                ents.append(float((-(w.clamp_min(1e-30).log() * w).sum(-1))[tin.ne(g2p.PAD)].mean()))
                h = L(h, mem, tgt_mask=causal, tgt_key_padding_mask=tin.eq(g2p.PAD), memory_key_padding_mask=pad)
        print(f"{d}: memory spread {spread:.2e}; cross-attention entropy by layer "
              + ", ".join(f"{e:.3f}" for e in ents) + f" (ln S = {math.log(b['S']):.3f})")


if __name__ == "__main__":
    main()
