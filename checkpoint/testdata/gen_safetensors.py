"""Writes testdata/python.safetensors the way Python's safetensors library
lays a file out, and testdata/python.json with the values it holds.

Debian has no python3-safetensors package, so this script packs the file
by hand with torch and struct, following the reference implementation
(safetensors/src/tensor.rs, `prepare` and `serialize`):

  * tensors sorted by dtype alignment (all F32 here), then by name;
  * the header is compact JSON (serde_json), "__metadata__" first, then the
    tensors in data order, padded with spaces to a multiple of 8 bytes;
  * an 8-byte little-endian header size, the header, then each tensor's
    bytes (little-endian, row-major), back to back.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 checkpoint/testdata/gen_safetensors.py
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    g = torch.Generator().manual_seed(7)
    tensors = {
        "encoder.layers.0.weight": torch.randn(3, 4, generator=g),
        "decoder.bias": torch.tensor([-0.0, 1.0 / 3.0, 1e-40, 3.0e38, -2.5], dtype=torch.float32),
        "scale": torch.tensor(0.125, dtype=torch.float32),  # a scalar: shape []
        "empty": torch.zeros(0, 3),
        "embed.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 7,
    }
    metadata = {"format": "pt", "note": "written by gen_safetensors.py"}

    names = sorted(tensors)  # one dtype, so the order is by name
    header = {"__metadata__": metadata}
    body = b""
    for name in names:
        t = tensors[name].contiguous()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(HERE, "python.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        f.write(body)

    expect = {
        "metadata": metadata,
        "tensors": {n: {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]} for n, t in tensors.items()},
    }
    with open(os.path.join(HERE, "python.json"), "w") as f:
        json.dump(expect, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
