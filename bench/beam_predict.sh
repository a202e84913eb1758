#!/usr/bin/env bash
# The cost of the Beam engine on one machine: qkv predict against qkv beam
# predict (Prism runner, in-process) on the same model, input and threads,
# run back to back, alternating, ROUNDS times. Prints one JSON line per run
# and the throughput ratio of each pair (beam / plain). Outputs are compared
# byte for byte.
#
#   bench/beam_predict.sh MODEL_DIR WORDS_FILE [THREADS] [ROUNDS] [FILES]
#
# FILES > 1 splits the input into that many files for the Beam run (the
# plain run reads them concatenated). Needs ./qkv and ./qkv-beam (make build
# build-beam).
set -euo pipefail
model=$1 words=$2 threads=${3:-1} rounds=${4:-3} nfiles=${5:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/out"
n=$(wc -l < "$words")
split -d -n "l/$nfiles" "$words" "$work/in/part-"
cat "$work"/in/part-* > "$work/all.txt"
now() { date +%s.%N; }
for r in $(seq "$rounds"); do
	t0=$(now)
	./qkv predict --threads "$threads" --model "$model" --input "$work/all.txt" --output "$work/plain.txt"
	t1=$(now)
	./qkv beam predict --threads "$threads" --model "$model" --input "$work/in/part-*" --output "$work/out/" 2>/dev/null
	t2=$(now)
	cat "$work"/out/part-* | cmp -s - "$work/plain.txt" || { echo "outputs differ" >&2; exit 1; }
	awk -v n="$n" -v r="$r" -v th="$threads" -v f="$nfiles" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
		p = n / (b - a); q = n / (c - b)
		printf "{\"round\": %d, \"lines\": %d, \"threads\": %d, \"files\": %d, \"qkv_predict_lines_per_s\": %.1f, \"beam_predict_lines_per_s\": %.1f, \"ratio\": %.3f}\n", r, n, th, f, p, q, q / p
	}'
done
