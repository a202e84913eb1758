#!/usr/bin/env bash
# Side-by-side training speed of two qkv binaries (old code against new),
# alternated so that a change in the machine's load hits both alike: for
# each of RUNS rounds, each binary trains STEPS steps of the same command
# in a fresh directory. Prints, per run, the whole command's wall time and
# CPU use (GNU time), the last progress line (tokens/s) and the first 12 hex
# digits of last.safetensors' sha256: a change meant to keep the arithmetic
# must give the same digits.
#
# Usage: bench/train_ab.sh OLD_QKV NEW_QKV [qkv train flags …]
#   e.g. bench/train_ab.sh /tmp/qkv-old ./qkv --config recipes/ende-transformer.yaml \
#          --train corpus/de/train.tsv --valid corpus/de/valid.tsv --threads 2
# Env:   STEPS (default 30), RUNS (default 2)
set -euo pipefail
old=${1:?usage: bench/train_ab.sh OLD_QKV NEW_QKV [qkv train flags …]}
new=${2:?usage: bench/train_ab.sh OLD_QKV NEW_QKV [qkv train flags …]}
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq "${RUNS:-2}"); do
	for side in old new; do
		bin=$old
		[ "$side" = new ] && bin=$new
		rm -rf "$work/run"
		/usr/bin/time -f '%e s %P' -o "$work/time" "$bin" train "$@" --out "$work/run" \
			--max-steps "${STEPS:-30}" --valid-every 100000 2>"$work/err"
		echo "$side $i | $(cat "$work/time") | $(grep '^step' "$work/err" | tail -1) | $(sha256sum "$work/run/last.safetensors" | cut -c1-12)"
	done
done
