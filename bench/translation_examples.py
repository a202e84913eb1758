#!/usr/bin/env python3
"""Example table for docs/translation.md: every STEP-th test message from FIRST
(not chosen for quality), with the reference and each system's output as
bench/translation_accuracy.sh kept it (OUT/NAME/choose-*/test.out.txt, the
newest), then the share of each system's test outputs equal to the reference.

Usage: bench/translation_examples.py OUT LANG STEP FIRST NAME...
  e.g. bench/translation_examples.py ../translation-runs de 213 4 ende-copy ende-rnn-at30m ende-rnn
"""
import glob
import os
import sys

if len(sys.argv) < 6:
    sys.exit(__doc__)
out, lang, step, first, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
with open(os.path.join(out, "corpus", lang, "test.tsv"), encoding="utf-8") as f:
    test = [line.rstrip("\n").split("\t") for line in f]
systems = []
for n in names:
    files = sorted(glob.glob(os.path.join(out, n, "choose-*", "test.out.txt")), key=os.path.getmtime)
    if not files:
        sys.exit(f"{n}: no test.out.txt under {out}/{n}/choose-*")
    with open(files[-1], encoding="utf-8") as f:
        lines = f.read().split("\n")
    if len(lines) < len(test):
        sys.exit(f"{files[-1]}: {len(lines)} lines for {len(test)} test messages")
    systems.append(lines)
esc = lambda s: s.replace("|", "\\|")
print("| source | reference | " + " | ".join(names) + " |")
print("|---" * (2 + len(names)) + "|")
for i in range(first, len(test), step):
    print("| " + " | ".join(esc(c) for c in [test[i][0], test[i][1]] + [s[i] for s in systems]) + " |")
print()
for n, s in zip(names, systems):
    same = sum(1 for i, t in enumerate(test) if s[i] == t[1])
    print(f"{n}: {same} of {len(test)} test outputs equal their reference ({100 * same / len(test):.1f}%)")
