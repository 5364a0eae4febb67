"""Data parallelism on CPU: a 2-process gloo run against one process, the same global batch.

    python benchmarks/bench_dp.py [--steps 30] [--warmup 3] [--layouts 1x1,1x2,ddp,fsdp] [--set rollout.prompts_per_step=32 ...]

Runs the default config's RL step (warm start off: a random policy samples full-length completions, which is
what the timing needs) four ways: one process with 1 thread, one process with 2 threads, and 2 ranks with 1
thread each, every rank sampling half of the step's prompts, under DDP and under FSDP2 (train.parallel=fsdp).
Prints steps/s; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

import torch

from scaling.config import load_run_config
from scaling.rl.state import build_state
from scaling.rl.step import rl_step
from scaling.runtime import init_runtime, shutdown_runtime


LAYOUTS = {"1x1": ("1 process, 1 thread", 1, 1, []), "1x2": ("1 process, 2 threads", 1, 2, []),
           "ddp": ("2 ranks (gloo DDP), 1 thread each", 2, 1, []),
           "fsdp": ("2 ranks (gloo FSDP2), 1 thread each", 2, 1, ["train.parallel=fsdp"])}


def measure(overrides: list[str], steps: int, warmup: int, threads: int) -> None:
    """One process's part: time `steps` RL steps after `warmup`; rank 0 prints."""
    torch.set_num_threads(threads)
    runtime = init_runtime("cpu")
    config = load_run_config(None, [f"threads={threads}", "warmstart.enabled=false", *overrides])
    state = build_state(config, runtime)
    for _ in range(warmup):
        rl_step(state)
    runtime.barrier()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        rl_step(state)
        times.append(time.perf_counter() - start)
    if runtime.is_main:
        print(f"RESULT {sum(times):.6f} {statistics.median(times):.6f}", flush=True)
    shutdown_runtime(runtime)


def launch(world: int, threads: int, args, extra: list[str]) -> tuple[float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        if world > 1:
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(port))
        command = [sys.executable, __file__, "--worker", "--threads", str(threads), "--steps", str(args.steps),
                   "--warmup", str(args.warmup)] + [f"--set={o}" for o in args.overrides + extra]
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate()[0] for p in procs]
    line = next(l for l in outputs[0].splitlines() if l.startswith("RESULT"))
    total, median = map(float, line.split()[1:])
    return args.steps / total, median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated, from " + ", ".join(LAYOUTS))
    args = parser.parse_args()
    if args.worker:
        measure(args.overrides, args.steps, args.warmup, args.threads)
        return
    config = load_run_config(None, args.overrides)
    print(f"global batch {config.rollout.prompts_per_step}x{config.rollout.generations_per_prompt}, "
          f"max_new_tokens={config.rollout.max_new_tokens}, {args.steps} timed steps; cores {os.cpu_count()}, "
          f"load average before {os.getloadavg()[0]:.1f}")
    for layout in args.layouts.split(","):
        label, world, threads, extra = LAYOUTS[layout]
        rate, median = launch(world, threads, args, extra)
        print(f"{label:36s} steps/s {rate:6.2f}   s/step median {median:.3f}")


if __name__ == "__main__":
    main()
