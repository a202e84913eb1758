#!/usr/bin/env bash
# Step-for-step learning of the translation Transformer: qkv against the PyTorch peer
# (../shared/bench/peers/pytorch_translate.py) on the same pairs, the same segmentation and
# the same schedule, so that any difference in the loss curves is qkv's doing.
#
# Usage: bench/translate_compare.sh [steps]      (default 400)
#
# 1. The corpus: `qkv data gettext --lang $LANG_` (split by catalogue), unless CORPUS is given.
# 2. The peer, through bench/translate_peer.py (which runs it unchanged, with another seed, its
#    unsmoothed NLL logged beside its loss, and its SentencePiece model kept), on the training
#    pairs: --max-steps, --warmup, --loss-log, and --write-pieces, the pairs as its joint
#    SentencePiece BPE pieces (vocabulary 8000).
# 3. qkv on those pieces with word tokens and one joint vocabulary (--joined-dictionary), the
#    peer's shape (the default transformer: d 256, 4 heads, 3+3 layers, ff 1024, post-norm with
#    final norms, dropout 0.1), schedule (noam, --warmup), batching (--max-tokens 4096 counted as
#    2·max(len)·rows over pairs sorted by length, as the peer), label smoothing 0.1 and length
#    limit (150 pieces), validated on the validation split segmented by the peer's model.
# 4. A table every EVERY steps of each side's loss and NLL (means over SEEDS, each averaged over
#    the EVERY steps up to the row, since one batch is noisy), the spread between seeds of each
#    side (the noise), and a verdict on the last quarter of the run.
#
# The peer's loss is label-smoothed over its 8000 pieces and qkv's over its joint vocabulary of
# the pieces that occur (a few fewer): the smoothed losses differ by a little for that alone, so
# the verdict is on the NLL (−log p of the reference piece), which does not depend on V.
# The peer logs the learning rate after its scheduler stepped (the next step's); qkv logs the
# rate its step used. Both use 256^-0.5·min(s^-0.5, s·warmup^-1.5) for step s = 1, 2, ….
#
# Env: QKV=path/to/prebuilt/qkv (default: go build ./cmd/qkv)  OUT=dir (default: a temp dir)
#      PEER=path/to/pytorch_translate.py  LANG_=de  CORPUS=dir with train.tsv and valid.tsv
#      WARMUP=400  SEEDS="1 2"  THREADS=1  EVERY=25  MAXTOK=4096 (--max-tokens of both sides)
#      SIDES="peer qkv" (run only one side; the other's logs must already be in OUT)
#      QKVFLAGS="..." (more qkv train flags, e.g. to try a change)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=$(pwd)/bench
STEPS=${1:-400}
WARMUP=${WARMUP:-400}
SEEDS=${SEEDS:-1 2}
THREADS=${THREADS:-1}
EVERY=${EVERY:-25}
MAXTOK=${MAXTOK:-4096}
LANG_=${LANG_:-de}
SIDES=${SIDES:-peer qkv}
. "$BENCH/peer_blas.sh"
case " $SIDES " in *" peer "*) peer_blas_check ;; esac
PEER=${PEER:-$(cd .. && pwd)/shared/bench/peers/pytorch_translate.py}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -z "${QKV:-}" ]; then
	QKV=$OUT/qkv
	CGO_ENABLED=0 go build -o "$QKV" ./cmd/qkv
fi
if [ -z "${CORPUS:-}" ]; then
	CORPUS=$OUT/corpus/$LANG_
	[ -f "$CORPUS/train.tsv" ] || "$QKV" data gettext --locale-dir /usr/share/locale --lang "$LANG_" --out "$OUT/corpus" >&2
fi
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg); steps $STEPS, warmup $WARMUP, max-tokens $MAXTOK, seeds $SEEDS, threads $THREADS; logs in $OUT"
head -n 20 "$CORPUS/valid.tsv" >"$OUT/peer-test.tsv" # the peer insists on decoding a test file: keep it short

for seed in $SEEDS; do
	case " $SIDES " in *" peer "*) ;; *) continue ;; esac
	PEER=$PEER PEER_SEED=$seed PEER_NLL=$OUT/peer-s$seed.nll PEER_WORK=$OUT/peer-work-s$seed \
		/usr/bin/python3 "$BENCH/translate_peer.py" --train "$CORPUS/train.tsv" --test "$OUT/peer-test.tsv" \
		--write-pieces "$OUT/pieces-s$seed.tsv" --loss-log "$OUT/peer-s$seed.log" --max-steps "$STEPS" \
		--warmup "$WARMUP" --max-tokens "$MAXTOK" --threads "$THREADS" --minutes 100000 >"$OUT/peer-s$seed.json" 2>"$OUT/peer-s$seed.err"
	echo "peer seed $seed: $(cat "$OUT/peer-s$seed.json")"
done

first=${SEEDS%% *}
if [ ! -f "$OUT/valid-pieces.tsv" ]; then
	# SentencePiece training does not depend on the seed: every peer run wrote the same pieces.
	for seed in $SEEDS; do
		cmp -s "$OUT/pieces-s$first.tsv" "$OUT/pieces-s$seed.tsv" || { echo "the peer's pieces differ between seeds $first and $seed" >&2; exit 1; }
	done
	/usr/bin/python3 - "$OUT/peer-work-s$first/bpe.model" "$CORPUS/valid.tsv" "$OUT/valid-pieces.tsv" <<'PY'
import sys
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
with open(sys.argv[3], "w", encoding="utf-8") as out:
    for line in open(sys.argv[2], encoding="utf-8"):
        if "\t" not in line:
            continue
        s, t = line.rstrip("\n").split("\t")[:2]
        # as the peer segments its training pairs (--write-pieces): at most 150 pieces a side
        out.write(" ".join(sp.encode(s, out_type=str)[:150]) + "\t" + " ".join(sp.encode(t, out_type=str)[:150]) + "\n")
PY
fi

for seed in $SEEDS; do
	case " $SIDES " in *" qkv "*) ;; *) continue ;; esac
	# --placeholders=false: the pieces are the peer's segmentation, to be learned as they are
	# shellcheck disable=SC2086
	"$QKV" train --arch transformer --src-tok word --tgt-tok word --joined-dictionary \
		--train "$OUT/pieces-s$first.tsv" --valid "$OUT/valid-pieces.tsv" --out "$OUT/qkv-s$seed" --overwrite \
		--max-src-len 150 --max-tgt-len 150 --max-tokens "$MAXTOK" --warmup "$WARMUP" --max-steps "$STEPS" \
		--label-smoothing 0.1 --dropout 0.1 --placeholders=false --metric none --seed "$seed" --threads "$THREADS" \
		--loss-log "$OUT/qkv-s$seed.log" ${QKVFLAGS:-} 2>"$OUT/qkv-s$seed.err"
	echo "qkv seed $seed: $(tail -n 1 "$OUT/qkv-s$seed.err")"
done

/usr/bin/python3 "$BENCH/translate_curves.py" --out "$OUT" --seeds "$SEEDS" --every "$EVERY"
