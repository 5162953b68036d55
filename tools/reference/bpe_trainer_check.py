#!/usr/bin/env python3
"""Trains the `tokenizers` library's BpeTrainer with the settings of a `nemoh train-tokenizer` run and compares the
vocabulary, merges and special tokens with nemoh's tokenizer.json; exits 1 on any difference, printing the first ones.

Run from the repository root, with the options given to nemoh (see tools/reference/README.md):

    python3 tools/reference/bpe_trainer_check.py --nemoh OUT/tokenizer.json --input FILE [--input FILE ...] \
        --vocab-size N [--min-frequency N] [--special-tokens a,b] [--pre-tokenizer nemotron|gpt2] \
        [--add-prefix-space] [--json-key KEY]

Text files are read by the library itself (Tokenizer.train: one sequence a line, its line ending kept); with a .jsonl
input every file goes through train_from_iterator, text files split after each b"\\n" exactly as the library does.
"""
import argparse
import json
import sys

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

# Nemotron-H's split regex, as the bundled model's tokenizer.json holds it
TINY = "models/nemoh-tiny/tokenizer.json"


def pre_tokenizer(name, add_prefix_space):
    if name == "gpt2":
        return pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=True)
    with open(TINY, encoding="utf-8") as f:
        regex = json.load(f)["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=False),
    ])


def sequences(files, key):
    for path in files:
        with open(path, "rb") as f:
            for raw in f:  # binary lines end after b"\n", as the library's lines_with_ending
                line = raw.decode("utf-8")
                if not path.lower().endswith(".jsonl"):
                    yield line
                elif line.strip():
                    yield json.loads(line)[key]


def show(kind, ours, theirs, limit=10):
    print(f"{kind} differ: nemoh has {len(ours)}, tokenizers has {len(theirs)}")
    shown = 0
    for i in range(max(len(ours), len(theirs))):
        a = ours[i] if i < len(ours) else None
        b = theirs[i] if i < len(theirs) else None
        if a != b:
            print(f"  [{i}] nemoh {a!r}  tokenizers {b!r}")
            shown += 1
            if shown == limit:
                break


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nemoh", required=True, help="tokenizer.json written by nemoh train-tokenizer")
    p.add_argument("--input", action="append", required=True)
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--min-frequency", type=int, default=0)
    p.add_argument("--special-tokens", default="")
    p.add_argument("--pre-tokenizer", default="nemotron", choices=["nemotron", "gpt2"])
    p.add_argument("--add-prefix-space", action="store_true")
    p.add_argument("--json-key", default="text")
    a = p.parse_args()

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer(a.pre_tokenizer, a.add_prefix_space)
    specials = [t for t in a.special_tokens.split(",") if t]
    trainer = trainers.BpeTrainer(vocab_size=a.vocab_size, min_frequency=a.min_frequency, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    if any(f.lower().endswith(".jsonl") for f in a.input):
        tok.train_from_iterator(sequences(a.input, a.json_key), trainer)
    else:
        tok.train(a.input, trainer)
    theirs = json.loads(tok.to_str())
    with open(a.nemoh, encoding="utf-8") as f:
        ours = json.load(f)

    def vocab(j):
        return [t for t, _ in sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])]

    def merges(j):
        return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]

    def added(j):
        return [(t["id"], t["content"], t["special"]) for t in j["added_tokens"]]

    ok = True
    for kind, f in (("vocabularies", vocab), ("merges", merges), ("special tokens", added)):
        if f(ours) != f(theirs):
            show(kind, f(ours), f(theirs))
            ok = False
    if ours["pre_tokenizer"] != theirs["pre_tokenizer"]:
        print(f"pre_tokenizer differs:\n  nemoh      {json.dumps(ours['pre_tokenizer'])}\n"
              f"  tokenizers {json.dumps(theirs['pre_tokenizer'])}")
        ok = False
    if ok:
        print(f"same vocabulary ({len(vocab(ours))} tokens), merges ({len(merges(ours))}), special tokens and"
              f" pre-tokenizer as tokenizers {__import__('tokenizers').__version__}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
