"""The ablation knobs acting inside a real RL step (scaling.rl.step.rl_step) on a tiny random policy.

Every loss x aggregation x normalisation x precision runs two steps; then one test per knob shows it did
what its paper says: off-policy minibatch updates clip, zero-variance filtering drops exactly the
all-equal groups, no-positive-resampling retires prompts, overlong masking and DAPO's soft penalty,
truncated importance sampling, the k3 KL to the initial policy.
"""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch

import scaling.rl.step as step_module
import scaling.rl.update as update_module
from scaling.config import build_config
from scaling.rl.state import build_state
from scaling.rl.step import rl_step, soft_overlong_penalty

TINY = {"threads": 1, "warmstart": {"enabled": False},
        "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
        "task": {"train_size": 64, "val_size": 8},
        "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4, "max_new_tokens": 4},
        "optim": {"warmup_steps": 0}, "train": {"steps": 2}, "eval": {"every": 2, "k": 1}}

LOSSES = ["grpo", "dapo", "gspo", "cispo"]
AGGREGATIONS = ["token_mean", "sample_mean", "prompt_mean", "constant"]
NORMS = ["group", "batch", "none"]
PRECISIONS = ["fp32", "bf16", "fp16", "fp32_lm_head"]


def varied_score(example, text: str) -> float:
    """A stand-in verifier whose rewards vary within a group (the random policy never solves the task)."""
    return float(sum(map(ord, text)) % 2)


def make_state(score=varied_score, **sections):
    tree = copy.deepcopy(TINY)
    for section, values in sections.items():
        if isinstance(values, dict):
            tree.setdefault(section, {}).update(values)
        else:
            tree[section] = values
    state = build_state(build_config(tree))
    state.task.score = score
    return state


def spy(monkeypatch, name):
    """Record the arguments (and results) of scaling.rl.step.<name> while still calling it."""
    calls = []
    real = getattr(step_module, name)

    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append((args, out))
        return out

    monkeypatch.setattr(step_module, name, wrapper)
    return calls


def batch_of(collected):
    """The Batch from collect()'s result (a Batch, or a (Batch, lag) pair)."""
    return collected[0] if isinstance(collected, tuple) else collected


# ------------------------------------------------------------------ the full matrix


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("loss,agg,norm", list(itertools.product(LOSSES, AGGREGATIONS, NORMS)))
def test_every_combination_runs_two_steps(loss, agg, norm, precision):
    state = make_state(loss={"type": loss, "aggregation": agg, "adv_norm": norm}, model={"precision": precision})
    before = [m.detach().clone() for m in state.master.master]
    rows = [rl_step(state) for _ in range(2)]
    for row in rows:
        for key, value in row.items():
            if key == "dtype":
                assert value == state.dtypes
            elif key == "peak_memory_gib":  # no allocator statistics on the CPU
                assert math.isnan(value) if not state.runtime.is_cuda else value > 0
            elif key != "kl_to_init":  # NaN by design without a reference model (kl_beta 0)
                assert math.isfinite(value), (key, value)
        assert math.isnan(row["kl_to_init"])
    assert state.meter.trained_tokens > 0
    # The varied rewards give non-zero advantages, so the weights really moved.
    assert any(not torch.equal(a, b) for a, b in zip(before, state.master.master))


# ------------------------------------------------------------------ off-policy updates


@pytest.mark.parametrize("loss", ["grpo", "dapo", "cispo"])
def test_updates_per_batch_makes_clipping_act(loss):
    loss_cfg = {"type": loss, "cispo_eps_max": 1.05}
    # lr 0.05: after the first minibatch update the policy has moved far from pi_old for the next ones.
    off = make_state(loss=loss_cfg, optim={"lr": 0.05, "warmup_steps": 0}, train={"updates_per_batch": 4})
    rows = [rl_step(off) for _ in range(2)]
    assert max(r["clip_frac"] for r in rows) > 0
    # On-policy (one update per batch) the ratio is exactly 1: nothing can clip.
    on = make_state(loss=loss_cfg, optim={"lr": 0.05, "warmup_steps": 0}, train={"updates_per_batch": 1})
    assert all(rl_step(on)["clip_frac"] == 0 for _ in range(2))


def test_updates_per_batch_uses_whole_groups_and_one_pi_old(monkeypatch):
    updates = spy(monkeypatch, "update")
    olds = spy(monkeypatch, "old_logprobs")
    state = make_state(optim={"lr": 0.05, "warmup_steps": 0}, train={"updates_per_batch": 2})
    rl_step(state)
    assert len(olds) == 1 and len(updates) == 2
    row_sets = [sorted(args[1].tolist()) for args, _ in updates]
    # 4 prompts x 4 completions split into two minibatches of two whole groups each, together the batch.
    groups = [sorted({r // 4 for r in rows}) for rows in row_sets]
    assert row_sets == [[g * 4 + j for g in gs for j in range(4)] for gs in groups]
    assert [len(gs) for gs in groups] == [2, 2] and sorted(groups[0] + groups[1]) == [0, 1, 2, 3]
    assert all(args[6] is olds[0][1] for args, _ in updates)  # both minibatches use the same pi_old


# ------------------------------------------------------------------ zero-variance filtering


def half_constant_score(example, text: str) -> float:
    """Prompts with an even character sum always get 1 (an all-equal group); the others vary."""
    return 1.0 if sum(map(ord, example.prompt)) % 2 == 0 else varied_score(example, text)


@pytest.mark.parametrize("mode", ["drop", "none", True, False])
def test_zero_variance_filtering_drops_exactly_the_all_equal_groups(monkeypatch, mode):
    enabled = mode in ("drop", True)  # booleans are the field's older spelling
    batches, updates = spy(monkeypatch, "collect"), spy(monkeypatch, "update")
    state = make_state(score=half_constant_score, train={"filter_zero_variance": mode})
    mixed = 0
    for _ in range(4):
        batches.clear(), updates.clear()
        row = rl_step(state)
        shaped = batch_of(batches[0][1]).shaped
        zero_var = [bool((g == g[0]).all()) for g in shaped]
        kept = [g for g, z in enumerate(zero_var) if not (enabled and z)]
        trained = sorted(r for args, _ in updates for r in args[1].tolist())
        assert trained == [g * 4 + j for g in kept for j in range(4)]
        assert row["zero_variance_frac"] == sum(zero_var) / 4
        assert row["filtered_frac"] == (sum(zero_var) / 4 if enabled else 0.0)
        mixed += 0 < sum(zero_var) < 4
    assert mixed > 0  # the batches really held both kinds of group


def test_all_groups_filtered_skips_the_update():
    state = make_state(score=lambda example, text: 1.0, train={"filter_zero_variance": "drop"})
    before = [m.detach().clone() for m in state.master.master]
    row = rl_step(state)
    assert row["filtered_frac"] == 1.0 and row["zero_variance_frac"] == 1.0
    assert math.isnan(row["loss"]) and math.isnan(row["grad_norm"])
    assert all(torch.equal(a, b) for a, b in zip(before, state.master.master))


# ------------------------------------------------------------------ no-positive-resampling


def test_no_positive_resampling_retires_solved_prompts(monkeypatch):
    draws = spy(monkeypatch, "collect")
    state = make_state(score=lambda example, text: 1.0, task={"train_size": 16, "val_size": 8},
                       train={"no_positive_resampling": True})
    retired: set[int] = set()
    for k in range(1, 4):
        draws.clear()
        row = rl_step(state)
        drawn = batch_of(draws[0][1]).pool_indices
        assert not set(drawn) & retired  # a retired prompt never comes back
        retired |= set(drawn)
        assert row["retired_prompts"] == 4 * k and row["pool_size"] == 16 - 4 * k
        assert state.pool.remaining == 16 - 4 * k


def test_no_positive_resampling_threshold_and_switch():
    calls = {"n": 0}

    def three_of_four(example, text):  # rows are prompt-major: every group scores [0, 1, 1, 1] -> pass rate 0.75
        calls["n"] += 1
        return float(calls["n"] % 4 != 1)

    kept = make_state(score=three_of_four, train={"no_positive_resampling": True, "retire_at": 0.9})
    assert rl_step(kept)["pool_size"] == 64  # 0.75 < 0.9
    gone = make_state(score=three_of_four, train={"no_positive_resampling": True, "retire_at": 0.75})
    assert rl_step(gone)["pool_size"] == 60  # 0.75 >= 0.75: all four prompts retired
    off = make_state(score=lambda example, text: 1.0, train={"no_positive_resampling": False})
    assert rl_step(off)["pool_size"] == 64 and off.pool.retired == 0


# ------------------------------------------------------------------ length control


@pytest.mark.parametrize("overlong", ["mask", "keep"])
def test_overlong_mask_zeroes_truncated_completions(monkeypatch, overlong):
    updates = spy(monkeypatch, "update")
    state = make_state(rollout={"overlong": overlong})
    rl_step(state)
    (args, _), = updates
    batch, loss_mask = args[2], args[4]
    comp = batch.completions
    assert comp.truncated.any()  # a random policy rarely emits EOS within 4 tokens
    if overlong == "mask":
        assert loss_mask[comp.truncated].sum() == 0
        torch.testing.assert_close(loss_mask[~comp.truncated], comp.mask[~comp.truncated])
        assert state.meter.trained_tokens == int(comp.mask[~comp.truncated].sum())
    else:
        torch.testing.assert_close(loss_mask, comp.mask)
        assert state.meter.trained_tokens == int(comp.mask.sum())


def test_overlong_mask_all_truncated_gives_no_gradient(monkeypatch):
    # Force every completion to be truncated: the loss has no token left, so nothing is learned.
    import scaling.rl.engines.builtin as builtin  # the step samples through the built-in engine

    real_sample = builtin.sample

    def no_eos(*args, **kwargs):
        out = real_sample(*args, **kwargs)
        out.truncated[:] = True
        return out

    monkeypatch.setattr(builtin, "sample", no_eos)
    state = make_state(rollout={"overlong": "mask"})
    row = rl_step(state)
    assert row["loss"] == 0 and row["grad_norm"] == 0
    keep = make_state(rollout={"overlong": "keep"})
    assert rl_step(keep)["grad_norm"] > 0


def test_soft_overlong_penalty_by_hand():
    lengths = torch.tensor([3, 4, 5, 6, 7, 8])
    # DAPO eq. 13 with L_max = 8, L_cache = 3: 0 up to 5 tokens, then (5 - L) / 3: -1/3, -2/3, -1.
    ended = torch.zeros(6, dtype=torch.bool)
    torch.testing.assert_close(soft_overlong_penalty(lengths, ended, 8, 3),
                               torch.tensor([0.0, 0.0, 0.0, -1 / 3, -2 / 3, -1.0]))
    # No buffer: only a completion cut without EOS is over the budget (-1); one whose EOS is exactly the
    # budget's last token is within it (DAPO eq. 13 with L_cache = 0: |y| <= L_max gives 0).
    torch.testing.assert_close(soft_overlong_penalty(lengths, ended, 8, 0), torch.zeros(6))
    cut = torch.tensor([False] * 5 + [True])
    torch.testing.assert_close(soft_overlong_penalty(lengths, cut, 8, 0), torch.tensor([0.0, 0, 0, 0, 0, -1.0]))
    torch.testing.assert_close(soft_overlong_penalty(lengths, cut, 8, 3)[-1], torch.tensor(-1.0))


def test_soft_overlong_penalty_shapes_rewards_in_a_step(monkeypatch):
    batches = spy(monkeypatch, "collect")
    state = make_state(rollout={"overlong": "soft_penalty", "overlong_buffer": 2})
    rl_step(state)
    batch = batch_of(batches[0][1])
    lengths = batch.completions.lengths.view(4, 4)
    # budget 4, buffer 2: length <= 2 -> 0, 3 -> -0.5, 4 -> -1 (with EOS at the 4th token or cut)
    expected = torch.where(lengths <= 2, 0.0, torch.where(lengths == 3, -0.5, -1.0))
    torch.testing.assert_close(batch.shaped - batch.rewards, expected)


# ------------------------------------------------------------------ truncated importance sampling


def test_tis_truncated_fraction_and_weight():
    rows = {}
    for cap in (None, 0.5, 2.0):
        state = make_state(loss={"tis_cap": cap})
        rows[cap] = rl_step(state)
    # fp32 sampler and trainer agree (weights ~1): a cap of 0.5 truncates every token, 2.0 none.
    assert rows[0.5]["tis_truncated_frac"] == 1.0
    assert rows[2.0]["tis_truncated_frac"] == 0.0 and rows[None]["tis_truncated_frac"] == 0.0
    # Every token weighted by exactly 0.5 halves the gradient of the same batch.
    assert rows[0.5]["grad_norm"] == pytest.approx(0.5 * rows[None]["grad_norm"], rel=1e-4)
    assert rows[2.0]["grad_norm"] == pytest.approx(rows[None]["grad_norm"], rel=1e-4)


# ------------------------------------------------------------------ KL to the initial policy


def test_kl_penalty_keeps_a_reference_only_when_beta_positive_or_tracked():
    assert make_state(train={"track_kl": False}).reference is None
    assert make_state(train={"track_kl": True}).reference is not None
    state = make_state(loss={"kl_beta": 0.1}, optim={"lr": 0.01, "warmup_steps": 0})
    assert state.reference is not None
    first, second = rl_step(state), rl_step(state)
    assert first["kl_to_init"] == pytest.approx(0.0, abs=1e-7)  # the policy is the reference before any update
    assert second["kl_to_init"] > 0


def test_kl_is_monitored_on_evaluation_steps_without_a_penalty():
    state = make_state(eval={"every": 2}, optim={"lr": 0.01, "warmup_steps": 0})
    rows = []
    for _ in range(4):
        rows.append(rl_step(state))
        state.meter.step += 1
    assert math.isnan(rows[0]["kl_to_init"]) and math.isnan(rows[2]["kl_to_init"])
    assert rows[1]["kl_to_init"] > 0 and rows[3]["kl_to_init"] > 0


def test_policy_losses_coincide_on_policy_and_differ_off_policy():
    """With one update per batch the ratio is exactly 1, and PPO-clip, clip-higher, GSPO and CISPO all give
    the gradient -A * grad log pi: the losses only differ once updates go off-policy."""

    def params_after(loss_type, updates):
        # One aggregation for all: each loss's own default aggregation weighs the tokens differently.
        state = make_state(loss={"type": loss_type, "aggregation": "token_mean"}, train={"updates_per_batch": updates},
                           optim={"lr": 0.05, "warmup_steps": 0})
        rl_step(state)
        rl_step(state)
        return torch.cat([p.detach().flatten() for p in state.model.parameters()])

    on_policy = {t: params_after(t, 1) for t in ("grpo", "dapo", "gspo", "cispo")}
    for loss_type in ("dapo", "gspo", "cispo"):
        assert torch.allclose(on_policy[loss_type], on_policy["grpo"], atol=1e-6), loss_type
    off_policy = {t: params_after(t, 2) for t in ("grpo", "cispo")}
    assert not torch.allclose(off_policy["grpo"], off_policy["cispo"], atol=1e-6)


# ------------------------------------------------------------------ knobs that mean what their papers say


def record_aggregations(monkeypatch):
    """(name, completion width, budget) of every aggregation the step applies."""
    seen, real = [], update_module.aggregation

    def spy_aggregation(name):
        def apply(loss, mask, group_ids, norm):
            seen.append((name, loss.shape[1], norm.budget))
            return real(name)(loss, mask, group_ids, norm)
        return apply

    monkeypatch.setattr(update_module, "aggregation", spy_aggregation)
    return seen


@pytest.mark.parametrize("loss,expected", [("grpo", "sample_mean"), ("gspo", "sample_mean"),
                                           ("dapo", "token_mean"), ("cispo", "prompt_mean")])
def test_each_loss_aggregates_as_its_paper_unless_overridden(monkeypatch, loss, expected):
    seen = record_aggregations(monkeypatch)
    rl_step(make_state(loss={"type": loss}))
    rl_step(make_state(loss={"type": loss, "aggregation": "constant"}))
    assert [name for name, _, _ in seen] == [expected, "constant"]


def test_constant_aggregation_budget_covers_forced_interruption(monkeypatch):
    seen = record_aggregations(monkeypatch)
    state = make_state(loss={"aggregation": "constant"}, rollout={"interrupt_text": "=", "interrupt_budget": 3})
    rl_step(state)
    (_, width, budget), = seen
    forced = len(state.tokenizer.encode("=", add_special_tokens=False))
    assert width > 4  # the random policy ran past max_new_tokens = 4 and was interrupted
    assert budget == 4 + forced + 3 >= width  # no completion is longer than the divisor assumes


def test_warmup_counts_rl_steps_not_optimizer_updates():
    state = make_state(optim={"lr": 1e-3, "warmup_steps": 4}, train={"updates_per_batch": 2})
    lrs = [rl_step(state)["lr"] for _ in range(3)]
    assert lrs == pytest.approx([0.25e-3, 0.5e-3, 0.75e-3])  # two updates per step, yet a quarter per step
    assert state.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_weight_decay_spares_norms_biases_and_embeddings():
    state = make_state(optim={"weight_decay": 0.1})
    names = {id(p): n for n, p in state.model.named_parameters()}
    groups = {g["weight_decay"]: {names[id(p)] for p in g["params"]} for g in state.optimizer.param_groups}
    assert set(groups) == {0.1, 0.0}
    assert groups[0.1] and all(n.endswith("proj.weight") or n == "lm_head.weight" for n in groups[0.1])
    assert any("norm" in n for n in groups[0.0]) and any("embed" in n for n in groups[0.0])
    assert len(groups[0.1]) + len(groups[0.0]) == len(list(state.model.parameters()))


def test_refill_samples_until_the_batch_holds_only_varied_groups(monkeypatch):
    batches, updates = spy(monkeypatch, "collect"), spy(monkeypatch, "update")
    state = make_state(score=half_constant_score, train={"filter_zero_variance": "refill"})
    for _ in range(3):
        batches.clear(), updates.clear()
        seen_before = state.meter.prompts_seen
        row = rl_step(state)
        trained = sorted(r for args, _ in updates for r in args[1].tolist())
        batch = updates[0][0][2]
        assert trained == list(range(16))  # a full batch of 4 groups ...
        assert not any(bool((g == g[0]).all()) for g in batch.rewards)  # ... each of which varies
        assert row["sampling_rounds"] == len(batches) > 1  # half the prompts are all-equal: it had to sample more
        assert state.meter.prompts_seen - seen_before == 4 * len(batches)  # every round's sampling is counted
        drawn = [i for _, out in batches for i in batch_of(out).pool_indices]
        assert set(batch.pool_indices) <= set(drawn)


def test_refill_stops_at_its_round_cap():
    state = make_state(score=lambda example, text: 1.0, train={"filter_zero_variance": "refill", "refill_max_rounds": 3})
    before = [m.detach().clone() for m in state.master.master]
    row = rl_step(state)
    assert row["sampling_rounds"] == 3 and state.meter.prompts_seen == 12
    assert row["filtered_frac"] == 1.0 and math.isnan(row["grad_norm"])
    assert all(torch.equal(a, b) for a, b in zip(before, state.master.master))
