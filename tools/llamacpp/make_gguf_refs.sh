#!/usr/bin/env bash
# The llama.cpp side of GgufModelTest: llama.cpp's logits on small GGUF files, recorded into src/test/resources/gguf.
#
#   tools/llamacpp/make_gguf_refs.sh LLAMA_CPP_DIR
#
# LLAMA_CPP_DIR: a llama.cpp checkout built with CMake into build/ (libllama, llama-quantize). Files made:
# - llamacpp-nemoh-tiny-{f32,bf16,q8_0}.f32: llama.cpp's logits [8, 320] for prompt 1,5,17,42,100,7,250,33 on
#   `nemoh export-gguf` of models/nemoh-tiny in each type (the test exports the same files again: the export is
#   deterministic);
# - kq-q4_k_m.gguf: the K-quant model (kq-config.json: every matrix row a multiple of 256, nemoh-tiny's tokenizer;
#   `nemoh init --seed 7`) exported as f32 and quantized by llama-quantize to Q4_K_M (Q4_K and Q6_K matrices), with
#   llamacpp-kq-q4_k_m.f32, its logits for the same prompt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
llama="$(cd "$1" && pwd)"
res="$here/src/test/resources/gguf"
work="$(mktemp -d "${TMPDIR:-/tmp}/nemoh-gguf-refs.XXXXXX")"
ids="1,5,17,42,100,7,250,33"
gcc -O2 -o "$work/logits" "$here/tools/llamacpp/logits.c" -I"$llama/include" -I"$llama/ggml/include" \
  -L"$llama/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$llama/build/bin"
for type in f32 bf16 q8_0; do
  "$here/nemoh" export-gguf --model "$here/models/nemoh-tiny" --out "$work/tiny-$type.gguf" --type "$type" >/dev/null
  "$work/logits" "$work/tiny-$type.gguf" "$ids" 0 "$res/llamacpp-nemoh-tiny-$type.f32" >/dev/null 2>&1
done
"$here/nemoh" init --config "$res/kq-config.json" --out "$work/kq" --seed 7 >/dev/null
cp "$here/models/nemoh-tiny/tokenizer.json" "$here/models/nemoh-tiny/tokenizer_config.json" "$work/kq/"
"$here/nemoh" export-gguf --model "$work/kq" --out "$work/kq-f32.gguf" --type f32 >/dev/null
"$llama/build/bin/llama-quantize" "$work/kq-f32.gguf" "$res/kq-q4_k_m.gguf" Q4_K_M >/dev/null 2>&1
"$work/logits" "$res/kq-q4_k_m.gguf" "$ids" 0 "$res/llamacpp-kq-q4_k_m.f32" >/dev/null 2>&1
echo "llama.cpp $(cd "$llama" && git rev-parse --short HEAD 2>/dev/null || echo unknown): wrote $(ls "$res" | tr '\n' ' ')"
rm -rf "$work"
