"""Held-out evaluation: mean@k at the sampling temperature, greedy accuracy, per-prompt counts.

The evaluation generator is re-seeded identically at every evaluation (common random numbers):
differences between two checkpoints then come from the policy, not from fresh sampling noise, and
a resumed run reproduces every row exactly. Per-prompt correct counts are stored so pass@k,
majority voting and binomial error bars can be computed later without re-running anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from scaling.model import model_device
from scaling.rl.engines.builtin import BuiltinEngine
from scaling.rl.rollout import decode, encode_prompts, sampling_options
from scaling.tasks.base import Example, Task

# Rows per sampling call: large batches amortise Python overhead, bounded for memory.
EVAL_BATCH = 1024


@dataclass
class EvalResult:
    pass_rate: float
    greedy_accuracy: float
    correct_counts: list[int]
    k: int
    mean_response_tokens: float
    seconds: float

    def row(self) -> dict:
        return {"pass_rate": self.pass_rate, "greedy_accuracy": self.greedy_accuracy,
                "eval_prompts": len(self.correct_counts), "eval_k": self.k,
                "correct_counts": self.correct_counts, "mean_response_tokens": self.mean_response_tokens,
                "eval_seconds": self.seconds}


def merge_results(parts: list[EvalResult]) -> EvalResult:
    """One result from evaluations of contiguous shards of the examples, in order (data-parallel evaluation)."""
    if len(parts) == 1:
        return parts[0]
    sizes = [len(p.correct_counts) for p in parts]
    n, k = sum(sizes), parts[0].k
    counts = [c for p in parts for c in p.correct_counts]
    weighted = lambda field: sum(getattr(p, field) * m for p, m in zip(parts, sizes)) / n
    return EvalResult(pass_rate=sum(counts) / (n * k), greedy_accuracy=weighted("greedy_accuracy"),
                      correct_counts=counts, k=k, mean_response_tokens=weighted("mean_response_tokens"),
                      seconds=max(p.seconds for p in parts))


def _score_batch(model, tokenizer, task: Task, examples: list[Example], *, k: int, greedy: bool,
                 options: dict, generator, engine=None) -> tuple[list[float], list[int]]:
    ids, mask = encode_prompts(tokenizer, [ex.prompt for ex in examples], task.prompt_style,
                               device=model_device(model))
    out = (engine or BuiltinEngine(model)).sample(ids, mask, generator=generator, greedy=greedy, repeat=k, **options)
    texts = decode(tokenizer, out)
    scores = [task.score(examples[i // k], text) for i, text in enumerate(texts)]
    return scores, out.lengths.long().tolist()


@torch.no_grad()
def evaluate(model, tokenizer, task: Task, examples: list[Example], *, k: int, greedy: bool, rollout,
             seed: int, engine=None) -> EvalResult:
    """Evaluate with the run's sampling settings (`rollout`, a RolloutConfig): budget, temperature, interruption;
    `engine` (scaling.rl.engines) samples, by default the built-in sampler on `model`."""
    options = sampling_options(rollout, tokenizer, model)
    start = time.perf_counter()
    generator = torch.Generator(device=model_device(model)).manual_seed(seed)
    per_batch = max(1, EVAL_BATCH // k)
    counts, lengths, greedy_hits = [], [], []
    for lo in range(0, len(examples), per_batch):
        chunk = examples[lo:lo + per_batch]
        scores, lens = _score_batch(model, tokenizer, task, chunk, k=k, greedy=False,
                                    options=options, generator=generator, engine=engine)
        counts += [int(sum(scores[i * k:(i + 1) * k])) for i in range(len(chunk))]
        lengths += lens
        if greedy:
            hits, _ = _score_batch(model, tokenizer, task, chunk, k=1, greedy=True,
                                   options=options, generator=None, engine=engine)
            greedy_hits += hits
    n = len(examples)
    return EvalResult(pass_rate=sum(counts) / (n * k),
                      greedy_accuracy=sum(greedy_hits) / n if greedy else float("nan"),
                      correct_counts=counts, k=k, mean_response_tokens=sum(lengths) / len(lengths),
                      seconds=time.perf_counter() - start)
