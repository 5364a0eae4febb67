"""pass@k and maj@k against hand-computed cases, brute force over subsets, and simulated Bernoulli samples."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from scaling.infer.estimators import (maj_at_k, maj_at_k_curve, maj_at_k_monte_carlo, pass_at_k,
                                      pass_at_k_curve)


def _brute_maj(answers, correct, k):
    """Average over every k-subset of the plurality vote, a tie of e answers counted as 1/e each."""
    total = 0.0
    subsets = list(itertools.combinations(range(len(answers)), k))
    for subset in subsets:
        votes = Counter(answers[i] for i in subset if answers[i] is not None)
        if not votes:
            continue
        top = max(votes.values())
        winners = [a for a, v in votes.items() if v == top]
        ok = {answers[i]: correct[i] for i in subset}
        total += sum(ok[a] for a in winners) / len(winners)
    return total / len(subsets)


def test_pass_at_k_hand_computed():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)          # 1 - C(3,2)/C(4,2)
    assert pass_at_k(5, 2, 3) == pytest.approx(1 - 1 / 10)         # 1 - C(3,3)/C(5,3)
    assert pass_at_k(5, 0, 5) == 0.0 and pass_at_k(5, 3, 3) == 1.0
    assert pass_at_k_curve(3, 1).tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])
    for n, c in ((16, 0), (16, 3), (16, 15), (7, 7)):
        assert pass_at_k_curve(n, c) == pytest.approx([pass_at_k(n, c, k) for k in range(1, n + 1)], abs=1e-12)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(3, 1, 4)


def test_maj_at_k_hand_computed_with_ties():
    # Three different answers, one correct: k=2 is always a tie of two; the correct one wins half of the
    # 2 pairs that contain it: (0.5 + 0.5 + 0) / 3.
    curve = maj_at_k_curve(["7", "8", "9"], [1, 0, 0])
    assert curve.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    # Samples without an answer do not vote; a subset of only abstentions scores 0.
    curve = maj_at_k_curve(["5", None, None], [1, 0, 0])
    assert curve.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_voting_is_worse_at_three_than_at_one_when_a_wrong_answer_is_the_mode():
    # 2 of 5 samples say the right "A", 3 say the wrong "B". maj@1 = 2/5; maj@3 needs both A's in the
    # subset: 1 x 3 of the C(5,3) = 10 subsets, so 0.3 < 0.4.
    curve = maj_at_k_curve(["A", "A", "B", "B", "B"], [1, 1, 0, 0, 0])
    assert curve[0] == pytest.approx(0.4) and curve[2] == pytest.approx(0.3) and curve[4] == 0.0
    assert curve[2] < curve[0]


@pytest.mark.parametrize("seed", range(6))
def test_maj_at_k_equals_brute_force_over_all_subsets(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 10))
    answers = [None if x == 0 else str(x) for x in rng.integers(0, 4, n)]
    correct = [float(a == "1") for a in answers]
    exact = maj_at_k_curve(answers, correct)
    assert exact == pytest.approx([_brute_maj(answers, correct, k) for k in range(1, n + 1)], abs=1e-12)


def test_monte_carlo_agrees_with_exact_within_its_standard_error():
    answers = list("AAAABBBBBCCCD") + [None] * 3
    correct = [float(a == "A") for a in answers]
    exact = maj_at_k_curve(answers, correct)
    mc, se = maj_at_k_monte_carlo(answers, correct, draws=4000, seed=0)
    assert np.all(np.abs(mc - exact) <= 4 * se + 1e-12)
    assert maj_at_k(answers, correct)[1].max() == 0.0  # small n: exact, no sampling error


def test_exact_maj_at_k_is_fast_and_stable_for_64_samples():
    rng = np.random.default_rng(1)
    answers = [str(x) for x in rng.integers(0, 12, 64)]
    correct = [float(a == "3") for a in answers]
    curve = maj_at_k_curve(answers, correct)
    assert np.all((curve >= -1e-12) & (curve <= 1 + 1e-12))
    assert curve[0] == pytest.approx(np.mean(correct))


def test_pass_at_k_is_unbiased_over_simulated_bernoulli_samples():
    rng = np.random.default_rng(0)
    n, trials = 16, 20000
    for p in (0.02, 0.2, 0.6):
        c = rng.binomial(n, p, size=trials)
        for k in (1, 4, 10):
            estimates = np.array([pass_at_k(n, ci, k) for ci in range(n + 1)])[c]
            truth = 1 - (1 - p) ** k
            se = estimates.std(ddof=1) / math.sqrt(trials)
            assert abs(estimates.mean() - truth) < 4 * se + 1e-9, (p, k)
