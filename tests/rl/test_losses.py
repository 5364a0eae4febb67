"""Policy losses, the k3 KL and the aggregations against hand-computed numbers (anchors: "Policy losses")."""

from __future__ import annotations

import math

import pytest
import torch

from scaling.config import LossConfig, build_config
from scaling.rl.advantages import compute_advantages
from scaling.rl.losses import AGGREGATIONS, POLICY_LOSSES, Normaliser, aggregation, clip_range, k3_kl, policy_loss


def _aggregate(name, loss, mask, groups, budget):
    """An aggregation over one batch held whole: its own counts are the denominators."""
    return aggregation(name)(loss, mask, groups, Normaliser.of(mask, groups, budget))


def _logps(ratios, old):
    """logp with exp(logp - old) = ratios exactly; a leaf so gradients can be read off."""
    old = torch.tensor(old, dtype=torch.float64)
    logp = (old + torch.log(torch.tensor(ratios, dtype=torch.float64))).requires_grad_(True)
    return logp, old


def test_registries_hold_every_configurable_name():
    assert set(POLICY_LOSSES) == {"grpo", "dapo", "gspo", "cispo"}
    assert set(AGGREGATIONS) == {"token_mean", "sample_mean", "prompt_mean", "constant"}


# ---------------------------------------------------------------- grpo


def test_grpo_ppo_clip_both_signs_by_hand():
    # ratios per token; row 0 has A = +1, row 1 has A = -2; eps = 0.2 (the grpo default).
    ratios = [[1.5, 0.7, 1.1], [1.5, 0.7, 1.1]]
    logp, old = _logps(ratios, [[-1.0, -2.0, -0.5], [-1.0, -2.0, -0.5]])
    adv = torch.tensor([1.0, -2.0], dtype=torch.float64)
    mask = torch.ones(2, 3, dtype=torch.float64)
    cfg = LossConfig(type="grpo")
    assert clip_range(cfg) == (0.2, 0.2)
    loss, clipped = policy_loss("grpo")(logp, old, adv, mask, cfg)
    # A=+1: r*A = [1.5, 0.7, 1.1], clip(r,0.8,1.2)*A = [1.2, 0.8, 1.1]; min = [1.2, 0.7, 1.1]; loss = -min.
    # A=-2: r*A = [-3.0, -1.4, -2.2], clip*A = [-2.4, -1.6, -2.2]; min = [-3.0, -1.6, -2.2]; loss = -min.
    expected = torch.tensor([[-1.2, -0.7, -1.1], [3.0, 1.6, 2.2]], dtype=torch.float64)
    torch.testing.assert_close(loss, expected)
    # The clip binds on (A>0, r>1.2) and (A<0, r<0.8) only; r=0.7 with A>0 and r=1.5 with A<0 stay unclipped.
    assert clipped.tolist() == [[True, False, False], [False, True, False]]
    # Gradient: d(-r*A)/dlogp = -r*A where unclipped, 0 where the clip binds.
    loss.sum().backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.7, -1.1], [3.0, 0.0, 2.2]], dtype=torch.float64))


def test_grpo_explicit_eps_overrides_default():
    cfg = LossConfig(type="grpo", eps_low=0.1, eps_high=0.6)
    assert clip_range(cfg) == (0.1, 0.6)
    logp, old = _logps([[1.5, 0.85]], [[0.0, 0.0]])
    loss, clipped = policy_loss("grpo")(logp, old, torch.tensor([1.0], dtype=torch.float64), torch.ones(1, 2), cfg)
    # 1.5 < 1.6: unclipped; 0.85 with A>0: min(0.85, 0.9) = 0.85, unclipped.
    torch.testing.assert_close(loss, torch.tensor([[-1.5, -0.85]], dtype=torch.float64))
    assert not clipped.any()


# ---------------------------------------------------------------- dapo


def test_dapo_clip_higher_defaults_and_asymmetry():
    cfg = LossConfig(type="dapo")
    assert clip_range(cfg) == (0.2, 0.28)
    ratios = [[1.25, 1.35, 0.75], [1.25, 0.75, 0.85]]
    logp, old = _logps(ratios, [[-1.0] * 3, [-1.0] * 3])
    adv = torch.tensor([1.0, -1.0], dtype=torch.float64)
    mask = torch.ones(2, 3)
    loss, clipped = policy_loss("dapo")(logp, old, adv, mask, cfg)
    # A=+1, clip to [0.8, 1.28]: 1.25 -> 1.25 (grpo's 1.2 would bind), 1.35 -> 1.28 (binds), 0.75 unclipped (A>0).
    # A=-1: 1.25 -> -1.25 (no clip for A<0 above 1), 0.75 -> min(-0.75, -0.8) = -0.8 (binds), 0.85 -> -0.85.
    expected = torch.tensor([[-1.25, -1.28, -0.75], [1.25, 0.8, 0.85]], dtype=torch.float64)
    torch.testing.assert_close(loss, expected)
    assert clipped.tolist() == [[False, True, False], [False, True, False]]
    # The same batch under grpo clips 1.25 (at 1.2): clip-higher really widens the upper side only.
    grpo, grpo_clipped = policy_loss("grpo")(logp, old, adv, mask, LossConfig(type="grpo"))
    assert grpo[0, 0].item() == pytest.approx(-1.2) and grpo_clipped[0, 0]
    assert grpo[1, 1].item() == pytest.approx(0.8)  # the lower side is the same 0.2


def test_dapo_explicit_eps():
    cfg = LossConfig(type="dapo", eps_low=0.05, eps_high=0.5)
    assert clip_range(cfg) == (0.05, 0.5)
    logp, old = _logps([[0.9, 1.6]], [[0.0, 0.0]])
    loss, clipped = policy_loss("dapo")(logp, old, torch.tensor([-1.0], dtype=torch.float64), torch.ones(1, 2), cfg)
    # A=-1: r=0.9 < 0.95 -> min(-0.9, -0.95) = -0.95 (binds); r=1.6 -> -1.6 (A<0: no upper clip).
    torch.testing.assert_close(loss, torch.tensor([[0.95, 1.6]], dtype=torch.float64))
    assert clipped.tolist() == [[True, False]]


# ---------------------------------------------------------------- gspo


def _gspo_reference(logp, old, adv, mask, low, high):
    """GSPO as written in the paper: -(1/G) sum_i min(s_i A_i, clip(s_i, 1-low, 1+high) A_i)."""
    s = torch.exp(((logp - old) * mask).sum(-1) / mask.sum(-1))
    return -torch.minimum(s * adv, s.clamp(1 - low, 1 + high) * adv).mean()


def _gspo_batch():
    # Row 0: A=+1, two real tokens with log ratios 0.3, -0.1 and a masked third (log ratio 5, must not count).
    # Row 1: A=-1, three tokens with log ratios 0.0, 0.06, -0.03.
    old = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -1.2, -2.2]], dtype=torch.float64)
    log_ratio = torch.tensor([[0.3, -0.1, 5.0], [0.0, 0.06, -0.03]], dtype=torch.float64)
    logp = (old + log_ratio).requires_grad_(True)
    adv = torch.tensor([1.0, -1.0], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    return logp, old, adv, mask


def test_gspo_default_eps_value_and_gradient_by_hand():
    logp, old, adv, mask = _gspo_batch()
    cfg = LossConfig(type="gspo", aggregation="sample_mean")
    assert clip_range(cfg) == (3e-4, 4e-4)
    loss, clipped = policy_loss("gspo")(logp, old, adv, mask, cfg)
    s0, s1 = math.exp((0.3 - 0.1) / 2), math.exp((0.0 + 0.06 - 0.03) / 3)  # 1.105171, 1.010050
    # Row 0: A>0, s0 > 1.0004 -> clipped to 1.0004, loss -1.0004 on every token, flagged.
    # Row 1: A<0, s1 > 1: min(-s1, -1.0004) = -s1 -> loss +s1 = 1.010050, unclipped.
    torch.testing.assert_close(loss[0, :2], torch.full((2,), -1.0004, dtype=torch.float64))
    torch.testing.assert_close(loss[1], torch.full((3,), s1, dtype=torch.float64))
    assert clipped[0, :2].all() and not clipped[1].any()
    total = _aggregate("sample_mean", loss, mask, torch.tensor([0, 0]), 3)
    # (-1.0004 + 1.010050) / 2 = 0.004825
    assert total.item() == pytest.approx((-1.0004 + s1) / 2)
    total.backward()
    # Row 0 clipped: no gradient. Row 1: d(s1)/dlogp_t = s1/3, times 1/G = 1/2 -> s1/6 = 0.168342 on each token.
    expected = torch.tensor([[0.0, 0.0, 0.0], [s1 / 6] * 3], dtype=torch.float64)
    torch.testing.assert_close(logp.grad, expected)
    assert s0 > 1.0004


@pytest.mark.parametrize("eps", [(0.2, 0.2), (3e-4, 4e-4), (0.01, 0.2)])
def test_gspo_matches_paper_formula_value_and_gradient(eps):
    logp, old, adv, mask = _gspo_batch()
    cfg = LossConfig(type="gspo", eps_low=eps[0], eps_high=eps[1])
    loss, _ = policy_loss("gspo")(logp, old, adv, mask, cfg)
    ours = _aggregate("sample_mean", loss, mask, torch.tensor([0, 1]), 3)
    (grad_ours,) = torch.autograd.grad(ours, logp)
    ref = _gspo_reference(logp, old, adv, mask, *eps)
    (grad_ref,) = torch.autograd.grad(ref, logp)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(grad_ours, grad_ref)
    assert grad_ours[0, 2] == 0  # the masked token gets nothing


def test_gspo_unclipped_values_by_hand():
    logp, old, adv, mask = _gspo_batch()
    loss, _ = policy_loss("gspo")(logp, old, adv, mask, LossConfig(type="gspo", eps_low=0.2, eps_high=0.2))
    # eps 0.2: nothing binds; every real token carries -s_i * A_i: row 0 -1.105171, row 1 +1.010050.
    torch.testing.assert_close(loss[0, :2], torch.full((2,), -math.exp(0.1), dtype=torch.float64))
    torch.testing.assert_close(loss[1], torch.full((3,), math.exp(0.01), dtype=torch.float64))


def test_gspo_differs_from_grpo_on_unequal_token_ratios():
    logp, old, adv, mask = _gspo_batch()
    cfg = dict(eps_low=0.2, eps_high=0.2)
    gspo, _ = policy_loss("gspo")(logp, old, adv, mask, LossConfig(type="gspo", **cfg))
    grpo, _ = policy_loss("grpo")(logp, old, adv, mask, LossConfig(type="grpo", **cfg))
    g = _aggregate("sample_mean", gspo, mask, torch.tensor([0, 1]), 3).item()
    r = _aggregate("sample_mean", grpo, mask, torch.tensor([0, 1]), 3).item()
    # grpo row 0: r = [e^0.3, e^-0.1] = [1.349859, 0.904837], A>0 -> min(r, 1.2) = [1.2, 0.904837], mean -1.052419.
    # grpo row 1: r = [1, e^0.06, e^-0.03] = [1, 1.061837, 0.970446], A<0 -> loss = r, mean 1.010761.
    # grpo = (-1.052419 + 1.010761)/2 = -0.020829; gspo = (-1.105171 + 1.010050)/2 = -0.047560.
    assert r == pytest.approx((-(1.2 + math.exp(-0.1)) / 2 + (1 + math.exp(0.06) + math.exp(-0.03)) / 3) / 2)
    assert g == pytest.approx((-math.exp(0.1) + math.exp(0.01)) / 2)
    assert abs(g - r) > 0.02


def test_gspo_equals_grpo_when_token_ratios_are_equal():
    old = torch.zeros(2, 3, dtype=torch.float64)
    logp = torch.log(torch.tensor([[1.1] * 3, [0.95] * 3], dtype=torch.float64))
    adv, mask = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    cfg = dict(eps_low=0.2, eps_high=0.2)
    gspo, _ = policy_loss("gspo")(logp, old, adv, mask, LossConfig(type="gspo", **cfg))
    grpo, _ = policy_loss("grpo")(logp, old, adv, mask, LossConfig(type="grpo", **cfg))
    torch.testing.assert_close(gspo, grpo)


# ---------------------------------------------------------------- cispo


def test_cispo_capped_stop_gradient_weight():
    cfg = LossConfig(type="cispo", cispo_eps_max=2.0)
    # ratios 0.5 and 3.0 with A = 2; old log-probs -1 and -2.
    logp, old = _logps([[0.5, 3.0]], [[-1.0, -2.0]])
    adv = torch.tensor([2.0], dtype=torch.float64)
    loss, clipped = policy_loss("cispo")(logp, old, adv, torch.ones(1, 2), cfg)
    # weights w = min(r, 2) = [0.5, 2.0]; logp = [-1 + ln 0.5, -2 + ln 3] = [-1.693147, -0.901388]
    # loss = -w * A * logp = [-0.5*2*(-1.693147), -2*2*(-0.901388)] = [1.693147, 3.605551]
    lp = [-1 + math.log(0.5), -2 + math.log(3.0)]
    torch.testing.assert_close(loss, torch.tensor([[-0.5 * 2 * lp[0], -2.0 * 2 * lp[1]]], dtype=torch.float64))
    assert clipped.tolist() == [[False, True]]  # the cap binds on r = 3 > 2
    loss.sum().backward()
    # Gradient = -w * A * grad(logp) = [-1, -4]; no term through the ratio (else the r=0.5 token would get
    # -A*(r*logp + r) = -2*(0.5*(-1.693147) + 0.5) = 0.693147 instead of -1).
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.0, -4.0]], dtype=torch.float64))


def test_cispo_no_gradient_through_old_or_ratio():
    cfg = LossConfig(type="cispo", cispo_eps_max=4.0)
    logp, old = _logps([[1.3, 0.2]], [[-0.7, -1.5]])
    old.requires_grad_(True)
    loss, clipped = policy_loss("cispo")(logp, old, torch.tensor([-1.5], dtype=torch.float64), torch.ones(1, 2), cfg)
    loss.sum().backward()
    assert old.grad is None or torch.all(old.grad == 0)
    # -w*A = -(1.3)(-1.5) = 1.95 and -(0.2)(-1.5) = 0.3: every token keeps a gradient (nothing is zeroed by a clip).
    torch.testing.assert_close(logp.grad, torch.tensor([[1.95, 0.3]], dtype=torch.float64))
    assert not clipped.any()


# ---------------------------------------------------------------- k3 KL


def test_k3_kl_by_hand_nonnegative_zero_at_equality():
    logp = torch.log(torch.tensor([0.5, 0.5, 0.2]))
    ref = torch.log(torch.tensor([0.25, 0.5, 0.6]))
    kl = k3_kl(logp, ref)
    # delta = ref - logp: ln(0.5) = -0.693147 -> e^delta - delta - 1 = 0.5 + 0.693147 - 1 = 0.193147
    # delta = 0 -> 0;   delta = ln 3 = 1.098612 -> 3 - 1.098612 - 1 = 0.901388
    torch.testing.assert_close(kl, torch.tensor([0.5 + math.log(2) - 1, 0.0, 2 - math.log(3)]))
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, generator=gen) * 3, torch.randn(1000, generator=gen) * 3
    assert (k3_kl(a, b) >= 0).all()
    assert (k3_kl(a, a) == 0).all()


# ---------------------------------------------------------------- aggregations

# Four completions, two prompts (groups 0, 0, 1, 1), lengths 3, 1, 2, 3; masked entries hold 100 and must
# never count. Budget max_new_tokens = 5.
LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0], [5.0, 6.0, 100.0], [7.0, 8.0, 9.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
GROUPS = torch.tensor([0, 0, 1, 1])


@pytest.mark.parametrize("name, expected", [
    # all 9 real tokens: (1+2+3+4+5+6+7+8+9) / 9 = 45 / 9 = 5
    ("token_mean", 5.0),
    # per completion means 2, 4, 5.5, 8 -> 19.5 / 4 = 4.875
    ("sample_mean", 4.875),
    # prompt 0: (1+2+3+4)/4 = 2.5; prompt 1: (5+6+7+8+9)/5 = 7 -> (2.5 + 7) / 2 = 4.75
    ("prompt_mean", 4.75),
    # Dr.GRPO: 45 / (4 completions x 5 budget) = 2.25
    ("constant", 2.25),
])
def test_aggregation_by_hand(name, expected):
    assert _aggregate(name, LOSS, MASK, GROUPS, 5).item() == pytest.approx(expected)


def test_aggregation_gradients_by_hand():
    loss = LOSS.clone().requires_grad_(True)
    _aggregate("prompt_mean", loss, MASK, GROUPS, 5).backward()
    # Each real token of prompt 0 weighs 1/(2 prompts * 4 tokens) = 0.125, of prompt 1 1/(2*5) = 0.1.
    expected = MASK * torch.tensor([[0.125], [0.125], [0.1], [0.1]])
    torch.testing.assert_close(loss.grad, expected)
    loss.grad = None
    _aggregate("constant", loss, MASK, GROUPS, 5).backward()
    torch.testing.assert_close(loss.grad, MASK / 20)  # 1 / (4 x 5) per real token, whatever the length


def test_prompt_mean_group_ids_need_not_be_contiguous():
    # The same batch with group ids 7, 7, 3, 3: still two prompts of 4 and 5 tokens.
    assert _aggregate("prompt_mean", LOSS, MASK, torch.tensor([7, 7, 3, 3]), 5).item() == pytest.approx(4.75)


def test_prompt_mean_differs_from_token_mean_with_unequal_lengths():
    tm = _aggregate("token_mean", LOSS, MASK, GROUPS, 5).item()
    pm = _aggregate("prompt_mean", LOSS, MASK, GROUPS, 5).item()
    assert tm == pytest.approx(5.0) and pm == pytest.approx(4.75)
    # ... and agrees when every prompt has the same number of tokens.
    mask = torch.ones_like(MASK)
    assert _aggregate("prompt_mean", LOSS, mask, GROUPS, 5).item() == pytest.approx(
        _aggregate("token_mean", LOSS, mask, GROUPS, 5).item())


def test_dr_grpo_is_grpo_constant_no_std():
    cfg = build_config({"loss": {"type": "grpo", "aggregation": "constant", "adv_norm": "none"}}).loss
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    adv = compute_advantages(rewards, cfg.adv_norm).flatten()
    # No std: A = R - mean = [0.75, -0.25, -0.25, -0.25] (group std would give [1.5, -0.5, -0.5, -0.5]).
    torch.testing.assert_close(adv, torch.tensor([0.75, -0.25, -0.25, -0.25]))
    # On-policy (ratio 1), lengths 1, 2, 3, 4 of a budget of 5 tokens.
    mask = torch.tensor([[1.0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]])
    logp = torch.full((4, 4), -1.0, requires_grad=True)
    per_token, _ = policy_loss(cfg.type)(logp, logp.detach(), adv, mask, cfg)
    loss = _aggregate(cfg.aggregation, per_token, mask, torch.zeros(4, dtype=torch.long), 5)
    # sum of -A over tokens = -(0.75*1 - 0.25*2 - 0.25*3 - 0.25*4) = 1.5; / (4 x 5) = 0.075
    assert loss.item() == pytest.approx(0.075)
    loss.backward()
    # d/dlogp = -A_i / 20 on each real token, independent of the completion's length (no 1/|o_i|).
    torch.testing.assert_close(logp.grad, mask * (-adv[:, None] / 20))


def test_default_aggregation_is_the_loss_papers():
    from scaling.rl.losses import aggregation_for

    assert {t: aggregation_for(LossConfig(type=t)) for t in ("grpo", "gspo", "dapo", "cispo")} == {
        "grpo": "sample_mean", "gspo": "sample_mean", "dapo": "token_mean", "cispo": "prompt_mean"}
    assert aggregation_for(LossConfig(type="gspo", aggregation="token_mean")) == "token_mean"
