#!/usr/bin/env bash
# G2P accuracy on the standard CMUdict split (../shared/data/g2p, "g014b2b"),
# measured honestly: every choice is made on a validation split carved from
# the training file, and the test file is scored once per reported system.
#
#   1. The training file is split once by word (all pronunciations of a word
#      on one side; VALID_PERCENT of the words, by a fixed hash) into
#      OUT/split/train.tsv and OUT/split/valid.tsv, reused by every run.
#   2. ARCH trains with recipes/g2p-ARCH.yaml on split/train.tsv for BUDGET
#      (best.safetensors is chosen on split/valid.tsv: by validation loss, or
#      with the recipe's best_by: metric by greedy WER on 1,000 of its words).
#   3. On split/valid.tsv only: the weights (best, last, the average of the
#      last 5 and of the last KEEP snapshots, and for a run that started from
#      another model, best and last each averaged with that model's, and with ENDS its last averaged
#      with the ends of earlier cycles) by greedy WER; then, for those
#      weights, the beam (BEAMS) and length penalty α (ALPHAS) by WER, ties
#      by PER, then the simpler choice.
#   4. The chosen system is scored on the test file once (with --by-length,
#      for qkv plot) and appended to OUT/results.tsv. Running the script
#      again reuses every score; training more (RESUME=1) makes a new system.
#   An ensemble chooses its members among finished runs on split/valid.tsv
#   (forward selection: add the run that lowers greedy WER most, up to 5),
#   then its beam and α, then scores the test file once: a system is its
#   members (runs by their chosen weights, built-in models by their weights'
#   SHA-256) and its decoding, so choosing it again, from other candidates or
#   with a rebuilt binary, reuses its score (OUT/ensembles/systems).
#
# Usage: bench/g2p_accuracy.sh ARCH [BUDGET]       ARCH: transformer, rnnsearch or seq2seq (BUDGET default 2h)
#        bench/g2p_accuracy.sh ensemble RUN RUN …  RUN: names of finished runs (NAME below), or builtin:NAME
#        bench/g2p_accuracy.sh table               the table of every system scored so far
#        bench/g2p_accuracy.sh ship RUN [MODEL]    make RUN's chosen system a built-in model
#            (models/MODEL, default g2p-en: its weights in bf16 if that keeps validation WER and PER within
#            0.1 point of fp32, else f16, else fp32; the shipped system is scored once on test)
#        bench/g2p_accuracy.sh ship-ensemble MODEL builtin:A builtin:B …
#            the ensemble protocol over built-in models (ship each member first, rebuild QKV), then
#            models/MODEL: a built-in ensemble of the members chosen, with the decoding chosen
#        bench/g2p_accuracy.sh distill-data TEACHER WORDLIST…
#            words of the lists (e.g. /usr/share/dict/american-english-large, Debian's wamerican-large)
#            that neither file of the split holds, pronounced by TEACHER (builtin:NAME or a model
#            directory; qkv predict's decoding, a built-in model's card, or DISTILL_FLAGS="--beam 1"):
#            OUT/distill/TAG.tsv, for EXTRA
# Env:   DATA=the standard split's directory (default ../shared/data/g2p)
#        OUT=work directory (default ../g2p-runs)   NAME=run name (default ARCH)   SEED=training seed (1)
#        THREADS=cores for qkv (default all)        QKV=prebuilt qkv (default: go build ./cmd/qkv)
#        VALID_PERCENT=words held out (3; fixed once OUT/split exists)   KEEP=snapshots kept (10)
#        BEAMS="1 4 8"   ALPHAS="0 0.5 1"   RESUME=1: train an existing run for another BUDGET first
#        TRAIN_FLAGS="--valid-every 500 --dropout 0.2 …": more qkv train flags over the recipe (a new run)
#        TRAIN_ONLY=1: train (or resume) and stop, e.g. a run by steps that has not reached its --max-steps
#        RECIPE=another qkv train config for ARCH (default recipes/g2p-ARCH.yaml; a new run)
#        EXTRA=pairs added to the training split (distill-data's output: sequence-level distillation,
#            Kim & Rush 2016, on extra words as Sun et al. 2019); refused if it holds a validation or test word
#        TRAIN_FLAGS="--teacher builtin:g2p-en-ensemble": token-level distillation (qkv train --teacher)
#        ENDS="A/run/last.safetensors B/run/last.safetensors …": the last weights of earlier cycles of the
#            learning rate, newest first (each run trained --init-from the next): for every k, the weights
#            candidate last-with-k-ends, the mean of this run's last weights and the first k of them
#            (fixed with the run's first choice: a different ENDS later is refused)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
transformer | rnnsearch | seq2seq | ensemble | table | ship | ship-ensemble | distill-data) ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
DATA=${DATA:-$(cd .. && pwd)/shared/data/g2p}
TRAIN=$DATA/cmudict-g014b2b.train.tsv
TEST=$DATA/cmudict-g014b2b.test.tsv
if [ "$1" != table ]; then
	for f in "$TRAIN" "$TEST"; do
		[ -f "$f" ] || { echo "no $f: set DATA to the directory that holds the standard split (cmudict-g014b2b.*.tsv)" >&2; exit 2; }
	done
fi
OUT=${OUT:-$(cd .. && pwd)/g2p-runs}
VALID_PERCENT=${VALID_PERCENT:-3}
KEEP=${KEEP:-10}
SEED=${SEED:-1}
BEAMS=${BEAMS:-1 4 8}
ALPHAS=${ALPHAS:-0 0.5 1}
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
# jf FILE KEY...: fields of a JSON line, space-separated
jf() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(*[d.get(k, "") for k in sys.argv[2:]])' "$@"; }

# The validation split, written once: a word goes to valid.tsv when a fixed
# hash of its spelling falls below VALID_PERCENT (of 100).
split_data() {
	local d=$OUT/split
	mkdir -p "$d"
	# Two runs started together in one OUT (one a core) would both write the
	# split: the first to take the lock writes it, the other then finds it.
	exec 9>"$d/.lock"
	flock 9
	if [ -s "$d/train.tsv" ] && [ -s "$d/valid.tsv" ]; then
		flock -u 9
		return
	fi
	LC_ALL=C awk -F'\t' -v pct="$VALID_PERCENT" -v tr="$d/train.tsv.tmp$$" -v va="$d/valid.tsv.tmp$$" '
		BEGIN { for (i = 1; i < 128; i++) ord[sprintf("%c", i)] = i }
		{
			h = 7
			for (i = 1; i <= length($1); i++) h = (h * 31 + ord[substr($1, i, 1)]) % 1000003
			if (h % 100 < pct) print > va; else print > tr
		}' "$TRAIN"
	mv "$d/train.tsv.tmp$$" "$d/train.tsv"
	mv "$d/valid.tsv.tmp$$" "$d/valid.tsv"
	{
		echo "validation split of $(basename "$TRAIN"): $VALID_PERCENT% of the words by a fixed hash, all pronunciations of a word on one side"
		for f in train valid; do
			echo "$f.tsv: $(wc -l <"$d/$f.tsv") lines, $(cut -f1 "$d/$f.tsv" | sort -u | wc -l) words, sha256 $(sha256sum "$d/$f.tsv" | cut -c1-16)"
		done
	} >"$d/README.tmp$$"
	mv "$d/README.tmp$$" "$d/README"
	flock -u 9
	cat "$d/README" >&2
}

# evalv OUT.json ARGS...: qkv eval on the validation split, once (kept).
evalv() {
	local out=$1
	shift
	if [ ! -s "$out" ]; then
		q eval --test "$OUT/split/valid.tsv" "$@" >"$out.tmp"
		mv "$out.tmp" "$out"
	fi
}

# best FILE: the line "wer per rest…" with the lowest WER, then PER, then
# the first written (the simpler choice: candidates are listed simplest first).
best() { sort -s -g -k1,1 -k2,2 "$1" | head -1; }

# choose_decoding DIR MODELARGS...: the beam and α on the validation split
# for the models (and weights) given; writes DIR/decoding: "wer per beam alpha".
choose_decoding() {
	local sel=$1
	shift
	: >"$sel/decoding.cands"
	for b in $BEAMS; do
		for a in $ALPHAS; do
			if [ "$b" = 1 ] && [ "$a" != "${ALPHAS%% *}" ]; then
				continue # greedy ignores α
			fi
			evalv "$sel/valid-beam$b-alpha$a.json" "$@" --beam "$b" --alpha "$a"
			echo "$(jf "$sel/valid-beam$b-alpha$a.json" wer per) $b $a" >>"$sel/decoding.cands"
		done
	done
	best "$sel/decoding.cands" >"$sel/decoding"
}

# score_test SEL SYSTEM TRAINED CHOICES MODELARGS...: score the test file
# once for the chosen system and record it in results.tsv.
score_test() {
	local sel=$1 system=$2 trained=$3 choices=$4
	shift 4
	local vw vp
	read -r vw vp _ <"$sel/decoding"
	if [ ! -s "$sel/test.json" ]; then
		say "scoring the test file once: $system ($choices)"
		q eval --test "$TEST" --by-length "$@" >"$sel/test.json.tmp"
		mv "$sel/test.json.tmp" "$sel/test.json"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$trained" "$choices" "$vw" "$vp" \
			$(jf "$sel/test.json" wer per) "$(date -u +%FT%TZ)" >>"$OUT/results.tsv"
	fi
}

table() {
	if [ ! -s "$OUT/results.tsv" ]; then
		echo "no system scored yet in $OUT" >&2
		return
	fi
	{
		printf 'system\ttrained\tchoices (made on validation)\tvalid WER\tvalid PER\ttest WER\ttest PER\tscored\n'
		cat "$OUT/results.tsv"
	} | column -t -s $'\t'
}

# selection_ends SEL: the ends of earlier cycles a selection averages with
# (ENDS), fixed by the first choice made in SEL: a different ENDS later is
# refused, as choosing among more candidates after the test file was scored
# would make the scoring a choice.
selection_ends() {
	local sel=$1 want="" e recorded=""
	for e in ${ENDS:-}; do
		[ -s "$e" ] || { echo "ENDS: no weights file $e" >&2; exit 2; }
		want+="$(realpath "$e")"$'\n'
	done
	if [ -e "$sel/ends" ]; then
		recorded=$(cat "$sel/ends")
	elif [ -e "$sel/weights" ]; then
		recorded=""
	else
		recorded=${want%$'\n'}
		echo "$recorded" >"$sel/ends"
	fi
	if [ -n "${ENDS:-}" ] && [ "$recorded" != "${want%$'\n'}" ]; then
		echo "ENDS differs from the ends $sel was chosen with ($(echo ${recorded:-none})): a choice, once made, is not remade with more candidates" >&2
		exit 2
	fi
	echo "$recorded"
}

# init_from RUN: the model a run started from (train.init_from in its
# config.json: qkv train --init-from), or nothing.
init_from() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("train", {}).get("init_from", ""))' "$1/config.json"
}

# record_origin DIR: for a run that started from a built-in model
# (train.init_from builtin:NAME in its config.json), that model's line of
# `qkv models --json` as the binary that trains it has it, kept once in
# DIR/origin.json: the shipped card adds that model's training time to the
# run's own.
record_origin() {
	local dir=$1 init
	[ ! -s "$dir/origin.json" ] && [ -s "$dir/run/config.json" ] || return 0
	init=$(init_from "$dir/run")
	case $init in builtin:*) ;; *) return 0 ;; esac
	q models --json | python3 -c '
import json, sys
for line in sys.stdin:
    if json.loads(line)["name"] == sys.argv[1]:
        print(line, end="")' "$init" >"$dir/origin.json.tmp"
	if [ -s "$dir/origin.json.tmp" ]; then
		mv "$dir/origin.json.tmp" "$dir/origin.json"
	else
		rm -f "$dir/origin.json.tmp"
		say "warning: $QKV has no $init (the model $dir/run started from): its training time is left out of the card"
	fi
}

# origin_weights DIR: what qkv average reads as the weights of the model
# the run in DIR started from, or nothing: for a built-in model, the model
# of QKV with the weights it started from (origin.json's SHA-256: after a
# ship, builtin:g2p-en is another model, and the one it was may have been
# renamed); a model directory or weights file as named.
origin_weights() {
	local dir=$1 init
	init=$(init_from "$dir/run")
	case $init in
	"") return 0 ;;
	builtin:*)
		[ -s "$dir/origin.json" ] || return 0
		local now was
		was=$(jf "$dir/origin.json" weights_sha256)
		now=$(q models --json | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d.get("weights_sha256") == sys.argv[1] and "members" not in d:
        print(d["name"])
        break' "$was")
		[ -n "$now" ] || say "$QKV holds no model with the weights $dir/run started from ($init, SHA-256 $was): not averaged with it"
		echo "$now"
		;;
	*)
		[ -e "$init" ] || { say "$init, the model $dir/run started from, is gone: not averaged with it"; return 0; }
		echo "$init"
		;;
	esac
}

# leg_done DIR START: a stretch of training ended: its seconds and the
# cores it had, a line each (train-seconds, threads: the card's "140 min on
# 1 core, then 64 min on 2 cores"), and the model it started from.
leg_done() {
	echo $((SECONDS - $2)) >>"$1/train-seconds"
	echo "${THREADS:-$(nproc)}" >>"$1/threads"
	record_origin "$1"
}

run_arch() {
	local arch=$1 budget=${2:-2h}
	local recipe=${RECIPE:-recipes/g2p-$arch.yaml}
	if [ ! -f "$recipe" ]; then
		echo "no recipe $recipe: ARCH is transformer, rnnsearch or seq2seq" >&2
		exit 2
	fi
	local name=${NAME:-$arch}
	local dir=$OUT/$name run=$OUT/$name/run
	split_data
	mkdir -p "$dir"
	say "$(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) run: $run"
	local start=$SECONDS
	# The training data: the split's, and EXTRA's pairs for a new run that
	# has them (kept in the run's directory, so a resumed run reads the same).
	local trainfile=$OUT/split/train.tsv
	if [ ! -f "$run/last.safetensors" ] && [ -n "${EXTRA:-}" ]; then
		check_extra "$EXTRA"
		cat "$OUT/split/train.tsv" "$EXTRA" >"$dir/train.tsv.tmp"
		mv "$dir/train.tsv.tmp" "$dir/train.tsv"
		echo "$EXTRA: $(wc -l <"$EXTRA") pairs, sha256 $(sha256sum "$EXTRA" | cut -c1-16)" >"$dir/extra"
	fi
	[ ! -s "$dir/train.tsv" ] || trainfile=$dir/train.tsv
	if [ ! -f "$run/last.safetensors" ]; then
		echo "$recipe" >"$dir/recipe"
		[ -z "${TRAIN_FLAGS:-}" ] || echo "$TRAIN_FLAGS" >"$dir/train-flags"
		q train --config "$recipe" --train "$trainfile" --valid "$OUT/split/valid.tsv" --out "$run" \
			--time-budget "$budget" --seed "$SEED" --keep-snapshots "$KEEP" ${TRAIN_FLAGS:-} 2> >(tee -a "$dir/train.log" >&2)
		leg_done "$dir" "$start"
	elif [ "${RESUME:-}" = 1 ]; then
		q train --resume --train "$trainfile" --valid "$OUT/split/valid.tsv" --out "$run" --time-budget "$budget" 2> >(tee -a "$dir/train.log" >&2)
		leg_done "$dir" "$start"
	fi
	if [ "${TRAIN_ONLY:-}" = 1 ]; then
		say "TRAIN_ONLY=1: trained $run; nothing chosen or scored"
		return
	fi
	local trained
	trained="$(awk '{s += $1} END {printf "%.0f min", s / 60}' "$dir/train-seconds" 2>/dev/null || echo "?")"
	# Choices belong to these weights: a resumed run chooses (and is scored) anew.
	local sel=$dir/choose-$(stat -c %Y "$run/last.safetensors")
	mkdir -p "$sel"
	# The weights, by greedy WER on the validation split.
	: >"$sel/weights.cands"
	local cands=(best.safetensors last.safetensors)
	local nsnap
	nsnap=$(find "$run" -maxdepth 1 -name 'step-*.safetensors' | wc -l)
	for n in $(printf '%s\n' 5 "$KEEP" | sort -un); do
		if [ "$n" -gt 1 ] && [ "$nsnap" -ge "$n" ]; then
			[ -s "$sel/average$n.safetensors" ] || q average --model "$run" --last "$n" --out "$sel/average$n.safetensors" >/dev/null
			cands+=("$sel/average$n.safetensors")
		fi
	done
	# A run that started from another model (qkv train --init-from, a
	# warm restart of the learning rate): its best and its last weights
	# each averaged with that model's, the ends of two cycles (stochastic
	# weight averaging).
	local origin_w
	origin_w=$(origin_weights "$dir")
	if [ -n "$origin_w" ]; then
		local ow
		for ow in best last; do
			[ -s "$sel/$ow-with-origin.safetensors" ] || q average --model "$run" --out "$sel/$ow-with-origin.safetensors" "$ow.safetensors" "$origin_w" >/dev/null
			cands+=("$sel/$ow-with-origin.safetensors")
		done
	fi
	# The ends of earlier cycles (ENDS, newest first): this run's last
	# weights averaged with the first k of them, for every k.
	local ends k=0 e list=()
	ends=$(selection_ends "$sel")
	for e in $ends; do
		k=$((k + 1))
		list+=("$e")
		[ -s "$sel/last-with-$k-ends.safetensors" ] || q average --model "$run" --out "$sel/last-with-$k-ends.safetensors" last.safetensors "${list[@]}" >/dev/null
		cands+=("$sel/last-with-$k-ends.safetensors")
	done
	for w in "${cands[@]}"; do
		[ -f "$(case $w in /*) echo "$w" ;; *) echo "$run/$w" ;; esac)" ] || continue
		local tag
		tag=$(basename "$w" .safetensors)
		evalv "$sel/valid-$tag.json" --model "$run" --weights "$w" --beam 1
		echo "$(jf "$sel/valid-$tag.json" wer per) $w" >>"$sel/weights.cands"
	done
	local w
	read -r _ _ w < <(best "$sel/weights.cands")
	echo "$w" >"$sel/weights"
	choose_decoding "$sel" --model "$run" --weights "$w"
	local b a
	read -r _ _ b a <"$sel/decoding"
	local choices="weights $(basename "$w" .safetensors), beam $b, alpha $a"
	say "chosen on validation: $choices"
	local system=$name
	[ "$name" = "$arch" ] || system="$name ($arch)"
	[ ! -s "$dir/extra" ] || system="$system + $(($(wc -l <"$dir/train.tsv") - $(wc -l <"$OUT/split/train.tsv"))) teacher-labelled pairs"
	score_test "$sel" "$system" "$trained" "$choices" --model "$run" --weights "$w" --beam "$b" --alpha "$a"
	table
}

# check_extra FILE: refuse added training pairs that are not word<TAB>phones
# or whose word is in the validation split or the test file (it would leak
# into what chooses and what is scored).
check_extra() {
	local f=$1
	[ -s "$f" ] || { echo "EXTRA=$f: no such file, or empty" >&2; exit 2; }
	local bad
	bad=$(awk -F'\t' 'NF != 2 || $1 == "" || $2 == "" { print FILENAME ":" FNR ": want word<TAB>phones, got: " $0; exit }' "$f")
	[ -z "$bad" ] || { echo "EXTRA=$bad" >&2; exit 2; }
	local leak
	leak=$(awk -F'\t' 'FNR == NR { held[tolower($1)] = 1; next } tolower($1) in held { n++; if (!w) w = $1 } END { if (n) print n " pairs, e.g. " w }' \
		<(cut -f1 "$OUT/split/valid.tsv" "$TEST") "$f")
	if [ -n "$leak" ]; then
		echo "EXTRA=$f holds words of the validation split or the test file ($leak): training on them would leak into the choices and the score" >&2
		exit 2
	fi
}

# distill_data TEACHER WORDLIST...: the words of the lists (one a line;
# letters and apostrophes only, possessives left out) that neither file of
# the standard split holds, with TEACHER's pronunciations, in
# OUT/distill/TAG.tsv; prints its path.
distill_data() {
	if [ $# -lt 2 ]; then
		echo "distill-data: give a teacher (builtin:NAME or a model directory) and at least one word list" >&2
		exit 2
	fi
	local teacher=$1 d=$OUT/distill tag
	shift
	for f in "$@"; do
		[ -s "$f" ] || { echo "distill-data: no word list $f (Debian: apt-get install wamerican-large)" >&2; exit 2; }
	done
	tag=$(printf '%s' "$teacher" | tr -c 'A-Za-z0-9._-' '_')
	mkdir -p "$d"
	cat "$@" | LC_ALL=C tr 'A-Z' 'a-z' | LC_ALL=C grep -E "^[a-z][a-z']{1,29}$" | grep -v "'s$" | LC_ALL=C sort -u >"$d/listed.tmp$$"
	cut -f1 "$TRAIN" "$TEST" | LC_ALL=C tr 'A-Z' 'a-z' | LC_ALL=C sort -u >"$d/known.tmp$$"
	# Upper case, as the split's words.
	LC_ALL=C comm -23 "$d/listed.tmp$$" "$d/known.tmp$$" | LC_ALL=C tr 'a-z' 'A-Z' >"$d/words-$tag.txt"
	rm -f "$d/listed.tmp$$" "$d/known.tmp$$"
	say "$(wc -l <"$d/words-$tag.txt") words of $* are in neither file of the split; $teacher pronounces them"
	# shellcheck disable=SC2086 # DISTILL_FLAGS is a list of flags
	q predict --model "$teacher" ${DISTILL_FLAGS:-} --input "$d/words-$tag.txt" --output "$d/phones-$tag.tmp"
	paste "$d/words-$tag.txt" "$d/phones-$tag.tmp" | awk -F'\t' '$2 != ""' >"$d/$tag.tsv.tmp"
	rm -f "$d/phones-$tag.tmp"
	mv "$d/$tag.tsv.tmp" "$d/$tag.tsv"
	{
		echo "$tag.tsv: $(wc -l <"$d/$tag.tsv") words of $* in neither $(basename "$TRAIN") nor $(basename "$TEST"),"
		echo "pronounced by $teacher${DISTILL_FLAGS:+ with $DISTILL_FLAGS} ($("$QKV" version 2>/dev/null | head -1)), $(date -u +%FT%TZ); sha256 $(sha256sum "$d/$tag.tsv" | cut -c1-16)"
	} >"$d/$tag.README"
	echo "$d/$tag.tsv"
}

# latest_choice NAME: the selection directory of a run's newest weights.
latest_choice() {
	local run=$OUT/$1/run
	if [ ! -f "$run/last.safetensors" ] || [ ! -s "$OUT/$1/choose-$(stat -c %Y "$run/last.safetensors")/weights" ]; then
		echo "run $1 has not been through the protocol: bench/g2p_accuracy.sh ARCH first (NAME=$1)" >&2
		exit 2
	fi
	echo "$OUT/$1/choose-$(stat -c %Y "$run/last.safetensors")"
}

# member_args NAME...: --model/--weights flags for an ensemble of runs
# (or of models built into qkv, builtin:NAME, with their shipped weights).
member_args() {
	local models=() weights=()
	for n in "$@"; do
		local s w
		if [[ $n == builtin:* ]]; then
			models+=("$n")
			weights+=(best.safetensors)
			continue
		fi
		s=$(latest_choice "$n")
		w=$(cat "$s/weights")
		case $w in /*) ;; *) w=$OUT/$n/run/$w ;; esac
		models+=("$OUT/$n/run")
		weights+=("$w")
	done
	local IFS=,
	echo "--model ${models[*]} --weights ${weights[*]}"
}

# member_id NAME: what a candidate is, for the keys of cached scores: a run
# by its name and its chosen system (choose-<time of last.safetensors>), a
# built-in model by its name and its weights (qkv models --json), not by the
# binary that holds it: a rebuilt binary with the same models reuses every
# score, and no system is scored twice.
member_id() {
	if [[ $1 == builtin:* ]]; then
		echo "$1-$(builtin_digest "$1")"
	else
		echo "$1-$(basename "$(latest_choice "$1")")"
	fi
}

# builtin_digest builtin:NAME: the SHA-256 of the model's embedded weights
# (for an ensemble, its members'), from qkv models --json.
builtin_digest() {
	local d
	d=$("$QKV" models --json | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m["name"] == sys.argv[1]:
        print(m["weights_sha256"][:16])' "$1")
	[ -n "$d" ] || { echo "$1: not a model built into $QKV (qkv models lists them)" >&2; exit 2; }
	echo "$d"
}

run_ensemble() {
	if [ $# -lt 2 ]; then
		echo "ensemble: give at least two run names" >&2
		exit 2
	fi
	local names=("$@") key=""
	for n in "${names[@]}"; do
		key+="$(member_id "$n")+"
	done
	local sel=$OUT/ensembles/$(echo "$key" | sha256sum | cut -c1-12)
	mkdir -p "$sel"
	echo "${names[*]}" >"$sel/candidates"
	# Forward selection on greedy validation WER, starting from the best run.
	: >"$sel/singles"
	for n in "${names[@]}"; do
		local s
		if [[ $n == builtin:* ]]; then
			# Its weights were chosen when it was shipped; greedy, as the runs' are.
			evalv "$sel/valid-$n.json" --model "$n" --beam 1
			echo "$(jf "$sel/valid-$n.json" wer per) $n" >>"$sel/singles"
			continue
		fi
		s=$(latest_choice "$n")
		echo "$(jf "$s/valid-$(basename "$(cat "$s/weights")" .safetensors).json" wer per) $n" >>"$sel/singles"
	done
	local chosen=() score rest
	read -r score _ rest < <(best "$sel/singles")
	chosen=("$rest")
	while [ ${#chosen[@]} -lt 5 ]; do
		: >"$sel/round"
		for n in "${names[@]}"; do
			[[ " ${chosen[*]} " == *" $n "* ]] && continue
			local set=("${chosen[@]}" "$n") tag
			tag=$(printf '%s+' "${set[@]}")
			# shellcheck disable=SC2046
			evalv "$sel/valid-${tag%+}.json" $(member_args "${set[@]}") --beam 1
			echo "$(jf "$sel/valid-${tag%+}.json" wer per) $n" >>"$sel/round"
		done
		[ -s "$sel/round" ] || break
		local w p n
		read -r w p n < <(best "$sel/round")
		if ! python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$w" "$score"; then
			break
		fi
		chosen+=("$n")
		score=$w
	done
	say "members chosen on validation: ${chosen[*]}"
	ENS_SEL=$sel
	ENS_CHOSEN=("${chosen[@]}")
	if [ ${#chosen[@]} = 1 ]; then
		say "no ensemble of these runs beats the best of them, ${chosen[0]}, on validation: nothing new to score"
		table
		return
	fi
	# shellcheck disable=SC2046
	choose_decoding "$sel" $(member_args "${chosen[@]}")
	local b a
	read -r _ _ b a <"$sel/decoding"
	local choices="members ${chosen[*]}, beam $b, alpha $a"
	# The system is its members (as a set: the mean of their probabilities
	# does not depend on the order) and its decoding, whatever the candidates
	# were: a selection among other candidates that picks the same system
	# reuses its test score instead of scoring the test file again.
	local sys
	sys=$OUT/ensembles/systems/$( (for n in "${chosen[@]}"; do member_id "$n"; done | sort; echo "beam $b alpha $a") | sha256sum | cut -c1-12)
	mkdir -p "$sys"
	if [ -s "$sys/test.json" ] && [ ! -s "$sel/test.json" ]; then
		say "this system ($choices) was scored on the test file before ($(cat "$sys/scored-by")): its score stands, not scored again"
		cp "$sys/test.json" "$sel/test.json"
	fi
	# shellcheck disable=SC2046
	score_test "$sel" "ensemble of ${#chosen[@]}" "(members')" "$choices" $(member_args "${chosen[@]}") --beam "$b" --alpha "$a"
	if [ ! -s "$sys/test.json" ]; then
		cp "$sel/test.json" "$sys/test.json.tmp" && mv "$sys/test.json.tmp" "$sys/test.json"
		echo "$sel" >"$sys/scored-by"
	fi
	table
}

# ship RUN [MODEL]: the run's chosen system (weights and decoding, chosen on
# validation) becomes models/MODEL (default g2p-en), a model built into qkv
# (builtin:MODEL). Its weights are stored in the narrowest format that
# keeps validation WER and PER (with the chosen decoding) within 0.1 point
# of fp32's: bf16, else f16, else fp32. The shipped system is scored once
# on the test file like any other.
ship() {
	local name=${1:?ship: give the run name}
	local model=${2:-g2p-en}
	if ! [[ $model =~ ^g2p-[a-z0-9-]+$ ]]; then
		echo "ship: the model name $model must be g2p-… in lower-case letters, digits and dashes (it is embedded as models/$model)" >&2
		exit 2
	fi
	local sel run=$OUT/$name/run
	sel=$(latest_choice "$name")
	local w b a vw vp
	w=$(cat "$sel/weights")
	local minutes trained
	minutes=$(awk '{s += $1} END {print s / 60}' "$OUT/$name/train-seconds")
	trained=$(printf '%.0f min' "$minutes")
	# A run that started from a built-in model: that model's own time too.
	local origin="" origin_min=0 total_min=$minutes
	record_origin "$OUT/$name"
	if [ -s "$OUT/$name/origin.json" ]; then
		read -r origin origin_min < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["name"], d["card"]["trained_min"])' "$OUT/$name/origin.json")
		total_min=$(awk -v a="$minutes" -v b="$origin_min" 'BEGIN {print a + b}')
	fi
	# Where the legs of a resumed run differ in cores: "140 min on 1 core, then 64 min on 2 cores".
	local cores="? cores" trained_on
	if [ -s "$OUT/$name/threads" ] && [ "$(wc -l <"$OUT/$name/threads")" = "$(wc -l <"$OUT/$name/train-seconds")" ]; then
		cores=$(paste "$OUT/$name/train-seconds" "$OUT/$name/threads" | awk -F'\t' '
			{ if (NR > 1 && $2 == c[n]) { m[n] += $1 } else { n++; c[n] = $2; m[n] = $1 } }
			END { for (i = 1; i <= n; i++) { if (i > 1) printf ", then "; if (n > 1) printf "%.0f min on ", m[i] / 60
				printf "%s core%s", c[i], (c[i] == 1 ? "" : "s") } }')
	fi
	trained_on="$trained on $cores"
	case $cores in *then*) trained_on="$trained: $cores" ;; esac
	case $w in /*) ;; *) w=$run/$w ;; esac
	read -r vw vp b a <"$sel/decoding"
	local dtype chosen=""
	for dtype in bf16 f16; do
		[ -s "$sel/ship-$dtype.safetensors" ] || q convert --model "$run" --weights "$w" --dtype "$dtype" --out "$sel/ship-$dtype.safetensors" >/dev/null
		evalv "$sel/valid-ship-$dtype.json" --model "$run" --weights "$sel/ship-$dtype.safetensors" --beam "$b" --alpha "$a"
		local hw hp
		read -r hw hp < <(jf "$sel/valid-ship-$dtype.json" wer per)
		say "$dtype: valid WER $hw PER $hp (fp32: $vw $vp)"
		if python3 -c 'import sys; a=[float(x) for x in sys.argv[1:]]; sys.exit(0 if abs(a[0]-a[2]) <= 0.1 and abs(a[1]-a[3]) <= 0.1 else 1)' "$hw" "$hp" "$vw" "$vp"; then
			chosen=$dtype
			break
		fi
	done
	if [ -z "$chosen" ]; then
		chosen=f32 # parameters only, without the optimizer state a last.safetensors holds
		[ -s "$sel/ship-f32.safetensors" ] || q convert --model "$run" --weights "$w" --dtype f32 --out "$sel/ship-f32.safetensors" >/dev/null
	fi
	local weights=$sel/ship-$chosen.safetensors
	local system="$name $chosen (shipped)"
	# The shipped system is its own: its own test file, scored once.
	local tj=$sel/test-ship-$chosen.json
	if [ ! -s "$tj" ]; then
		say "scoring the test file once: $system"
		q eval --test "$TEST" --by-length --model "$run" --weights "$weights" --beam "$b" --alpha "$a" >"$tj.tmp"
		mv "$tj.tmp" "$tj"
		local trained_all=$trained
		[ -z "$origin" ] || trained_all=$(printf '%.0f min (%.0f min of %s, then %s)' "$total_min" "$origin_min" "$origin" "$trained")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$trained_all" \
			"weights $(basename "$w" .safetensors) as $chosen, beam $b, alpha $a" $(if [ -s "$sel/valid-ship-$chosen.json" ]; then jf "$sel/valid-ship-$chosen.json" wer per; else echo "$vw $vp"; fi) \
			$(jf "$tj" wer per) "$(date -u +%FT%TZ)" >>"$OUT/results.tsv"
	fi
	local dst=models/$model tmp=models/.$model.tmp archkey arch seed
	read -r archkey seed < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["model"]; print(m["arch"], m.get("seed", "?"))' "$run/config.json")
	case $archkey in transformer) arch=Transformer ;; rnnsearch) arch=RNNsearch ;; *) arch=$archkey ;; esac
	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp "$run/config.json" "$run/src.vocab" "$run/tgt.vocab" "$tmp/"
	cp "$weights" "$tmp/best.safetensors"
	cp "$tj" "$tmp/test.json" # its test scoring, by length too: qkv plot LABEL=builtin:$model
	{
		echo "# builtin:$model"
		echo
		echo "The G2P $arch built into qkv (\`--model builtin:$model\`, \`qkv g2p --model builtin:$model\`), made by"
		echo "\`bench/g2p_accuracy.sh ship $name $model\` on $(date -u +%F)."
		echo
		echo "- Trained: $(cat "$OUT/$name/recipe" 2>/dev/null || echo "recipes/g2p-$archkey.yaml") (seed $seed) on the training file of the standard CMUdict split"
		echo "  (cmudict-g014b2b.train.tsv) less a 3% validation split, for $trained_on of a $(nproc --all)-core machine."
		if [ -s "$OUT/$name/extra" ]; then
			echo "  Its training data also held $(cut -d' ' -f2 "$OUT/$name/extra") words in neither file of the split, pronounced by a teacher"
			echo "  (sequence-level distillation, \`bench/g2p_accuracy.sh distill-data\`): $(cut -d: -f1 "$OUT/$name/extra" | xargs basename)."
		fi
		if [ -s "$OUT/$name/train-flags" ]; then
			echo "  Training flags over the recipe: \`$(cat "$OUT/$name/train-flags")\`."
		fi
		local init
		init=$(init_from "$run")
		if [ -n "$origin" ]; then
			echo "  It started from the weights of \`$init\` (\`qkv train --init-from\`), with a fresh optimizer and schedule;"
			printf '  that model had trained for %.0f min, so %.0f min in all.\n' "$origin_min" "$total_min"
		elif [ -n "$init" ]; then
			echo "  It started from the weights of \`$init\` as that model was on $(date -u +%F) (\`qkv train --init-from\`), with a fresh"
			echo "  optimizer and schedule: the time above is this run's alone, on top of that model's own."
		fi
		echo "- Chosen on the validation split: weights $(basename "$w" .safetensors), beam $b, alpha $a; stored as $chosen."
		case $(basename "$w") in
		*-with-origin.safetensors)
			echo "  ($(basename "$w" .safetensors): the mean of this run's $(basename "$w" -with-origin.safetensors) weights and those of \`$init\` it started from, the ends"
			echo "  of two cycles of the learning rate: stochastic weight averaging, Izmailov et al. 2018.)"
			;;
		last-with-*-ends.safetensors)
			echo "  ($(basename "$w" .safetensors): the mean of this run's last weights and the last weights of the cycles of the learning"
			echo "  rate before it, each trained from the next: $(sed -n "1,$(basename "$w" | cut -d- -f3)p" "$sel/ends" | sed 's|.*/\([^/]*\)/run/|\1/|' | paste -sd' ' | sed 's/ /, /g');"
			echo "  stochastic weight averaging over the ends of several cycles, Izmailov et al. 2018.)"
			;;
		esac
		echo "- Test (12,000 words never seen in training, scored once): WER $(jf "$tj" wer) %, PER $(jf "$tj" per) %."
		echo "- Phones: ARPAbet without stress marks (39 phones); input letters are lowercased."
		echo
		echo "The CMU Pronouncing Dictionary's licence is in data/cmudict/LICENSE."
	} >"$tmp/README.md"
	# card.json: the same, for qkv g2p (its default decoding) and the tests.
	python3 - "$tj" "$b" "$a" "$chosen" "$total_min" "$(basename "$w" .safetensors)" >"$tmp/card.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
print(json.dumps({"beam": int(sys.argv[2]), "alpha": float(sys.argv[3]), "dtype": sys.argv[4],
                  "test_wer": t["wer"], "test_per": t["per"], "test_words": t["sentences"],
                  "trained_min": round(float(sys.argv[5]), 1), "weights": sys.argv[6]}, indent=2))
PY
	rm -rf "$dst.old"
	[ ! -d "$dst" ] || mv "$dst" "$dst.old"
	mv "$tmp" "$dst"
	rm -rf "$dst.old"
	say "shipped: $dst ($(du -sh "$dst" | cut -f1)); rebuild qkv to embed it"
	table
}

# ship-ensemble MODEL builtin:A builtin:B …: the ensemble protocol over
# built-in models (members by forward selection on validation, then the
# beam and α, then the test file once), and the ensemble it chose becomes
# models/MODEL: a card.json listing its members and its decoding, no
# weights of its own (builtin:MODEL decodes with its members' weights).
ship_ensemble() {
	local model=${1:?ship-ensemble: give the model name, then the built-in members}
	shift
	if ! [[ $model =~ ^g2p-[a-z0-9-]+$ ]]; then
		echo "ship-ensemble: the model name $model must be g2p-… in lower-case letters, digits and dashes (it is embedded as models/$model)" >&2
		exit 2
	fi
	for n in "$@"; do
		if [[ $n != builtin:* ]] || [ ! -s "models/${n#builtin:}/config.json" ]; then
			echo "ship-ensemble: $n is not a built-in single model in models/: ship each member first (ship RUN MODEL) and rebuild QKV" >&2
			exit 2
		fi
	done
	ENS_CHOSEN=()
	run_ensemble "$@"
	if [ ${#ENS_CHOSEN[@]} -lt 2 ]; then
		echo "ship-ensemble: no ensemble of these models beats the best of them on validation: nothing to ship" >&2
		exit 1
	fi
	local sel=$ENS_SEL b a
	read -r _ _ b a <"$sel/decoding"
	local dst=models/$model tmp=models/.$model.tmp members=()
	for n in "${ENS_CHOSEN[@]}"; do members+=("${n#builtin:}"); done
	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp "$sel/test.json" "$tmp/test.json" # its test scoring, by length too: qkv plot LABEL=builtin:$model
	python3 - "$sel/test.json" "$b" "$a" "${members[@]}" >"$tmp/card.json" <<'PY'
import hashlib, json, sys
t = json.load(open(sys.argv[1]))
members = sys.argv[4:]
cards = [json.load(open("models/%s/card.json" % m)) for m in members]
# The weights each member had when the ensemble was chosen and scored:
# a member shipped anew later makes another ensemble (the models test says so).
shas = {m: hashlib.sha256(open("models/%s/best.safetensors" % m, "rb").read()).hexdigest() for m in members}
dtypes = sorted({c["dtype"] for c in cards})
print(json.dumps({"beam": int(sys.argv[2]), "alpha": float(sys.argv[3]),
                  "dtype": dtypes[0] if len(dtypes) == 1 else "mixed",
                  "test_wer": t["wer"], "test_per": t["per"], "test_words": t["sentences"],
                  "trained_min": round(sum(c["trained_min"] for c in cards), 1),
                  "weights": "the members' shipped weights", "members": members,
                  "member_weights_sha256": shas}, indent=2))
PY
	{
		echo "# builtin:$model"
		echo
		echo "A G2P ensemble built into qkv (\`--model builtin:$model\`, \`qkv g2p --model builtin:$model\`): it has no"
		echo "weights of its own but decodes with ${#members[@]} built-in models at once, averaging their next-phone"
		echo "probabilities at every step. Made by \`bench/g2p_accuracy.sh ship-ensemble $model $*\` on $(date -u +%F)."
		echo
		echo "- Members, chosen on the validation split by forward selection among $*:"
		for m in "${members[@]}"; do
			echo "  - [builtin:$m](../$m/README.md) ($(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print("test WER %.2f %%, PER %.2f %% alone" % (c["test_wer"], c["test_per"]))' "models/$m/card.json"))"
		done
		echo "- Chosen on the validation split: beam $b, alpha $a."
		echo "- Test (12,000 words never seen in training, scored once): WER $(jf "$sel/test.json" wer) %, PER $(jf "$sel/test.json" per) %."
		echo "- Phones: ARPAbet without stress marks (39 phones); input letters are lowercased."
	} >"$tmp/README.md"
	rm -rf "$dst.old"
	[ ! -d "$dst" ] || mv "$dst" "$dst.old"
	mv "$tmp" "$dst"
	rm -rf "$dst.old"
	say "shipped: $dst, an ensemble of ${members[*]}; rebuild qkv to embed it"
}

# The dispatch is a function called on the script's last line, with exit on
# that line too: bash reads a script as it runs it, so a run that lasts hours
# must not read on into a file edited meanwhile (git pull, a new version).
main() {
	case "${1:-}" in
	transformer | rnnsearch | seq2seq) run_arch "$@" ;;
	ship-ensemble)
		shift
		ship_ensemble "$@"
		;;
	ship)
		shift
		ship "$@"
		;;
	ensemble)
		shift
		run_ensemble "$@"
		;;
	distill-data)
		shift
		distill_data "$@"
		;;
	table) table ;;
	esac
}

main "$@"; exit
