"""Generated tokens/s of the two rollout engines (rollout.engine: builtin | vllm) on the same policy and prompts.

    OMP_NUM_THREADS=2 .venv-vllm/bin/python benchmarks/bench_engines.py [--device cpu|cuda] [--rounds 8]
        [--batches 16x8,128x8] [--set model.hidden_size=256 ...]

The policy is the run config's model (random weights, so completions run most of their budget; the
same for both engines), prompts are the task's first training prompts. Per engine and batch (prompts x samples):
median seconds per sampling call after one warm-up call, and generated tokens/s. vLLM needs its environment
(tests/rl/engines/setup_vllm.sh on CPU; `pip install 'scaling[vllm]'` on a GPU machine).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from scaling.config import RunConfig
from scaling.model import make_policy
from scaling.rl.engines.builtin import BuiltinEngine
from scaling.rl.rollout import encode_prompts
from scaling.tasks import make_task


def _time(engine, ids, mask, repeat: int, options: dict, rounds: int, device) -> tuple[float, float]:
    generator = torch.Generator(device=device).manual_seed(0)
    times, tokens = [], []
    for i in range(rounds + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = engine.sample(ids, mask, generator=generator, repeat=repeat, **options)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:  # the first call warms up (vLLM compiles its sampler on its first generate)
            times.append(time.perf_counter() - start)
            tokens.append(float(out.mask.sum()))
    median = statistics.median(times)
    return median, statistics.median(tokens) / median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batches", default="16x8,128x8", help="prompts x samples per call, comma-separated")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--engines", default="builtin,vllm")
    parser.add_argument("--set", action="append", default=[], help="config overrides, e.g. model.hidden_size=256")
    args = parser.parse_args()
    tree: dict = {}
    for item in args.set:
        key, value = item.split("=", 1)
        node = tree
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
        node[key.split(".")[-1]] = value
    config = RunConfig.model_validate(tree)
    device = torch.device(args.device)
    model, tok = make_policy(config.model, config.warmstart_seed)
    model.to(device).eval()
    prompts = [ex.prompt for ex in make_task(config.task, config.warmstart_seed).train_examples()]
    options = {"max_new_tokens": args.max_new_tokens, "temperature": 1.0, "eos_id": tok.eos_token_id, "pad_id": tok.pad_token_id}
    print(f"model {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, {device}, "
          f"{torch.get_num_threads()} threads, max_new_tokens {args.max_new_tokens}")
    for name in args.engines.split(","):
        if name == "vllm":
            from scaling.rl.engines.vllm import VLLMEngine

            started = time.perf_counter()
            engine = VLLMEngine(model, device=device, seed=0)
            print(f"vllm engine start {time.perf_counter() - started:.1f} s")
        else:
            engine = BuiltinEngine(model)
        for batch in args.batches.split(","):
            n, repeat = (int(x) for x in batch.split("x"))
            ids, mask = encode_prompts(tok, prompts[:n], None, device=device)
            seconds, rate = _time(engine, ids, mask, repeat, options, args.rounds, device)
            print(f"{name:8s} {n:4d} prompts x {repeat} samples: {seconds * 1000:8.1f} ms/call  {rate:10,.0f} tokens/s")
        engine.close()


if __name__ == "__main__":
    main()
