"""The sampling settings of one `scaling infer` call, from its options and the run's config."""

from __future__ import annotations

from scaling.config import RunConfig
from scaling.infer.budget import Budget
from scaling.infer.sampling import Setting

# Tokens the model may still write after a forced end of thinking (the answer prefix and the answer).
ANSWER_ALLOWANCE = 16


def settings_for(config: RunConfig, *, n: int, prompts: int | None, temperature: float | None, budgets: list[str],
                 max_new_tokens: int | None, wait: str, seed: int) -> list[Setting]:
    """One Setting per budget (`none` or absent: plain sampling). With forcing, the generation cap must leave
    room for the whole budget, the forced tokens and the answer; by default it does."""
    count = prompts or config.task.val_size
    temp = temperature if temperature is not None else config.rollout.temperature
    settings = []
    for text in budgets or ["none"]:
        if text == "none":
            settings.append(Setting(n, count, temp, max_new_tokens or config.rollout.max_new_tokens, seed=seed))
            continue
        budget = Budget.parse(text)
        cap = max_new_tokens or (max(budget.max_tokens or 0, budget.min_tokens, config.rollout.max_new_tokens)
                                 + 2 * len(wait) + ANSWER_ALLOWANCE)
        settings.append(Setting(n, count, temp, cap, budget.min_tokens, budget.max_tokens, wait, seed))
    return settings
