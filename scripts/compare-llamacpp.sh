#!/usr/bin/env bash
# Correctness of `nemoh export-gguf` against llama.cpp: exports small models to GGUF (f32, bf16, q8_0), runs them in
# llama.cpp through tools/llamacpp/logits.c (llama.h's public API) and in nemoh, and prints, per model and type, both
# engines' greedy tokens after an 8-token prompt and the difference of the prompt's logits.
#
#   scripts/compare-llamacpp.sh [LLAMA_CPP_DIR]    (or LLAMA_CPP=...; default /work/llamacpp-src)
#
# LLAMA_CPP_DIR is a llama.cpp checkout built with CMake into build/ (include/, ggml/include/, build/bin/libllama.so).
# nemoh runs the safetensors checkpoint: as stored (bf16 weights, f32 math) against the f32 and bf16 GGUFs, and with
# --weights q8_0 against the q8_0 GGUF. Models: models/nemoh-tiny, and the nano-v2-tiny fixture (head dim 20,
# 3 groups, two Mamba layers in a row, rows of 80 that Q8_0 cannot block) with nemoh-tiny's tokenizer cut to its
# 300-token vocabulary (the first 23 merges make ids 277..299). Needs gcc and python3; writes under $TMPDIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llama="$(cd "${1:-${LLAMA_CPP:-/work/llamacpp-src}}" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/nemoh-vs-llamacpp.XXXXXX")"
nemoh="$here/nemoh"
ids="1,5,17,42,100,7,250,33"
gen=16

gcc -O2 -o "$work/logits" "$here/tools/llamacpp/logits.c" -I"$llama/include" -I"$llama/ggml/include" \
  -L"$llama/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$llama/build/bin"

nano="$work/nano-v2-tiny"
cp -r "$here/src/test/resources/fixtures/nano-v2-tiny/model" "$nano"
python3 - "$here/models/nemoh-tiny" "$nano" <<'PY'
import json, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
t = json.load(open(f"{src}/tokenizer.json"))
t["model"]["vocab"] = {s: i for s, i in t["model"]["vocab"].items() if i < 300}
t["model"]["merges"] = t["model"]["merges"][:23]
json.dump(t, open(f"{dst}/tokenizer.json", "w"), ensure_ascii=False)
shutil.copy(f"{src}/tokenizer_config.json", dst)
PY

compare() { # logits.safetensors (nemoh) vs raw f32 (llama.cpp): max |diff|, relative L2, argmax agreement
  python3 - "$1" "$2" <<'PY'
import json, struct, sys, math
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); e = h["logits"]
f.seek(8 + n + e["data_offsets"][0]); rows, vocab = e["shape"]
ours = struct.unpack(f"<{rows * vocab}f", f.read(4 * rows * vocab))
theirs = struct.unpack(f"<{rows * vocab}f", open(sys.argv[2], "rb").read())
diff = max(abs(a - b) for a, b in zip(ours, theirs))
rel = math.sqrt(sum((a - b) ** 2 for a, b in zip(ours, theirs)) / sum(a * a for a in ours))
top = lambda v, r: max(range(vocab), key=lambda j: v[r * vocab + j])
agree = sum(top(ours, r) == top(theirs, r) for r in range(rows))
print(f"logits max|diff| {diff:.2e}  rel {rel:.2e}  argmax {agree}/{rows}")
PY
}

echo "llama.cpp: $(cd "$llama" && git rev-parse --short HEAD 2>/dev/null || echo unknown), prompt ids $ids, $gen greedy tokens"
for model in "$here/models/nemoh-tiny" "$nano"; do
  for type in f32 bf16 q8_0; do
    weights=as-stored; [ "$type" = q8_0 ] && weights=q8_0
    g="$work/$(basename "$model")-$type.gguf"
    "$nemoh" export-gguf --model "$model" --out "$g" --type "$type" >/dev/null
    theirs=$("$work/logits" "$g" "$ids" "$gen" "$work/theirs.f32" 2>/dev/null | sed -n 's/^greedy: //p')
    ours=$("$nemoh" generate --model "$model" --weights "$weights" --ids "$ids" --max-tokens "$gen" --print-ids --ignore-eos 2>/dev/null | head -1)
    "$nemoh" forward --model "$model" --weights "$weights" --ids "$ids" --out "$work/ours.safetensors" >/dev/null
    same=$([ "$ours" = "$theirs" ] && echo "SAME" || echo "DIFFERENT")
    echo "$(basename "$model") gguf $type vs nemoh $weights: greedy $same  $(compare "$work/ours.safetensors" "$work/theirs.f32")"
    echo "  nemoh     $ours"
    echo "  llama.cpp $theirs"
  done
done
rm -rf "$work"
