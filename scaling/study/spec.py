"""The experiment spec: a base run config, axes, variants and seeds, expanded into runs.

Everything is validated here, before anything is submitted: every axis path must be a leaf of
`RunConfig`, every axis value must type-check on its own against the base, and every expanded
run must build. Errors are one line (`SpecError`) naming the axis, the value and the reason.

A run's ID is a hash of its resolved config (defaults filled in), so it does not depend on key
order in the YAML; fields added to the config after ID version 1 count only when set away from
their default, so an upgrade that adds a knob keeps every existing ID (scaling.identity).
`threads`, `device` and `warmstart.cache_dir` are left out of the ID: they say where and how fast a
run executes, not what it computes, and the executor sets them.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scaling.config import (ConfigError, RunConfig, build_config, field_exists, flatten,
                            format_validation_error, read_yaml,
                            set_dotted, stable_hash)



class SpecError(ValueError):
    """A spec that cannot be launched; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Resources(_Strict):
    executor: Literal["auto", "local", "slurm", "debug"] = "auto"
    timeout_min: int = Field(60, ge=1, description="Wall-clock limit per run (Slurm --time).")
    cpus_per_run: int | None = Field(None, ge=1, description="Cores per run (per rank of a data-parallel run); also its "
                                     "torch threads. Default: base.threads or 1.")
    gpus_per_run: int = Field(0, ge=0, description="GPUs of a one-process run (data-parallel runs: gpus_per_task).")
    nodes: int = Field(1, ge=1, description="Data parallelism (torch.distributed DDP): nodes per run (Slurm --nodes).")
    tasks_per_node: int = Field(1, ge=1, description="Data-parallel ranks per node (Slurm --ntasks-per-node; locally, "
                                "processes per run). A run has nodes x tasks_per_node ranks, each with cpus_per_run cores.")
    gpus_per_task: int = Field(0, ge=0, description="GPUs per rank of a data-parallel run (Slurm --gpus-per-task; "
                               "locally, CUDA_VISIBLE_DEVICES per run). Usually 1.")
    mem_gb: float | None = Field(None, gt=0)
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    @property
    def world_size(self) -> int:
        """Data-parallel ranks per run."""
        return self.nodes * self.tasks_per_node

    @property
    def gpus_per_rank(self) -> int:
        return self.gpus_per_task or (self.gpus_per_run if self.world_size == 1 else 0)

    array_parallelism: int | None = Field(None, ge=1, description="Slurm: tasks of one array running at once.")
    max_array_size: int = Field(1000, ge=1, description="Split arrays larger than this (Slurm MaxArraySize).")
    max_num_timeout: int = Field(3, ge=0, description="Slurm: requeues after a time-out before giving up (submitit).")
    sbatch_extra: list[str] = Field(default_factory=list, description="Extra sbatch options, e.g. '--reservation=x'.")
    setup: list[str] = Field(default_factory=list, description="Shell lines run before each job (module load ...).")

    @field_validator("sbatch_extra")
    @classmethod
    def _options(cls, lines: list[str]) -> list[str]:
        for line in lines:
            if not line.strip().removeprefix("#SBATCH").strip().startswith("--"):
                raise ValueError(f"sbatch_extra line {line!r} must look like '--key=value' or '--flag'")
        return lines


class Axis(_Strict):
    values: list[Any]
    short: str | None = Field(None, description="Name used in run names instead of the dotted path.")


class Spec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    output: str = "results"
    base: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any] | Axis] = Field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0])
    derived: list[str] = Field(
        default_factory=list, description="Config fields the spec varies only to follow an axis (train.steps and "
        "eval.every set per batch size to equalise compute): fits, labels and comparisons do not treat them as axes.")
    resources: Resources = Resources()

    def axis(self, path: str) -> Axis:
        spec = self.axes[path]
        return spec if isinstance(spec, Axis) else Axis(values=spec)

    @property
    def study_dir(self) -> Path:
        return Path(self.output).expanduser() / self.name

    def spec_hash(self) -> str:
        return stable_hash(self.model_dump(mode="json"))


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str
    config: RunConfig
    values: dict[str, Any] = field(default_factory=dict)  # axis path (or "variant", "seed") -> value

    def run_dir(self, study_dir: Path) -> Path:
        return Path(study_dir) / "runs" / self.run_id


def run_id(config: RunConfig) -> str:
    return config.identity_hash()


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def parse_spec(data: dict[str, Any], source: str = "spec") -> Spec:
    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{source}: {format_validation_error(err)}") from None
    _check(spec)
    return spec


def load_spec(path: str | Path) -> Spec:
    try:
        data = read_yaml(path)
    except ConfigError as err:
        raise SpecError(str(err)) from None
    return parse_spec(data, str(path))


def _check_parallel(spec: Spec, base) -> None:
    res = spec.resources
    if res.world_size == 1:
        return
    if res.gpus_per_run:
        raise SpecError("resources.gpus_per_run: a data-parallel run (tasks_per_node x nodes > 1) asks for "
                        "resources.gpus_per_task instead")
    if base.train.pipeline_k > 0:
        raise SpecError("resources.tasks_per_node: PipelineRL (train.pipeline_k > 0) runs in one process")
    if base.rollout.prompts_per_step < res.world_size:
        raise SpecError(f"rollout.prompts_per_step={base.rollout.prompts_per_step} is fewer than the "
                        f"{res.world_size} data-parallel ranks: every rank samples at least one prompt")
    if res.executor == "local" and res.nodes > 1:
        raise SpecError("resources.nodes > 1 needs Slurm (executor: slurm); the local executor runs on one machine")


def _check(spec: Spec) -> None:
    """Everything that can be checked per axis, so that errors name the axis and the value."""
    base = _base_config(spec)
    if not spec.seeds:
        raise SpecError("seeds: empty list (give at least one seed)")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise SpecError(f"seeds: duplicate seed in {spec.seeds}")
    if spec.resources.cpus_per_run and base.threads and base.threads != spec.resources.cpus_per_run:
        raise SpecError(f"base.threads={base.threads} disagrees with resources.cpus_per_run={spec.resources.cpus_per_run}")
    _check_parallel(spec, base)
    for path in spec.axes:
        _check_axis(spec, path)
    for name, overrides in spec.variants.items():
        _check_variant(spec, name, overrides)
    for path in spec.derived:
        if not field_exists(path):
            raise SpecError(f"derived {path}: unknown config field")
        if path in spec.axes:
            raise SpecError(f"derived {path}: an axis cannot be derived")
    shorts = [spec.axis(p).short or p for p in spec.axes]
    if len(set(shorts)) != len(shorts):
        raise SpecError(f"axes: two axes share a short name in {shorts}")


def _base_config(spec: Spec) -> RunConfig:
    try:
        return build_config(spec.base)
    except ConfigError as err:
        raise SpecError(f"base.{err}") from None


def _check_axis(spec: Spec, path: str) -> None:
    if path in ("seed", "threads"):
        reason = "use `seeds:`" if path == "seed" else "set resources.cpus_per_run"
        raise SpecError(f"axis {path}: not allowed as an axis ({reason})")
    if not field_exists(path):
        raise SpecError(f"axis {path}: unknown config field")
    values = spec.axis(path).values
    if not values:
        raise SpecError(f"axis {path}: empty list of values")
    seen: set[str] = set()
    for value in values:
        label = format_value(value)
        if label in seen:
            raise SpecError(f"axis {path}: duplicate value {label!r}")
        seen.add(label)
        _try_override(spec.base, {path: value}, f"axis {path}: value {value!r} rejected")


def _check_variant(spec: Spec, name: str, overrides: dict[str, Any]) -> None:
    if "," in name or "=" in name:
        raise SpecError(f"variant {name!r}: name must not contain ',' or '='")
    for path in flatten(overrides):
        if not field_exists(path):
            raise SpecError(f"variant {name}: {path}: unknown config field")
        if path in spec.axes or path in ("seed", "threads"):
            raise SpecError(f"variant {name}: {path} is also an axis (or set by seeds/resources); set it in one place")
    _try_override(spec.base, flatten(overrides), f"variant {name}: rejected")


def _try_override(base: dict[str, Any], overrides: dict[str, Any], context: str) -> RunConfig:
    tree = json.loads(json.dumps(base))  # a deep copy that also rejects non-JSON values early
    try:
        for path, value in overrides.items():
            set_dotted(tree, path, value)
        return build_config(tree)
    except ConfigError as err:
        raise SpecError(f"{context}: {err}") from None


def cpus_per_run(spec: Spec) -> int:
    return spec.resources.cpus_per_run or spec.base.get("threads") or 1


def expand(spec: Spec) -> list[Run]:
    """Variants x axes (cartesian) x seeds, in a stable order; rejects duplicate names and IDs."""
    variants = list(spec.variants.items()) or [(None, {})]
    paths = list(spec.axes)
    grids = list(itertools.product(*(spec.axis(p).values for p in paths)))
    threads = cpus_per_run(spec)
    runs, by_name, by_id = [], {}, {}
    for (variant, overrides), combo, seed in itertools.product(variants, grids, spec.seeds):
        values: dict[str, Any] = {"variant": variant} if variant else {}
        values.update(zip(paths, combo))
        values["seed"] = seed
        name = _name(spec, values)
        flat = {**flatten(overrides), **dict(zip(paths, combo)), "seed": seed, "threads": threads}
        config = _try_override(spec.base, flat, f"run {name}")
        run = Run(run_id(config), name, config, values)
        if name in by_name:
            raise SpecError(f"duplicate run name {name!r}")
        if run.run_id in by_id:
            raise SpecError(f"runs {by_id[run.run_id]!r} and {name!r} resolve to the same config ({run.run_id})")
        by_name[name], by_id[run.run_id] = run, name
        runs.append(run)
    return runs


def _name(spec: Spec, values: dict[str, Any]) -> str:
    parts = []
    for key, value in values.items():
        if key == "variant":
            parts.append(str(value))
        else:
            short = spec.axis(key).short if key in spec.axes else None
            parts.append(f"{short or key}={format_value(value)}")
    return ",".join(parts)


def check_paths(runs: list[Run]) -> None:
    """Everything a run reads must be usable before it is submitted (`scaling.rl.inputs.validate_inputs`:
    files exist, the task builds from them, the batch fits the task, the tokenizer loads and encodes it).
    Not part of a dry run, which may run on a machine without the cluster's filesystem."""
    from scaling.rl.inputs import validate_inputs  # the trainer's own check, so launch and train agree

    checked: set[str] = set()
    for run in runs:
        cfg = run.config
        key = json.dumps([cfg.task.model_dump(mode="json"), cfg.model.name_or_path, cfg.warmstart_seed,
                          cfg.rollout.prompts_per_step, cfg.eval.prompts], sort_keys=True)
        if key in checked:
            continue
        try:
            validate_inputs(cfg, encode=False)
        except ConfigError as err:
            raise SpecError(f"run {run.name}: {err}") from None
        checked.add(key)


def select(spec: Spec, runs: list[Run], only: list[str]) -> list[Run]:
    """Keep runs matching every `AXIS=VALUE` (axis path, its short name, `seed` or `variant`)."""
    import yaml  # safe_load only: values on the command line are YAML scalars

    wanted: dict[str, str] = {}
    shorts = {spec.axis(p).short: p for p in spec.axes if spec.axis(p).short}
    for text in only:
        if "=" not in text:
            raise SpecError(f"--only {text!r}: expected AXIS=VALUE")
        key, raw = (s.strip() for s in text.split("=", 1))
        key = shorts.get(key, key)
        if key not in spec.axes and key not in ("seed", "variant"):
            raise SpecError(f"--only {text!r}: {key} is not an axis of {spec.name}")
        value = raw if key == "variant" else yaml.safe_load(raw)
        wanted[key] = format_value(value)
    chosen = [r for r in runs if all(format_value(r.values.get(k)) == v for k, v in wanted.items())]
    if not chosen:
        raise SpecError(f"--only {' '.join(only)}: matches no run")
    return chosen
