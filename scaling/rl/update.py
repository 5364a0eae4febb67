"""One optimizer update on a set of completion rows: micro-batched forward/backward, clipping, the step.

The update's loss is the aggregation over all its rows, on every rank. Each micro-batch (`train.micro_batch_size`
rows, whole groups) computes its share: the aggregation with the whole update's denominators (a `Normaliser`
summed over micro-batches and ranks), so the accumulated gradient is the full-batch gradient. Under data
parallelism the policy's log-prob pass is wrapped in DDP, which averages gradients over ranks; each rank's
share is multiplied by the world size so that the average is the sum of the shares, the single-process gradient.
"""

from __future__ import annotations

import contextlib
import math

import torch
from transformers import DynamicCache

from scaling.model import checkpoints_activations, head_replaced
from scaling.rl.fsdp import is_sharded
from scaling.rl.logprobs import head_logprobs
from scaling.rl.losses import Normaliser, aggregation, aggregation_for, k3_kl, policy_loss
from scaling.rl.rollout import completion_budget, positions, with_cache

# Per-update sums that become the step's metrics once summed over micro-batches and ranks.
SUMS = ("loss", "tokens", "clip", "entropy", "kl", "tis_truncated")


def completion_logprobs(model, batch, rows: torch.Tensor, temperature: float,
                        meter=None, shape=None, backward: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, T) log-probs of the completions `rows` (whole groups) under the temperature-scaled policy, and the
    policy's entropy at each position (detached), without (rows, T, vocab) logits or log-softmax in memory.

    The model's forward runs with a stand-in for its LM head (scaling.model.head_replaced), so it yields final hidden
    states; only the T positions that predict completion tokens go through the real head, a chunk at a time
    (scaling.rl.logprobs.head_logprobs). Each group's prompt goes through the model once and its KV cache is
    repeated for the G completions, so a pass costs P*L + B*(T-1) tokens instead of B*(L+T); gradients flow
    through the shared prompt states. With gradient checkpointing the layers keep no cache, and under FSDP each
    forward is a collective, so a training pass (`backward`) then runs whole sequences in one forward.
    """
    group = batch.completions.tokens.shape[0] // batch.groups
    groups = rows.view(-1, group)[:, 0] // group
    prompt_ids, prompt_mask = batch.prompt_ids[groups], batch.prompt_mask[groups]
    tokens = batch.completions.tokens[rows]
    width = tokens.shape[1] - 1  # the last token predicts nothing we train on
    attention = torch.cat([prompt_mask.repeat_interleave(group, 0), batch.completions.mask[rows].long()], dim=1)
    if meter is not None:
        _count_pass(meter, shape, model, batch, rows, backward)
    head = model.get_output_embeddings()
    if _whole_sequences(model, backward):
        inputs = torch.cat([prompt_ids.repeat_interleave(group, 0), tokens[:, :-1]], dim=1)
        mask = attention[:, :inputs.shape[1]]
        # The log-probs are computed inside the one forward: under FSDP the head's parameters are gathered only there.
        project = lambda hidden: torch.stack(head_logprobs(hidden, head, tokens, temperature), -1)
        with head_replaced(model, project):
            out = model(input_ids=inputs, attention_mask=mask, position_ids=positions(mask), use_cache=False,
                        logits_to_keep=width + 1).logits
        return out[..., 0], out[..., 1].detach()
    cache = DynamicCache()
    with head_replaced(model):  # the forwards return final hidden states
        last = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions(prompt_mask),
                     logits_to_keep=1, **with_cache(model, cache)).logits
        hidden = [last.repeat_interleave(group, 0)]
        if width > 0:
            cache.batch_repeat_interleave(group)
            start = prompt_mask.sum(-1, keepdim=True).repeat_interleave(group, 0)
            hidden.append(model(input_ids=tokens[:, :-1], attention_mask=attention[:, :-1],
                                position_ids=start + torch.arange(width, device=start.device),
                                **with_cache(model, cache)).logits)
    return head_logprobs(torch.cat(hidden, 1), head, tokens, temperature)


def _whole_sequences(model, backward: bool) -> bool:
    """One forward per training pass. Under FSDP every forward is a collective, and the cached path runs one or
    two forwards depending on the completions' width: ranks would disagree and hang."""
    return backward and (checkpoints_activations(model) or is_sharded(model)) and torch.is_grad_enabled()


def _count_pass(meter, shape, model, batch, rows: torch.Tensor, backward: bool) -> None:
    """The FLOPs of the pass `completion_logprobs` runs (and of its backward): model FLOPs, so a checkpointed
    layer's recomputation is not counted, as MFU does not count it."""
    group = batch.completions.tokens.shape[0] // batch.groups
    width, prompt_len = batch.completions.tokens.shape[1] - 1, batch.prompt_ids.shape[1]
    for add in ([meter.add_forward, meter.add_backward] if backward else [meter.add_forward]):
        if _whole_sequences(model, backward):
            add(shape, len(rows), 0, prompt_len + width)
        else:
            add(shape, len(rows) // group, 0, prompt_len)
            add(shape, len(rows), prompt_len, width)


class PolicyLogProbs(torch.nn.Module):
    """The training pass as one module call, so DDP sees exactly one forward per backward."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch, rows: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
        return completion_logprobs(self.model, batch, rows, temperature, backward=True)


def minibatches(kept_groups: list[int], count: int, group: int,
                device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Split whole groups into `count` minibatches of completion rows (prompt_mean needs whole groups)."""
    chunks = [kept_groups[i::count] for i in range(count)]
    return [torch.tensor([g * group + j for g in sorted(chunk) for j in range(group)], dtype=torch.long, device=device)
            for chunk in chunks if chunk]


def micro_batches(rows: torch.Tensor, size: int | None) -> list[torch.Tensor]:
    """Consecutive pieces of `size` rows; `size` is a multiple of the group size, so groups stay whole."""
    if size is None or size >= len(rows):
        return [rows]
    return list(rows.split(size))


def normaliser(state, rows: torch.Tensor, loss_mask: torch.Tensor, group_ids: torch.Tensor) -> Normaliser:
    """The update's denominators, summed over every rank's rows."""
    group = state.config.rollout.generations_per_prompt
    tokens, samples = state.runtime.all_reduce_sum([float(loss_mask[rows].sum()), float(len(rows))])
    return Normaliser(tokens=tokens, samples=int(samples), prompts=int(samples) // group,
                      budget=completion_budget(state.config.rollout, state.tokenizer))


def _micro_loss(state, rows, batch, advantages, loss_mask, group_ids, old_logp, norm, sums) -> torch.Tensor:
    """This micro-batch's share of the update's loss; adds its metric sums to `sums`."""
    cfg = state.config
    comp = batch.completions
    logp, entropy = state.trainer(batch, rows, cfg.rollout.temperature)
    _count_pass(state.meter, state.shape, _trained(state), batch, rows, backward=True)
    mask = loss_mask[rows]
    old = logp.detach() if old_logp is None else old_logp[rows]
    per_token, clipped = policy_loss(cfg.loss.type)(logp, old, advantages[rows], mask, cfg.loss)
    if cfg.loss.tis_cap is not None:
        # Sampler and trainer disagree (precision, kernels, staleness): reweight by their ratio, capped.
        weight = torch.exp(old - comp.logprobs[rows])
        sums["tis_truncated"] += float(((weight > cfg.loss.tis_cap).float() * mask).sum())
        per_token = per_token * weight.clamp(max=cfg.loss.tis_cap)
    if cfg.loss.kl_beta > 0:
        with torch.no_grad():
            ref_logp, _ = completion_logprobs(state.reference, batch, rows, cfg.rollout.temperature, state.meter,
                                              state.shape)
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + cfg.loss.kl_beta * kl
        sums["kl"] += float((kl.detach() * mask).sum())
    loss = aggregation(aggregation_for(cfg.loss))(per_token, mask, group_ids[rows], norm)
    sums["loss"] += float(loss.detach())
    sums["tokens"] += float(mask.sum())
    sums["clip"] += float((clipped.float() * mask).sum())
    sums["entropy"] += float((entropy * mask).sum())
    return loss


def update(state, rows: torch.Tensor, batch, advantages: torch.Tensor, loss_mask: torch.Tensor,
           group_ids: torch.Tensor, old_logp: torch.Tensor | None, spare=None) -> dict:
    """One optimizer update on this rank's completion `rows` (possibly none, under data parallelism).

    Returns the update's sums (SUMS) on this rank and its gradient norm (the same on every rank). `spare` is a
    batch with at least one group for the idle pass of a rank that has nothing to train on.
    """
    norm = normaliser(state, rows, loss_mask, group_ids)
    sums = dict.fromkeys(SUMS, 0.0)
    state.optimizer.zero_grad(set_to_none=True)
    idle_batch = spare if spare is not None and batch.groups == 0 else batch
    pieces = micro_batches(rows, state.config.train.micro_batch_size) if len(rows) else []
    for _ in range(_idle_passes(state, len(pieces))):
        _idle_pass(state, idle_batch)
    weight = float(state.runtime.world_size)  # DDP averages over ranks; the shares must add up to the sum
    finite = True
    for i, piece in enumerate(pieces):
        with contextlib.nullcontext() if i == len(pieces) - 1 else _no_sync(state.trainer):
            loss = _micro_loss(state, piece, batch, advantages, loss_mask, group_ids, old_logp, norm, sums)
            finite = finite and math.isfinite(float(loss.detach()))
            loss = loss * weight
            (state.scaler.scale(loss) if state.scaler else loss).backward()
    state.meter.trained_tokens += int(sums["tokens"])
    if state.runtime.any_true(not finite):
        raise FloatingPointError(f"non-finite loss at step {state.meter.step + 1}")
    return {**sums, "grad_norm": optimizer_step(state)}


def _trained(state) -> torch.nn.Module:
    """The module the training passes run through: the sharded copy under FSDP, else the policy itself."""
    return state.model if getattr(state, "sharded", None) is None else state.sharded


def _idle_passes(state, passes: int) -> int:
    """Zero-weight passes this rank adds so that every rank runs as many forward/backward passes: one when it
    has nothing to train on (DDP's all-reduce needs it); under FSDP, where every forward is a collective, up to
    the largest number of micro-batches on any rank."""
    if is_sharded(_trained(state)):
        return int(state.runtime.all_reduce_max([max(passes, 1)])[0]) - passes
    return 0 if passes else 1


def _idle_pass(state, batch) -> None:
    """A zero-weight forward/backward: the gradient all-reduce (DDP) or every layer's all-gather (FSDP) needs
    every rank."""
    group = batch.completions.tokens.shape[0] // batch.groups
    logp, _ = state.trainer(batch, torch.arange(group, device=state.runtime.device), state.config.rollout.temperature)
    (logp.sum() * 0.0).backward()


def _no_sync(trainer):
    return trainer.no_sync() if hasattr(trainer, "no_sync") else contextlib.nullcontext()


def optimizer_step(state) -> float:
    """fp32 master gradients, clipping, the (loss-scaled) optimizer step on the accumulated gradients (the lr
    schedule ticks once per RL step, in rl_step)."""
    cfg = state.config
    state.master.grads_to_master()
    if state.scaler:
        state.scaler.unscale_(state.optimizer)
    # DDP has already averaged the gradients; FSDP's are DTensor shards, whose norm is reduced over ranks: every
    # rank clips the same global norm.
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
