"""pass@k and maj@k from n samples per prompt (pure numpy: no torch here).

pass@k (a verifier picks any correct sample): the unbiased estimator of Chen et al. (2021),
1 - C(n-c, k) / C(n, k), computed as a product so that it never forms huge binomials.

maj@k (self-consistency, Wang et al. 2023: the most frequent extracted answer among k samples) as the
exact expectation over all C(n, k) subsets of the n samples, ties split as the expected share (a tie
of e answers is broken uniformly at random). Samples without an extractable answer do not vote; a
subset with no vote at all scores 0. The expectation is computed for every k at once from a
generating function, without enumerating subsets:

    for each vote count t, classes i with x_i <= t contribute f_i(z, u) = sum_{x<t} C(m_i,x) z^x + u C(m_i,t) z^t,
    the tie-weighted winning mass is sum_i c_i C(m_i,t) z^t prod_{l != i} f_l, and 1/e = int_0^1 u^(e-1) du,

integrated exactly by Gauss-Legendre quadrature (the integrand is a polynomial in u). Classes with
fewer than t samples enter as (1+z)^m. Cost O(n^2) per prompt. Above `EXACT_MAX_SAMPLES` a seeded
Monte Carlo over random orderings is used instead, with its standard error.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Sequence

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import comb

EXACT_MAX_SAMPLES = 2048


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one prompt with c correct out of n samples (Chen et al. 2021)."""
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n and 0 <= c <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_curve(n: int, c: int) -> np.ndarray:
    """pass@k for k = 1..n (index k-1): C(n-c, k) / C(n, k) = prod_{j<k} (n-c-j) / (n-j), all k in one pass."""
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass@k needs n >= 1 and 0 <= c <= n (got n={n}, c={c})")
    j = np.arange(n)
    return 1.0 - np.cumprod(np.clip(n - c - j, 0, None) / (n - j))


def _classes(answers: Sequence[Hashable | None], correct: Sequence[float]) -> tuple[list[int], list[float], int]:
    """Vote counts m_i and the correct fraction c_i of each distinct answer; the number of non-votes."""
    counts: dict = defaultdict(int)
    hits: dict = defaultdict(float)
    abstain = 0
    for answer, ok in zip(answers, correct):
        if answer is None:
            abstain += 1
        else:
            counts[answer] += 1
            hits[answer] += float(ok)
    keys = list(counts)
    return [counts[a] for a in keys], [hits[a] / counts[a] for a in keys], abstain


def _binomial_row(m: int, upto: int) -> np.ndarray:
    """Coefficients of (1+z)^m, degrees 0..upto."""
    x = np.arange(upto + 1)
    return np.where(x <= m, comb(m, x), 0.0)


def _mul(a: np.ndarray, b: np.ndarray, degree: int) -> np.ndarray:
    """Row-wise product of polynomials (rows = quadrature nodes), truncated at `degree`."""
    return np.stack([np.convolve(ra, rb)[:degree + 1] for ra, rb in zip(a, b)])


def maj_at_k_curve(answers: Sequence[Hashable | None], correct: Sequence[float]) -> np.ndarray:
    """Exact maj@k for k = 1..n (index k-1) for one prompt; see the module docstring."""
    n = len(answers)
    if n == 0 or len(correct) != n:
        raise ValueError("maj@k needs one correctness value per answer and at least one sample")
    sizes, hits, abstain = _classes(answers, correct)
    total = np.zeros(n + 1)
    for t in range(1, max(sizes, default=0) + 1):
        high = [i for i, m in enumerate(sizes) if m >= t]
        if not any(hits[i] > 0 for i in high):
            continue
        low = abstain + sum(m for m in sizes if m < t)
        nodes, weights = leggauss(len(high) // 2 + 1)
        u = (nodes + 1) / 2
        base = np.tile(_binomial_row(low, n), (len(u), 1))
        won = np.zeros_like(base)
        for i in high:
            f = np.zeros((len(u), t + 1))
            f[:, :t] = comb(sizes[i], np.arange(t))
            f[:, t] = u * comb(sizes[i], t)
            if hits[i] > 0:
                shifted = np.zeros_like(base)
                shifted[:, t:] = base[:, :n + 1 - t]
                won = _mul(won, f, n) + hits[i] * comb(sizes[i], t) * shifted
            else:
                won = _mul(won, f, n)
            base = _mul(base, f, n)
        total += (weights / 2) @ won
    ks = np.arange(1, n + 1)
    return total[1:] / comb(n, ks)


def maj_at_k_monte_carlo(answers: Sequence[Hashable | None], correct: Sequence[float], draws: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """maj@k for k = 1..n from `draws` random orderings (each prefix of length k is a uniform k-subset):
    the estimate and its standard error, per k. Ties count as the expected share, as in the exact form."""
    n = len(answers)
    sizes, hits, abstain = _classes(answers, correct)
    label = np.concatenate([np.repeat(np.arange(len(sizes)), sizes), np.full(abstain, -1)])
    hit = np.asarray(hits + [0.0])
    rng = np.random.default_rng(seed)
    scores = np.zeros((draws, n))
    for d in range(draws):
        order = label[rng.permutation(n)]
        counts = np.zeros((n, len(sizes) + 1))
        counts[np.arange(n), order] = 1.0
        counts = np.cumsum(counts, axis=0)[:, :-1] if len(sizes) else np.zeros((n, 0))
        if counts.shape[1] == 0:
            continue
        top = counts.max(axis=1, keepdims=True)
        tied = (counts == top) & (top > 0)
        scores[d] = (tied * hit[:-1]).sum(axis=1) / np.maximum(tied.sum(axis=1), 1)
    return scores.mean(axis=0), scores.std(axis=0, ddof=1) / np.sqrt(draws) if draws > 1 else np.full(n, np.nan)


def maj_at_k(answers: Sequence[Hashable | None], correct: Sequence[float], *, draws: int = 2000,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """maj@k for k = 1..n and its standard error: exact (error 0) up to EXACT_MAX_SAMPLES, else Monte Carlo."""
    if len(answers) <= EXACT_MAX_SAMPLES:
        curve = maj_at_k_curve(answers, correct)
        return curve, np.zeros_like(curve)
    return maj_at_k_monte_carlo(answers, correct, draws, seed)
