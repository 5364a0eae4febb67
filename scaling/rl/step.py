"""One RL step: sample a batch, score it, compute advantages, and run the policy updates.

Under data parallelism every rank draws the step's prompts from an identical pool, samples its own contiguous
share of them (whole groups, its own generator) and trains on it. What must be global is gathered or summed
through the runtime: rewards (for batch-level advantage std, zero-variance statistics and the pool's records, so
pool state stays identical on all ranks), the update's denominators (scaling.rl.update), the step's metrics and
the compute meter. With one process every collective is the identity.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch

from scaling.rl.advantages import compute_advantages, zero_variance_groups
from scaling.rl.batch import Batch, join_batches, select_groups
from scaling.rl.coverage import group_coverage, solved
from scaling.rl.losses import k3_kl
from scaling.rl.engines.builtin import BuiltinEngine
from scaling.rl.rollout import Completions, decode, encode_prompts, sampling_options
from scaling.rl.state import RunState
from scaling.rl.update import SUMS, completion_logprobs, minibatches, optimizer_step, update  # noqa: F401
from scaling.runtime import peak_memory_bytes, reset_peak_memory


def soft_overlong_penalty(lengths: torch.Tensor, truncated: torch.Tensor, budget: int, buffer: int) -> torch.Tensor:
    """DAPO (Yu et al. 2025, eq. 13): 0 up to budget-buffer, then linear down to -1 at the budget, -1 beyond it.

    "Beyond the budget" is a completion cut without EOS (`truncated`): with no buffer, one that ends with EOS
    exactly at the budget is within it and is not penalised."""
    if buffer == 0:
        return torch.where(truncated, -1.0, 0.0)
    return torch.where(truncated, -1.0, ((budget - buffer - lengths) / buffer).clamp(-1.0, 0.0))


def _sample_here(state: RunState) -> tuple[list[int], torch.Tensor, torch.Tensor, Completions, int]:
    cfg = state.config
    indices = state.runtime.shard(state.pool.draw(cfg.rollout.prompts_per_step))
    ids, mask = encode_prompts(state.tokenizer, _prompts(state, indices), state.task.prompt_style,
                               device=state.runtime.device)
    engine = state.engine or BuiltinEngine(state.model)
    out = engine.sample(ids, mask, generator=state.sample_generator, repeat=cfg.rollout.generations_per_prompt,
                        **sampling_options(cfg.rollout, state.tokenizer, state.model))
    return indices, ids, mask, out, 0


def _prompts(state: RunState, indices: list[int]) -> list[str]:
    return [state.train_examples[i].prompt for i in indices]


def _sample_pipelined(state: RunState) -> tuple[list[int], torch.Tensor, torch.Tensor, Completions, int]:
    """Keep k+1 requests in flight; the oldest was requested k steps ago, so its lag is at most k."""
    pipe = state.pipeline
    while pipe.outstanding < state.config.train.pipeline_k + 1 and state.pool.remaining:
        indices = state.pool.draw(state.config.rollout.prompts_per_step)
        pipe.request(indices, _prompts(state, indices))
    got = pipe.receive()
    device = state.runtime.device  # the sampler process may sit on another device (or the CPU)
    return (got.indices, got.prompt_ids.to(device), got.prompt_mask.to(device), got.completions.to(device),
            state.meter.step - got.version)


def collect(state: RunState) -> tuple[Batch, int]:
    cfg = state.config
    group = cfg.rollout.generations_per_prompt
    sampler = _sample_pipelined if state.pipeline is not None else _sample_here
    indices, ids, mask, out, lag = sampler(state)
    examples = [state.train_examples[i] for i in indices]
    texts = decode(state.tokenizer, out)
    rewards = torch.tensor([state.task.score(examples[i // group], t) for i, t in enumerate(texts)],
                           dtype=torch.float32, device=out.tokens.device)
    rewards = rewards.view(len(examples), group)
    shaped = rewards
    if cfg.rollout.overlong == "soft_penalty":
        penalty = soft_overlong_penalty(out.lengths, out.truncated, cfg.rollout.max_new_tokens,
                                        cfg.rollout.overlong_buffer)
        shaped = rewards + penalty.view_as(rewards)
    meter = state.meter
    meter.add_forward(state.shape, ids.shape[0], 0, ids.shape[1])  # prefill, once per prompt
    meter.add_forward(state.shape, out.tokens.shape[0], ids.shape[1], out.tokens.shape[1])
    meter.generated_tokens += int(out.mask.sum())
    meter.prompts_seen += len(examples)
    meter.samples_seen += out.tokens.shape[0]
    return Batch(ids, mask, out, rewards, shaped, indices, texts), lag


def _policy_before_update(state: RunState, batch: Batch, parts: list[torch.Tensor]) -> torch.Tensor | None:
    """pi_old for the PPO ratio; None means the update's own (detached) log-probs, ratio exactly 1."""
    if state.pipeline is not None and state.config.loss.tis_cap is None:
        return batch.completions.logprobs  # PipelineRL: the ratio is taken against the stale sampler
    if state.pipeline is not None or len(parts) > 1:
        # Off-policy minibatches, or pipeline + TIS: the trainer's own pi_old, the sampler's logp for the weight.
        return old_logprobs(state, batch)
    return None


@dataclass
class Round:
    """One sampling round: this rank's batch, and what every rank needs of all ranks' batches."""
    batch: Batch
    lag: int
    zero_var: torch.Tensor      # (P,) this rank's groups whose rewards are all equal
    rewards: torch.Tensor       # (P_all, G) every rank's task rewards, in rank order
    zero_var_all: torch.Tensor  # (P_all,)
    truncated: torch.Tensor     # (B_all,)
    lengths: torch.Tensor       # (B_all,)


def _gathered(state: RunState, *tensors: torch.Tensor) -> tuple[list[torch.Tensor], int]:
    """Each tensor concatenated over ranks (rank order), and where this rank's rows start in the first one."""
    parts = state.runtime.all_gather(tensors)
    offset = sum(p[0].shape[0] for p in parts[:state.runtime.rank])
    return [torch.cat([p[i] for p in parts]) for i in range(len(tensors))], offset


def _collect_recorded(state: RunState, on_batch: Callable[[Batch], None] | None) -> Round:
    """A round. Every rank's pass rates go to no-positive-resampling and its solved prompts to the coverage count,
    so the pool stays identical on all ranks; this rank's batch goes to `on_batch` (the trajectory log)."""
    cfg = state.config
    batch, lag = collect(state)
    if on_batch is not None:
        on_batch(batch)
    comp = batch.completions
    (rewards, truncated, lengths), offset = _gathered(state, batch.rewards, comp.truncated, comp.lengths)
    indices = [i for part in state.runtime.all_gather(batch.pool_indices) for i in part]
    state.pool.mark_solved([i for i, hit in zip(indices, solved(rewards).tolist()) if hit])
    state.pool.record(indices, rewards.sum(dim=1).tolist(), cfg.rollout.generations_per_prompt,
                      cfg.train.retire_at if cfg.train.no_positive_resampling else None)
    zero_var = zero_variance_groups(rewards)  # on accuracy, as DAPO: shaping is not a signal
    return Round(batch, lag, zero_var[offset:offset + batch.groups], rewards, zero_var, truncated, lengths)


def gather(state: RunState, on_batch: Callable[[Batch], None] | None = None) -> tuple[Batch, list[int], dict]:
    """This rank's batch to train on and the groups in it to keep, with statistics over everything sampled.

    none/drop sample once (drop keeps only the groups whose rewards vary: ScaleRL). refill is DAPO's dynamic
    sampling: rounds of prompts_per_step more prompts until that many varying groups are gathered (surplus
    trimmed) or `refill_max_rounds` rounds were sampled; every round's sampling is counted as compute. Under
    data parallelism each rank fills its own share of the groups and all ranks sample the same number of rounds."""
    cfg = state.config
    mode = cfg.train.filter_zero_variance
    first = _collect_recorded(state, on_batch)
    rounds = [first]
    batch = first.batch
    if mode == "refill":
        want = len(state.runtime.shard(list(range(cfg.rollout.prompts_per_step))))
        varied = int((~first.zero_var).sum())
        while (state.runtime.any_true(varied < want) and len(rounds) < cfg.train.refill_max_rounds
               and state.pool.remaining >= state.runtime.world_size):
            rounds.append(_collect_recorded(state, on_batch))
            varied += int((~rounds[-1].zero_var).sum())
        parts = [select_groups(r.batch, [g for g in range(r.batch.groups) if not r.zero_var[g]]) for r in rounds]
        batch = join_batches(parts, state.tokenizer.pad_token_id)
        batch = select_groups(batch, list(range(min(want, batch.groups))))
        keep = list(range(batch.groups))
    else:
        keep = [g for g in range(batch.groups) if mode == "none" or not first.zero_var[g]]
    stats = {"lag": sum(r.lag for r in rounds) / len(rounds), "rounds": len(rounds),
             "groups": sum(r.rewards.shape[0] for r in rounds),
             "zero_variance": float(torch.cat([r.zero_var_all for r in rounds]).float().mean()),
             "reward": float(torch.cat([r.rewards.flatten() for r in rounds]).mean()),
             **group_coverage(torch.cat([r.rewards for r in rounds])),
             "truncated": float(torch.cat([r.truncated for r in rounds]).float().mean()),
             "response_tokens": float(torch.cat([r.lengths for r in rounds]).float().mean()),
             "spare": first.batch}
    return batch, keep, stats


def _advantages(state: RunState, batch: Batch) -> torch.Tensor:
    """This rank's advantages, normalised over every rank's batch (ScaleRL's batch std is the global batch's)."""
    (shaped,), offset = _gathered(state, batch.shaped)
    if shaped.shape[0] == 0:
        return batch.shaped.flatten()
    return compute_advantages(shaped, state.config.loss.adv_norm)[offset:offset + batch.groups].flatten()


def _updates(state: RunState, keep: list[int]) -> list[torch.Tensor]:
    """This rank's minibatches, padded with empty ones to the largest count on any rank (DDP pairs them up)."""
    cfg = state.config
    device = state.runtime.device
    parts = minibatches(keep, cfg.train.updates_per_batch, cfg.rollout.generations_per_prompt, device) if keep else []
    count = int(state.runtime.all_reduce_max([len(parts)])[0])
    return parts + [torch.zeros(0, dtype=torch.long, device=device)] * (count - len(parts))


def rl_step(state: RunState, on_batch: Callable[[Batch], None] | None = None) -> dict:
    """One step; `on_batch` sees every scored batch this rank sampled (the trajectory log)."""
    cfg = state.config
    started = time.perf_counter()
    reset_peak_memory(state.runtime)
    before = state.meter.counters()
    batch, keep, sampling = gather(state, on_batch)
    learned = learn(state, batch, keep, spare=sampling["spare"])
    if state.pipeline is not None:
        state.pipeline.publish(state.meter.step + 1)
    if state.engine is not None:  # the next step samples with the weights this one trained
        state.engine.push(state.model)
    state.meter.add_global(before, state.runtime)
    kept = state.runtime.all_reduce_sum([len(keep)])[0]
    return {"reward_mean": sampling["reward"], "zero_variance_frac": sampling["zero_variance"],
            "filtered_frac": 1.0 - kept / sampling["groups"], "sampling_rounds": sampling["rounds"],
            "retired_prompts": state.pool.retired, "pool_size": state.pool.remaining, **learned,
            "response_tokens": sampling["response_tokens"], "truncated_frac": sampling["truncated"],
            "lag_mean": float(sampling["lag"]), "step_seconds": time.perf_counter() - started,
            "peak_memory_gib": peak_memory_bytes(state.runtime) / 2**30,
            "dtype": state.dtypes, "zero_reward_frac": sampling["zero_reward_frac"],
            "full_reward_frac": sampling["full_reward_frac"], "solved_frac": state.pool.solved_frac,
            "epochs": state.meter.prompts_seen / max(len(state.train_examples), 1)}


def learn(state: RunState, batch: Batch, keep: list[int], spare: Batch | None = None) -> dict:
    """Advantages over every rank's batch, then the policy updates on this rank's kept groups; the step's
    update metrics. Every rank calls it once per step, with its own share of the groups (possibly none)."""
    cfg = state.config
    advantages = _advantages(state, batch)
    loss_mask = batch.completions.action_mask.clone()
    if cfg.rollout.overlong == "mask":
        loss_mask[batch.completions.truncated] = 0.0
    group_ids = torch.arange(batch.groups, device=state.runtime.device).repeat_interleave(cfg.rollout.generations_per_prompt)
    parts = _updates(state, keep)
    kl_monitor = monitor_kl(state, batch) if _kl_monitor_step(state) else float("nan")
    old_logp = _policy_before_update(state, batch, parts) if parts and batch.groups else None
    lr = state.scheduler.get_last_lr()[0]
    results = [update(state, rows, batch, advantages, loss_mask, group_ids, old_logp, spare=spare) for rows in parts]
    with warnings.catch_warnings():  # a step that filtered every group made no update: the clock still ticks
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        state.scheduler.step()  # the schedule's clock is the RL step, however many updates it took
    return {**_update_metrics(state, results, kl_monitor), "lr": lr}


def _update_metrics(state: RunState, results: list[dict], kl_monitor: float) -> dict:
    """Means over the step's updates of the global (all-rank) loss and token-weighted fractions."""
    nan = float("nan")
    if not results:
        return {"clip_frac": nan, "tis_truncated_frac": nan, "entropy": nan, "loss": nan, "grad_norm": nan,
                "kl_to_init": kl_monitor if state.config.loss.kl_beta == 0 else nan}
    flat = state.runtime.all_reduce_sum([r[key] for r in results for key in SUMS])
    sums = [dict(zip(SUMS, flat[i * len(SUMS):(i + 1) * len(SUMS)])) for i in range(len(results))]
    mean = lambda fn: sum(fn(s) for s in sums) / len(sums)
    per_token = lambda key: mean(lambda s: s[key] / max(s["tokens"], 1.0))
    return {"clip_frac": per_token("clip"), "tis_truncated_frac": per_token("tis_truncated"),
            "entropy": per_token("entropy"), "loss": mean(lambda s: s["loss"]), "grad_norm": results[-1]["grad_norm"],
            "kl_to_init": per_token("kl") if state.config.loss.kl_beta > 0 else kl_monitor}


def _kl_monitor_step(state: RunState) -> bool:
    cfg = state.config
    return (state.reference is not None and cfg.loss.kl_beta == 0
            and (state.meter.step + 1) % cfg.eval.every == 0)


@torch.no_grad()
def monitor_kl(state: RunState, batch: Batch) -> float:
    """k3 KL(sampling policy || initial policy) on this batch; monitoring, so not counted as training FLOPs."""
    comp = batch.completions
    local = [0.0, 0.0]
    if batch.groups:  # a rank whose groups were all filtered out still takes part in the sum
        rows = torch.arange(comp.tokens.shape[0], device=comp.tokens.device)
        ref_logp, _ = completion_logprobs(state.reference, batch, rows, state.config.rollout.temperature)
        kl = k3_kl(comp.logprobs, ref_logp)
        local = [float((kl * comp.action_mask).sum()), float(comp.action_mask.sum())]
    kl_sum, tokens = state.runtime.all_reduce_sum(local)
    return kl_sum / tokens if tokens else float("nan")


@torch.no_grad()
def old_logprobs(state: RunState, batch: Batch) -> torch.Tensor:
    """pi_old for off-policy minibatch updates: the policy before this batch's first update."""
    comp = batch.completions
    rows = torch.arange(comp.tokens.shape[0], device=comp.tokens.device)
    return completion_logprobs(state.model, batch, rows, state.config.rollout.temperature, state.meter, state.shape)[0]
