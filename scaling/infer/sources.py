"""What `scaling infer SOURCE` samples from: the checkpoints of a run folder, of every run of a study, or a
saved model, each with its training compute (step, FLOPs).

A run's checkpoints are the kept evaluation weights (`checkpoint.keep_eval_weights`: weights/step_N)
and its newest resume checkpoints (checkpoints/step_N.pt, the last two). A saved model folder is one
checkpoint: its step and FLOPs come from its compute.json when it is a kept evaluation policy, else
step 0 with unknown training compute.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from scaling.config import ConfigError, RunConfig, build_config, read_yaml
from scaling.model import load_pretrained, make_policy
from scaling.rl.checkpoint import COMPUTE_FILE, checkpoint_paths, eval_weight_paths
from scaling.rl.precision import apply_precision
from scaling.store import RunFiles


@dataclass
class Checkpoint:
    step: int
    train_flops: float
    load: Callable[[], tuple[torch.nn.Module, object]]  # (model, tokenizer), model in eval mode on the CPU
    where: str


@dataclass
class Source:
    name: str
    config: RunConfig
    out: Path | None           # where its tables go by default (None: --out is required)
    checkpoints: list[Checkpoint]


def _from_saved_model(path: Path, precision: str, attn: str) -> Callable:
    def load():
        model, tokenizer = load_pretrained(path, attn)
        return apply_precision(model, precision).eval(), tokenizer
    return load


def _from_resume_checkpoint(path: Path, config: RunConfig) -> Callable:
    def load():
        model, tokenizer = make_policy(config.model, config.warmstart_seed)  # the architecture; weights below
        apply_precision(model, config.model.precision)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
        return model.eval(), tokenizer
    return load


def _compute(path: Path) -> tuple[int, float]:
    data = json.loads((path / COMPUTE_FILE).read_text())
    return int(data["step"]), float(data.get("flops", math.nan))


def run_checkpoints(run_dir: Path, config: RunConfig) -> list[Checkpoint]:
    found: dict[int, Checkpoint] = {}
    files = RunFiles(run_dir)
    for step, path in checkpoint_paths(files.checkpoints):
        meter = torch.load(path, map_location="cpu", weights_only=False)["meter"]
        found[step] = Checkpoint(step, float(meter["flops"]), _from_resume_checkpoint(path, config), str(path))
    for step, path in eval_weight_paths(run_dir / "weights"):  # preferred: a self-contained saved model
        found[step] = Checkpoint(step, _compute(path)[1], _from_saved_model(path, config.model.precision,
                                                                             config.model.attn_implementation), str(path))
    return [found[s] for s in sorted(found)]


def _run_source(run_dir: Path) -> Source:
    config = build_config(read_yaml(RunFiles(run_dir).config))
    name = run_dir.name
    info = run_dir / "run.json"
    if info.exists():
        name = json.loads(info.read_text()).get("name", name)
    return Source(name, config, run_dir / "infer", run_checkpoints(run_dir, config))


def _study_run_dirs(source: Path) -> list[Path]:
    if source.suffix in (".yaml", ".yml"):
        from scaling.study.spec import expand, load_spec  # lazy: a study sits above the trainer

        spec = load_spec(source)
        return [run.run_dir(spec.study_dir) for run in expand(spec)]
    return sorted(p for p in (source / "runs").iterdir() if p.is_dir())


def resolve(source: Path, config: RunConfig | None = None) -> list[Source]:
    """The sources named by SOURCE; `config` (task and model settings) is needed for a bare saved model."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such run folder, study or model")
    if source.is_file() and source.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{source}: expected a run folder, a study (spec .yaml or folder with runs/) or a saved model")
    if RunFiles(source).config.exists():
        return [_run_source(source)]
    if source.suffix in (".yaml", ".yml") or (source / "runs").is_dir():
        dirs = [d for d in _study_run_dirs(source) if RunFiles(d).config.exists()]
        if not dirs:
            raise ValueError(f"{source}: the study has no run folders yet (launch it first)")
        return [_run_source(d) for d in dirs]
    if (source / "config.json").exists():
        config = config or RunConfig()
        step, flops = _compute(source) if (source / COMPUTE_FILE).exists() else (0, math.nan)
        load = _from_saved_model(source, config.model.precision, config.model.attn_implementation)
        return [Source(source.name, config, None, [Checkpoint(step, flops, load, str(source))])]
    raise ValueError(f"{source}: not a run folder (config.yaml), a study (runs/) or a saved model (config.json)")


def select(checkpoints: list[Checkpoint], which: list[str], name: str) -> list[Checkpoint]:
    """`all`, `last` and step numbers, in any mix (each checkpoint once, in step order)."""
    if not checkpoints:
        raise ValueError(f"{name}: no checkpoints to sample from (train with checkpoint.keep_eval_weights=true)")
    by_step = {c.step: c for c in checkpoints}
    chosen: set[int] = set()
    for item in which or ["all"]:
        if item in ("all", "last"):
            chosen |= set(by_step) if item == "all" else {checkpoints[-1].step}
            continue
        try:
            step = int(item)
        except ValueError:
            raise ConfigError(f"--checkpoints: expected all, last or step numbers, not {item!r}") from None
        if step not in by_step:
            raise ValueError(f"{name}: no checkpoint at step {step} (have {', '.join(map(str, sorted(by_step)))})")
        chosen.add(step)
    return [by_step[s] for s in sorted(chosen)]
