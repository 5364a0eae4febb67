"""Peak memory of one training micro-batch (forward + backward) at a large vocabulary: full logits vs chunked head.

    python benchmarks/bench_memory.py                        # Qwen2-shaped, vocab 151,936, 2 rows x 1,024 tokens
    python benchmarks/bench_memory.py --rows 4 --tokens 4096 --hidden 896 --layers 4 --precision bf16 --device cuda
    python benchmarks/bench_memory.py --tiny-rounds 200      # speed instead: both passes on the tiny default model

Two variants of the same training pass on the same model and batch, each in a fresh subprocess:
- `full_logits`: the pass as it was before: the model's own forward returns (rows, T, vocab) logits for the
  completion positions (a shared prompt KV cache, as the framework does), then the chunked selective log-softmax
  (scaling.rl.logprobs.selective_logprobs), which autograd keeps the logits for.
- `chunked`: the framework's pass (scaling.rl.update.completion_logprobs): the decoder body to hidden states,
  the LM head applied a chunk of completion positions at a time under activation checkpointing.
On CUDA the peak is torch.cuda.max_memory_allocated (scaling.runtime.peak_memory_bytes); on the CPU, where
the allocator keeps no statistics, it is the process's peak resident set (getrusage) above its resident set
just before the pass. Prints numbers; asserts nothing. The weights are random (nothing is downloaded).

`--tiny-rounds R` times the two passes (forward + backward) instead, on the default run's tiny model and batch
shape (16 prompts x 8 samples, 8 new tokens), alternating them R times in one process so that a shared machine's
load hits both alike; it prints the median of each and the median of the paired ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from transformers import DynamicCache, Qwen2Config, Qwen2ForCausalLM

from scaling.config import ModelConfig
from scaling.model import make_policy
from scaling.rl.batch import Batch
from scaling.rl.logprobs import selective_logprobs
from scaling.rl.precision import apply_precision
from scaling.rl.rollout import Completions, encode_prompts, positions, sample, with_cache
from scaling.rl.update import completion_logprobs
from scaling.runtime import init_runtime, peak_memory_bytes, reset_peak_memory

VARIANTS = ("full_logits", "chunked")
MIB = 2 ** 20


def _full_logits(model, batch: Batch, group: int, temperature: float):
    prompt_ids, prompt_mask, tokens = batch.prompt_ids, batch.prompt_mask, batch.completions.tokens
    cache = DynamicCache()
    first = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions(prompt_mask),
                  logits_to_keep=1, **with_cache(model, cache)).logits[:, -1:]
    cache.batch_repeat_interleave(group)
    attention = torch.cat([prompt_mask.repeat_interleave(group, 0), batch.completions.mask.long()], 1)
    start = prompt_mask.sum(-1, keepdim=True).repeat_interleave(group, 0)
    rest = model(input_ids=tokens[:, :-1], attention_mask=attention[:, :-1],
                 position_ids=start + torch.arange(tokens.shape[1] - 1, device=start.device),
                 **with_cache(model, cache)).logits
    return selective_logprobs(torch.cat([first.repeat_interleave(group, 0), rest], 1), tokens, temperature)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run_variant(args) -> dict:
    runtime = init_runtime(args.device)
    torch.set_num_threads(args.threads)
    config = Qwen2Config(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=4 * args.hidden,
                         num_hidden_layers=args.layers, num_attention_heads=max(1, args.hidden // 64),
                         num_key_value_heads=max(1, args.hidden // 64), max_position_embeddings=args.prompt + args.tokens,
                         tie_word_embeddings=True)
    with torch.device("cpu"):
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(config).eval()
    model = apply_precision(model, args.precision).to(runtime.device)
    gen = torch.Generator(device=runtime.device).manual_seed(0)
    dev = runtime.device
    prompt_ids = torch.randint(0, args.vocab, (1, args.prompt), generator=gen, device=dev)
    tokens = torch.randint(0, args.vocab, (args.rows, args.tokens), generator=gen, device=dev)
    ones = torch.ones(args.rows, args.tokens, device=dev)
    completions = Completions(tokens, torch.zeros_like(ones), ones, torch.zeros(args.rows, dtype=torch.bool, device=dev))
    batch = Batch(prompt_ids, torch.ones_like(prompt_ids), completions, torch.zeros(1, args.rows, device=dev),
                  torch.zeros(1, args.rows, device=dev), [0])
    rows = torch.arange(args.rows, device=dev)
    weights = torch.randn(args.rows, args.tokens, generator=gen, device=dev)
    before = _rss_bytes()
    reset_peak_memory(runtime)
    start = time.perf_counter()
    if args.variant == "full_logits":
        logp, _ = _full_logits(model, batch, args.rows, 1.0)
    else:
        logp, _ = completion_logprobs(model, batch, rows, 1.0, backward=True)
    (logp * weights).sum().backward()
    if runtime.is_cuda:
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"variant": args.variant, "device": str(dev), "seconds": seconds,
            "peak_device_mib": peak_memory_bytes(runtime) / MIB,
            "peak_rss_mib": peak_rss / MIB, "pass_rss_mib": (peak_rss - before) / MIB,
            "logits_mib": args.rows * args.tokens * args.vocab * 4 / MIB}


def time_tiny(rounds: int, threads: int) -> None:
    torch.set_num_threads(threads)
    model, tok = make_policy(ModelConfig(), seed=0)
    prompts, group = [f"{i}+{2 * i + 7}=" for i in range(16)], 8
    ids, mask = encode_prompts(tok, prompts)
    out = sample(model, ids, mask, max_new_tokens=8, temperature=1.0, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, generator=torch.Generator(device="cpu").manual_seed(0), repeat=group)
    batch = Batch(ids, mask, out, torch.zeros(16, group), torch.zeros(16, group), list(range(16)))
    rows = torch.arange(16 * group)
    passes = {"full_logits": lambda: _full_logits(model, batch, group, 1.0)[0],
              "chunked": lambda: completion_logprobs(model, batch, rows, 1.0, backward=True)[0]}
    seconds = {name: [] for name in passes}
    for _ in range(rounds + 5):  # the first 5 rounds warm up
        for name, run in passes.items():
            start = time.perf_counter()
            (run() * out.mask).sum().backward()
            model.zero_grad(set_to_none=True)
            seconds[name].append(time.perf_counter() - start)
    seconds = {name: times[5:] for name, times in seconds.items()}
    ratios = [c / f for c, f in zip(seconds["chunked"], seconds["full_logits"])]
    print(f"tiny default (llama 128x4, vocab {len(tok)}), 16x8 rows x {out.tokens.shape[1]} tokens, {threads} threads, "
          f"{rounds} alternating rounds: training pass (forward + backward) median "
          + ", ".join(f"{name} {1e3 * statistics.median(t):.2f} ms" for name, t in seconds.items())
          + f"; chunked/full_logits median paired ratio {statistics.median(ratios):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=151_936)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=1024, help="completion tokens per row")
    parser.add_argument("--rows", type=int, default=2, help="completions in the micro-batch (one group)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "fp32_lm_head"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", choices=VARIANTS, help="run one variant in this process (internal)")
    parser.add_argument("--tiny-rounds", type=int, default=0, help="time both passes on the tiny default model")
    args = parser.parse_args()
    if args.tiny_rounds:
        time_tiny(args.tiny_rounds, args.threads)
        return
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    print(f"Qwen2 hidden={args.hidden} layers={args.layers} vocab={args.vocab:,} precision={args.precision}; "
          f"micro-batch {args.rows} rows x {args.tokens} completion tokens (+{args.prompt} prompt); "
          f"one fp32 (rows, T, vocab) tensor is {args.rows * args.tokens * args.vocab * 4 / MIB:,.0f} MiB")
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--variant", variant],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        device = f"peak device {r['peak_device_mib']:,.0f} MiB; " if r["device"].startswith("cuda") else ""
        print(f"{variant:12s} {device}peak RSS {r['peak_rss_mib']:,.0f} MiB ({r['pass_rss_mib']:,.0f} MiB above "
              f"the RSS before the pass); forward+backward {r['seconds']:.2f} s on {r['device']}")


if __name__ == "__main__":
    main()
