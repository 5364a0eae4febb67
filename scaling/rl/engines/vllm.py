"""vLLM as the rollout engine: an in-process `vllm.LLM` holding a copy of the policy.

- Token ids in, token ids out (`skip_tokenizer_init`): tokenization stays in the project, so both engines see
  exactly the same prompts (a saved character tokenizer does not round-trip through vLLM's tokenizer classes).
- Log-probs are vLLM's `processed_logprobs`: the temperature-scaled distribution the token was drawn from, as the
  built-in sampler records them; truncated importance sampling corrects whatever differs from the trainer's.
- Every request gets its own seed drawn from the run's sampling generator, so the seeds (not vLLM's global RNG)
  carry the run's randomness and a resumed run asks for the same seeds. vLLM does not promise bit-identical
  samples across batch compositions or kernels, so resume is exact in the seeds, not necessarily in every token.
- Weights: `push` reloads the policy's state dict into the engine (`reload_weights` through `collective_rpc`,
  which needs vLLM's in-process engine core: VLLM_ENABLE_V1_MULTIPROCESSING=0) and drops the prefix cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence

import torch

from scaling.rl.rollout import Completions, as_stop_ids

# Set before vLLM is imported: it reads them once.
_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}  # the engine core in this process: collective_rpc takes tensors
_CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}  # GiB of KV cache; vLLM-CPU's default (4) is far beyond the tiny models
GPU_MEMORY_FRACTION = 0.3  # colocated with the trainer on the same GPU: leave it the rest


class VLLMEngine:
    def __init__(self, model: torch.nn.Module, *, device: torch.device, seed: int):
        for key, value in {**_ENV, **(_CPU_ENV if device.type == "cpu" else {})}.items():
            os.environ.setdefault(key, value)
        from vllm import LLM

        # vLLM loads from a folder: the policy as it is now (a fresh model, a warm start or a resumed checkpoint).
        self.folder = tempfile.mkdtemp(prefix="scaling-vllm-")
        model.save_pretrained(self.folder)
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        extra = {"gpu_memory_utilization": GPU_MEMORY_FRACTION} if device.type == "cuda" else {"enforce_eager": True}
        self.device = device
        self.llm = LLM(model=self.folder, dtype=dtype, seed=seed, skip_tokenizer_init=True,
                       max_model_len=model.config.max_position_embeddings, logprobs_mode="processed_logprobs",
                       **extra)

    @torch.no_grad()
    def push(self, model: torch.nn.Module) -> None:
        """The engine samples with `model`'s weights from now on."""
        weights = list(model.state_dict().items())
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
        self.llm.reset_prefix_cache()  # cached prompt KV was computed with the old weights

    def close(self) -> None:
        del self.llm
        shutil.rmtree(self.folder, ignore_errors=True)

    def sample(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, max_new_tokens: int,
               temperature: float, eos_id: int | Sequence[int], pad_id: int, generator: torch.Generator | None = None,
               greedy: bool = False, interrupt_ids: list[int] | None = None, interrupt_budget: int = 0,
               repeat: int = 1, forcing=None) -> Completions:
        """`scaling.rl.rollout.sample`'s contract: `repeat` samples per prompt row (prompt-major); rows without EOS
        after `max_new_tokens` get `interrupt_ids` (forced) and `interrupt_budget` more tokens. Any of the stop ids
        (`eos_id`, one or several) ends a row, as there."""
        if forcing is not None:
            raise ValueError("forcing (budget forcing) runs on the built-in sampler only")
        prompts = [row[keep.bool()].tolist() for row, keep in zip(input_ids.cpu(), attention_mask.cpu())
                   for _ in range(repeat)]
        stops = as_stop_ids(eos_id)
        run = lambda ps, budget: self._generate(ps, budget, temperature, stops, generator, greedy)
        rows = [_Row(tokens, logps) for tokens, logps in run(prompts, max_new_tokens)]
        ended = lambda r: bool(r.tokens) and r.tokens[-1] in stops
        late = [i for i, r in enumerate(rows) if not ended(r)] if interrupt_ids else []
        if late:
            more = run([prompts[i] + rows[i].tokens + list(interrupt_ids) for i in late], interrupt_budget)
            for i, (tokens, logps) in zip(late, more):
                rows[i].extend(list(interrupt_ids), [0.0] * len(interrupt_ids), forced=True)
                rows[i].extend(tokens, logps, forced=False)
        return _completions(rows, [not ended(r) for r in rows], pad_id, bool(late), input_ids.device)

    def _generate(self, prompts: list[list[int]], budget: int, temperature: float, stops: list[int],
                  generator: torch.Generator | None, greedy: bool) -> list[tuple[list[int], list[float]]]:
        from vllm import SamplingParams, TokensPrompt

        seeds = [None] * len(prompts)
        if not greedy:  # the run's RNG decides every request's seed (and advances, so the next call differs)
            device = generator.device if generator is not None else "cpu"
            seeds = torch.randint(0, 2**31 - 1, (len(prompts),), generator=generator, device=device).tolist()
        params = [SamplingParams(n=1, temperature=0.0 if greedy else temperature, max_tokens=budget, seed=seed,
                                 logprobs=None if greedy else 0, detokenize=False, stop_token_ids=stops)
                  for seed in seeds]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)
        done = []
        for out in outputs:
            completion = out.outputs[0]
            tokens = list(completion.token_ids)
            logps = ([completion.logprobs[t][tok].logprob for t, tok in enumerate(tokens)]
                     if completion.logprobs else [0.0] * len(tokens))
            done.append((tokens, logps))
        return done


class _Row:
    def __init__(self, tokens: list[int], logps: list[float]):
        self.tokens, self.logps, self.forced = list(tokens), list(logps), [False] * len(tokens)

    def extend(self, tokens: list[int], logps: list[float], forced: bool) -> None:
        self.tokens += tokens
        self.logps += logps
        self.forced += [forced] * len(tokens)


def _completions(rows: list[_Row], truncated: list[bool], pad_id: int, interrupted: bool,
                 device: torch.device) -> Completions:
    """Rows of different lengths as the built-in sampler lays them out: padded to the longest, mask up to EOS."""
    width = max(1, max(len(r.tokens) for r in rows))
    pad = lambda values, fill: [v + [fill] * (width - len(v)) for v in values]
    tokens = torch.tensor(pad([r.tokens for r in rows], pad_id), dtype=torch.long, device=device)
    logps = torch.tensor(pad([r.logps for r in rows], 0.0), dtype=torch.float32, device=device)
    forced = torch.tensor(pad([r.forced for r in rows], False), dtype=torch.bool, device=device)
    mask = torch.tensor(pad([[1.0] * len(r.tokens) for r in rows], 0.0), dtype=torch.float32, device=device)
    return Completions(tokens=tokens, logprobs=logps, mask=mask,
                       truncated=torch.tensor(truncated, dtype=torch.bool, device=device),
                       forced=forced if interrupted else None)
