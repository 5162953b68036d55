"""Random GGML blocks of each type nemoh reads and their values as gguf-py (llama.cpp's Python package, `pip install
gguf`) dequantizes them: the reference of GgmlQuantsTest. Float16 scales are drawn in a sane range (random bytes
there would be NaN or huge); every other byte is random.

    python3 tools/llamacpp/make_quant_blocks.py > src/test/resources/gguf/quant-blocks.json
"""
import json
import numpy as np
from gguf import GGMLQuantizationType as T, quants

rng = np.random.default_rng(21)


def half(v):
    return np.array([v], dtype=np.float16).tobytes()


def block(t):
    if t == T.Q8_0:
        return half(rng.uniform(-0.02, 0.02)) + rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    if t == T.Q4_0:
        return half(rng.uniform(-0.02, 0.02)) + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    if t in (T.Q4_K, T.Q5_K):
        rest = 12 + (32 if t == T.Q5_K else 0) + 128
        return half(rng.uniform(0, 0.01)) + half(rng.uniform(0, 0.01)) + rng.integers(0, 256, rest, dtype=np.uint8).tobytes()
    if t == T.Q6_K:
        return rng.integers(0, 256, 128 + 64 + 16, dtype=np.uint8).tobytes() + half(rng.uniform(-0.001, 0.001))
    raise ValueError(t)


out = {}
for t in (T.Q8_0, T.Q4_0, T.Q4_K, T.Q5_K, T.Q6_K):
    raw = block(t) + block(t)
    values = quants.dequantize(np.frombuffer(raw, dtype=np.uint8), t).astype(np.float32).ravel()
    out[t.name] = {"hex": raw.hex(), "values": [float(v) for v in values]}
print(json.dumps(out))
