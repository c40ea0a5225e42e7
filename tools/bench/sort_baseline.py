"""Sort-based top-k -> top-p masking in PyTorch, timed like `samplejit bench` (same grid, peaked
logits, k=50, p=0.9, CUDA events, L2 flushed, median). Our own code: the usual engine recipe of a
full sort, a k-th value threshold, a cumulative softmax and a scatter back."""
import json
import sys

import torch


def sort_top_k_top_p(logits, k, p):
    vals, idx = torch.sort(logits, dim=-1, descending=True)
    ranks = torch.arange(vals.shape[-1], device=logits.device).unsqueeze(0)
    vals = vals.masked_fill(ranks >= k.unsqueeze(1), float("-inf"))
    probs = torch.softmax(vals.float(), dim=-1)
    ahead = torch.cumsum(probs, dim=-1) - probs
    vals = vals.masked_fill((ahead >= p.unsqueeze(1)) & (ranks > 0), float("-inf"))
    logits.scatter_(-1, idx, vals)
    return logits


def peaked(batch, vocab, dtype, gen):
    x = torch.randn(batch, vocab, device="cuda", generator=gen) * 2.0 - 4.0
    cols = torch.randint(0, vocab, (batch, 8), device="cuda", generator=gen)
    x.scatter_(1, cols, 8.0 + 6.0 * torch.rand(batch, 8, device="cuda", generator=gen))
    return x.to(dtype)


def median_us(fn, restore, reps):
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    times = []
    for i in range(reps + 3):
        restore()
        flush.fill_(i & 255)
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(a.elapsed_time(b) * 1000.0)
    times.sort()
    return times[len(times) // 2]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    gen = torch.Generator(device="cuda").manual_seed(1)
    cells = []
    print("| dtype | V | B | sort-based us |\n|---|---|---|---|")
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        for vocab in (32000, 128256, 151936):
            for batch in (1, 8, 32, 128, 256, 1024):
                src = peaked(batch, vocab, dtype, gen)
                work = src.clone()
                k = torch.full((batch,), 50, device="cuda", dtype=torch.long)
                p = torch.full((batch,), 0.9, device="cuda", dtype=torch.float32)
                us = median_us(lambda: sort_top_k_top_p(work, k, p), lambda: work.copy_(src), reps)
                cells.append({"dtype": name, "vocab": vocab, "batch": batch, "sort_us": us})
                print(f"| {name} | {vocab} | {batch} | {us:.1f} |", flush=True)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump(cells, f, indent=2)


if __name__ == "__main__":
    main()
