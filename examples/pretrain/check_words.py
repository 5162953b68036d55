#!/usr/bin/env python3
"""Checks that generated text is English words, as the bundled model's acceptance asks:

    ./nemoh generate --prompt "The" --max-tokens 200 --temperature 0.7 --seed 1 | python3 examples/pretrain/check_words.py

Of the whitespace-separated words (lower-cased, punctuation stripped, empty ones dropped): at least 80% in the word
list (Debian's wamerican, /usr/share/dict/american-english, or --dict FILE), at least 40% distinct, and no 4-word
sequence more than three times. Prints the numbers; exit 1 when a check fails.
"""
import argparse
import collections
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dict", default="/usr/share/dict/american-english")
    ap.add_argument("--min-words", type=int, default=50, help="fewer words than this fails (an empty answer passes nothing)")
    a = ap.parse_args()
    try:
        words = {w.strip().lower() for w in open(a.dict, encoding="utf-8", errors="replace")}
    except FileNotFoundError:
        sys.exit(f"no word list at {a.dict}: install Debian's wamerican (apt-get install wamerican) or pass --dict FILE")
    text = sys.stdin.read()
    tokens = [re.sub(r"[^\w']+", "", w.lower()).strip("'") for w in text.split()]
    tokens = [t for t in tokens if t]
    if len(tokens) < a.min_words:
        print(f"FAIL: {len(tokens)} words, fewer than {a.min_words}")
        sys.exit(1)
    known = sum(1 for t in tokens if t in words)
    distinct = len(set(tokens))
    grams = collections.Counter(tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3))
    worst = grams.most_common(1)[0] if grams else ((), 0)
    ok = [known / len(tokens) >= 0.8, distinct / len(tokens) >= 0.4, worst[1] <= 3]
    print(f"{len(tokens)} words: {known / len(tokens):.1%} in the word list (>= 80%: {'ok' if ok[0] else 'FAIL'}), "
          f"{distinct / len(tokens):.1%} distinct (>= 40%: {'ok' if ok[1] else 'FAIL'}), most repeated 4 words "
          f"{' '.join(worst[0])!r} x{worst[1]} (<= 3: {'ok' if ok[2] else 'FAIL'})")
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
