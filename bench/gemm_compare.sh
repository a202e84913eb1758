#!/usr/bin/env bash
# Side-by-side single-precision GEMM throughput: qkv (kernels.Sgemm through
# `qkv bench gemm`) against OpenBLAS (../shared/bench/peers/openblas_gemm.py),
# measured in one run on this machine, interleaved shape by shape so that
# both see the same machine load. Prints a table with the per-shape ratio
# qkv/OpenBLAS and the geometric mean at each thread count.
#
# Usage: bench/gemm_compare.sh [rounds]        (default 5)
#
# Each round runs every shape and thread count once on each side, the two
# sides in alternating order. Each run is itself the median of many calls
# (the peer's method); across rounds the table keeps each side's best run
# (AGG=median keeps the median), because on a machine shared with other
# work the noise only ever slows a run down.
# Env:   PEER=path/to/openblas_gemm.py  THREADS=1,2  IMPL=avx512|avx2|gosimd512|gosimd256|generic (gosimd* need a GOEXPERIMENT=simd build, QKV=...)
#        QKV=path/to/prebuilt/qkv (default: go build ./cmd/qkv)
#        SHAPES="M,N,K[,t|n,t|n] ..." (default: the peer's default shapes)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
AGG=${AGG:-best}
PEER=${PEER:-$(cd .. && pwd)/shared/bench/peers/openblas_gemm.py}
THREADS=${THREADS:-1,2}
PY=/usr/bin/python3
if [ -n "${SHAPES:-}" ]; then
	read -r -a SHAPES <<<"$SHAPES"
else
	SHAPES=(2048,256,256 2048,1024,256 2048,256,1024 256,1024,2048,t,n 2048,256,1024,n,t 4096,2048,512 1024,1024,1024)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${QKV:-}
if [ -z "$bin" ]; then
	bin=$tmp/qkv
	go build -o "$bin" ./cmd/qkv
fi
implflag=()
[ -n "${IMPL:-}" ] && implflag=(--impl "$IMPL")

out=$tmp/results.jsonl
for ((r = 0; r < ROUNDS; r++)); do
	for t in ${THREADS//,/ }; do
		for s in "${SHAPES[@]}"; do
			if ((r % 2 == 0)); then
				"$PY" "$PEER" --threads "$t" --shape "$s" >>"$out"
				"$bin" bench gemm "${implflag[@]}" --threads "$t" --shape "$s" >>"$out"
			else
				"$bin" bench gemm "${implflag[@]}" --threads "$t" --shape "$s" >>"$out"
				"$PY" "$PEER" --threads "$t" --shape "$s" >>"$out"
			fi
		done
	done
done

"$PY" - "$out" "$AGG" "$ROUNDS" <<'PYEOF'
import json, math, statistics, sys, collections
agg = max if sys.argv[2] == "best" else statistics.median
rows = collections.defaultdict(lambda: collections.defaultdict(list))
impl = "?"
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["threads"], r["m"], r["n"], r["k"], r["ta"], r["tb"])
    rows[key][r["peer"]].append(r["gflops"])
    if r["peer"] == "qkv":
        impl = r.get("impl", "?")
print(f"{sys.argv[2]} of {sys.argv[3]} rounds per side\n")
print(f"| threads | shape (m,n,k,ta,tb) | OpenBLAS GFLOP/s | qkv ({impl}) GFLOP/s | qkv/OpenBLAS |")
print("|---:|---|---:|---:|---:|")
by_t = collections.defaultdict(list)
for key in sorted(rows, key=lambda k: (k[0],)):
    t, m, n, k, ta, tb = key
    o = agg(rows[key]["openblas"])
    q = agg(rows[key]["qkv"])
    by_t[t].append(q / o)
    shape = f"{m},{n},{k},{'t' if ta else 'n'},{'t' if tb else 'n'}"
    print(f"| {t} | {shape} | {o:.1f} | {q:.1f} | {q/o:.2f} |")
for t, rs in sorted(by_t.items()):
    g = math.exp(sum(math.log(x) for x in rs) / len(rs))
    print(f"| {t} | **geometric mean** | | | **{g:.2f}** (min {min(rs):.2f}) |")
PYEOF
