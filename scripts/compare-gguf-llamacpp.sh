#!/usr/bin/env bash
# Acceptance of `--model FILE.gguf` against llama.cpp: one random model whose matrix rows are multiples of 256
# (src/test/resources/gguf/kq-config.json, `nemoh init --seed 7`, nemoh-tiny's tokenizer), exported as f32 and
# requantized by llama-quantize to each type; for each file both engines run the same 256-token prompt (logits of
# every position) and 64 greedy tokens after it. Prints per type ‖Δ‖/‖ref‖ of the prompt's logits, the share of
# positions whose top-1 token agrees, and whether the greedy tokens are the same.
#
#   [TYPES="Q8_0 Q4_K_M"] scripts/compare-gguf-llamacpp.sh [LLAMA_CPP_DIR]    (or LLAMA_CPP=...; default /work/llamacpp-src)
#
# LLAMA_CPP_DIR is a llama.cpp checkout built with CMake into build/ (libllama, llama-quantize). Writes under $TMPDIR.
# NEMOH overrides how the CLI runs (default: ./nemoh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llama="$(cd "${1:-${LLAMA_CPP:-/work/llamacpp-src}}" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/nemoh-gguf-vs-llamacpp.XXXXXX")"
nemoh="${NEMOH:-$here/nemoh}"  # NEMOH: another way to run the CLI (a java command line)
ids=$(python3 -c "import random; r = random.Random(21); print(','.join(str(r.randrange(3, 320)) for _ in range(256)))")
gcc -O2 -o "$work/logits" "$here/tools/llamacpp/logits.c" -I"$llama/include" -I"$llama/ggml/include" \
  -L"$llama/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$llama/build/bin"
$nemoh init --config "$here/src/test/resources/gguf/kq-config.json" --out "$work/kq" --seed 7 >/dev/null
cp "$here/models/nemoh-tiny/tokenizer.json" "$here/models/nemoh-tiny/tokenizer_config.json" "$work/kq/"
$nemoh export-gguf --model "$work/kq" --out "$work/kq-F32.gguf" --type f32 >/dev/null
echo "llama.cpp $(cd "$llama" && git rev-parse --short HEAD 2>/dev/null || echo unknown); 256-token prompt, 64 greedy tokens"
for type in ${TYPES:-F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K}; do
  g="$work/kq-$type.gguf"
  [ "$type" = F32 ] || "$llama/build/bin/llama-quantize" "$work/kq-F32.gguf" "$g" "$type" >/dev/null 2>&1
  theirs=$("$work/logits" "$g" "$ids" 64 "$work/theirs.f32" 2>/dev/null | sed -n 's/^greedy: //p')
  ours=$($nemoh generate --model "$g" --ids "$ids" --max-tokens 64 --print-ids --ignore-eos 2>/dev/null | head -1)
  $nemoh forward --model "$g" --ids "$ids" --out "$work/ours.safetensors" >/dev/null
  stats=$(python3 - "$work/ours.safetensors" "$work/theirs.f32" <<'PY'
import json, math, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; e = json.loads(f.read(n))["logits"]
f.seek(8 + n + e["data_offsets"][0]); rows, vocab = e["shape"]
ours = struct.unpack(f"<{rows * vocab}f", f.read(4 * rows * vocab))
theirs = struct.unpack(f"<{rows * vocab}f", open(sys.argv[2], "rb").read())
rel = math.sqrt(sum((a - b) ** 2 for a, b in zip(ours, theirs)) / sum(b * b for b in theirs))
top = lambda v, r: max(range(vocab), key=lambda j: v[r * vocab + j])
agree = sum(top(ours, r) == top(theirs, r) for r in range(rows))
print(f"rel {rel:.2e}  top-1 {agree}/{rows}")
PY
)
  echo "$type ($(du -k "$g" | cut -f1) KiB): $stats  greedy $([ "$ours" = "$theirs" ] && echo SAME || echo "DIFFERENT: ours $ours theirs $theirs")"
done
rm -rf "$work"
