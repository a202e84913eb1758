#!/usr/bin/env python3
"""The table and verdict of bench/translate_compare.sh, from the logs in OUT.

Reads OUT/peer-sSEED.log (step, loss, lr: the peer's --loss-log), OUT/peer-sSEED.nll (step, nll:
bench/translate_peer.py's PEER_NLL) and OUT/qkv-sSEED.log (qkv train --loss-log: a header, then
step, loss, nll, lr, grad_norm, tokens). Prints one row every EVERY steps: each side's smoothed
loss and NLL, averaged over the EVERY steps up to the row and over the seeds, and the spread of
the NLL between seeds (max − min of the per-seed averages: the noise). The verdict compares the
NLL over the last quarter of the steps both sides have, against the larger spread between seeds.
Also writes OUT/curves.tsv (step, peer_loss, qkv_loss, peer_nll, qkv_nll) for qkv plot.
"""
import argparse, os, statistics, sys


def read(path, cols, header=False):
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for i, line in enumerate(f):
            if header and i == 0:
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < max(cols) + 1:
                continue  # a partial last line of a running side
            rows[int(parts[0])] = [float(parts[c]) for c in cols]
    return rows


def window(rows, lo, hi, k):
    v = [rows[s][k] for s in range(lo + 1, hi + 1) if s in rows]
    return statistics.fmean(v) if v else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="1 2")
    ap.add_argument("--every", type=int, default=25)
    a = ap.parse_args()
    seeds = a.seeds.split()
    side = {"peer": {}, "qkv": {}}
    for s in seeds:
        loss = read(f"{a.out}/peer-s{s}.log", [1])
        nll = read(f"{a.out}/peer-s{s}.nll", [1])
        if loss:
            side["peer"][s] = {k: [loss[k][0], nll[k][0] if k in nll else float("nan")] for k in loss}
        q = read(f"{a.out}/qkv-s{s}.log", [1, 2], header=True)
        if q:
            side["qkv"][s] = q
    last = min((max(r) for runs in side.values() for r in runs.values()), default=0)
    if last == 0 or not side["peer"] or not side["qkv"]:
        sys.exit("translate_curves: no logs of both sides in " + a.out)

    def mean(name, lo, hi, k):
        v = [window(r, lo, hi, k) for r in side[name].values()]
        v = [x for x in v if x is not None]
        return (statistics.fmean(v), max(v) - min(v)) if v else (float("nan"), float("nan"))

    print(f"seeds: peer {sorted(side['peer'])}, qkv {sorted(side['qkv'])}; each row: mean over the {a.every} steps up to it and over the seeds; spread = max − min over seeds")
    print(f"{'step':>5} {'peer loss':>9} {'qkv loss':>9} {'peer nll':>9} {'qkv nll':>9} {'qkv−peer':>9} {'peer spread':>11} {'qkv spread':>10}")
    with open(f"{a.out}/curves.tsv", "w") as tsv:
        tsv.write("step\tpeer_loss\tqkv_loss\tpeer_nll\tqkv_nll\n")
        for hi in range(a.every, last + 1, a.every):
            lo = hi - a.every
            pl, _ = mean("peer", lo, hi, 0)
            ql, _ = mean("qkv", lo, hi, 0)
            pn, ps = mean("peer", lo, hi, 1)
            qn, qs = mean("qkv", lo, hi, 1)
            print(f"{hi:5d} {pl:9.3f} {ql:9.3f} {pn:9.3f} {qn:9.3f} {qn - pn:+9.3f} {ps:11.3f} {qs:10.3f}")
            tsv.write(f"{hi}\t{pl:.4f}\t{ql:.4f}\t{pn:.4f}\t{qn:.4f}\n")
    lo = last - max(last // 4, 1)
    pn, ps = mean("peer", lo, last, 1)
    qn, qs = mean("qkv", lo, last, 1)
    noise = max(ps, qs)
    d = qn - pn
    one_seed = min(len(side["peer"]), len(side["qkv"])) < 2
    if last - lo < 25:
        # batches differ by up to a factor of ten in length, and so in loss: a handful of
        # steps in different orders says nothing
        verdict = f"too few steps to judge ({last - lo} in the window; run at least 100 a side)"
    elif one_seed:
        verdict = "noise unknown (one seed a side): " + ("qkv ahead" if d < 0 else "qkv behind")
    elif abs(d) <= noise:
        verdict = "match within noise"
    elif d < 0:
        verdict = "qkv ahead (beyond the noise)"
    else:
        verdict = "qkv BEHIND (beyond the noise)"
    print(f"verdict over steps {lo + 1}-{last}: NLL qkv {qn:.3f}, peer {pn:.3f}, difference {d:+.3f}, noise (spread between seeds) {noise:.3f}: {verdict}")


if __name__ == "__main__":
    main()
