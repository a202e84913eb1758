#!/usr/bin/env python3
"""Runs ../shared/bench/peers/pytorch_translate.py unchanged, with three additions from outside.

- PEER_SEED: the peer seeds torch and random with 1 and has no flag for it; to measure
  run-to-run noise we need other seeds, so the seed value 1 it passes is replaced (only that).
- PEER_NLL=FILE: the peer logs only its label-smoothed loss; this also writes, per step, the
  unsmoothed NLL per target token of the same logits (step<TAB>nll), so that it can be compared
  with qkv's --loss-log NLL column (the smoothed losses differ with the vocabulary size).
- PEER_WORK=DIR: keep the peer's SentencePiece model (DIR/bpe.model), to segment a
  validation set the same way. The --loss-log file is line-buffered, so it can be watched.

Usage: PEER=path/to/pytorch_translate.py [PEER_SEED=2] [PEER_NLL=nll.tsv] [PEER_WORK=dir] \
       /usr/bin/python3 bench/translate_peer.py [the peer's flags]
"""
import builtins, os, random, runpy, sys, tempfile

peer = os.environ["PEER"]
seed = int(os.environ.get("PEER_SEED", "1"))
sys.path.insert(0, os.path.dirname(os.path.abspath(peer)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

_manual_seed, _seed = torch.manual_seed, random.seed
torch.manual_seed = lambda s: _manual_seed(seed if s == 1 else s)
random.seed = lambda s=None, *a, **k: _seed(seed if s == 1 else s, *a, **k)

if os.environ.get("PEER_WORK"):
    work = os.environ["PEER_WORK"]
    os.makedirs(work, exist_ok=True)
    tempfile.mkdtemp = lambda *a, **k: work

if os.environ.get("PEER_NLL"):
    nll_log = builtins.open(os.environ["PEER_NLL"], "w", buffering=1)
    _CE = torch.nn.CrossEntropyLoss

    class LoggingCrossEntropyLoss(_CE):
        steps = 0

        def forward(self, input, target):
            loss = super().forward(input, target)
            if torch.is_grad_enabled():  # the training loss, once per step
                with torch.no_grad():
                    nll = F.cross_entropy(input, target, ignore_index=self.ignore_index)
                LoggingCrossEntropyLoss.steps += 1
                nll_log.write(f"{LoggingCrossEntropyLoss.steps}\t{float(nll):.5f}\n")
            return loss

    torch.nn.CrossEntropyLoss = LoggingCrossEntropyLoss


def line_buffered_open(file, mode="r", *a, **k):
    if "w" in mode and not a and "buffering" not in k:
        k["buffering"] = 1
    return builtins.open(file, mode, *a, **k)


sys.argv = [peer] + sys.argv[1:]
runpy.run_path(peer, init_globals={"open": line_buffered_open}, run_name="__main__")
