#!/usr/bin/env bash
# Summarization accuracy (Go code → the first sentence of its doc comment),
# measured with the protocol of bench/translation_accuracy.sh: every choice
# (weights: best, last, the averages of the last 5 and 10 snapshots; beam
# and length penalty) is made on valid.tsv by ROUGE-L (ties by smoothed
# BLEU-4), and test.tsv is scored once per system: ROUGE-1/2/L (as Google's
# rouge-score) and smoothed BLEU-4 (as CodeXGLUE's code-to-text evaluator).
#
# The corpus comes from qkv data godoc into OUT/corpus/summ (built once):
#   qkv data godoc --root "$(go env GOROOT)/src" --out OUT/corpus/summ
# A run is a qkv train --out directory placed (or linked) at OUT/NAME/run.
#
# Usage: bench/summarization_accuracy.sh choose NAME   choose and score OUT/NAME/run
#        bench/summarization_accuracy.sh table
# Env:   OUT (default ../summarization-runs), QKV, THREADS, BEAMS, ALPHAS as
#        for bench/translation_accuracy.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-$(cd .. && pwd)/summarization-runs}
export KEYS="rougeL sbleu" REPORT="rouge1 rouge2 rougeL sbleu"
case "${1:-}" in
choose)
	mkdir -p "$OUT/corpus"
	if [ -z "${QKV:-}" ]; then
		export QKV=$OUT/qkv
		go build -o "$QKV" ./cmd/qkv
	fi
	if [ ! -s "$OUT/corpus/summ/test.tsv" ]; then
		"$QKV" data godoc --root "$(go env GOROOT)/src" --out "$OUT/corpus/summ" >&2
	fi
	exec bench/translation_accuracy.sh choose summ "${2:?usage: choose NAME}"
	;;
table) exec bench/translation_accuracy.sh table ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
