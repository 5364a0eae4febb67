"""GRPO throughput of the default run: steps/s, generated and trained tokens/s, sampling vs training split.

    python benchmarks/bench_train.py [--steps 60] [--threads 2] [--set model.precision=bf16 ...]

Prints numbers; asserts nothing (speed targets live here, not in timed tests). The warm start is built
or taken from the cache first and is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from scaling.config import load_run_config
from scaling.rl.state import build_state
from scaling.rl.step import collect, rl_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_run_config(None, [f"threads={args.threads}", *args.overrides])
    state = build_state(config)
    for _ in range(args.warmup):
        rl_step(state)
    before = (state.meter.generated_tokens, state.meter.trained_tokens)
    times = []
    for _ in range(args.steps):
        row = rl_step(state)
        times.append(row["step_seconds"])
    generated = state.meter.generated_tokens - before[0]
    trained = state.meter.trained_tokens - before[1]
    sampling = []
    for _ in range(max(5, args.steps // 4)):
        start = time.perf_counter()
        collect(state)
        sampling.append(time.perf_counter() - start)
    total = sum(times)
    print(f"config: precision={config.model.precision} attention={config.model.attn_implementation} "
          f"batch={config.rollout.prompts_per_step}x{config.rollout.generations_per_prompt} "
          f"max_new_tokens={config.rollout.max_new_tokens} threads={args.threads} dtypes={state.dtypes}")
    print(f"s/step median {statistics.median(times):.3f} (p10 {sorted(times)[len(times) // 10]:.3f}, "
          f"p90 {sorted(times)[9 * len(times) // 10]:.3f}); steps/s {args.steps / total:.2f}")
    print(f"sampling s/step median {statistics.median(sampling):.3f}; "
          f"training (rest) ~{statistics.median(times) - statistics.median(sampling):.3f}")
    print(f"generated tokens/s {generated / total:,.0f}; trained tokens/s {trained / total:,.0f}")


if __name__ == "__main__":
    main()
