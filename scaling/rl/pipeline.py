"""PipelineRL-k (ScaleRL, Khatri et al. 2025; Piché et al. 2025): sampling and training overlap.

A sampler process generates batches with weights at most k optimizer steps stale while the trainer
trains; after every update the trainer publishes its weights to shared memory and the sampler
picks them up before its next batch. On a 2-core CPU this is real parallelism: sampling is about a
third of a synchronous step.

Staleness is bounded by keeping at most k batch requests ahead of the trainer: a batch requested
while the trainer is at version v is sampled with weights >= v - 0 and consumed at version <= v + k.
The order in which the sampler sees weight versions depends on timing, so runs with k > 0 are not
bit-reproducible (k = 0, the synchronous loop, is).
"""

from __future__ import annotations

import queue
from dataclasses import dataclass

import torch
import torch.multiprocessing as mp

from scaling.config import RunConfig
from scaling.rl.rollout import Completions, encode_prompts, sample, sampling_options

# Seconds to wait for the sampler before declaring it dead (its first batch includes start-up).
TIMEOUT = 600
POLL = 2.0


@dataclass
class Sampled:
    indices: list[int]
    prompt_ids: torch.Tensor     # (P, L): one row per prompt, shared by its group
    prompt_mask: torch.Tensor
    completions: Completions
    version: int


def _sampler_main(config_tree: dict, base_path, shared: list[torch.Tensor], version, lock,
                  requests, results, threads: int) -> None:
    from scaling.config import build_config
    from scaling.model import make_policy
    from scaling.rl.precision import apply_precision
    from scaling.tasks.base import PromptStyle

    torch.set_num_threads(threads)
    config = build_config(config_tree)
    model, tokenizer = make_policy(config.model, config.warmstart_seed, path=base_path)
    apply_precision(model, config.model.precision)
    model.eval()
    params = list(model.state_dict().values())
    generator = torch.Generator().manual_seed(config.seed + 7919)
    options = sampling_options(config.rollout, tokenizer)
    style = PromptStyle.of(config.task)
    seen = -1
    while (request := requests.get()) is not None:
        indices, prompts = request
        with lock:
            if version.value != seen:
                for target, source in zip(params, shared):
                    target.copy_(source)
                seen = version.value
        ids, mask = encode_prompts(tokenizer, prompts, style)
        out = sample(model, ids, mask, generator=generator, repeat=config.rollout.generations_per_prompt, **options)
        results.put(Sampled(indices, ids, mask, out, seen))


class PipelineSampler:
    """The trainer's handle on the sampler process."""

    def __init__(self, config: RunConfig, base_path, model: torch.nn.Module, threads: int, version: int):
        ctx = mp.get_context("spawn")
        self.model = model
        self.shared = [t.detach().clone().share_memory_() for t in model.state_dict().values()]
        self.version, self.lock = ctx.Value("l", version), ctx.Lock()
        self.requests, self.results = ctx.Queue(), ctx.Queue()
        self.outstanding = 0
        self.process = ctx.Process(target=_sampler_main, daemon=True,
                                   args=(config.to_dict(), base_path, self.shared, self.version, self.lock,
                                         self.requests, self.results, threads))
        self.process.start()

    def request(self, indices: list[int], prompts: list[str]) -> None:
        self.requests.put((indices, prompts))
        self.outstanding += 1

    def receive(self) -> Sampled:
        waited = 0.0
        while True:
            try:
                result = self.results.get(timeout=POLL)
                break
            except queue.Empty:
                waited += POLL
                if not self.process.is_alive():  # e.g. it could not import the launching script (spawn)
                    raise RuntimeError(f"PipelineRL sampler process exited (code {self.process.exitcode})") from None
                if waited >= TIMEOUT:
                    raise RuntimeError(f"PipelineRL sampler sent nothing for {TIMEOUT} s") from None
        self.outstanding -= 1
        return result

    @torch.no_grad()
    def publish(self, version: int) -> None:
        """Copy the trainer's weights to the sampler after an update."""
        with self.lock:
            for target, source in zip(self.shared, self.model.state_dict().values()):
                target.copy_(source)
            self.version.value = version

    def close(self) -> None:
        if self.process.is_alive():
            self.requests.put(None)
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
