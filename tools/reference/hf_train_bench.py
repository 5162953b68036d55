"""Times fine-tuning steps of transformers' NemotronHForCausalLM (+ PEFT LoRA) on the GPU, for side-by-side runs with
`nemoh train-bench --device cuda` on the same model directory and GPU: bf16 weights, random tokens, loss over every
position, torch AdamW (betas 0.9/0.95, weight decay 0.1), one warm-up step, then the median step time of the timed
steps; prints tok/s and the peak of torch.cuda.max_memory_allocated. Out of memory is reported as such.

    python3 tools/reference/hf_train_bench.py /tmp/m8 --seq-len 4096 --lora-r 16
    python3 tools/reference/hf_train_bench.py /tmp/m4 --seq-len 4096            # every weight trains

LoRA targets in_proj, q/k/v/o_proj and up/down_proj: PEFT refuses the Mamba out_proj (nemoh also adapts it).
"""
import argparse
import statistics
import time

import torch
from transformers import NemotronHForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--seq-len", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lora-r", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    model = NemotronHForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, device_map="cuda")
    if args.lora_r > 0:
        from peft import LoraConfig, get_peft_model
        cfg = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0,
                         target_modules=["in_proj", "q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"])
        model = get_peft_model(model, cfg)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n = sum(p.numel() for p in trainable)
    what = f"LoRA r={args.lora_r}" if args.lora_r else "every weight"
    print(f"transformers {what}: {n:,} trainable parameters, loaded in {time.perf_counter() - t0:.1f} s on "
          f"{torch.cuda.get_device_name()}", flush=True)
    opt = torch.optim.AdamW(trainable, lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1)
    gen = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq_len), device="cuda", generator=gen)

    def step():
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    tokens = args.batch * args.seq_len
    try:
        torch.cuda.reset_peak_memory_stats()
        step()  # warm-up
        times = []
        for _ in range(args.steps):
            torch.cuda.synchronize()
            t = time.perf_counter()
            loss = step()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        s = statistics.median(times)
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f"| transformers {what} | {args.batch} x {args.seq_len} | {s:.3f} s | {tokens / s:.0f} tok/s | "
              f"{peak:.1f} GiB | loss {loss:.4f} |", flush=True)
    except torch.OutOfMemoryError:
        print(f"| transformers {what} | {args.batch} x {args.seq_len} | out of memory | | "
              f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB | |", flush=True)


if __name__ == "__main__":
    main()
