#!/usr/bin/env bash
# Translation accuracy on the gettext catalogues of this machine, measured
# honestly: every choice is made on the validation split, and the test split
# is scored once per reported system.
#
#   1. The corpus is built once with qkv data gettext (split by catalogue:
#      no catalogue in two splits) into OUT/corpus/LANG.
#   2. NAME trains with RECIPE on train.tsv for BUDGET. For every time in
#      AT (e.g. "30m 1h"), the run directory is copied at that moment into
#      OUT/NAME-atT/run: the weights a --time-budget T run would have (same
#      schedule, same batches), each a system of its own.
#   3. On valid.tsv only: the weights (best, last, the average of the last 5
#      and of the last 10 snapshots) by greedy BLEU; then, for those weights,
#      the beam (BEAMS) and length penalty α (ALPHAS) by BLEU, ties by chrF,
#      then the simpler choice (listed first).
#   4. The chosen system is scored on test.tsv once (BLEU and chrF as
#      sacreBLEU, placeholders kept) and appended to OUT/results.tsv; its
#      outputs are kept beside the scores (test.out.txt, one per test line).
#      Running the script again reuses every score.
#
# Usage: bench/translation_accuracy.sh train RECIPE LANG BUDGET NAME   train, then choose and score NAME and its NAME-atT copies
#        bench/translation_accuracy.sh choose LANG NAME                choose and score an existing run OUT/NAME/run
#        bench/translation_accuracy.sh table
# Env:   OUT=work directory (default ../translation-runs)   AT="30m" copies during training
#        THREADS=cores for qkv (default all)   QKV=prebuilt qkv (default: go build ./cmd/qkv)
#        BEAMS="1 4"   ALPHAS="0.6 1"   TRAIN_FLAGS: more qkv train flags over the recipe
#        KEYS="bleu chrf": the eval JSON keys that choose (first, ties by second)
#        REPORT="bleu chrf placeholders_kept": the keys reported on the test split
#        (bench/summarization_accuracy.sh sets these for ROUGE)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
train | choose | table) ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
OUT=${OUT:-$(cd .. && pwd)/translation-runs}
BEAMS=${BEAMS:-1 4}
KEYS=${KEYS:-bleu chrf}
REPORT=${REPORT:-bleu chrf placeholders_kept}
read -r K1 K2 <<<"$KEYS"
ALPHAS=${ALPHAS:-0.6 1}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -z "${QKV:-}" ] && [ "$1" != table ]; then
	QKV=$OUT/qkv
	go build -o "$QKV" ./cmd/qkv
fi
THREADFLAG=()
if [ -n "${THREADS:-}" ]; then
	THREADFLAG=(--threads "$THREADS")
fi
q() { "$QKV" "$@" "${THREADFLAG[@]}"; }
say() { echo "# $*" >&2; }
jf() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(*[d.get(k, "-") for k in sys.argv[2:]])' "$@"; }

corpus() {
	local lang=$1
	if [ ! -s "$OUT/corpus/$lang/test.tsv" ]; then
		q data gettext --locale-dir /usr/share/locale --lang "$lang" --out "$OUT/corpus" >&2
	fi
}

# evalv OUT.json ARGS...: qkv eval on the validation split, once (kept).
evalv() {
	local out=$1
	shift
	if [ ! -s "$out" ]; then
		q eval --test "$VALID" "$@" >"$out.tmp"
		mv "$out.tmp" "$out"
	fi
}

# best FILE: the line "k1 k2 rest…" with the highest K1, then K2,
# then the first written (candidates are listed simplest first).
best() { sort -s -g -r -k1,1 -k2,2 "$1" | head -1; }

choose() {
	local lang=$1 name=$2
	corpus "$lang"
	VALID=$OUT/corpus/$lang/valid.tsv
	local test=$OUT/corpus/$lang/test.tsv
	local dir=$OUT/$name run=$OUT/$name/run
	if [ ! -f "$run/last.safetensors" ]; then
		echo "no run at $run" >&2
		exit 2
	fi
	local sel=$dir/choose-$(stat -c %Y "$run/last.safetensors")
	mkdir -p "$sel"
	: >"$sel/weights.cands"
	local cands=(best.safetensors last.safetensors) nsnap
	nsnap=$(find "$run/" -maxdepth 1 -name 'step-*.safetensors' | wc -l)
	for n in 5 10; do
		if [ "$nsnap" -ge "$n" ]; then
			[ -s "$sel/average$n.safetensors" ] || q average --model "$run" --last "$n" --out "$sel/average$n.safetensors" >/dev/null
			cands+=("$sel/average$n.safetensors")
		fi
	done
	for w in "${cands[@]}"; do
		[ -f "$(case $w in /*) echo "$w" ;; *) echo "$run/$w" ;; esac)" ] || continue
		local tag
		tag=$(basename "$w" .safetensors)
		evalv "$sel/valid-$tag.json" --model "$run" --weights "$w" --beam 1
		echo "$(jf "$sel/valid-$tag.json" $K1 $K2) $w" >>"$sel/weights.cands"
	done
	local w
	read -r _ _ w < <(best "$sel/weights.cands")
	echo "$w" >"$sel/weights"
	: >"$sel/decoding.cands"
	for b in $BEAMS; do
		for a in $ALPHAS; do
			if [ "$b" = 1 ] && [ "$a" != "${ALPHAS%% *}" ]; then
				continue # greedy ignores α
			fi
			# Named by the weights too, so a rerun that chooses other weights never reuses these.
			local f=$sel/valid-$(basename "$w" .safetensors)-beam$b-alpha$a.json
			if [ "$b" = 1 ]; then
				f=$sel/valid-$(basename "$w" .safetensors).json # greedy: the weights' own score
			fi
			evalv "$f" --model "$run" --weights "$w" --beam "$b" --alpha "$a"
			echo "$(jf "$f" $K1 $K2) $b $a" >>"$sel/decoding.cands"
		done
	done
	best "$sel/decoding.cands" >"$sel/decoding"
	local vb vc b a
	read -r vb vc b a <"$sel/decoding"
	local choices="weights $(basename "$w" .safetensors), beam $b, alpha $a"
	say "$name: chosen on validation: $choices (valid $K1 $vb, $K2 $vc)"
	if [ ! -s "$sel/test.json" ]; then
		say "scoring the test split once: $name"
		q eval --test "$test" --model "$run" --weights "$w" --beam "$b" --alpha "$a" --output "$sel/test.out.txt" >"$sel/test.json.tmp"
		mv "$sel/test.json.tmp" "$sel/test.json"
		# The greedy score of the same weights, for the greedy/beam comparison.
		if [ "$b" != 1 ]; then
			q eval --test "$test" --model "$run" --weights "$w" --beam 1 --output "$sel/test-greedy.out.txt" >"$sel/test-greedy.json.tmp"
			mv "$sel/test-greedy.json.tmp" "$sel/test-greedy.json"
		else
			cp "$sel/test.json" "$sel/test-greedy.json"
		fi
		local trained=?
		[ -s "$dir/trained" ] && trained=$(cat "$dir/trained")
		{
			printf '%s\t' "$name" "$lang" "$trained" "$choices" "$vb" "$vc" $(jf "$sel/test.json" $REPORT)
			jf "$sel/test-greedy.json" "$K1"
		} >>"$OUT/results.tsv"
	fi
	table
}

table() {
	if [ ! -s "$OUT/results.tsv" ]; then
		echo "no system scored yet in $OUT" >&2
		return
	fi
	{
		local r
		printf 'system\tcorpus\ttrained\tchoices (made on validation)\tvalid %s\tvalid %s' "$K1" "$K2"
		for r in $REPORT; do printf '\ttest %s' "$r"; done
		printf '\ttest %s greedy\n' "$K1"
		cat "$OUT/results.tsv"
	} | column -t -s $'\t'
}

train() {
	local recipe=$1 lang=$2 budget=$3 name=$4
	corpus "$lang"
	local c=$OUT/corpus/$lang run=$OUT/$name/run
	mkdir -p "$OUT/$name"
	if [ -f "$run/last.safetensors" ]; then
		say "$run exists: not training again (choose only)"
	else
		say "$(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) run: $run"
		local t pids=()
		for t in ${AT:-}; do
			# Copy the run as it stands at time t: the system a --time-budget t run would be.
			(
				sleep "$(python3 -c 'import sys,re; m=re.fullmatch(r"(\d+)([smh])",sys.argv[1]); print(int(m[1])*{"s":1,"m":60,"h":3600}[m[2]])' "$t")"
				mkdir -p "$OUT/$name-at$t"
				rm -rf "$OUT/$name-at$t/run.tmp"
				cp -r "$run" "$OUT/$name-at$t/run.tmp"
				mv "$OUT/$name-at$t/run.tmp" "$OUT/$name-at$t/run"
				echo "$t" >"$OUT/$name-at$t/trained"
			) &
			pids+=($!)
		done
		local start=$SECONDS
		q train --config "$recipe" --train "$c/train.tsv" --valid "$c/valid.tsv" --out "$run" \
			--time-budget "$budget" --loss-log "$OUT/$name/loss.tsv" ${TRAIN_FLAGS:-} 2> >(tee -a "$OUT/$name/train.log" >&2)
		echo "$(((SECONDS - start + 30) / 60)) min" >"$OUT/$name/trained"
		for p in "${pids[@]}"; do
			wait "$p" || true
		done
	fi
	for t in ${AT:-}; do
		[ -f "$OUT/$name-at$t/run/last.safetensors" ] && choose "$lang" "$name-at$t"
	done
	choose "$lang" "$name"
}

case "$1" in
train)
	shift
	train "$@"
	;;
choose)
	shift
	choose "$@"
	;;
table) table ;;
esac
