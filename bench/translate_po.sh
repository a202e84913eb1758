#!/usr/bin/env bash
# qkv translate-po on real catalogues: for each catalogue name, the machine's
# /usr/share/locale/LANG/LC_MESSAGES/NAME.mo is turned into a PO file
# (msgunfmt), every msgstr is blanked (msgfilter --keep-header sed -e d), and
# qkv translate-po fills them. Checked and printed, one line per catalogue:
# entries to fill, entries filled, msgfmt --check (with --use-fuzzy, so the
# fuzzy entries are checked too), and that every line other than msgstrs
# and the added "#, fuzzy" flags is unchanged.
#
# Usage: bench/translate_po.sh MODEL_DIR LANG NAME...   (e.g. en-de de coreutils tar sed)
# Env:   QKV=path/to/prebuilt/qkv (default: go build ./cmd/qkv)  OUT=work dir (default: a temp dir)
#        ARGS="--beam 4 --max-len 128" extra translate-po flags (default: --max-len 128)
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 lang=$2
shift 2
for tool in msgunfmt msgfilter msgfmt; do
	command -v $tool >/dev/null || { echo "$tool is missing: apt-get install gettext" >&2; exit 1; }
done
if [ -z "${QKV:-}" ]; then
	QKV=$(mktemp -d)/qkv
	CGO_ENABLED=0 go build -o "$QKV" ./cmd/qkv
fi
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
ARGS=${ARGS:---max-len 128}
printf "%-24s %8s %8s %8s %s\n" catalogue to-fill filled fuzzy "msgfmt --check / other lines unchanged"
for name in "$@"; do
	mo=/usr/share/locale/$lang/LC_MESSAGES/$name.mo
	po=$OUT/$name.po blank=$OUT/$name.blank.po filled=$OUT/$name.filled.po
	msgunfmt "$mo" -o "$po"
	msgfilter --keep-header -i "$po" -o "$blank" sed -e d
	# shellcheck disable=SC2086
	"$QKV" translate-po --model "$model" $ARGS "$blank" -o "$filled" 2>"$OUT/$name.log"
	# translate-po's summary: "filled X of Y entries to translate"
	read -r filledn tofill < <(sed -n 's/.*filled \([0-9]*\) of \([0-9]*\) entries.*/\1 \2/p' "$OUT/$name.log")
	fuzzy=$(grep -c '^#, fuzzy' "$filled" || true)
	check=ok
	msgfmt --check --use-fuzzy -o /dev/null "$filled" 2>"$OUT/$name.msgfmt" || check="FAILED ($OUT/$name.msgfmt)"
	# Lines that are not msgstr material: msgid/msgctxt and their continuations, blank lines.
	strip() { awk '/^msgstr/ {s=1; next} /^"/ {if (s) next} /^#, fuzzy$/ {next} {sub(/^#, fuzzy, /, "#, "); s=0; print}' "$1"; }
	same=unchanged
	cmp -s <(strip "$blank") <(strip "$filled") || same="CHANGED"
	printf "%-24s %8s %8s %8s %s / %s\n" "$name" "$tofill" "$filledn" "$fuzzy" "$check" "$same"
done
