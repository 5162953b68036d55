#!/usr/bin/env python3
"""The generator of src/test/resources/fixtures: reference tensors from Hugging Face transformers' own
NemotronHForCausalLM (plain PyTorch path, CPU, float32; float64 for logits_f64) and PEFT's LoRA/DoRA.

  python3 tools/reference/make_fixtures.py --check [DIR]   recompute every committed tensor from the committed
                                                           checkpoints, adapters and inputs; compare; exit 1 on FAIL
  python3 tools/reference/make_fixtures.py --make OUT_DIR  build the three fixtures from scratch with the same recipe
  python3 tools/reference/make_fixtures.py --list [DIR]    no torch: every committed tensor, the recipe line that
                                                           produces it, coverage, and the recipe checks that need no torch
  python3 tools/reference/make_fixtures.py --compare A B   no torch: every tensor and JSON field of two fixture trees

DIR defaults to the repository's src/test/resources/fixtures. Needs torch, transformers, peft, safetensors (not for
--list). Runs on CPU only (CUDA is hidden), with a fixed thread count. See tools/reference/README.md.
"""
import argparse
import array
import dataclasses
import json
import math
import os
import re
import struct
import sys
import traceback

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_DIR = os.path.join(REPO, "src", "test", "resources", "fixtures")

# ----------------------------------------------------------------------------------------------------------------
# The recipe
# ----------------------------------------------------------------------------------------------------------------

# Config fields that differ from NemotronHConfig's defaults (the rest of config.json is transformers' defaults).
_COMMON = {"head_dim": 16, "use_mamba_kernels": False, "conv_kernel": 4}
FIXTURES = {
    "nemotron-h-tiny": {
        "seed": 1234, "prompt_len": 40, "generated": 16, "training": True, "train_seed": 99,
        "config": dict(_COMMON, vocab_size=320, hidden_size=64, intermediate_size=128, tie_word_embeddings=False,
                       layers_block_type=["linear_attention", "mlp", "linear_attention", "full_attention", "mlp",
                                          "linear_attention", "mlp", "linear_attention", "mlp", "full_attention",
                                          "mlp"],
                       num_attention_heads=4, num_key_value_heads=2, mamba_num_heads=8, mamba_head_dim=16,
                       n_groups=2, ssm_state_size=16, chunk_size=16),
    },
    "nano-v2-tiny": {
        "seed": 1235, "prompt_len": 29, "generated": 12, "training": True, "train_seed": 100,
        "config": dict(_COMMON, vocab_size=300, hidden_size=80, intermediate_size=96, tie_word_embeddings=True,
                       layers_block_type=["linear_attention", "mlp", "linear_attention", "full_attention", "mlp",
                                          "linear_attention", "linear_attention", "mlp", "linear_attention",
                                          "full_attention", "mlp"],
                       num_attention_heads=5, num_key_value_heads=1, mamba_num_heads=6, mamba_head_dim=20,
                       n_groups=3, ssm_state_size=8, chunk_size=8),
    },
    "moe-tiny": {
        "seed": 1236, "prompt_len": 33, "generated": 12, "training": False, "train_seed": None,
        "config": dict(_COMMON, vocab_size=256, hidden_size=64, intermediate_size=96, tie_word_embeddings=False,
                       layers_block_type=["linear_attention", "moe", "full_attention", "moe", "linear_attention",
                                          "mlp", "moe"],
                       num_attention_heads=4, num_key_value_heads=2, mamba_num_heads=8, mamba_head_dim=16,
                       n_groups=2, ssm_state_size=16, chunk_size=16,
                       n_routed_experts=6, num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=32,
                       moe_shared_expert_intermediate_size=48, routed_scaling_factor=2.5),
    },
}
# Every input of the committed fixtures follows from these draws bit-exactly (verified by --check, "recipe" rows):
# - weights: torch.Generator().manual_seed(seed), one draw per parameter in named_parameters() order (randomised()),
#   each rounded to bfloat16; then from the same generator input_ids, then input_ids_2 (randint(3, V, (1, L)));
# - training batch: torch.Generator().manual_seed(train_seed): input_ids randint(3, V, (2, 24)), then lora_B of the
#   lora adapter, then of the dora adapter (randn * 0.05, PEFT's parameter order);
# - lora_A: PEFT's own kaiming-uniform init from torch's global RNG. The committed adapters were made from one global
#   stream: torch.manual_seed(1238), 412,048 uniform draws already taken, then get_peft_model for nemotron-h-tiny lora,
#   dora, nano-v2-tiny lora, dora, each taking 2*r*in + r*out draws per targeted Linear (nn.Linear inits of lora_A and
#   lora_B, then PEFT's re-init of lora_A) and nothing else drawing in between. --make replays that stream.
FIRST_ID = 3                       # prompts are randint(3, vocab): no pad (0), bos (1) or eos (2)
TRAIN_SHAPE = (2, 24)              # training batch
LABEL_PREFIX = 7                   # labels[:, :7] = -100 (a "prompt" that is not trained on)
LABEL_TAIL = 4                     # labels[1, -4:] = -100 (row 1 also ends early)
LORA = dict(r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
            target_modules=["in_proj", "q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"])
LORA_B_STD = 0.05                  # lora_B = randn * 0.05 so that gradients reach lora_A too
PEFT_GLOBAL_SEED = 1238
PEFT_GLOBAL_SKIP = 412048
PEFT_ORDER = ("nemotron-h-tiny", "nano-v2-tiny")
ADAMW = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
TRAIN_STEPS = 3
KINDS = ("lora", "dora")
README_HIDDEN = ("hidden_0 is the embedding output; hidden_i the output of block i-1; the last is after the final "
                 "norm")
README_WEIGHTS = ("model/ holds the checkpoint in bfloat16; references were computed in float32 (logits_f64 in "
                  "float64) from the same bf16-rounded weights")
TRAINING_WHAT = ("training.safetensors: loss and full gradients of the base model on input_ids with labels (-100 = "
                 "ignored, HF shifts labels by one inside the model); then for lora and dora: PEFT adapters (r=4, "
                 "alpha=8, no dropout, lora_B randomised) saved in *_adapter/, step-0 logits and gradients of the "
                 "adapter weights, losses of 3 AdamW steps (lr 1e-3, betas 0.9/0.95, eps 1e-8, weight_decay 0.1) on "
                 "the same batch, adapter weights after the 3 steps, and logits of the merged model (after the 3 "
                 "steps)")

# How each committed tensor is produced (used by --list and printed with --check). First match wins.
RECIPE = [
    ("reference", r"input_ids(_2)?", "INPUT",
     "prompt [1, L]: used as committed; recipe: randint(3, V) from the weights' generator after the weights"),
    ("reference", r"logits", "forward",
     "f32 model, one forward over input_ids (use_cache=False): logits[0], all L rows"),
    ("reference", r"logits_f64", "forward",
     "dense: f64 model (from_pretrained dtype=float64), same forward; transformers returns lm_head(...).float(), so "
     "it is stored as F32. MoE: the float32 logits widened to F64 (what the committed moe-tiny holds: its f64 "
     "forward is attempted and reported as a diagnostic only; --moe-f64 forward changes that)"),
    ("reference", r"hidden_\d+", "forward",
     "output_hidden_states of the logits forward: hidden_states[i][0] (embeddings, block inputs, norm_f output)"),
    ("reference", r"logits_2", "forward", "f32 model, one forward over input_ids_2: logits[0]"),
    ("reference", r"greedy_tokens", "generate",
     "generate(do_sample=False, use_cache=True, output_logits=True, max_new_tokens=min_new_tokens=G): "
     "sequences[0, L:] (exact)"),
    ("reference", r"greedy_step_logits", "generate",
     "same generate call: its raw output_logits stacked [G, V] (prefill with logits_to_keep=1, then cached steps)"),
    ("reference", r"greedy_full_logits", "forward",
     "f32 model, one uncached forward over input_ids + greedy_tokens: logits[0], [L+G, V]"),
    ("training", r"input_ids|labels", "INPUT",
     "training batch [2, 24]: used as committed; recipe: randint(3, V) from Generator(train_seed); labels = ids with "
     "-100 on [:, :7] and [1, -4:]"),
    ("training", r"loss", "base",
     "f32 base model, train(), model(input_ids, labels=labels, use_cache=False).loss: transformers' causal-LM loss "
     "(shift by one, mean over non-ignored targets)"),
    ("training", r"grad\..+", "base", "p.grad of every named parameter after that loss.backward()"),
    ("training", r"(lora|dora)\.logits\.0", "adapter",
     "committed adapter loaded with PeftModel.from_pretrained(is_trainable=True) on a fresh f32 base; step-0 "
     "training forward (batch of 2): logits[0]"),
    ("training", r"(lora|dora)\.grad0\..+", "adapter", "p.grad of every trainable adapter weight after the step-0 backward"),
    ("training", r"(lora|dora)\.loss\.[0-2]", "adapter",
     "loss of step k of 3 (torch.optim.AdamW lr 1e-3, betas (0.9, 0.95), eps 1e-8, weight_decay 0.1, all adapter "
     "weights in one group, same batch every step), before that step's update"),
    ("training", r"(lora|dora)\.after3\..+", "adapter", "adapter weights after the 3 optimizer steps"),
    ("training", r"(lora|dora)\.merged_logits", "adapter",
     "merge_and_unload() after the 3 steps; forward over the batch (use_cache=False): logits[0]"),
]


def recipe_for(file_kind, name):
    for kind, pattern, stage, text in RECIPE:
        if kind == file_kind and re.fullmatch(pattern, name):
            return stage, text
    return None, None


# ----------------------------------------------------------------------------------------------------------------
# Pure-python safetensors reading (for --list; no numpy, no torch)
# ----------------------------------------------------------------------------------------------------------------

def st_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    meta = header.pop("__metadata__", None)
    return header, meta, 8 + n


def st_read(path, name):
    """One tensor as (flat python list, shape, dtype); F32, F64, I64 and BF16 (widened to float)."""
    header, _, base = st_header(path)
    h = header[name]
    start, end = h["data_offsets"]
    with open(path, "rb") as f:
        f.seek(base + start)
        raw = f.read(end - start)
    codes = {"F32": "f", "F64": "d", "I64": "q", "BF16": "H"}
    a = array.array(codes[h["dtype"]])
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    if h["dtype"] == "BF16":
        wide = array.array("I", (x << 16 for x in a))
        a = array.array("f")
        a.frombytes(wide.tobytes())
    return list(a), h["shape"], h["dtype"]


def rows(flat, shape):
    n = shape[-1]
    return [flat[i:i + n] for i in range(0, len(flat), n)]


def ckpt_to_memory(name):
    """Checkpoint name (backbone.*) to transformers' in-memory name (model.*)."""
    return "model." + name[len("backbone."):] if name.startswith("backbone.") else name


def adapter_memory_name(file_name):
    """PEFT's saved adapter name to its in-memory parameter name (adapter 'default')."""
    if file_name.endswith(".lora_magnitude_vector"):
        return file_name + ".default.weight"
    return re.sub(r"\.(lora_A|lora_B)\.weight$", r".\1.default.weight", file_name)


def expected_names(fx_dir, name):
    """What the recipe produces for a fixture, from its config and the tensor names of its checkpoint and adapters:
    {file: {tensor: shape or None}}."""
    cfg = json.load(open(os.path.join(fx_dir, "model", "config.json")))
    layers = len(cfg["layers_block_type"])
    V, H = cfg["vocab_size"], cfg["hidden_size"]
    out = {}
    ref_path = os.path.join(fx_dir, "reference.safetensors")
    if os.path.exists(ref_path):
        rh, _, _ = st_header(ref_path)
        L = rh["input_ids"]["shape"][1] if "input_ids" in rh else None
        G = rh["greedy_tokens"]["shape"][0] if "greedy_tokens" in rh else None
        ref = {"input_ids": [1, L], "input_ids_2": [1, L], "logits": [L, V], "logits_f64": [L, V],
               "logits_2": [L, V], "greedy_tokens": [G], "greedy_step_logits": [G, V],
               "greedy_full_logits": [L + G if L is not None and G is not None else None, V]}
        for i in range(layers + 1):
            ref[f"hidden_{i}"] = [L, H]
        out["reference.safetensors"] = ref
    if os.path.exists(os.path.join(fx_dir, "training.safetensors")):
        ckpt, _, _ = st_header(os.path.join(fx_dir, "model", "model.safetensors"))
        b, t = TRAIN_SHAPE
        tr = {"input_ids": [b, t], "labels": [b, t], "loss": [1]}
        for n, h in ckpt.items():
            tr["grad." + ckpt_to_memory(n)] = h["shape"]
        for kind in KINDS:
            ad = os.path.join(fx_dir, f"{kind}_adapter", "adapter_model.safetensors")
            if not os.path.exists(ad):
                continue
            tr[f"{kind}.logits.0"] = [t, V]
            tr[f"{kind}.merged_logits"] = [t, V]
            for k in range(TRAIN_STEPS):
                tr[f"{kind}.loss.{k}"] = [1]
            ah, _, _ = st_header(ad)
            for n, h in ah.items():
                m = adapter_memory_name(n)
                tr[f"{kind}.grad0.{m}"] = h["shape"]
                tr[f"{kind}.after3.{m}"] = h["shape"]
        out["training.safetensors"] = tr
    return out


def lora_targets(cfg, targets=None):
    """(in-memory module name, in_features, out_features) of every Linear that PEFT wraps, in named_modules order."""
    targets = set(targets or LORA["target_modules"])
    H, out = cfg["hidden_size"], []
    for i, kind in enumerate(cfg["layers_block_type"]):
        if kind == "linear_attention":
            nh, hd, g, n = cfg["mamba_num_heads"], cfg["mamba_head_dim"], cfg["n_groups"], cfg["ssm_state_size"]
            inner = nh * hd
            cand = [("in_proj", H, 2 * inner + 2 * g * n + nh)]
        elif kind == "full_attention":
            q, kv = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"]
            cand = [("q_proj", H, q), ("k_proj", H, kv), ("v_proj", H, kv), ("o_proj", q, H)]
        elif kind == "mlp":
            cand = [("up_proj", H, cfg["intermediate_size"]), ("down_proj", cfg["intermediate_size"], H)]
        else:
            sh = cfg["moe_shared_expert_intermediate_size"]
            cand = [("shared_experts.up_proj", H, sh), ("shared_experts.down_proj", sh, H)]
        out += [(f"model.layers.{i}.mixer.{c}", a, b) for c, a, b in cand if c.rsplit(".", 1)[-1] in targets]
    return out


def peft_init_draws(cfg, r=None):
    """Global-RNG draws one get_peft_model takes: lora_A and lora_B nn.Linear inits, then lora_A's re-init."""
    r = r or LORA["r"]
    return sum(2 * r * a + r * b for _, a, b in lora_targets(cfg))


def fixture_names(root, only):
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "model")))
    if only:
        wanted = only.split(",")
        missing = [w for w in wanted if w not in names]
        if missing:
            sys.exit(f"no such fixture under {root}: {missing}")
        names = [n for n in names if n in wanted]
    return names


# ----------------------------------------------------------------------------------------------------------------
# --list
# ----------------------------------------------------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.fail = 0
        self.notes = 0

    def line(self, status, text):
        if status == "FAIL":
            self.fail += 1
        if status == "NOTE":
            self.notes += 1
        print(f"  {status:<5} {text}")


def list_mode(root, only):
    tally = Tally()
    for name in fixture_names(root, only):
        fx = os.path.join(root, name)
        print(f"\n=== {name}  ({fx})")
        exp = expected_names(fx, name)
        # model/ and adapters are inputs of the recipe, never recomputed by --check
        ckpt, _, _ = st_header(os.path.join(fx, "model", "model.safetensors"))
        dtypes = sorted({h["dtype"] for h in ckpt.values()})
        print(f"  INPUT model/model.safetensors: {len(ckpt)} tensors, dtypes {dtypes} (committed weights: loaded, "
              f"verified bit-exact after load, never re-randomised)")
        for kind in KINDS:
            ad = os.path.join(fx, f"{kind}_adapter", "adapter_model.safetensors")
            if os.path.exists(ad):
                ah, _, _ = st_header(ad)
                print(f"  INPUT {kind}_adapter/adapter_model.safetensors: {len(ah)} tensors (loaded, verified "
                      f"bit-exact after load)")
                for n, h in sorted(ah.items()):
                    print(f"        {n:<80} {h['dtype']:<4} {h['shape']}")
        for file_kind, fname in (("reference", "reference.safetensors"), ("training", "training.safetensors")):
            path = os.path.join(fx, fname)
            if not os.path.exists(path):
                continue
            header, meta, _ = st_header(path)
            want = exp.get(fname, {})
            print(f"  --- {fname}: {len(header)} tensors (metadata {meta})")
            for n in sorted(header, key=natural_key):
                h = header[n]
                stage, text = recipe_for(file_kind, n)
                shape_ok = n in want and (want[n] is None or None in want[n] or list(want[n]) == h["shape"])
                status = "ok" if stage and shape_ok else "FAIL"
                why = "" if stage else "  <- no recipe produces this tensor"
                if stage and not shape_ok:
                    why = f"  <- recipe expects shape {want.get(n)}" if n in want else "  <- not among expected names"
                tally.line(status, f"{n:<92} {h['dtype']:<4} {str(h['shape']):<12} [{stage}]{why}")
            for n in sorted(set(want) - set(header), key=natural_key):
                tally.line("FAIL", f"{n}: the recipe produces it but {fname} lacks it")
        recipe_checks(fx, name, tally)
    print("\n--- recipe, by tensor kind")
    for kind, pattern, stage, text in RECIPE:
        print(f"  {kind:<9} {pattern:<28} [{stage}] {text}")
    print(f"\n{tally.fail} FAIL, {tally.notes} NOTE")
    return 1 if tally.fail else 0


def natural_key(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def recipe_checks(fx, name, tally):
    """Checks of the committed data against the recipe that need no torch."""
    print("  --- recipe checks (no torch)")
    cfg = json.load(open(os.path.join(fx, "model", "config.json")))
    spec = FIXTURES.get(name)
    if spec is None:
        tally.line("NOTE", f"{name} is not one of the script's fixtures: --make does not build it")
    else:
        diff = [k for k, v in spec["config"].items() if cfg.get(k) != v]
        tally.line("FAIL" if diff else "ok", f"config.json agrees with the script's spec on {len(spec['config'])} "
                   f"fields" + (f"; differs on {diff}" if diff else ""))
    readme = json.load(open(os.path.join(fx, "README.json")))
    ref = os.path.join(fx, "reference.safetensors")
    ids, ishape, _ = st_read(ref, "input_ids")
    tok, _, _ = st_read(ref, "greedy_tokens")
    L, G, V = ishape[1], len(tok), cfg["vocab_size"]
    for key, got in (("prompt_len", L), ("generated", G)):
        tally.line("ok" if readme.get(key) == got else "FAIL", f"README.json {key} = {readme.get(key)}; data: {got}")
    if spec is not None:
        for key in ("seed", "prompt_len", "generated"):
            tally.line("ok" if readme.get(key) == spec[key] else "NOTE",
                       f"README.json {key} = {readme.get(key)}; script's --make uses {spec[key]}")
    ids2, _, _ = st_read(ref, "input_ids_2")
    lo = min(ids + ids2)
    tally.line("ok" if lo >= FIRST_ID and max(ids + ids2) < V else "NOTE",
               f"prompt ids in [{lo}, {max(ids + ids2)}] (recipe draws from [{FIRST_ID}, {V}))")
    # the two measured spreads, recomputed from the committed tensors
    lg, lshape, _ = st_read(ref, "logits")
    l64, _, d64 = st_read(ref, "logits_f64")
    spread = max(abs(a - b) for a, b in zip(lg, l64))
    tally.line("ok" if spread == readme.get("max_abs_diff_f32_vs_f64") else "FAIL",
               f"max|logits - logits_f64| = {spread!r}; README.json: {readme.get('max_abs_diff_f32_vs_f64')!r}")
    if d64 == "F64" and spread == 0.0:
        tally.line("NOTE", "logits_f64 is stored as F64 and equals the float32 logits exactly: this fixture's "
                   "logits_f64 is the widened float32 logits, not a float64 forward")
    step, _, _ = st_read(ref, "greedy_step_logits")
    full, _, _ = st_read(ref, "greedy_full_logits")
    step_rows, full_rows = rows(step, [G, V]), rows(full, [L + G, V])
    cached = max(abs(a - b) for i in range(G) for a, b in zip(step_rows[i], full_rows[L - 1 + i]))
    tally.line("ok" if cached == readme.get("max_abs_diff_cached_vs_full") else "FAIL",
               f"max|greedy_step_logits - greedy_full_logits[L-1:L+G-1]| = {cached!r}; README.json: "
               f"{readme.get('max_abs_diff_cached_vs_full')!r}")
    argmax = [max(range(V), key=r.__getitem__) for r in step_rows]
    tally.line("ok" if argmax == tok else "FAIL", "greedy_tokens = argmax of greedy_step_logits, row by row")
    for key, want in (("hidden_states", README_HIDDEN), ("weights", README_WEIGHTS)):
        tally.line("ok" if readme.get(key) == want else "NOTE", f"README.json '{key}' text is the script's")
    ckpt, _, _ = st_header(os.path.join(fx, "model", "model.safetensors"))
    non_bf16 = [n for n, h in ckpt.items() if h["dtype"] != "BF16"]
    tally.line("ok" if not non_bf16 else "NOTE", "checkpoint is all BF16" + (f"; not: {non_bf16}" if non_bf16 else ""))
    for n in sorted(ckpt):
        if n.endswith("e_score_correction_bias"):
            v, _, _ = st_read(os.path.join(fx, "model", "model.safetensors"), n)
            tally.line("ok" if not any(v) else "NOTE", f"{n} is zero (a buffer: the recipe randomises parameters only)")
    if lm_equal(fx, ckpt):
        tally.line("NOTE", "lm_head.weight equals the embeddings")
    elif cfg.get("tie_word_embeddings"):
        tally.line("ok", "tie_word_embeddings is true yet lm_head.weight is a separate tensor (transformers' "
                   "NemotronHForCausalLM does not tie: _tied_weights_keys = {})")
    tr = os.path.join(fx, "training.safetensors")
    if not os.path.exists(tr):
        return
    tj = json.load(open(os.path.join(fx, "TRAINING.json")))
    tally.line("ok" if tj.get("what") == TRAINING_WHAT else "NOTE", "TRAINING.json 'what' text is the script's")
    tids, tshape, _ = st_read(tr, "input_ids")
    labels, _, _ = st_read(tr, "labels")
    want = label_rule_py(tids, tshape)
    tally.line("ok" if tshape == list(TRAIN_SHAPE) else "FAIL", f"training input_ids shape {tshape}")
    tally.line("ok" if labels == want else "NOTE",
               f"labels = input_ids with -100 on [:, :{LABEL_PREFIX}] and [1, -{LABEL_TAIL}:] (the --make rule)")
    for kind in KINDS:
        adir = os.path.join(fx, f"{kind}_adapter")
        if not os.path.isdir(adir):
            continue
        ac = json.load(open(os.path.join(adir, "adapter_config.json")))
        bad = [k for k, v in LORA.items() if k != "target_modules" and ac.get(k) != v]
        if set(ac.get("target_modules") or []) != set(LORA["target_modules"]):
            bad.append("target_modules")
        if bool(ac.get("use_dora")) != (kind == "dora"):
            bad.append("use_dora")
        tally.line("ok" if not bad else "NOTE", f"{kind}_adapter/adapter_config.json matches the recipe"
                   + (f" except {bad}" if bad else "") + f" (peft_version {ac.get('peft_version')})")
        ah, _, _ = st_header(os.path.join(adir, "adapter_model.safetensors"))
        want_names = expected_adapter_names(ckpt, ac, kind)
        tally.line("ok" if set(ah) == set(want_names) and all(ah[n]["shape"] == want_names[n] for n in ah) else "FAIL",
                   f"{kind}_adapter holds lora_A/lora_B" + ("/magnitude" if kind == "dora" else "")
                   + f" for every targeted module of the checkpoint ({len(want_names)} tensors)")
        if kind == "dora":
            worst = dora_magnitude_spread(fx, adir, ah)
            tally.line("ok" if worst < 1e-5 else "NOTE", f"dora magnitude = row norms of the base weight (PEFT's init "
                       f"before lora_B was randomised): worst relative difference {worst:.2e}")


def lm_equal(fx, ckpt):
    if "lm_head.weight" not in ckpt or "backbone.embeddings.weight" not in ckpt:
        return False
    p = os.path.join(fx, "model", "model.safetensors")
    return st_read(p, "lm_head.weight")[0] == st_read(p, "backbone.embeddings.weight")[0]


def label_rule_py(ids, shape):
    b, t = shape
    out = list(ids)
    for r in range(b):
        for c in range(t):
            if c < LABEL_PREFIX or (r == 1 and c >= t - LABEL_TAIL):
                out[r * t + c] = -100
    return out


def expected_adapter_names(ckpt, ac, kind):
    targets = set(ac.get("target_modules") or [])
    r = ac.get("r", LORA["r"])
    out = {}
    for n, h in ckpt.items():
        m = re.fullmatch(r"backbone\.(layers\.\d+\.mixer\.(\w+))\.weight", n)
        if not m or m.group(2) not in targets or len(h["shape"]) != 2:
            continue
        stem = "base_model.model.model." + m.group(1)
        o, i = h["shape"]
        out[stem + ".lora_A.weight"] = [r, i]
        out[stem + ".lora_B.weight"] = [o, r]
        if kind == "dora":
            out[stem + ".lora_magnitude_vector"] = [o]
    return out


def dora_magnitude_spread(fx, adir, ah):
    worst = 0.0
    ckpt = os.path.join(fx, "model", "model.safetensors")
    for n in ah:
        if not n.endswith(".lora_magnitude_vector"):
            continue
        base = "backbone." + n[len("base_model.model.model."):-len(".lora_magnitude_vector")] + ".weight"
        w, shape, _ = st_read(ckpt, base)
        mag, _, _ = st_read(os.path.join(adir, "adapter_model.safetensors"), n)
        for row, m in zip(rows(w, shape), mag):
            norm = math.sqrt(sum(x * x for x in row))
            worst = max(worst, abs(norm - m) / max(norm, 1e-30))
    return worst


# ----------------------------------------------------------------------------------------------------------------
# torch: environment and loading
# ----------------------------------------------------------------------------------------------------------------

torch = None


def set_environment(threads):
    """Before torch is imported: CPU only, fixed threads, offline, unbuffered output."""
    os.environ["PYTHONUNBUFFERED"] = "1"
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = str(threads)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[k] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)
    except AttributeError:
        pass


def init_torch(args):
    global torch
    set_environment(args.threads)
    import torch as _torch
    torch = _torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_default_dtype(torch.float32)
    torch.set_float32_matmul_precision("highest")
    if not args.no_deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(0)
    import transformers
    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft
        versions["peft"] = peft.__version__
    except ImportError:
        versions["peft"] = None
    try:
        import safetensors
        versions["safetensors"] = safetensors.__version__
    except (ImportError, AttributeError):
        pass
    print("versions:", json.dumps(versions), f"threads={torch.get_num_threads()}",
          f"deterministic={torch.are_deterministic_algorithms_enabled()}", f"cuda hidden",
          f"mkl={torch.backends.mkl.is_available()}", f"cpu capability={cpu_capability()}")
    return versions


def cpu_capability():
    try:
        return torch.backends.cpu.get_cpu_capability()
    except Exception:
        return "?"


def load_model(model_dir, dtype, args):
    """transformers' NemotronHForCausalLM from a checkpoint folder, in eval mode, on CPU, in `dtype`."""
    from transformers import NemotronHForCausalLM
    kw = {"output_loading_info": True}
    if args.attn:
        kw["attn_implementation"] = args.attn
    try:
        loaded = NemotronHForCausalLM.from_pretrained(model_dir, dtype=dtype, **kw)
    except TypeError:                                           # transformers before `dtype=`
        loaded = NemotronHForCausalLM.from_pretrained(model_dir, torch_dtype=dtype, **kw)
    model, info = loaded if isinstance(loaded, tuple) else (loaded, {})
    model.eval()
    bad = [n for n, p in model.named_parameters() if p.dtype != dtype and not n.endswith("e_score_correction_bias")]
    if bad:
        raise RuntimeError(f"parameters not in {dtype}: {bad[:5]}")
    return model, info


def model_facts(model):
    cfg = model.config
    facts = {"attn_implementation": getattr(cfg, "_attn_implementation", None)}
    exp = getattr(cfg, "_experts_implementation", None)
    if exp is not None:
        facts["experts_implementation"] = exp
    facts["layers"] = len(model.model.layers)
    return facts


def verify_weights(model, model_dir, report, fixture, label):
    """Every tensor of the committed checkpoint reached the model unchanged, and nothing else is in its state."""
    from safetensors.torch import load_file
    ckpt = load_file(os.path.join(model_dir, "model.safetensors"))
    used, bad, unmapped = set(), [], []
    for name, t in model.state_dict().items():
        key = "backbone." + name[len("model."):] if name.startswith("model.") else name
        if key in ckpt:
            ref = ckpt[key]
            used.add(key)
        else:
            m = re.fullmatch(r"(.*\.experts)\.(\w+)", key)          # 3-D experts in memory, one tensor per expert on disk
            parts = []
            if m:
                e = 0
                while f"{m.group(1)}.{e}.{m.group(2)}.weight" in ckpt:
                    parts.append(f"{m.group(1)}.{e}.{m.group(2)}.weight")
                    e += 1
            if not parts:
                unmapped.append(name)
                continue
            ref = torch.stack([ckpt[p] for p in parts])
            used.update(parts)
        if tuple(ref.shape) != tuple(t.shape) or not torch.equal(ref.to(t.dtype), t):
            bad.append(name)
    unused = sorted(set(ckpt) - used)
    ok = not bad and not unused and not unmapped
    report.check(fixture, f"weights ({label})", ok,
                 f"{len(used)} checkpoint tensors loaded bit-exact" if ok else
                 f"differ: {bad[:6]}; checkpoint tensors not in the model: {unused[:6]}; model tensors not in the "
                 f"checkpoint: {unmapped[:6]}")


def loading_info_check(info, report, fixture, label):
    missing = list(info.get("missing_keys", []) or [])
    mism = list(info.get("mismatched_keys", []) or [])
    unexpected = list(info.get("unexpected_keys", []) or [])
    report.check(fixture, f"from_pretrained ({label})", not missing and not mism,
                 f"missing {missing[:6]}, mismatched {mism[:6]}, unexpected {unexpected[:6]}")


# ----------------------------------------------------------------------------------------------------------------
# torch: the reference kinds
# ----------------------------------------------------------------------------------------------------------------

def forward_logits_and_hidden(model, ids):
    """logits [L, V] and hidden_0..hidden_N of one uncached forward."""
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=False, output_hidden_states=True)
    hidden = {f"hidden_{i}": h[0].detach().float().clone() for i, h in enumerate(out.hidden_states)}
    return out.logits[0].detach().clone(), hidden


def forward_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits[0].detach().clone()


def logits_f64(model_dir, ids, logits32, is_moe, args, report, fixture, notes):
    """Primary value and alternatives for logits_f64 (see RECIPE)."""
    attempt, err = None, None
    try:
        m64, info = load_model(model_dir, torch.float64, args)
        loading_info_check(info, report, fixture, "float64")
        verify_weights(m64, model_dir, report, fixture, "float64")
        with torch.no_grad():
            attempt = m64(input_ids=ids, use_cache=False).logits[0].detach().clone()
        del m64
    except Exception as e:  # noqa: BLE001 - reported, and the recipe says what happens then
        err = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    widened = logits32.to(torch.float64)
    if attempt is not None:
        notes.append(f"float64 forward ran (output dtype {attempt.dtype}); max|f64 - f32 logits| = "
                     f"{(attempt.double() - logits32.double()).abs().max().item():.3e}")
    else:
        notes.append(f"float64 forward raised {err}")
    alts = {}
    if is_moe and args.moe_f64 == "widen":
        primary, how = widened, "MoE: float32 logits widened to float64"
        if attempt is not None:
            alts["float64 forward"] = attempt
    elif attempt is not None:
        primary, how = attempt, "float64 forward"
        alts["widened float32 logits"] = widened
    else:
        primary, how = widened, "float64 forward failed: widened float32 logits"
    notes.append(f"logits_f64 = {how}")
    return primary, alts


def greedy_generate(model, ids, G):
    """transformers' cached generation path: greedy tokens and the raw logits that chose them."""
    L = ids.shape[1]
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=1,
                             max_new_tokens=G, min_new_tokens=G, use_cache=True, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=model.config.pad_token_id)
    tokens = out.sequences[0, L:].detach().clone().to(torch.int64)
    steps = torch.stack([step[0] for step in out.logits]).float().clone()
    return tokens, steps


def greedy_manual(model, ids, G):
    """The same greedy decode by hand: prefill (logits_to_keep=1), then one token at a time through the cache."""
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache, logits = out.past_key_values, out.logits[0, -1]
        tokens, steps = [], []
        for i in range(G):
            steps.append(logits.float().clone())
            tokens.append(int(torch.argmax(logits)))
            if i + 1 < G:
                out = model(input_ids=torch.tensor([[tokens[-1]]]), past_key_values=cache, use_cache=True)
                cache, logits = out.past_key_values, out.logits[0, -1]
    return torch.tensor(tokens, dtype=torch.int64), torch.stack(steps)


def compute_reference(model_dir, ids, ids2, G, is_moe, args, report, fixture):
    """Every tensor of reference.safetensors except the inputs; alternatives per name; spreads; notes."""
    notes, alts = [], {}
    model, info = load_model(model_dir, torch.float32, args)
    loading_info_check(info, report, fixture, "float32")
    verify_weights(model, model_dir, report, fixture, "float32")
    notes.append(f"model: {json.dumps(model_facts(model))}")
    out = {}
    out["logits"], hidden = forward_logits_and_hidden(model, ids)
    layers = len(model.model.layers)
    if len(hidden) != layers + 1:
        notes.append(f"output_hidden_states gave {len(hidden)} tensors for {layers} blocks (expected {layers + 1})")
    out.update(hidden)
    out["logits_2"] = forward_logits(model, ids2)

    L = ids.shape[1]
    manual = None
    try:
        manual = greedy_manual(model, ids, G)
    except Exception as e:  # noqa: BLE001
        notes.append(f"manual cached decode raised {type(e).__name__}: {e}")
    try:
        tokens, steps = greedy_generate(model, ids, G)
        if manual is not None:
            alts["greedy_tokens"] = {"manual cached loop": manual[0]}
            alts["greedy_step_logits"] = {"manual cached loop": manual[1]}
    except Exception as e:  # noqa: BLE001
        if manual is None:
            raise
        notes.append(f"generate raised {type(e).__name__}: {e}; greedy tensors from the manual cached loop")
        tokens, steps = manual
    out["greedy_tokens"], out["greedy_step_logits"] = tokens, steps
    out["greedy_full_logits"] = forward_logits(model, torch.cat([ids, tokens.view(1, -1)], dim=1))
    alts["greedy_full_logits"] = {"use_cache=True forward": full_with_cache(model, ids, tokens)}
    del model

    f64, f64_alts = logits_f64(model_dir, ids, out["logits"], is_moe, args, report, fixture, notes)
    out["logits_f64"] = f64
    if f64_alts:
        alts["logits_f64"] = f64_alts
    spreads = {
        "max_abs_diff_f32_vs_f64": (out["logits"].double() - out["logits_f64"].double()).abs().max().item(),
        "max_abs_diff_cached_vs_full":
            (out["greedy_step_logits"] - out["greedy_full_logits"][L - 1:L + G - 1]).abs().max().item(),
    }
    return out, alts, spreads, notes


def full_with_cache(model, ids, tokens):
    with torch.no_grad():
        return model(input_ids=torch.cat([ids, tokens.view(1, -1)], dim=1), use_cache=True).logits[0].clone()


def base_training(model_dir, tids, labels, args, report, fixture):
    """loss and every parameter's gradient of the base model (transformers' own causal-LM loss)."""
    model, info = load_model(model_dir, torch.float32, args)
    loading_info_check(info, report, fixture, "training base")
    model.train()
    out = model(input_ids=tids, labels=labels, use_cache=False)
    out.loss.backward()
    res = {"loss": out.loss.detach().float().reshape(1).clone()}
    V = out.logits.shape[-1]
    manual = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, V).detach().float(),
                                               labels[:, 1:].reshape(-1), ignore_index=-100)
    alts = {"loss": {"manual mean cross-entropy": manual.reshape(1)}}
    notes = []
    for n, p in model.named_parameters():
        if p.grad is None:
            notes.append(f"grad.{n}: no gradient (stored as zeros)")
            res["grad." + n] = torch.zeros_like(p)
        else:
            res["grad." + n] = p.grad.detach().clone()
    return res, alts, notes


def load_adapter(model_dir, adapter_dir, args):
    """A fresh float32 base with the committed adapter on it, trainable. Returns (peft model, how)."""
    from peft import PeftModel
    base, _ = load_model(model_dir, torch.float32, args)
    try:
        return PeftModel.from_pretrained(base, adapter_dir, is_trainable=True), "PeftModel.from_pretrained"
    except Exception as e:  # noqa: BLE001 - e.g. an older peft refusing newer config keys
        first = f"{type(e).__name__}: {e}"
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    base, _ = load_model(model_dir, torch.float32, args)      # the failed attempt may have changed the first base
    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    fields = {f.name for f in dataclasses.fields(LoraConfig) if f.init}
    kw = {k: v for k, v in cfg.items() if k in fields and k not in ("peft_type", "inference_mode")}
    model = get_peft_model(base, LoraConfig(**kw))
    set_peft_model_state_dict(model, load_file(os.path.join(adapter_dir, "adapter_model.safetensors")))
    return model, f"get_peft_model + set_peft_model_state_dict (from_pretrained raised {first})"


def verify_adapter(model, adapter_dir, report, fixture, kind):
    from safetensors.torch import load_file
    saved = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    want = {adapter_memory_name(n): n for n in saved}
    bad = [m for m, n in want.items() if m not in params or not torch.equal(params[m].detach(), saved[n].to(params[m].dtype))]
    extra = sorted(trainable - set(want))
    frozen = sorted(set(want) - trainable)
    ok = not bad and not extra and not frozen
    report.check(fixture, f"{kind} adapter", ok,
                 f"{len(want)} adapter tensors loaded bit-exact, exactly these trainable" if ok else
                 f"differ {bad[:5]}; trainable but not saved {extra[:5]}; saved but frozen {frozen[:5]}")


def adapter_training(model_dir, adapter_dir, kind, tids, labels, args, report, fixture):
    """Step-0 logits and gradients, 3 AdamW steps, weights after them, merged model's logits."""
    model, how = load_adapter(model_dir, adapter_dir, args)
    verify_adapter(model, adapter_dir, report, fixture, kind)
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW([p for _, p in named], **ADAMW)
    res, alts = {}, {}
    for step in range(TRAIN_STEPS):
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=tids, labels=labels, use_cache=False)
        out.loss.backward()
        if step == 0:
            res[f"{kind}.logits.0"] = out.logits[0].detach().float().clone()
            for n, p in named:
                res[f"{kind}.grad0.{n}"] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
        res[f"{kind}.loss.{step}"] = out.loss.detach().float().reshape(1).clone()
        opt.step()
    for n, p in named:
        res[f"{kind}.after3.{n}"] = p.detach().clone()
    merged = model.merge_and_unload()
    merged.eval()
    with torch.no_grad():
        res[f"{kind}.merged_logits"] = merged(input_ids=tids, use_cache=False).logits[0].clone()
        alts[f"{kind}.merged_logits"] = {"forward over row 0 only": merged(input_ids=tids[:1], use_cache=False).logits[0]}
    return res, alts, [f"{kind}: adapter loaded by {how}"]


def compute_training(fx_dir, tids, labels, kinds, args, report, fixture):
    model_dir = os.path.join(fx_dir, "model")
    res, alts, notes = base_training(model_dir, tids, labels, args, report, fixture)
    for kind in kinds:
        r, a, n = adapter_training(model_dir, os.path.join(fx_dir, f"{kind}_adapter"), kind, tids, labels, args,
                                   report, fixture)
        res.update(r)
        alts.update(a)
        notes.extend(n)
    return res, alts, notes


# ----------------------------------------------------------------------------------------------------------------
# --check
# ----------------------------------------------------------------------------------------------------------------

DTYPE_NAMES = {}


def st_dtype(t):
    if not DTYPE_NAMES:
        DTYPE_NAMES.update({torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bfloat16: "BF16",
                            torch.float16: "F16", torch.int32: "I32"})
    return DTYPE_NAMES.get(t.dtype, str(t.dtype))


def measure(ref, got):
    """(max abs error, ||got - ref|| / ||ref||), in float64."""
    r, g = ref.detach().double(), got.detach().double()
    d = g - r
    if d.numel() == 0:
        return 0.0, 0.0
    max_abs = d.abs().max().item()
    norm = r.norm().item()
    rel = d.norm().item() / norm if norm > 0 else (0.0 if max_abs == 0 else float("inf"))
    return max_abs, rel


class Report:
    """Rule: a float tensor PASSes when ||got - ref|| / ||ref|| <= tol (relative), or when max|got - ref| <= tol
    (absolute: for tensors of small values, such as most gradients, where float32 rounding of an O(1) computation
    alone can exceed tol relative to them). NaN fails. Integer tensors must be equal. Shape or dtype different from
    the committed tensor fails."""

    def __init__(self, tol):
        self.tol = tol
        self.rows = []
        self.failures = 0

    def _add(self, row):
        self.rows.append(row)
        if row["verdict"] in ("FAIL", "MISSING", "EXTRA"):
            self.failures += 1

    def check(self, fixture, what, ok, detail, counts=True):
        """A yes/no check; counts=False: a failure is reported as DIFF and does not fail the run."""
        verdict = "PASS" if ok else ("FAIL" if counts else "DIFF")
        self._add({"fixture": fixture, "file": "-", "name": what, "verdict": verdict, "detail": detail})
        print(f"  {verdict:<7} {what}: {detail}")

    def note(self, fixture, text):
        self.rows.append({"fixture": fixture, "file": "-", "name": "note", "verdict": "NOTE", "detail": text})
        print(f"  NOTE    {text}")

    def compare(self, fixture, fname, name, ref, got, alts=None):
        row = {"fixture": fixture, "file": fname, "name": name, "dtype": st_dtype(ref), "shape": list(ref.shape)}
        if tuple(ref.shape) != tuple(got.shape):
            row.update(verdict="FAIL", detail=f"shape {list(got.shape)} vs committed {list(ref.shape)}")
        elif not ref.is_floating_point():
            diff = int((ref.to(torch.int64) != got.to(torch.int64)).sum())
            row.update(verdict="PASS" if diff == 0 else "FAIL", max_abs=None, rel=None,
                       detail="exact" if diff == 0 else f"{diff} of {ref.numel()} differ: {got.tolist()} vs "
                                                         f"{ref.tolist()}")
        else:
            max_abs, rel = measure(ref, got)
            ok = (rel <= self.tol or max_abs <= self.tol) and not (math.isnan(max_abs) or math.isnan(rel))
            detail = ""
            if st_dtype(got) != st_dtype(ref):
                ok = False
                detail = f"dtype {st_dtype(got)} vs committed {st_dtype(ref)}"
            row.update(verdict="PASS" if ok else "FAIL", max_abs=max_abs, rel=rel, detail=detail)
        self._add(row)
        ma = "" if row.get("max_abs") is None else f"{row['max_abs']:.3e}"
        rl = "" if row.get("rel") is None else f"{row['rel']:.3e}"
        print(f"  {row['verdict']:<7} {fname:<22} {name:<90} {row['dtype']:<4} {str(row['shape']):<11} "
              f"max_abs {ma:<10} rel {rl:<10} {row['detail']}")
        if alts and (row["verdict"] != "PASS" or args_verbose):
            for label, alt in alts.items():
                if tuple(alt.shape) != tuple(ref.shape):
                    print(f"          alternative '{label}': shape {list(alt.shape)}")
                    continue
                a_abs, a_rel = measure(ref, alt)
                print(f"          alternative '{label}': max_abs {a_abs:.3e} rel {a_rel:.3e} (dtype {st_dtype(alt)})")
                row.setdefault("alternatives", {})[label] = {"max_abs": a_abs, "rel": a_rel}

    def compare_file(self, fixture, fname, committed, computed, alts, inputs):
        for name in sorted(committed, key=natural_key):
            if name in inputs:
                self.rows.append({"fixture": fixture, "file": fname, "name": name, "verdict": "INPUT"})
                print(f"  INPUT   {fname:<22} {name:<90} {st_dtype(committed[name]):<4} {list(committed[name].shape)}")
            elif name in computed:
                self.compare(fixture, fname, name, committed[name], computed[name], alts.get(name))
            else:
                self._add({"fixture": fixture, "file": fname, "name": name, "verdict": "MISSING",
                           "detail": "committed but not recomputed"})
                print(f"  MISSING {fname:<22} {name}: committed but not recomputed")
        for name in sorted(set(computed) - set(committed), key=natural_key):
            self._add({"fixture": fixture, "file": fname, "name": name, "verdict": "EXTRA",
                       "detail": "recomputed but not committed"})
            print(f"  EXTRA   {fname:<22} {name}: recomputed but not committed")

    def value(self, fixture, what, committed, got):
        if committed is None:
            self.note(fixture, f"README.json has no {what}; recomputed {got!r}")
            return
        err = abs(got - committed)
        rel = err / abs(committed) if committed else (0.0 if err == 0 else float("inf"))
        ok = err <= self.tol or rel <= self.tol
        self._add({"fixture": fixture, "file": "README.json", "name": what, "verdict": "PASS" if ok else "FAIL",
                   "max_abs": err, "rel": rel, "detail": f"recomputed {got!r}, committed {committed!r}"})
        print(f"  {'PASS' if ok else 'FAIL':<7} README.json {what}: recomputed {got!r}, committed {committed!r} "
              f"(abs {err:.3e})")


args_verbose = False


def check_mode(root, args):
    versions = init_torch(args)                   # first: the environment must be set before torch is imported
    from safetensors.torch import load_file
    report = Report(args.tol)
    print(f"rule: PASS when ||got-ref||/||ref|| <= {args.tol:g} or max|got-ref| <= {args.tol:g}; integers exact; "
          f"shape and dtype as committed")
    dumps = {}
    for name in fixture_names(root, args.fixtures):
        fx = os.path.join(root, name)
        model_dir = os.path.join(fx, "model")
        print(f"\n=== {name}  ({fx})")
        readme = json.load(open(os.path.join(fx, "README.json")))
        for key in ("transformers", "torch"):
            if readme.get(key) != versions.get(key):
                report.note(name, f"README.json says {key} {readme.get(key)}, running {versions.get(key)}")
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        try:
            config_check(name, cfg, report)
        except Exception as e:  # noqa: BLE001 - informational only
            report.note(name, f"config check raised {type(e).__name__}: {e}")
        is_moe = "moe" in cfg.get("layers_block_type", [])
        try:
            committed = load_file(os.path.join(fx, "reference.safetensors"))
            ids, ids2 = committed["input_ids"], committed["input_ids_2"]
            G = committed["greedy_tokens"].numel()
            computed, alts, spreads, notes = compute_reference(model_dir, ids, ids2, G, is_moe, args, report, name)
            for n in notes:
                report.note(name, n)
            report.compare_file(name, "reference.safetensors", committed, computed, alts, {"input_ids", "input_ids_2"})
            report.value(name, "prompt_len", readme.get("prompt_len"), ids.shape[1])
            report.value(name, "generated", readme.get("generated"), G)
            for key, got in spreads.items():
                report.value(name, key, readme.get(key), got)
            dumps[f"{name}/reference"] = (computed, alts)
        except Exception:  # noqa: BLE001 - one broken fixture must not hide the others
            report.check(name, "reference.safetensors", False, "raised:\n" + traceback.format_exc())
        try:
            tr_path = os.path.join(fx, "training.safetensors")
            recipe_check(name, fx, cfg, load_file(os.path.join(fx, "reference.safetensors")),
                         load_file(tr_path) if os.path.exists(tr_path) else None, args, report)
        except Exception:  # noqa: BLE001
            report.check(name, "recipe", False, "raised:\n" + traceback.format_exc(), counts=args.strict_recipe)
        tr_path = os.path.join(fx, "training.safetensors")
        if os.path.exists(tr_path):
            try:
                tj = json.load(open(os.path.join(fx, "TRAINING.json")))
                if tj.get("peft") != versions.get("peft"):
                    report.note(name, f"TRAINING.json says peft {tj.get('peft')}, running {versions.get('peft')}")
                committed = load_file(tr_path)
                kinds = [k for k in KINDS if os.path.isdir(os.path.join(fx, f"{k}_adapter"))]
                computed, alts, notes = compute_training(fx, committed["input_ids"], committed["labels"], kinds, args,
                                                         report, name)
                for n in notes:
                    report.note(name, n)
                report.compare_file(name, "training.safetensors", committed, computed, alts, {"input_ids", "labels"})
                dumps[f"{name}/training"] = (computed, alts)
            except Exception:  # noqa: BLE001
                report.check(name, "training.safetensors", False, "raised:\n" + traceback.format_exc())
    if args.dump:
        dump(args.dump, dumps)
    summary(report)
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"versions": versions, "tol": args.tol, "threads": args.threads, "rows": report.rows}, f,
                      indent=1, default=str)
    return 1 if report.failures else 0


def config_check(name, committed_cfg, report):
    """Would --make write this config.json? (NOTE only: the committed config is what --check loads.)"""
    spec = FIXTURES.get(name)
    if spec is None:
        report.note(name, "not one of the script's fixtures: --make does not build it")
        return
    from transformers import NemotronHConfig
    made = json.loads(NemotronHConfig(**spec["config"]).to_json_string())
    skip = {"transformers_version", "dtype", "torch_dtype", "architectures"}
    diff = sorted(k for k in set(made) | set(committed_cfg) if k not in skip and made.get(k) != committed_cfg.get(k))
    if diff:
        report.note(name, "--make's config.json would differ on " +
                    ", ".join(f"{k}: {made.get(k)!r} vs committed {committed_cfg.get(k)!r}" for k in diff))
    else:
        print("  PASS    config: NemotronHConfig(**spec) writes the committed config.json (ignoring version/dtype)")


def dump(root, dumps):
    from safetensors.torch import save_file
    for key, (computed, alts) in dumps.items():
        path = os.path.join(root, key + ".recomputed.safetensors")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        flat = {n: t.detach().contiguous() for n, t in computed.items()}
        for n, by_label in alts.items():
            for label, t in by_label.items():
                flat[f"alt[{label}].{n}"] = t.detach().contiguous()
        save_file(flat, path)
        print(f"dumped {len(flat)} tensors to {path}")


def summary(report):
    counts = {}
    for r in report.rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    print("\n=== summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    bad = [r for r in report.rows if r["verdict"] in ("FAIL", "MISSING", "EXTRA")]
    for r in bad:
        extra = f" max_abs {r['max_abs']:.3e} rel {r['rel']:.3e}" if r.get("max_abs") is not None else ""
        print(f"  {r['verdict']:<7} {r['fixture']} {r['file']} {r['name']}{extra} {r.get('detail', '')}"[:400])
    for r in report.rows:
        if r["verdict"] == "DIFF":
            print(f"  DIFF    {r['fixture']} {r['name']} {r.get('detail', '')} (not counted: --strict-recipe to count)"[:400])
    print("RESULT:", "FAIL" if bad else "PASS")


# ----------------------------------------------------------------------------------------------------------------
# --make
# ----------------------------------------------------------------------------------------------------------------

def randomised(name, shape, g):
    """One parameter's draw (float32, before the bfloat16 rounding). The formulas are exact: changing one changes
    bits of the committed weights."""
    leaf = name.rsplit(".", 1)[-1]
    if name.endswith("embeddings.weight"):
        return torch.randn(shape, generator=g)
    if leaf == "A_log":
        return torch.log(1.0 + 15.0 * torch.rand(shape, generator=g))           # A ~ U(1, 16)
    if leaf == "D":
        return 1.0 + 0.5 * torch.randn(shape, generator=g)
    if leaf == "dt_bias":
        return -4.5 + 4.0 * torch.rand(shape, generator=g)                      # U(-4.5, -0.5)
    if name.endswith("conv1d.bias"):
        return 0.05 * torch.randn(shape, generator=g)
    if len(shape) == 1 and name.endswith(("norm.weight", "norm_f.weight")):
        return 1.0 + 0.2 * torch.randn(shape, generator=g)
    if len(shape) >= 2:                                                         # linear, conv, 3-D experts
        return torch.randn(shape, generator=g) * shape[-1] ** -0.5
    raise ValueError(f"no randomisation rule for {name} {tuple(shape)}")


def draw_weights(model, g):
    """Every parameter random (the README's 'no term can be skipped'), rounded to bfloat16, in named_parameters()
    order. Buffers (the MoE router's e_score_correction_bias) keep transformers' init: zeros."""
    return {n: randomised(n, tuple(p.shape), g).to(torch.bfloat16).to(torch.float32)
            for n, p in model.named_parameters()}


def draw_prompts(g, vocab, length):
    return (torch.randint(FIRST_ID, vocab, (1, length), generator=g),
            torch.randint(FIRST_ID, vocab, (1, length), generator=g))


def label_rule(ids):
    labels = ids.clone()
    labels[:, :LABEL_PREFIX] = -100
    labels[1, ids.shape[1] - LABEL_TAIL:] = -100
    return labels


def draw_training(train_seed, vocab):
    g = torch.Generator().manual_seed(train_seed)
    ids = torch.randint(FIRST_ID, vocab, TRAIN_SHAPE, generator=g)
    return g, ids, label_rule(ids)


def draw_lora_B(g, cfg):
    """lora_B of every wrapped Linear, in PEFT's order (in-memory module name -> [out, r])."""
    r = LORA["r"]
    return {name: torch.randn((b, r), generator=g) * LORA_B_STD for name, _, b in lora_targets(cfg)}


def peft_rng_state(fixture):
    """torch's global RNG state just before the first get_peft_model of `fixture` in the original run."""
    torch.manual_seed(PEFT_GLOBAL_SEED)
    torch.empty(PEFT_GLOBAL_SKIP).uniform_()
    for name in PEFT_ORDER:
        if name == fixture:
            break
        for _ in KINDS:
            torch.empty(peft_init_draws(FIXTURES[name]["config"])).uniform_()
    return torch.get_rng_state()


def simulate_lora_A(cfg, state):
    """What PEFT's init leaves in lora_A from global RNG `state`; returns ({module name: A}, state after)."""
    saved = torch.get_rng_state()
    torch.set_rng_state(state)
    out, r = {}, LORA["r"]
    for name, a, b in lora_targets(cfg):
        for shape in ((r, a), (b, r)):                                          # the nn.Linear inits
            torch.nn.init.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5))
        out[name] = torch.nn.init.kaiming_uniform_(torch.empty(r, a), a=math.sqrt(5))   # PEFT's re-init
    after = torch.get_rng_state()
    torch.set_rng_state(saved)
    return out, after


def recipe_check(name, fx, cfg, committed_ref, committed_tr, args, report):
    """Do the recipe's draws give the committed inputs bit-exactly? (What --make relies on to rebuild them.)"""
    spec = FIXTURES.get(name)
    if spec is None:
        report.note(name, "recipe: not one of the script's fixtures")
        return
    strict = args.strict_recipe
    model, _ = load_model(os.path.join(fx, "model"), torch.float32, args)
    g = torch.Generator().manual_seed(spec["seed"])
    drawn = draw_weights(model, g)
    bad = [n for n, p in model.named_parameters() if not torch.equal(drawn[n], p.detach())]
    report.check(name, "recipe: weights", not bad, f"{len(drawn)} parameters drawn in named_parameters() order "
                 + ("equal the committed checkpoint bit-exactly" if not bad else f"differ: {bad[:6]}"), counts=strict)
    ids, ids2 = draw_prompts(g, cfg["vocab_size"], committed_ref["input_ids"].shape[1])
    ok = torch.equal(ids, committed_ref["input_ids"]) and torch.equal(ids2, committed_ref["input_ids_2"])
    report.check(name, "recipe: input_ids, input_ids_2", ok, "equal" if ok else "differ", counts=strict)
    if committed_tr is None:
        return
    gt, tids, labels = draw_training(spec["train_seed"], cfg["vocab_size"])
    ok = torch.equal(tids, committed_tr["input_ids"]) and torch.equal(labels, committed_tr["labels"])
    report.check(name, "recipe: training input_ids, labels", ok, "equal" if ok else "differ", counts=strict)
    from safetensors.torch import load_file
    state = peft_rng_state(name)
    for kind in KINDS:
        path = os.path.join(fx, f"{kind}_adapter", "adapter_model.safetensors")
        if not os.path.exists(path):
            continue
        saved = load_file(path)
        Bs = draw_lora_B(gt, cfg)
        As, state = simulate_lora_A(cfg, state)
        bad = [m for m in As if not torch.equal(As[m], saved.get(f"base_model.model.{m}.lora_A.weight", torch.empty(0)))
               or not torch.equal(Bs[m], saved.get(f"base_model.model.{m}.lora_B.weight", torch.empty(0)))]
        report.check(name, f"recipe: {kind} lora_A, lora_B", not bad,
                     f"{len(As)} modules equal bit-exactly" if not bad else f"differ: {bad[:4]}", counts=strict)
        mags = {m: saved[f"base_model.model.{m}.lora_magnitude_vector"] for m in As
                if f"base_model.model.{m}.lora_magnitude_vector" in saved}
        if mags:
            weights = dict(model.named_parameters())
            worst = max((torch.linalg.norm(weights[m + ".weight"].detach(), dim=1) - v).abs().max().item()
                        for m, v in mags.items())
            report.check(name, f"recipe: {kind} magnitude", worst <= 1e-6,
                         f"= row norms of the base weight (PEFT's DoRA init), worst |diff| {worst:.2e}", counts=strict)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def make_mode(out_root, args):
    versions = init_torch(args)                   # first: the environment must be set before torch is imported
    from safetensors.torch import save_file
    from transformers import NemotronHConfig, NemotronHForCausalLM
    from peft import LoraConfig, get_peft_model
    report = Report(args.tol)
    names = [n for n in FIXTURES if not args.fixtures or n in args.fixtures.split(",")]
    for name in names:
        spec = FIXTURES[name]
        fx = os.path.join(out_root, name)
        if os.path.exists(fx) and os.listdir(fx) and not args.force:
            sys.exit(f"{fx} exists and is not empty (--force to overwrite)")
        os.makedirs(fx, exist_ok=True)
        print(f"\n=== make {name} -> {fx}")
        torch.manual_seed(spec["seed"])                   # transformers' own init: overwritten below, any seed does
        config = NemotronHConfig(**spec["config"])
        model = NemotronHForCausalLM(config).to(torch.float32)
        g = torch.Generator().manual_seed(spec["seed"])
        drawn = draw_weights(model, g)
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(drawn[n])
        model_dir = os.path.join(fx, "model")
        model.to(torch.bfloat16).save_pretrained(model_dir)
        del model
        V, L, G = config.vocab_size, spec["prompt_len"], spec["generated"]
        ids, ids2 = draw_prompts(g, V, L)
        is_moe = "moe" in spec["config"]["layers_block_type"]
        ref, _, spreads, notes = compute_reference(model_dir, ids, ids2, G, is_moe, args, report, name)
        for n in notes:
            report.note(name, n)
        ref["input_ids"], ref["input_ids_2"] = ids, ids2
        save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(fx, "reference.safetensors"))
        if spec["training"]:
            gt, tids, labels = draw_training(spec["train_seed"], V)
            state = peft_rng_state(name)
            for kind in KINDS:
                base, _ = load_model(model_dir, torch.float32, args)
                expected_A, _ = simulate_lora_A(spec["config"], state)
                saved_rng = torch.get_rng_state()
                torch.set_rng_state(state)                  # PEFT's lora_A init draws from the global RNG
                pm = get_peft_model(base, LoraConfig(use_dora=(kind == "dora"), **LORA))
                state = torch.get_rng_state()
                torch.set_rng_state(saved_rng)
                Bs = draw_lora_B(gt, spec["config"])
                params = dict(pm.named_parameters())
                with torch.no_grad():
                    for m, B in Bs.items():
                        params[f"base_model.model.{m}.lora_B.default.weight"].copy_(B)
                bad = [m for m, A in expected_A.items()
                       if not torch.equal(params[f"base_model.model.{m}.lora_A.default.weight"].detach(), A)]
                report.check(name, f"{kind}: PEFT's lora_A init", not bad,
                             "equals the simulated global-RNG stream" if not bad else
                             f"differs from the simulated stream on {bad[:4]} (the adapters still form a valid "
                             f"fixture; they only differ from the committed ones)", counts=False)
                pm.save_pretrained(os.path.join(fx, f"{kind}_adapter"))
                del pm, base
            tr, _, notes = compute_training(fx, tids, labels, KINDS, args, report, name)
            for n in notes:
                report.note(name, n)
            tr["input_ids"], tr["labels"] = tids, labels
            save_file({k: v.contiguous() for k, v in tr.items()}, os.path.join(fx, "training.safetensors"))
            write_json(os.path.join(fx, "TRAINING.json"), {"what": TRAINING_WHAT, "peft": versions.get("peft")})
        write_json(os.path.join(fx, "README.json"), {
            "name": name, "seed": spec["seed"], "prompt_len": L, "generated": G,
            "transformers": versions["transformers"], "torch": versions["torch"],
            "hidden_states": README_HIDDEN, "weights": README_WEIGHTS,
            "max_abs_diff_f32_vs_f64": spreads["max_abs_diff_f32_vs_f64"],
            "max_abs_diff_cached_vs_full": spreads["max_abs_diff_cached_vs_full"]})
        print(f"  wrote {name}: spreads {spreads}")
    summary(report)
    if args.diff:
        diff_mode(out_root, args.diff, args.fixtures)
    print(f"\nnext: python3 {os.path.relpath(__file__)} --check {out_root}")
    return 1 if report.failures else 0


# ----------------------------------------------------------------------------------------------------------------
# --compare / --make --diff (no torch)
# ----------------------------------------------------------------------------------------------------------------

def st_raw(path, name, header, base):
    start, end = header[name]["data_offsets"]
    with open(path, "rb") as f:
        f.seek(base + start)
        return f.read(end - start)


def diff_mode(made_root, ref_root, only=None):
    """Every tensor and JSON field of two fixture trees: bit-identical or how far apart. Returns 1 on a difference."""
    print(f"\n=== compare {made_root} against {ref_root}")
    differ = same = 0
    for name in fixture_names(ref_root, only):
        print(f"--- {name}")
        a_fx, b_fx = os.path.join(made_root, name), os.path.join(ref_root, name)
        files = []
        for d, _, fs in os.walk(b_fx):
            files += [os.path.relpath(os.path.join(d, f), b_fx) for f in fs]
        for rel in sorted(files):
            a, b = os.path.join(a_fx, rel), os.path.join(b_fx, rel)
            if not os.path.exists(a):
                print(f"  MISSING {rel}")
                differ += 1
                continue
            if rel.endswith(".safetensors"):
                ha, _, basea = st_header(a)
                hb, _, baseb = st_header(b)
                for n in sorted(set(ha) | set(hb), key=natural_key):
                    if n not in ha or n not in hb:
                        print(f"  DIFF    {rel} {n}: only in {'the made tree' if n in ha else 'the reference tree'}")
                        differ += 1
                    elif (ha[n]["dtype"], ha[n]["shape"]) != (hb[n]["dtype"], hb[n]["shape"]):
                        print(f"  DIFF    {rel} {n}: {ha[n]['dtype']} {ha[n]['shape']} vs {hb[n]['dtype']} {hb[n]['shape']}")
                        differ += 1
                    elif st_raw(a, n, ha, basea) == st_raw(b, n, hb, baseb):
                        same += 1
                    else:
                        va, _, _ = st_read(a, n)
                        vb, _, _ = st_read(b, n)
                        worst = max(abs(x - y) for x, y in zip(va, vb))
                        print(f"  DIFF    {rel} {n}: max abs {worst:.3e}")
                        differ += 1
            elif rel.endswith(".json"):
                ja, jb = json.load(open(a)), json.load(open(b))
                for j in (ja, jb):                           # PEFT writes a set: its order is not meaningful
                    if isinstance(j.get("target_modules"), list):
                        j["target_modules"] = sorted(j["target_modules"])
                keys = sorted(k for k in set(ja) | set(jb) if ja.get(k) != jb.get(k))
                for k in keys:
                    print(f"  DIFF    {rel} {k}: {ja.get(k)!r} vs {jb.get(k)!r}"[:300])
                differ += len(keys)
                same += not keys
            else:
                ok = open(a, "rb").read() == open(b, "rb").read()
                if not ok:
                    print(f"  DIFF    {rel} (text)")
                same, differ = same + ok, differ + (not ok)
    print(f"{same} identical, {differ} different")
    return 1 if differ else 0


def main(argv=None):
    global args_verbose
    p = argparse.ArgumentParser(description=__doc__ or "nemoh fixture generator",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", nargs="?", const=DEFAULT_DIR, metavar="DIR",
                      help="recompute and compare every committed tensor (default DIR: the repository's fixtures)")
    mode.add_argument("--make", metavar="OUT_DIR", help="build the fixtures from scratch into OUT_DIR")
    mode.add_argument("--list", nargs="?", const=DEFAULT_DIR, metavar="DIR",
                      help="without torch: every committed tensor, its recipe, coverage and recipe checks")
    mode.add_argument("--compare", nargs=2, metavar=("MADE", "REF"),
                      help="without torch: every tensor and JSON field of two fixture trees, identical or not")
    p.add_argument("--fixtures", help="comma-separated subset, e.g. moe-tiny")
    p.add_argument("--threads", type=int, default=1, help="torch/OpenMP/MKL threads (default 1)")
    p.add_argument("--tol", type=float, default=1e-6, help="tolerance, relative or absolute (default 1e-6)")
    p.add_argument("--attn", default=None, help="attn_implementation to force (default: transformers' choice)")
    p.add_argument("--moe-f64", choices=("widen", "forward"), default="widen",
                   help="logits_f64 of MoE models: widened float32 logits (as committed) or a float64 forward")
    p.add_argument("--no-deterministic", action="store_true", help="skip torch.use_deterministic_algorithms")
    p.add_argument("--report", help="--check: also write the rows as JSON here")
    p.add_argument("--dump", help="--check: write recomputed tensors (and alternatives) under this folder")
    p.add_argument("--force", action="store_true", help="--make: overwrite non-empty fixture folders")
    p.add_argument("--diff", metavar="REF", help="--make: then compare the made tree with REF (as --compare)")
    p.add_argument("--strict-recipe", action="store_true",
                   help="--check: a recipe row that differs (inputs not reproduced by the draws) fails the run")
    p.add_argument("--verbose", action="store_true", help="print the alternatives of passing tensors too")
    args = p.parse_args(argv)
    args_verbose = args.verbose
    if args.list:
        return list_mode(args.list, args.fixtures)
    if args.compare:
        return diff_mode(args.compare[0], args.compare[1], args.fixtures)
    if args.check:
        return check_mode(args.check, args)
    return make_mode(args.make, args)


if __name__ == "__main__":
    sys.exit(main())
