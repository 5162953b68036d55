#!/usr/bin/env bash
# Compiles the optional native CPU kernels (src/main/c) into OUT_DIR/native/linux-x86_64/, which Maven runs after
# compiling the Java classes (so the library ships inside nemoh.jar). Only on Linux x86-64 with a C compiler (CC, or
# cc): elsewhere, or with no compiler, it says so, exits 0 and nemoh runs its Vector API kernels instead. A compiler
# that is there but fails fails the build (exit 1, its errors shown): the kernels must not vanish silently while their
# tests skip. CC=none builds without them on purpose.
#   scripts/build-native.sh OUT_DIR
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: $0 OUT_DIR}/native/linux-x86_64"
src_dir="$here/src/main/c"
lib="$out/libnemoh_cpu.so"
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "native kernels: skipped on $(uname -s)-$(uname -m) (the Vector API kernels run)"; exit 0
fi
cc="${CC:-cc}"
if ! command -v "$cc" > /dev/null; then
  echo "native kernels: no C compiler '$cc' found, skipped (the Vector API kernels run; install gcc for faster decode, prefill and long-context attention)"; exit 0
fi
[ -f "$lib" ] && [ -z "$(find "$src_dir" -newer "$lib" -print -quit)" ] && exit 0
mkdir -p "$out"
if ! "$cc" -O2 -ffp-contract=off -shared -fPIC -o "$lib" "$src_dir"/*.c -lm; then
  rm -f "$lib"
  echo "native kernels: '$cc' could not compile $src_dir (its errors are above): fix the compiler, point CC= at" \
    "another, or build without the native kernels with CC=none" >&2
  exit 1
fi
exit 0
