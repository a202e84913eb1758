#!/usr/bin/env python3
"""Runs ../shared/bench/peers/pytorch_translate.py unchanged, with its seed taken from PEER_SEED.

The peer seeds torch and random with 1 and has no flag for it; to measure run-to-run noise
we need a second seed, so this wrapper replaces the seed value the peer passes (only that)
and then calls the peer's own main(). Usage: PEER=path/to/pytorch_translate.py PEER_SEED=2 \
/usr/bin/python3 bench/translate_peer.py [the peer's flags]
"""
import os, random, runpy, sys

peer = os.environ["PEER"]
seed = int(os.environ.get("PEER_SEED", "1"))
sys.path.insert(0, os.path.dirname(os.path.abspath(peer)))
import torch  # noqa: E402

_manual_seed, _seed = torch.manual_seed, random.seed
torch.manual_seed = lambda s: _manual_seed(seed if s == 1 else s)
random.seed = lambda s=None, *a, **k: _seed(seed if s == 1 else s, *a, **k)
sys.argv = [peer] + sys.argv[1:]
runpy.run_path(peer, run_name="__main__")
