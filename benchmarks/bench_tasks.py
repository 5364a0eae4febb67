"""How long a reasoning-gym task takes to build before a run's first step, and what each prompt costs.

    python benchmarks/bench_tasks.py [--generator countdown] [--train 20000] [--val 64] [--sample 200]

The task makes its held-out entries and the first training prompts checked up front when it is built, and every
other training prompt when a step first draws it (scaling.tasks.lazy). Prints the build time, the time per entry
measured on `--sample` entries, and what building all of them up front (the previous behaviour) would take.
"""

from __future__ import annotations

import argparse
import time

from scaling.config import TaskConfig
from scaling.tasks import make_task
from scaling.tasks import reasoning_gym as rg_task


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", default="countdown")
    ap.add_argument("--train", type=int, default=20_000)
    ap.add_argument("--val", type=int, default=64)
    ap.add_argument("--sample", type=int, default=200)
    args = ap.parse_args()
    config = TaskConfig(name="reasoning_gym", dataset=args.generator, train_size=args.train, val_size=args.val)
    rg_task._cached.cache_clear()
    start = time.perf_counter()
    task = make_task(config, 0)
    built = time.perf_counter() - start
    train = task.train_examples()
    start = time.perf_counter()
    for i in range(args.train - args.sample, args.train):  # not yet made
        train[i]
    per_entry = (time.perf_counter() - start) / args.sample
    print(f"{args.generator}: {args.train} training + {args.val} held-out prompts")
    print(f"task built in {built:.2f} s ({args.val} held-out and {rg_task.UPFRONT} training prompts made)")
    print(f"{per_entry * 1e3:.1f} ms per prompt: all {args.train + args.val} up front would take "
          f"{per_entry * (args.train + args.val):.0f} s")


if __name__ == "__main__":
    main()
