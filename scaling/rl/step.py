"""One RL step: sample a batch, score it, compute advantages, and run the policy updates."""

from __future__ import annotations

import math
import time
import warnings
from typing import Callable

import torch
from transformers import DynamicCache

from scaling.rl.advantages import compute_advantages, zero_variance_groups
from scaling.rl.batch import Batch, join_batches, select_groups
from scaling.rl.coverage import group_coverage, solved
from scaling.rl.losses import aggregation, aggregation_for, k3_kl, policy_loss
from scaling.rl.rollout import (Completions, completion_budget, decode, encode_prompts, positions, sample,
                                sampling_options, with_cache)
from scaling.rl.state import RunState


def soft_overlong_penalty(lengths: torch.Tensor, truncated: torch.Tensor, budget: int, buffer: int) -> torch.Tensor:
    """DAPO (Yu et al. 2025, eq. 13): 0 up to budget-buffer, then linear down to -1 at the budget, -1 beyond it.

    "Beyond the budget" is a completion cut without EOS (`truncated`): with no buffer, one that ends with EOS
    exactly at the budget is within it and is not penalised."""
    if buffer == 0:
        return torch.where(truncated, -1.0, 0.0)
    return torch.where(truncated, -1.0, ((budget - buffer - lengths) / buffer).clamp(-1.0, 0.0))


def _sample_here(state: RunState) -> tuple[list[int], torch.Tensor, torch.Tensor, Completions, int]:
    cfg = state.config
    indices = state.pool.draw(cfg.rollout.prompts_per_step)
    ids, mask = encode_prompts(state.tokenizer, _prompts(state, indices), state.task.prompt_style)
    out = sample(state.model, ids, mask, generator=state.sample_generator, repeat=cfg.rollout.generations_per_prompt,
                 **sampling_options(cfg.rollout, state.tokenizer))
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
    return got.indices, got.prompt_ids, got.prompt_mask, got.completions, state.meter.step - got.version


def collect(state: RunState) -> tuple[Batch, int]:
    cfg = state.config
    group = cfg.rollout.generations_per_prompt
    sampler = _sample_pipelined if state.pipeline is not None else _sample_here
    indices, ids, mask, out, lag = sampler(state)
    examples = [state.train_examples[i] for i in indices]
    texts = decode(state.tokenizer, out)
    rewards = torch.tensor([state.task.score(examples[i // group], t) for i, t in enumerate(texts)])
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


def completion_logprobs(model, batch: Batch, rows: torch.Tensor, temperature: float,
                        meter=None, shape=None, backward: bool = False) -> torch.Tensor:
    """(rows, T, V) log-probs under the temperature-scaled policy for the completions `rows` (whole groups).

    Each group's prompt goes through the model once and its KV cache is repeated for the G completions, so a
    pass costs P*L + B*(T-1) tokens instead of B*(L+T); gradients flow through the shared prompt states.
    """
    group = batch.completions.tokens.shape[0] // batch.groups
    groups = rows.view(-1, group)[:, 0] // group
    prompt_ids, prompt_mask = batch.prompt_ids[groups], batch.prompt_mask[groups]
    tokens = batch.completions.tokens[rows]
    cache = DynamicCache()
    first = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions(prompt_mask),
                  logits_to_keep=1, **with_cache(model, cache)).logits[:, -1:]
    logits = [first.repeat_interleave(group, 0)]
    width = tokens.shape[1] - 1  # the last token predicts nothing we train on
    if width > 0:
        cache.batch_repeat_interleave(group)
        attention = torch.cat([prompt_mask.repeat_interleave(group, 0), batch.completions.mask[rows].long()], dim=1)
        start = prompt_mask.sum(-1, keepdim=True).repeat_interleave(group, 0)
        logits.append(model(input_ids=tokens[:, :-1], attention_mask=attention[:, :-1],
                            position_ids=start + torch.arange(width), **with_cache(model, cache)).logits)
    if meter is not None:
        for add in ([meter.add_forward, meter.add_backward] if backward else [meter.add_forward]):
            add(shape, len(groups), 0, prompt_ids.shape[1])
            add(shape, len(rows), prompt_ids.shape[1], width)
    return torch.log_softmax(torch.cat(logits, 1).float() / temperature, dim=-1)


def _select(logp_all: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return logp_all.gather(-1, tokens[..., None]).squeeze(-1)


def update(state: RunState, rows: torch.Tensor, batch: Batch, advantages: torch.Tensor,
           loss_mask: torch.Tensor, group_ids: torch.Tensor, old_logp: torch.Tensor | None) -> dict:
    """One optimizer update on the completions `rows` of the batch."""
    cfg = state.config
    comp = batch.completions
    tokens = comp.tokens[rows]
    logp_all = completion_logprobs(state.model, batch, rows, cfg.rollout.temperature, state.meter, state.shape,
                                   backward=True)
    logp = _select(logp_all, tokens)
    mask = loss_mask[rows]
    old = logp.detach() if old_logp is None else old_logp[rows]
    per_token, clipped = policy_loss(cfg.loss.type)(logp, old, advantages[rows], mask, cfg.loss)
    stats = {"tis_truncated": 0.0}
    if cfg.loss.tis_cap is not None:
        # Sampler and trainer disagree (precision, kernels, staleness): reweight by their ratio, capped.
        weight = torch.exp(old - comp.logprobs[rows])
        stats["tis_truncated"] = float(((weight > cfg.loss.tis_cap).float() * mask).sum() / mask.sum().clamp(min=1))
        per_token = per_token * weight.clamp(max=cfg.loss.tis_cap)
    if cfg.loss.kl_beta > 0:
        with torch.no_grad():
            ref_all = completion_logprobs(state.reference, batch, rows, cfg.rollout.temperature, state.meter, state.shape)
        kl = k3_kl(logp, _select(ref_all, tokens))
        per_token = per_token + cfg.loss.kl_beta * kl
        stats["kl"] = float((kl.detach() * mask).sum() / mask.sum().clamp(min=1))
    loss = aggregation(aggregation_for(cfg.loss))(per_token, mask, group_ids[rows],
                                                  completion_budget(cfg.rollout, state.tokenizer))
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite loss ({loss.item()}) at step {state.meter.step + 1}")
    grad_norm = optimizer_step(state, loss)
    with torch.no_grad():
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    n_tok = mask.sum().clamp(min=1)
    state.meter.trained_tokens += int(mask.sum())
    return {"loss": float(loss.detach()), "grad_norm": grad_norm, "clip": float((clipped.float() * mask).sum() / n_tok),
            "entropy": float((entropy * mask).sum() / n_tok), **stats}


def optimizer_step(state: RunState, loss: torch.Tensor) -> float:
    """Backward, fp32 master gradients, clipping, the (loss-scaled) optimizer step; returns the grad norm."""
    cfg = state.config
    state.optimizer.zero_grad(set_to_none=True)
    (state.scaler.scale(loss) if state.scaler else loss).backward()
    state.master.grads_to_master()
    if state.scaler:
        state.scaler.unscale_(state.optimizer)
    grad_norm = float(torch.nn.utils.clip_grad_norm_(state.master.master, cfg.optim.grad_clip))
    if not math.isfinite(grad_norm) and state.scaler is None:
        raise FloatingPointError(f"non-finite gradient norm at step {state.meter.step + 1}")
    if state.scaler:
        state.scaler.step(state.optimizer)  # skips the update on inf/NaN and lowers the scale
        state.scaler.update()
    else:
        state.optimizer.step()
    state.master.master_to_model()
    return grad_norm


def minibatches(kept_groups: list[int], count: int, group: int) -> list[torch.Tensor]:
    """Split whole groups into `count` minibatches of completion rows (prompt_mean needs whole groups)."""
    chunks = [kept_groups[i::count] for i in range(count)]
    return [torch.tensor([g * group + j for g in sorted(chunk) for j in range(group)]) for chunk in chunks if chunk]


def _policy_before_update(state: RunState, batch: Batch, parts: list[torch.Tensor]) -> torch.Tensor | None:
    """pi_old for the PPO ratio; None means the update's own (detached) log-probs, ratio exactly 1."""
    if state.pipeline is not None and state.config.loss.tis_cap is None:
        return batch.completions.logprobs  # PipelineRL: the ratio is taken against the stale sampler
    if state.pipeline is not None or len(parts) > 1:
        # Off-policy minibatches, or pipeline + TIS: the trainer's own pi_old, the sampler's logp for the weight.
        return old_logprobs(state, batch)
    return None


def _collect_recorded(state: RunState, on_batch: Callable[[Batch], None] | None) -> tuple[Batch, int, torch.Tensor]:
    """A batch, its lag and its zero-variance groups; its pass rates go to no-positive-resampling, its solved
    prompts to the coverage count, the batch itself to `on_batch` (the trajectory log)."""
    cfg = state.config
    batch, lag = collect(state)
    if on_batch is not None:
        on_batch(batch)
    state.pool.mark_solved([i for i, hit in zip(batch.pool_indices, solved(batch.rewards).tolist()) if hit])
    state.pool.record(batch.pool_indices, batch.rewards.sum(dim=1).tolist(), cfg.rollout.generations_per_prompt,
                      cfg.train.retire_at if cfg.train.no_positive_resampling else None)
    return batch, lag, zero_variance_groups(batch.rewards)  # on accuracy, as DAPO: shaping is not a signal


def gather(state: RunState, on_batch: Callable[[Batch], None] | None = None) -> tuple[Batch, list[int], dict]:
    """The batch to train on and the groups in it to keep, with statistics over everything sampled.

    none/drop sample once (drop keeps only the groups whose rewards vary: ScaleRL). refill is DAPO's dynamic
    sampling: rounds of prompts_per_step more prompts until that many varying groups are gathered (surplus
    trimmed) or `refill_max_rounds` rounds were sampled; every round's sampling is counted as compute."""
    cfg = state.config
    mode = cfg.train.filter_zero_variance
    batch, lag, zero_var = _collect_recorded(state, on_batch)
    rounds = [(batch, lag, zero_var)]
    if mode == "refill":
        want, varied = cfg.rollout.prompts_per_step, int((~zero_var).sum())
        while varied < want and len(rounds) < cfg.train.refill_max_rounds and state.pool.remaining:
            rounds.append(_collect_recorded(state, on_batch))
            varied += int((~rounds[-1][2]).sum())
        parts = [select_groups(b, [g for g in range(b.groups) if not z[g]]) for b, _, z in rounds]
        batch = join_batches(parts, state.tokenizer.pad_token_id)
        batch = select_groups(batch, list(range(min(want, batch.groups))))
        keep = list(range(batch.groups))
    else:
        keep = [g for g in range(batch.groups) if mode == "none" or not zero_var[g]]
    comps = [b.completions for b, _, _ in rounds]
    stats = {"lag": sum(r[1] for r in rounds) / len(rounds), "rounds": len(rounds),
             "groups": sum(b.groups for b, _, _ in rounds),
             "zero_variance": float(torch.cat([z for _, _, z in rounds]).float().mean()),
             "reward": float(torch.cat([b.rewards.flatten() for b, _, _ in rounds]).mean()),
             **group_coverage(torch.cat([b.rewards for b, _, _ in rounds])),
             "truncated": float(torch.cat([c.truncated for c in comps]).float().mean()),
             "response_tokens": float(torch.cat([c.lengths for c in comps]).float().mean())}
    return batch, keep, stats


def rl_step(state: RunState, on_batch: Callable[[Batch], None] | None = None) -> dict:
    """One step; `on_batch` sees every scored batch sampled (the trajectory log)."""
    cfg = state.config
    started = time.perf_counter()
    batch, keep, sampling = gather(state, on_batch)
    group = cfg.rollout.generations_per_prompt
    advantages = compute_advantages(batch.shaped, cfg.loss.adv_norm).flatten() if batch.groups else batch.shaped.flatten()
    loss_mask = batch.completions.action_mask.clone()
    if cfg.rollout.overlong == "mask":
        loss_mask[batch.completions.truncated] = 0.0
    group_ids = torch.arange(batch.groups).repeat_interleave(group)
    parts = minibatches(keep, cfg.train.updates_per_batch, group) if keep else []
    kl_monitor = monitor_kl(state, batch) if _kl_monitor_step(state) and batch.groups else float("nan")
    old_logp = _policy_before_update(state, batch, parts) if parts else None
    lr = state.scheduler.get_last_lr()[0]
    results = [update(state, rows, batch, advantages, loss_mask, group_ids, old_logp) for rows in parts]
    with warnings.catch_warnings():  # a step that filtered every group made no update: the clock still ticks
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        state.scheduler.step()  # the schedule's clock is the RL step, however many updates it took
    if state.pipeline is not None:
        state.pipeline.publish(state.meter.step + 1)
    mean = lambda key: sum(r[key] for r in results) / len(results) if results else float("nan")
    return {"reward_mean": sampling["reward"], "zero_variance_frac": sampling["zero_variance"],
            "filtered_frac": 1.0 - len(keep) / sampling["groups"], "sampling_rounds": sampling["rounds"],
            "retired_prompts": state.pool.retired,
            "pool_size": state.pool.remaining, "clip_frac": mean("clip"), "tis_truncated_frac": mean("tis_truncated"),
            "entropy": mean("entropy"), "kl_to_init": mean("kl") if cfg.loss.kl_beta > 0 else kl_monitor,
            "response_tokens": sampling["response_tokens"], "truncated_frac": sampling["truncated"],
            "grad_norm": results[-1]["grad_norm"] if results else float("nan"), "loss": mean("loss"),
            "lag_mean": float(sampling["lag"]), "lr": lr, "step_seconds": time.perf_counter() - started,
            "dtype": state.dtypes, "zero_reward_frac": sampling["zero_reward_frac"],
            "full_reward_frac": sampling["full_reward_frac"], "solved_frac": state.pool.solved_frac,
            "epochs": state.meter.prompts_seen / max(len(state.train_examples), 1)}


def _kl_monitor_step(state: RunState) -> bool:
    cfg = state.config
    return (state.reference is not None and cfg.loss.kl_beta == 0
            and (state.meter.step + 1) % cfg.eval.every == 0)


@torch.no_grad()
def monitor_kl(state: RunState, batch: Batch) -> float:
    """k3 KL(sampling policy || initial policy) on this batch; monitoring, so not counted as training FLOPs."""
    comp = batch.completions
    rows = torch.arange(comp.tokens.shape[0])
    ref_all = completion_logprobs(state.reference, batch, rows, state.config.rollout.temperature)
    kl = k3_kl(comp.logprobs, _select(ref_all, comp.tokens))
    mask = comp.action_mask
    return float((kl * mask).sum() / mask.sum().clamp(min=1))


@torch.no_grad()
def old_logprobs(state: RunState, batch: Batch) -> torch.Tensor:
    """pi_old for off-policy minibatch updates: the policy before this batch's first update."""
    comp = batch.completions
    rows = torch.arange(comp.tokens.shape[0])
    logp_all = completion_logprobs(state.model, batch, rows, state.config.rollout.temperature, state.meter, state.shape)
    return _select(logp_all, comp.tokens)
