#!/usr/bin/env bash
# Side-by-side G2P Transformer training and decoding: qkv against the PyTorch
# peer (../shared/bench/peers/pytorch_g2p.py), the same model and data,
# measured in one run on this machine, one side after the other so that
# neither shares the cores with the other.
#
# Usage: bench/g2p_compare.sh train [steps]      training tokens/s, loss, peak memory (default 60 steps)
#        bench/g2p_compare.sh precision [steps]  training tokens/s, loss and CPU use in fp32 and in mixed
#                                                precision on both sides: the peer's --bf16 (CPU autocast)
#                                                and qkv's --precision bf16 (default 60 steps)
#        bench/g2p_compare.sh decode [epochs]    train both for [epochs] (default 1), then time greedy
#                                                decoding of the whole test file and report WER
#        bench/g2p_compare.sh int8 DIR           greedy decoding of the test file with the qkv Transformer in DIR:
#                                                qkv fp32, qkv int8 (qkv quantize), the peer loading the same
#                                                weights (--load-qkv) with --decode cached, and cached --int8;
#                                                words/s, WER and peak memory of each, one after the other
# Env (int8): THREADS=cores for both sides (default 1); TEST=another test file (e.g. its first lines)
# Env:   QKV=path/to/prebuilt/qkv (default: go build ./cmd/qkv)  OUT=dir for models (default: a temp dir)
#        WARMUP=steps of the learning-rate warm-up for both sides in decode mode (default 4000, the
#        paper's; a few hundred gives usable models after one epoch)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/peer_blas.sh
peer_blas_check
SHARED=$(cd .. && pwd)/shared
PEER=$SHARED/bench/peers/pytorch_g2p.py
TRAIN=$SHARED/data/g2p/cmudict-g014b2b.train.tsv
TEST=${TEST:-$SHARED/data/g2p/cmudict-g014b2b.test.tsv}
OUT=${OUT:-$(mktemp -d)}
if [ -z "${QKV:-}" ]; then
	QKV=$OUT/qkv
	go build -o "$QKV" ./cmd/qkv
fi
# peak resident memory of a command, in MB, from GNU time (if present) or ps
peak() { /usr/bin/time -f '%M' -o "$OUT/rss" "$@"; echo "peak_rss_mb=$(($(cat "$OUT/rss") / 1024))" >&2; }
mode=${1:-train}
case "$mode" in
train)
	steps=${2:-60}
	echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
	peak /usr/bin/python3 "$PEER" --train "$TRAIN" --steps "$steps" | tee "$OUT/peer.json"
	peak "$QKV" bench train --preset g2p-transformer --train "$TRAIN" --steps "$steps" | tee "$OUT/qkv.json"
	/usr/bin/python3 - "$OUT/peer.json" "$OUT/qkv.json" <<'PY'
import json, sys
p, q = (json.load(open(f)) for f in sys.argv[1:3])
print(f"train_tokens_per_s: qkv {q['train_tokens_per_s']} / pytorch {p['train_tokens_per_s']} = {q['train_tokens_per_s'] / p['train_tokens_per_s']:.2f}x")
print(f"last_loss after {q['steps']} steps: qkv {q['last_loss']}, pytorch {p['last_loss']}")
PY
	;;
precision)
	steps=${2:-60}
	echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
	# cpu% of a whole command (GNU time's %P: user+system over elapsed, 200% = both cores)
	cpu() { /usr/bin/time -f '%P %M' -o "$OUT/time" "$@"; echo "cpu=$(cut -d' ' -f1 "$OUT/time") peak_rss_mb=$(($(cut -d' ' -f2 "$OUT/time") / 1024))" >&2; }
	cpu /usr/bin/python3 "$PEER" --train "$TRAIN" --steps "$steps" | tee "$OUT/peer-fp32.json"
	cpu /usr/bin/python3 "$PEER" --train "$TRAIN" --steps "$steps" --bf16 | tee "$OUT/peer-bf16.json"
	cpu "$QKV" bench train --preset g2p-transformer --train "$TRAIN" --steps "$steps" | tee "$OUT/qkv-fp32.json"
	cpu "$QKV" bench train --preset g2p-transformer --train "$TRAIN" --steps "$steps" --precision bf16 | tee "$OUT/qkv-bf16.json"
	/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
r = {k: json.load(open(f"{sys.argv[1]}/{k}.json")) for k in ("peer-fp32", "peer-bf16", "qkv-fp32", "qkv-bf16")}
t = {k: v["train_tokens_per_s"] for k, v in r.items()}
for k in r:
    print(f"{k:10s} {t[k]:9.1f} tokens/s  last_loss {r[k]['last_loss']}" + (f"  cpu {r[k]['cpu_percent']}% over the timed steps" if "cpu_percent" in r[k] else ""))
print(f"qkv bf16 / peer bf16 = {t['qkv-bf16'] / t['peer-bf16']:.2f}x (target 1.3x); qkv bf16 / peer fp32 = {t['qkv-bf16'] / t['peer-fp32']:.2f}x (target 4x)")
print(f"qkv bf16 / qkv fp32 = {t['qkv-bf16'] / t['qkv-fp32']:.2f}x; peer bf16 / peer fp32 = {t['peer-bf16'] / t['peer-fp32']:.2f}x")
PY
	;;
decode)
	epochs=${2:-1}
	warmup=${WARMUP:-4000}
	echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
	peak /usr/bin/python3 "$PEER" --train "$TRAIN" --epochs "$epochs" --warmup "$warmup" --save "$OUT/peer.pt" | tee "$OUT/peer-train.json"
	peak /usr/bin/python3 "$PEER" --train "$TRAIN" --test "$TEST" --load "$OUT/peer.pt" | tee "$OUT/peer.json"
	rm -rf "$OUT/qkv-model"
	"$QKV" train --arch transformer --preset g2p-transformer --lowercase --train "$TRAIN" \
		--out "$OUT/qkv-model" --epochs "$epochs" --warmup "$warmup" --metric none 2>"$OUT/qkv-train.log"
	peak "$QKV" bench decode --model "$OUT/qkv-model" --test "$TEST" --beam 1,4 | tee "$OUT/qkv.json"
	/usr/bin/python3 - "$OUT/peer.json" "$OUT/qkv.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
q = [json.loads(l) for l in open(sys.argv[2])]
g = next(r for r in q if r["beam"] == 1)
print(f"greedy words/s: qkv {g['eval_words_per_s']} / pytorch {p['eval_words_per_s']} = {g['eval_words_per_s'] / p['eval_words_per_s']:.2f}x")
print(f"WER: qkv {g['wer']:.2f}% (beam 4: {next(r for r in q if r['beam'] == 4)['wer']:.2f}%), pytorch {100 * p['wer']:.2f}%")
PY
	;;
int8)
	dir=${2:?usage: $0 int8 DIR}
	threads=${THREADS:-1}
	echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg); $dir; threads $threads"
	rm -rf "$OUT/int8-model"
	"$QKV" quantize --model "$dir" --out "$OUT/int8-model" >&2
	peak "$QKV" bench decode --model "$dir" --test "$TEST" --beam 1 --threads "$threads" | tee "$OUT/qkv-fp32.json"
	peak "$QKV" bench decode --model "$OUT/int8-model" --test "$TEST" --beam 1 --threads "$threads" | tee "$OUT/qkv-int8.json"
	peak /usr/bin/python3 "$PEER" --load-qkv "$dir" --test "$TEST" --decode cached --threads "$threads" | tee "$OUT/peer-cached.json"
	peak /usr/bin/python3 "$PEER" --load-qkv "$dir" --test "$TEST" --decode cached --int8 --threads "$threads" | tee "$OUT/peer-int8.json"
	echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
	/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
r = {k: json.load(open(f"{sys.argv[1]}/{k}.json")) for k in ("qkv-fp32", "qkv-int8", "peer-cached", "peer-int8")}
wer = {k: v["wer"] * (1 if k.startswith("qkv") else 100) for k, v in r.items()}
w = {k: v["eval_words_per_s"] for k, v in r.items()}
print("| system | words/s | WER % |")
print("|---|---:|---:|")
for k in r:
    print(f"| {k} | {w[k]:.1f} | {wer[k]:.2f} |")
print(f"qkv int8 / qkv fp32 = {w['qkv-int8'] / w['qkv-fp32']:.2f}x (target 2x); qkv int8 / peer cached int8 = {w['qkv-int8'] / w['peer-int8']:.2f}x (target 12x)")
print(f"WER int8 - fp32: qkv {wer['qkv-int8'] - wer['qkv-fp32']:+.2f} points (target within 0.3), peer {wer['peer-int8'] - wer['peer-cached']:+.2f}")
PY
	;;
*)
	echo "usage: $0 train [steps] | precision [steps] | decode [epochs] | int8 DIR" >&2
	exit 2
	;;
esac
