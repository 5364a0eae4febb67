"""The built-in sampler (scaling.rl.rollout.sample) behind the engine interface: it samples from the policy
itself, so there is nothing to push and nothing to close."""

from __future__ import annotations

from scaling.rl.rollout import Completions, sample


class BuiltinEngine:
    def __init__(self, model):
        self.model = model

    def sample(self, input_ids, attention_mask, **options) -> Completions:
        """`scaling.rl.rollout.sample`'s keywords (generator, repeat, greedy, sampling_options(...))."""
        return sample(self.model, input_ids, attention_mask, **options)

    def push(self, model) -> None:
        """Nothing to do: the next sample reads `model`'s weights directly."""

    def close(self) -> None:
        pass
