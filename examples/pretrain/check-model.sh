#!/usr/bin/env bash
# Checks that a model writes English, as the bundled model's acceptance asks:
#   bash examples/pretrain/check-model.sh [MODEL_DIR]      (default: the bundled models/nemoh-small)
# `generate --prompt "The" --max-tokens 200 --temperature 0.7 --seed 1` and one `chat` answer, each through
# check_words.py: >= 80% of words in Debian's wamerican list, >= 40% distinct, no 4-word sequence more than 3 times.
# NEMOH: how to run nemoh (default ./nemoh); WORDS: the word list (default /usr/share/dict/american-english);
# OUT: where generate.txt and chat.txt go (default a temporary folder). Exits 1 when a check fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
model=${1:-$here/../../models/nemoh-small}
read -r -a nemoh <<< "${NEMOH:-$here/../../nemoh}"
words=${WORDS:-/usr/share/dict/american-english}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
"${nemoh[@]}" generate --model "$model" --prompt "The" --max-tokens 200 --temperature 0.7 --seed 1 > "$out/generate.txt"
failed=0
check() { # LABEL [check_words.py options] < text
  local label=$1; shift
  local result
  result=$(python3 "$here/check_words.py" --dict "$words" "$@") || failed=1
  echo "$label: $result"
}
check generate < "$out/generate.txt"
printf 'Tell me about the sea.\n/exit\n' | "${nemoh[@]}" chat --model "$model" --max-tokens 200 --temperature 0.7 \
  --seed 1 > "$out/chat.txt"
# the answer only: not chat's banner line, prompts or markers
tail -n +2 "$out/chat.txt" | sed -e 's/^> //' -e '/^\[/d' > "$out/chat-answer.txt"
check chat --min-words 10 < "$out/chat-answer.txt"
exit $failed
