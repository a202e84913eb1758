#!/usr/bin/env python3
"""Golden values for the tensor package's operations, from PyTorch (float64).

Run: /usr/bin/python3 internal/golden/gen_ops.py   (needs Debian's python3-torch)
"""
import torch

from golden_common import case, rand

torch.manual_seed(0)
g = torch.Generator().manual_seed(42)

case("matmul", lambda a, b: a @ b, {"a": rand(g, 3, 5), "b": rand(g, 5, 4)})
case("matmul_ta_tb", lambda a, b: a.T @ b.T, {"a": rand(g, 5, 3), "b": rand(g, 4, 5)})
case("bmm", lambda a, b: torch.bmm(a, b.transpose(1, 2)), {"a": rand(g, 2, 3, 4), "b": rand(g, 2, 5, 4)})
case("linear", lambda x, w, b: torch.nn.functional.linear(x, w, b),
     {"x": rand(g, 2, 3, 4), "w": rand(g, 5, 4), "b": rand(g, 5)})
