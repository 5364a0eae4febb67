"""GRPO step throughput on a GPU: ~100M- and ~500M-parameter Qwen2-shaped policies built from a config.

    python benchmarks/bench_gpu.py                       # both sizes on the visible GPU (bf16), or a small CPU shape
    python benchmarks/bench_gpu.py --sizes 100m --steps 20 --set model.gradient_checkpointing=true
    python benchmarks/bench_gpu.py --set rollout.engine=vllm     # sampling by vLLM (the `vllm` extra), weights pushed every step
    torchrun --nproc_per_node 4 benchmarks/bench_gpu.py  # data parallel: the same global batch over 4 ranks

Each size is a real run state (`build_state`: the policy, fp32 master weights, AdamW state on the device)
stepping the framework's own `rl_step` (sampling with the KV-cache loop, scoring, the GRPO update) on the
addition task with random weights and no warm start (nothing is downloaded; the rewards are all zero, the
update still runs in full). Prints per size: steps/s, generated and trained tokens/s, model TFLOP/s from the
run's compute meter (sampling + training passes; scaling.compute), MFU against the device's dense bf16 peak
(PEAK_BF16 below; unknown devices print no MFU) and the peak device memory of a step.

On the CPU it runs one small shape (fp32, a few steps) and says so: the numbers then only show that the
path works. Under torchrun, rank 0 prints the global throughput; compare it with a 1-GPU run of the same
global batch for the data-parallel scaling efficiency.
"""

from __future__ import annotations

import argparse
import time

from scaling.config import load_run_config
from scaling.model import count_parameters
from scaling.rl.engines import open_engine
from scaling.rl.state import build_state
from scaling.rl.step import rl_step
from scaling.runtime import device_name, init_runtime, shutdown_runtime

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' datasheets, FLOP/s; matched by substring.
PEAK_BF16 = {
    "H200": 989e12, "H100 SXM": 989e12, "H100 NVL": 835e12, "H100 PCIe": 756e12, "H100": 756e12,
    "GH200": 989e12, "B200": 2250e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12, "L40": 181e12,
    "A10G": 70e12, "A10": 125e12, "L4": 121e12, "RTX 4090": 165e12, "RTX 6000 Ada": 364e12, "MI300X": 1307e12,
}

# Qwen2-shaped (SwiGLU, RMSNorm, RoPE, q/k/v biases) at the framework's character vocabulary.
SIZES = {
    "100m": ["model.hidden_size=768", "model.layers=12", "model.heads=12", "model.intermediate_size=3072"],
    "500m": ["model.hidden_size=1280", "model.layers=24", "model.heads=20", "model.intermediate_size=3840"],
    "cpu": ["model.hidden_size=128", "model.layers=4", "model.heads=4", "model.intermediate_size=512"],
}
GPU_BATCH = ["rollout.prompts_per_step=64", "rollout.generations_per_prompt=8", "rollout.max_new_tokens=256",
             "model.max_positions=320", "model.precision=bf16", "model.attn_implementation=sdpa"]
CPU_BATCH = ["rollout.prompts_per_step=8", "rollout.generations_per_prompt=4", "rollout.max_new_tokens=32",
             "model.max_positions=64", "model.precision=fp32"]
COMMON = ["model.arch=qwen2", "warmstart.enabled=false", "train.track_kl=false", "train.filter_zero_variance=none",
          "optim.warmup_steps=0", "task.train_size=4096", "task.val_size=16"]


def peak_flops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def bench(size: str, overrides: list[str], steps: int, warmup: int, runtime) -> dict:
    batch = CPU_BATCH if not runtime.is_cuda else GPU_BATCH
    config = load_run_config(None, [*COMMON, *SIZES[size], *batch, f"device={runtime.device}", *overrides])
    state = build_state(config, runtime)
    state.engine = open_engine(config, state.model, runtime)  # rollout.engine: builtin or vllm, as a run does
    try:
        for _ in range(warmup):  # allocator, kernels, autotuning (vLLM: its first generate)
            rl_step(state)
        meter = state.meter
        before = (meter.generated_tokens, meter.trained_tokens, meter.flops)
        started = time.perf_counter()
        peaks = [rl_step(state)["peak_memory_gib"] for _ in range(steps)]  # NaN on the CPU
        seconds = time.perf_counter() - started
    finally:
        state.engine.close()
    flops = (meter.flops - before[2]) / seconds  # the meter counts every rank's work (scaling.compute)
    peak = peak_flops(device_name(runtime)) if runtime.is_cuda else None
    return {"size": size, "engine": config.rollout.engine, "params_m": count_parameters(state.model)["total"] / 1e6, "dtypes": state.dtypes,
            "steps_s": steps / seconds, "gen_tok_s": (meter.generated_tokens - before[0]) / seconds,
            "train_tok_s": (meter.trained_tokens - before[1]) / seconds, "tflops": flops / 1e12,
            "mfu": flops / (peak * runtime.world_size) if peak else float("nan"), "peak_gib": max(peaks),
            "batch": f"{config.rollout.prompts_per_step}x{config.rollout.generations_per_prompt}"
                     f"x{config.rollout.max_new_tokens}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100m,500m", help="comma-separated: 100m, 500m (GPU); the CPU runs 'cpu'")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra run-config overrides")
    args = parser.parse_args()
    runtime = init_runtime(args.device)
    sizes = args.sizes.split(",") if runtime.is_cuda else ["cpu"]
    if runtime.is_main:
        where = f"{device_name(runtime)} x {runtime.world_size}" if runtime.is_cuda else "CPU"
        print(f"device: {where}" + ("" if runtime.is_cuda else
              " -- no GPU visible: one small fp32 shape, to show the path works; not a GPU number"))
        print(f"{'size':>5} {'engine':>7} {'params':>8} {'batch':>10} {'steps/s':>8} {'gen tok/s':>10} {'train tok/s':>11} "
              f"{'TFLOP/s':>8} {'MFU':>6} {'peak GiB':>8}  dtypes")
    for size in sizes:
        r = bench(size, args.overrides, args.steps, args.warmup, runtime)
        if runtime.is_main:
            print(f"{r['size']:>5} {r['engine']:>7} {r['params_m']:>7.1f}M {r['batch']:>10} {r['steps_s']:>8.3f} {r['gen_tok_s']:>10,.0f} "
                  f"{r['train_tok_s']:>11,.0f} {r['tflops']:>8.3f} {r['mfu']:>6.1%} {r['peak_gib']:>8.2f}  {r['dtypes']}")
    shutdown_runtime(runtime)


if __name__ == "__main__":
    main()
