#!/usr/bin/env bash
# nemoh and llama.cpp side by side on one model, in one run: prefill and decode tok/s for bf16 and Q8_0 weights.
#
#   scripts/bench-vs-llamacpp.sh MODEL_DIR [LLAMA_BIN_DIR]
#
# MODEL_DIR: a Hugging Face Nemotron-H directory with tokenizer.json (e.g. from `nemoh init`, plus the tokenizer
# files of models/nemoh-tiny). LLAMA_BIN_DIR: the llama.cpp build's bin/ holding llama-bench (or LLAMA_BIN=...;
# default /work/llamacpp-src/build/bin). Environment: REPS (3), THREADS (2), PREFILL (512), GEN (32),
# DEPTH (4096), LOG (raw output file; default a temp file). PREFILL=0 skips prefill and DEPTH=0 the deep decode on
# both sides (a quicker decode-only run, for more repetitions).
#
# What runs, REPS times, alternating the engines (bf16 then Q8_0 each time):
#   GGUFs:     MODEL_DIR-bf16.gguf and MODEL_DIR-q8_0.gguf, written by `nemoh export-gguf` if missing
#   nemoh:     nemoh bench --model MODEL_DIR --weights as-stored|q8_0 --prefill PREFILL --context 128,DEPTH
#              --decode-tokens GEN   (THREADS threads: ForkJoin common pool parallelism THREADS - 1 + the caller)
#   llama.cpp: llama-bench -m GGUF -t THREADS -r 1 -p PREFILL -n 0
#              llama-bench -m GGUF -t THREADS -r 1 -p 0 -n GEN -d 128,DEPTH
# nemoh's decode contexts are synthetic (a cache filled with random K/V and state); llama-bench's -d prefills that
# many tokens first, untimed. llama-bench runs with its defaults otherwise (f16 K/V cache, flash attention auto).
# Keeps the raw outputs in LOG and prints a table of medians.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="$(cd "${1:?usage: $0 MODEL_DIR [LLAMA_BIN_DIR]}" && pwd)"
bin="$(cd "${2:-${LLAMA_BIN:-/work/llamacpp-src/build/bin}}" && pwd)"
reps="${REPS:-3}"; threads="${THREADS:-2}"; prefill="${PREFILL:-512}"; gen="${GEN:-32}"; depth="${DEPTH:-4096}"
log="${LOG:-$(mktemp "${TMPDIR:-/tmp}/bench-vs-llamacpp.XXXXXX.log")}"
contexts="128"; [ "$depth" != 0 ] && contexts="128,$depth"
llama_runs=("-p 0 -n $gen -d $contexts"); [ "$prefill" != 0 ] && llama_runs=("-p $prefill -n 0" "${llama_runs[@]}")
results="$(mktemp)"
nemoh="$here/nemoh"
. "$here/scripts/jdk.sh"
find_jdk

for type in bf16 q8_0; do
  [ -f "$model-$type.gguf" ] || "$nemoh" export-gguf --model "$model" --out "$model-$type.gguf" --type "$type"
done

{
  echo "date       $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine    $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "nemoh      $(git -C "$here" rev-parse --short HEAD), $("$JAVA_HOME/bin/java" -version 2>&1 | head -1 || true)"
  echo "llama.cpp  $({ "$bin/llama-bench" --version 2>&1 || true; } | grep -m1 -i 'version')"
  echo "model      $model, threads $threads, prefill $prefill, decode $gen tokens after $contexts"
} | tee "$log"

for rep in $(seq "$reps"); do
  for type in bf16 q8_0; do
    weights=as-stored; [ "$type" = q8_0 ] && weights=q8_0
    echo "== run $rep, $type: nemoh" | tee -a "$log"
    JAVA_TOOL_OPTIONS="-Djava.util.concurrent.ForkJoinPool.common.parallelism=$((threads - 1))" \
      "$nemoh" bench --model "$model" --weights "$weights" --prefill "$prefill" --context "$contexts" \
      --decode-tokens "$gen" 2>&1 | grep -v 'Picked up JAVA_TOOL_OPTIONS' | tee -a "$log" | awk -F'|' -v t="$type" '
        $2 ~ /prefill/        { gsub(/ /, "", $3); gsub(/ /, "", $5); print "nemoh", t, "pp" $3, $5 }
        $2 ~ /decode after/   { split($2, a, " "); gsub(/ /, "", $5); print "nemoh", t, "tg" '"$gen"' "@d" a[3], $5 }' >> "$results"
    echo "== run $rep, $type: llama.cpp" | tee -a "$log"
    for args in "${llama_runs[@]}"; do
      # shellcheck disable=SC2086
      "$bin/llama-bench" -m "$model-$type.gguf" -t "$threads" -r 1 -o csv $args 2>>"$log" | tee -a "$log" | python3 -c '
import csv, sys
for row in csv.DictReader(sys.stdin):
    p, g, d = int(row["n_prompt"]), int(row["n_gen"]), int(row["n_depth"])
    test = f"pp{p}" if g == 0 else f"tg{g}@d{d}"
    print("llama.cpp", sys.argv[1], test, row["avg_ts"])' "$type" >> "$results"
    done
  done
done

echo
echo "| weights | test | nemoh tok/s: median (runs) | llama.cpp tok/s: median (runs) | nemoh / llama.cpp: median of per-run ratios | best / best |" | tee -a "$log"
echo "| --- | --- | --- | --- | --- | --- |" | tee -a "$log"
python3 - "$results" <<'PY' | tee -a "$log"
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    engine, typ, test, value = line.split()
    runs.setdefault((typ, test), {}).setdefault(engine, []).append(float(value))
def cell(v):
    return f"**{statistics.median(v):.2f}** ({', '.join(f'{x:.2f}' for x in v)})" if v else "-"
for (typ, test), by in runs.items():
    ours, theirs = by.get("nemoh", []), by.get("llama.cpp", [])
    # runs alternate, so the k-th values of the two engines were measured minutes apart: their ratio is less
    # exposed to the shared machine's load drifting than the ratio of medians; best / best approximates an idle one
    pairs = [a / b for a, b in zip(ours, theirs)]
    ratio = f"{statistics.median(pairs):.2f}" if pairs else "-"
    best = f"{max(ours) / max(theirs):.2f}" if ours and theirs else "-"
    print(f"| {typ} | {test.replace('@d', ' after ')} | {cell(ours)} | {cell(theirs)} | {ratio} | {best} |")
PY
rm -f "$results"
echo "raw output: $log"
