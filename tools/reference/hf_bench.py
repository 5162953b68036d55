"""Times transformers' NemotronHForCausalLM (bf16, CUDA) on a model directory, for side-by-side runs with
`nemoh bench --device cuda` on the same GPU: prefill of N random tokens (median of 3 after a warm-up) and greedy
decode tok/s after a 1024-token prompt (difference of two generate() calls, so the prompt is not counted).

    python3 tools/reference/hf_bench.py /tmp/m8 [--prefill 4096] [--decode 32]
"""
import argparse
import statistics
import time

import torch
from transformers import NemotronHForCausalLM


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prefill", type=int, default=4096)
    ap.add_argument("--decode", type=int, default=32)
    args = ap.parse_args()

    t0 = time.perf_counter()
    model = NemotronHForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, device_map="cuda").eval()
    print(f"transformers load {time.perf_counter() - t0:.1f} s on {torch.cuda.get_device_name()}", flush=True)
    vocab = model.config.vocab_size
    gen = torch.Generator(device="cuda").manual_seed(1)

    with torch.no_grad():
        ids = torch.randint(0, vocab, (1, args.prefill), device="cuda", generator=gen)
        model(ids[:, :128], logits_to_keep=1)  # warm-up
        times = [timed(lambda: model(ids, logits_to_keep=1)) for _ in range(3)]
        s = statistics.median(times)
        print(f"| transformers prefill | {args.prefill} | {s:.3f} | {args.prefill / s:.0f} |", flush=True)

        prompt = torch.randint(0, vocab, (1, 1024), device="cuda", generator=gen)
        kw = dict(do_sample=False, pad_token_id=0)
        model.generate(prompt, max_new_tokens=2, **kw)  # warm-up
        one = timed(lambda: model.generate(prompt, max_new_tokens=1, min_new_tokens=1, **kw))
        many = timed(lambda: model.generate(prompt, max_new_tokens=1 + args.decode, min_new_tokens=1 + args.decode, **kw))
        s = many - one
        print(f"| transformers decode after 1024 | {args.decode} | {s:.3f} | {args.decode / s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
