#!/usr/bin/env bash
# Accuracy of the G2P Transformer on the standard CMUdict split
# (../shared/data/g2p, "g014b2b"), to compare with the published numbers in
# ../shared/data/g2p/README.md: train the g2p-transformer preset for a time
# budget keeping snapshots, average the last ones, and score the test set
# (WER and PER against every reference pronunciation) greedily and with a
# beam, for the best checkpoint and for the average.
#
# Usage: bench/g2p_accuracy.sh [time-budget]      (default 90m)
# Env:   QKV=path/to/prebuilt/qkv (default: go build ./cmd/qkv)
#        OUT=run directory (default: a temp dir; an existing run is only re-scored)
#        KEEP=snapshots to keep and average (default 10)   BEAM=beam size (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-90m}
KEEP=${KEEP:-10}
BEAM=${BEAM:-4}
DATA=$(cd .. && pwd)/shared/data/g2p
OUT=${OUT:-$(mktemp -d)/g2p}
if [ -z "${QKV:-}" ]; then
	QKV=$(mktemp -d)/qkv
	go build -o "$QKV" ./cmd/qkv
fi
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) run: $OUT" >&2
if [ ! -f "$OUT/last.safetensors" ]; then
	"$QKV" train --arch transformer --preset g2p-transformer --lowercase \
		--train "$DATA/cmudict-g014b2b.train.tsv" --out "$OUT" \
		--time-budget "$BUDGET" --keep-snapshots "$KEEP"
fi
score() { # label, then eval flags
	local label=$1
	shift
	printf '%s\t' "$label"
	"$QKV" eval --model "$OUT" --test "$DATA/cmudict-g014b2b.test.tsv" "$@"
}
score "best greedy" --beam 1
score "best beam $BEAM" --beam "$BEAM"
for n in 5 "$KEEP"; do
	"$QKV" average --model "$OUT" --last "$n" --out "average$n.safetensors" >/dev/null
	score "average of last $n, beam $BEAM" --beam "$BEAM" --weights "average$n.safetensors"
done
