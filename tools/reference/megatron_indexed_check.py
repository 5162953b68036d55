#!/usr/bin/env python3
"""Checks nemoh's indexed datasets against Megatron-LM's own reader and writer (megatron/core/datasets/indexed_dataset.py).

    python3 tools/reference/megatron_indexed_check.py MEGATRON_FILES JSONL TOKENIZER_DIR PREFIX [--append-eod] [--key text]

MEGATRON_FILES: a directory holding Megatron-LM's indexed_dataset.py, object_storage_utils.py and msc_utils.py (copied
from a Megatron-LM checkout; their own imports of megatron.core.utils get a one-function stand-in here, as the rest of
megatron.core needs a training stack). PREFIX: the data path `nemoh preprocess` wrote from JSONL with TOKENIZER_DIR.

1. Megatron's IndexedDataset reads PREFIX: its documents must equal the `tokenizers` library's encoding of each line's
   text without special tokens (plus EOS with --append-eod), as Megatron's preprocess_data.py would have written them.
2. Megatron's IndexedDatasetBuilder writes the same documents: its .bin and .idx must equal nemoh's byte for byte.
Exit 1 on any difference.
"""
import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import types

import numpy


def megatron_module(files):
    root = tempfile.mkdtemp(prefix="megatron-")
    pkg = os.path.join(root, "megatron", "core", "datasets")
    os.makedirs(pkg)
    for d in (os.path.join(root, "megatron"), os.path.join(root, "megatron", "core"), pkg):
        open(os.path.join(d, "__init__.py"), "w").close()
    shutil.copy(os.path.join(files, "indexed_dataset.py"), pkg)
    shutil.copy(os.path.join(files, "object_storage_utils.py"), pkg)
    shutil.copy(os.path.join(files, "msc_utils.py"), os.path.join(root, "megatron", "core"))
    with open(os.path.join(root, "megatron", "core", "utils.py"), "w") as f:
        f.write("def log_single_rank(logger, *args, rank=0, **kwargs):\n    logger.log(*args, **kwargs)\n")
    sys.path.insert(0, root)
    from megatron.core.datasets import indexed_dataset
    return indexed_dataset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("megatron_files")
    ap.add_argument("jsonl")
    ap.add_argument("tokenizer_dir")
    ap.add_argument("prefix")
    ap.add_argument("--append-eod", action="store_true")
    ap.add_argument("--key", default="text")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    idx = megatron_module(a.megatron_files)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(a.tokenizer_dir, "tokenizer.json"))
    eos_token = json.load(open(os.path.join(a.tokenizer_dir, "tokenizer_config.json")))["eos_token"]
    eos = tok.token_to_id(eos_token if isinstance(eos_token, str) else eos_token["content"])
    docs = []
    for line in open(a.jsonl, encoding="utf-8"):
        if not line.strip():
            continue
        ids = tok.encode(json.loads(line)[a.key], add_special_tokens=False).ids
        if ids and a.append_eod:
            ids = ids + [eos]
        docs.append(ids)

    failures = 0
    ds = idx.IndexedDataset(a.prefix)
    bounds = ds.document_indices
    if len(bounds) != len(docs) + 1:
        print(f"FAIL: Megatron reads {len(bounds) - 1} documents, the JSONL has {len(docs)}")
        failures += 1
    for d, ids in enumerate(docs[: len(bounds) - 1]):
        got = [int(t) for s in range(bounds[d], bounds[d + 1]) for t in ds[s]]
        if got != ids:
            failures += 1
            if failures <= 5:
                print(f"FAIL: document {d}: Megatron reads {got[:12]}... ({len(got)} tokens), tokenizers gives {ids[:12]}... ({len(ids)})")
    print(f"Megatron's IndexedDataset read {len(bounds) - 1} documents, {sum(len(x) for x in docs)} tokens of {a.prefix}: "
          + ("all equal to the tokenizers library's" if failures == 0 else f"{failures} differ"))

    out = tempfile.mkdtemp(prefix="megatron-written-")
    theirs = os.path.join(out, "theirs")
    dtype = idx.DType.optimal_dtype(tok.get_vocab_size(with_added_tokens=True))
    builder = idx.IndexedDatasetBuilder(theirs + ".bin", dtype=dtype)
    for ids in docs:
        builder.add_document(numpy.array(ids, dtype=numpy.int64), [len(ids)] if ids else [])
    builder.finalize(theirs + ".idx")
    for ext in (".bin", ".idx"):
        same = open(theirs + ext, "rb").read() == open(a.prefix + ext, "rb").read()
        print(f"Megatron's IndexedDatasetBuilder {ext}: {'byte for byte equal to' if same else 'DIFFERS from'} nemoh's")
        failures += 0 if same else 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
