"""The run config: one typed tree, every knob with its help text and the paper it comes from.

A run is fully described by a `RunConfig`. YAML goes in through `load_run_config`, dotted
`key=value` overrides through `apply_overrides`; unknown keys and wrong types are rejected with
the field's dotted name (`ConfigError`). The same dotted paths are the axes of a study.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any, Literal, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scaling.fsio import atomic_write
from scaling.identity import identity_tree, v1_form


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line naming the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TaskConfig(_Section):
    name: Literal["addition", "addition_think", "countdown", "dataset", "reasoning_gym"] = Field(
        "addition", description="Task with a verifier: addition, addition_think (addition that thinks first: a scratchpad of "
        "per-digit sums, an end-of-thinking marker, then the answer, for s1 budget forcing, Muennighoff et al. 2025), "
        "countdown (TinyZero / Gandhi et al. 2024), a dataset of math answers, or a reasoning-gym generator "
        "(Stojanovski et al. 2025; the `reasoning-gym` extra).")
    digits: int = Field(3, ge=1, le=12, description="addition, addition_think: digits per operand (zero-padded, written least-significant first).")
    numbers: int = Field(3, ge=2, le=6, description="countdown: how many numbers are given.")
    max_number: int = Field(20, ge=2, description="countdown: largest number drawn.")
    path: str | None = Field(None, description="dataset: a .jsonl, .parquet or .csv file, or a folder saved by HF datasets (save_to_disk).")
    val_path: str | None = Field(None, description="dataset: held-out file or folder; default is a seeded split of `path`.")
    prompt_field: str = Field("prompt", min_length=1, description="dataset: column holding the question (GSM8K, MATH: 'question', 'problem').")
    answer_field: str = Field("answer", min_length=1, description="dataset: column holding the answer, or a whole solution "
                              "ending in \\boxed{} (MATH) or '#### 42' (GSM8K), whose final answer is then the reference.")
    answer_format: Literal["auto", "boxed", "gsm8k", "answer_is", "last_number", "whole"] = Field(
        "auto", description="dataset, reasoning_gym: where a completion's final answer is: \\boxed{} (MATH, Hendrycks et al. "
        "2021), '#### 42' (GSM8K, Cobbe et al. 2021), 'the answer is ...' (Minerva, Lewkowycz et al. 2022), the last "
        "number, the whole completion; auto tries them in that order (see scaling/tasks/answers.py).")
    train_prompts: int | None = Field(
        None, ge=1, description="Train on only the first N training prompts, for many epochs (reinforcement fine-tuning, "
        "RFT: a narrow prompt set; OpenAI 2024). None: every training prompt.")
    dataset: str | None = Field(None, description="reasoning_gym: the generator's name, e.g. basic_arithmetic or countdown.")
    options: dict[str, Any] = Field(default_factory=dict, description="reasoning_gym: the generator's config, passed through "
                                    "as is (e.g. {min_terms: 2, max_terms: 2}); its seed and size come from the run.")
    chat_template: Literal["auto", "none"] = Field(
        "auto", description="auto: render prompts with the tokenizer's chat template when it has one (instruct models); "
        "none: the raw prompt text, with the tokenizer's own special tokens (e.g. BOS).")
    system_prompt: str | None = Field(None, description="System message (chat template) or text put before the prompt (none).")
    prompt_template: str = Field("{question}", description="The user message; {question} is replaced by the task's prompt "
                                 "(e.g. 'Solve and put the answer in \\boxed{}.\\n{question}').")
    train_size: int = Field(20000, ge=1, description="Training prompts (generated tasks); dataset tasks use every row.")
    val_size: int = Field(1000, ge=1, description="Held-out prompts for evaluation, disjoint from training; 1000 x k=4 gives a standard error of ~0.01 on the mean pass rate (measured).")

    @model_validator(mode="after")
    def _template(self) -> "TaskConfig":
        if "{question}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {question}")
        return self


class ModelConfig(_Section):
    name_or_path: str | None = Field(
        None, description="A local path or hub name of a causal LM; None builds the tiny random-weight decoder below.")
    arch: Literal["llama", "qwen2"] = Field("llama", description="Architecture of the tiny built-in decoder.")
    hidden_size: int = Field(128, ge=8)
    layers: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    intermediate_size: int = Field(512, ge=8)
    max_positions: int = Field(128, ge=16)
    precision: Literal["fp32", "bf16", "fp16", "fp32_lm_head"] = Field(
        "fp32", description="Compute dtype. bf16/fp16 keep fp32 master weights (fp16 with dynamic loss scaling); "
        "fp32_lm_head is bf16 with the LM head and logits in fp32 (ScaleRL, Khatri et al. 2025, sec. 3.2).")
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] = Field(
        "eager", description="Attention kernel (transformers attn_implementation): eager measured faster than sdpa for "
        "tiny CPU models; sdpa or flash_attention_2 (FlashAttention-2, Dao 2023; needs the flash-attn package and a GPU) for real ones.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass instead of storing them (Chen et al. 2016): "
        "less memory for ~1/3 more training FLOPs (the compute meter counts FLOPs of the passes it asked for, not the recomputation).")

    @model_validator(mode="after")
    def _shape(self) -> "ModelConfig":
        # Checked here, not by transformers at build time, so that a bad shape is refused before any run starts.
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by heads {self.heads}")
        if (self.hidden_size // self.heads) % 2:
            raise ValueError(f"head size hidden_size/heads = {self.hidden_size // self.heads} must be even (rotary embeddings)")
        return self


class WarmstartConfig(_Section):
    enabled: bool | None = Field(
        None, description="Supervised warm start until the base pass rate at the sampling temperature enters the band. "
        "Default: on for the built-in random-weight model, off when model.name_or_path is set (a pretrained model "
        "already has a non-zero pass rate); set true to warm-start a pretrained model too.")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    max_steps: int = Field(4000, ge=1)
    check_every: int = Field(25, ge=1, description="Steps between pass-rate checks (the SFT transition is sudden).")
    check_prompts: int = Field(256, ge=8, description="Validation prompts per check.")
    target_low: float = Field(0.15, ge=0, le=1, description="Stop once the sampled pass rate is at least this ...")
    target_high: float = Field(0.30, ge=0, le=1, description="... and at most this (the RL run needs headroom).")
    cache_dir: str | None = Field(None, description="Where base checkpoints are cached by config hash; default ~/.cache/scaling/warmstart.")

    @model_validator(mode="after")
    def _band(self) -> "WarmstartConfig":
        if self.target_low > self.target_high:
            raise ValueError("target_low must not exceed target_high")
        return self


class RolloutConfig(_Section):
    prompts_per_step: int = Field(16, ge=1, description="Prompts per RL step (ScaleRL batch = prompts x generations).")
    generations_per_prompt: int = Field(8, ge=2, description="Samples per prompt, the GRPO group size G (Shao et al. 2024).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature for rollouts and evaluation.")
    max_new_tokens: int = Field(8, ge=1, description="Generation budget per completion.")
    overlong: Literal["keep", "mask", "soft_penalty"] = Field(
        "keep", description="Completions cut at max_new_tokens: scored as they are, masked out of the loss "
        "(TRL mask_truncated_completions), or DAPO's soft overlong penalty (Yu et al. 2025, eq. 13).")
    overlong_buffer: int = Field(2, ge=0, description="DAPO soft penalty: the last tokens of the budget where the penalty ramps to -1.")
    interrupt_text: str | None = Field(
        None, description="ScaleRL forced interruption (Khatri et al. 2025): at the budget, append this text (e.g. "
        "'Time is up.</think> The answer is ') and let the model finish within `interrupt_budget` tokens. None: off.")
    interrupt_budget: int = Field(8, ge=1, description="Extra tokens allowed after a forced interruption.")
    engine: Literal["builtin", "vllm"] = Field(
        "builtin", description="Rollout engine: builtin (this package's KV-cache sampler; exact resume) or vllm (the "
        "inference engine of TRL, veRL, OpenRLHF and PipelineRL; weights pushed every step; extra 'vllm').")


# Aggregation when the config leaves it unset: each loss's own paper. GRPO (Shao et al. 2024) averages each
# completion's tokens, then completions (1/G sum_i 1/|o_i|); GSPO (Zheng et al. 2025) is an objective over
# sequences, 1/G sum_i of the sequence term, which for our per-token form is the same sample mean; DAPO
# (Yu et al. 2025) averages over every token of the batch; CISPO (MiniMax 2025) normalises by the tokens of
# each prompt's group, which over a batch is ScaleRL's prompt-level average.
DEFAULT_AGGREGATION = {"grpo": "sample_mean", "gspo": "sample_mean", "dapo": "token_mean", "cispo": "prompt_mean"}


class LossConfig(_Section):
    type: Literal["grpo", "dapo", "gspo", "cispo"] = Field(
        "grpo", description="Policy loss: grpo (PPO-clip, Shao et al. 2024), dapo (clip-higher, Yu et al. 2025), "
        "gspo (sequence ratio, Zheng et al. 2025), cispo (clipped IS-weight, MiniMax 2025; ScaleRL).")
    aggregation: Literal["token_mean", "sample_mean", "prompt_mean", "constant"] | None = Field(
        None, description="token_mean over the batch (DAPO), sample_mean (GRPO's 1/|o_i|; with gspo the paper's "
        "sequence-level mean), prompt_mean (ScaleRL; CISPO's per-prompt token normalisation, MiniMax 2025), "
        "constant = sum / (batch x generation budget) (Dr.GRPO, Liu et al. 2025). None: the loss type's own paper: "
        "grpo sample_mean, gspo sample_mean, dapo token_mean, cispo prompt_mean.")
    adv_norm: Literal["group", "batch", "none"] = Field(
        "group", description="Divide (reward - group mean) by the group std (GRPO), the batch std (ScaleRL), or nothing (Dr.GRPO).")
    eps_low: float | None = Field(
        None, ge=0, description="Lower clip, ratio >= 1 - eps_low (grpo, dapo, gspo). None: 0.2, or 3e-4 for gspo (Zheng et al. 2025).")
    eps_high: float | None = Field(
        None, ge=0, description="Upper clip, ratio <= 1 + eps_high. None: 0.2 grpo, 0.28 dapo (clip-higher, Yu et al. 2025), 4e-4 gspo.")
    cispo_eps_max: float = Field(4.0, gt=0, description="CISPO: the IS weight sg(min(r, eps_max)) (ScaleRL uses 4-5).")
    kl_beta: float = Field(0.0, ge=0, description="k3 KL penalty to the initial policy (Schulman 2020); 0 keeps no reference model.")
    tis_cap: float | None = Field(
        None, gt=0, description="Truncated importance sampling between trainer and sampler log-probs, weight min(ratio, cap) "
        "(Yao et al. 2025; TRL vllm_importance_sampling_correction). None disables it.")


class OptimConfig(_Section):
    lr: float = Field(3e-4, gt=0, description="AdamW learning rate; 3e-4 suits the tiny default (ScaleRL: 5e-7 at 8B scale).")
    warmup_steps: int = Field(50, ge=0, description="Linear warm-up over this many RL steps (not optimizer updates), "
                              "then the schedule (ScaleRL: 100).")
    schedule: Literal["constant", "cosine", "linear"] = Field(
        "cosine", description="Learning rate after warm-up: cosine (Loshchilov & Hutter 2017) or linear decay to "
        "lr x min_lr_ratio at train.steps, or constant (ScaleRL, Khatri et al. 2025: a curve that does not depend on "
        "the planned length). Cosine by default: at lr 3e-4 the tiny default oscillates late and can collapse when "
        "constant (analysis/default_recipe.md, results/cpu_scaling).")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine/linear: final lr as a fraction of lr.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay on matmul weights only; norms, "
                                "biases and embeddings are not decayed (standard practice; ScaleRL: 0.01).")
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.99, ge=0, lt=1)
    adam_eps: float = Field(1e-8, gt=0, description="AdamW epsilon (ScaleRL: 1e-15).")
    grad_clip: float = Field(1.0, gt=0)


class TrainConfig(_Section):
    steps: int = Field(600, ge=1, description="RL steps (each step is one sampled batch, train.updates_per_batch optimizer updates).")
    updates_per_batch: int = Field(1, ge=1, description="Optimizer updates per sampled batch via minibatches (PPO off-policy; TRL num_iterations x steps).")
    filter_zero_variance: Literal["none", "drop", "refill"] = Field(
        "none", description="Groups whose rewards are all equal carry no signal: none trains on them (zero advantage), "
        "drop leaves them out and trains on a smaller batch (ScaleRL, Khatri et al. 2025), refill samples more "
        "prompts until prompts_per_step groups vary (DAPO dynamic sampling, Yu et al. 2025; extra sampling is "
        "counted as compute). YAML true/false mean drop/none.")
    refill_max_rounds: int = Field(10, ge=1, description="refill: at most this many sampling rounds per step, the first "
                                   "included (DAPO's max_num_gen_batches); then train on the groups gathered.")
    no_positive_resampling: bool = Field(False, description="Retire for good every prompt whose pass rate in the batch "
                                         "reaches `retire_at` (ScaleRL).")
    retire_at: float = Field(0.9, gt=0, le=1, description="Pass rate within a prompt's group at which it is retired (ScaleRL: 0.9).")
    track_kl: bool = Field(True, description="Keep a frozen copy of the initial policy to log KL to it on evaluation steps "
                           "(monitoring only; turn off for large models). kl_beta > 0 keeps the copy regardless.")
    pipeline_k: int = Field(0, ge=0, description="PipelineRL-k (ScaleRL): sampler weights at most k steps stale; 0 is the synchronous loop.")
    micro_batch_size: int | None = Field(
        None, ge=1, description="Completion rows per forward/backward, a multiple of the group size; gradients accumulate "
        "to exactly the full-batch update (gradient accumulation, as TRL/veRL micro-batches). None: the whole update at once.")
    parallel: Literal["ddp", "fsdp"] = Field(
        "ddp", description="Data parallelism of a multi-rank run: ddp (every rank holds the whole model) or fsdp, PyTorch "
        "FSDP2 fully_shard (Zhao et al. 2023, 'PyTorch FSDP'): parameters, gradients and optimizer state sharded over "
        "ranks, for models that do not fit one device; each rank still keeps a full copy in the compute dtype for "
        "sampling (veRL's hybrid engine). One process runs unsharded. bf16 and fp32_lm_head, not fp16.")

    @field_validator("filter_zero_variance", mode="before")
    @classmethod
    def _legacy_bool(cls, value):
        # Configs written before drop/refill existed said true (drop) or false (none).
        return {True: "drop", False: "none"}.get(value, value) if isinstance(value, bool) else value


class EvalConfig(_Section):
    every: int = Field(50, ge=1, description="RL steps between evaluations (and at step 0); evaluation then takes ~20% of a default run.")
    prompts: int | None = Field(None, ge=1, description="Held-out prompts per evaluation; default all of task.val_size.")
    k: int = Field(4, ge=1, description="Samples per prompt at the sampling temperature (mean@k; ScaleRL uses mean@16).")
    greedy: bool = Field(True, description="Also record greedy accuracy.")
    train_prompts: int | None = Field(
        None, ge=0, description="Training prompts also scored at each evaluation (a fixed sample; the train_pass_rate "
        "column), the overfitting watch of reinforcement fine-tuning (OpenAI RFT). None: all of task.train_prompts "
        "(at most eval.prompts) when that is set, else 0.")


class LogConfig(_Section):
    """What a run records beyond its Parquet tables; none of it changes what the run computes (not in the run ID)."""
    trajectories: Literal["none", "correct", "all"] = Field(
        "none", description="Write sampled training completions to trajectories.parquet: none, correct (full reward) "
        "or all; for distillation (RLVR practice: log every successful trajectory; `scaling export` makes an SFT set).")
    trajectories_per_step: int = Field(
        64, ge=1, description="At most this many trajectory rows per step, spread over the step's prompts.")
    report_to: list[Literal["tensorboard", "wandb", "trackio"]] = Field(
        default_factory=list, description="Experiment trackers that receive step metrics and evaluation rows from rank 0 "
        "as they are written (optional extras); Parquet stays the source of truth.")
    project: str = Field("scaling", description="W&B / trackio project name.")
    wandb_mode: Literal["offline", "online"] = Field(
        "offline", description="W&B mode: offline (files under the run folder, `wandb sync` later) unless set online.")


class CheckpointConfig(_Section):
    keep_eval_weights: bool = Field(
        False, description="Also keep the policy weights of every evaluation step (<run>/weights/step_N, a saved "
        "model) so `scaling infer` can sample many completions from each checkpoint (inference-time scaling: "
        "Brown et al. 2024; Snell et al. 2024). Off by default: one model copy per evaluation is large for real models.")


class RunConfig(_Section):
    seed: int = Field(0, description="Seeds data order, sampling and the RL init; the warm start has its own seed.")
    warmstart_seed: int = Field(0, description="Seed of the base model and of the task's prompt sets; equal across a grid so every run starts identical.")
    threads: int | None = Field(None, ge=1, description="torch threads on the CPU; default: the cores given to this process. Ignored on GPUs.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda|cuda:\d+)$",
                        description="auto (a GPU when one is visible, else the CPU), cpu, cuda (the local rank's GPU) or cuda:N.")
    checkpoint_every: int = Field(50, ge=1, description="RL steps between checkpoints (also saved at every evaluation).")
    task: TaskConfig = TaskConfig()
    model: ModelConfig = ModelConfig()
    warmstart: WarmstartConfig = WarmstartConfig()
    rollout: RolloutConfig = RolloutConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    log: LogConfig = LogConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    @model_validator(mode="after")
    def _warmstart_default(self) -> "RunConfig":
        if self.warmstart.enabled is None:  # resolved here, so the saved config and the run ID say what ran
            object.__setattr__(self, "warmstart",
                               self.warmstart.model_copy(update={"enabled": self.model.name_or_path is None}))
        return self

    @model_validator(mode="after")
    def _whole_groups(self) -> "RunConfig":
        size, group = self.train.micro_batch_size, self.rollout.generations_per_prompt
        if size is not None and size % group:
            raise ValueError(f"train.micro_batch_size ({size}) must be a multiple of "
                             f"rollout.generations_per_prompt ({group}): micro-batches hold whole groups")
        return self

    @model_validator(mode="after")
    def _fsdp_precision(self) -> "RunConfig":
        if self.train.parallel == "fsdp" and self.model.precision == "fp16":
            raise ValueError("train.parallel fsdp does not run model.precision fp16 (loss scaling over sharded "
                             "gradients is not wired up); use bf16 or fp32_lm_head")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def config_hash(self) -> str:
        return stable_hash(self.to_dict())

    def identity_hash(self) -> str:
        """The run ID: what a run computes (see scaling.identity: fields added after ID version 1 count
        only when set away from their default, and where or on how many threads it runs never counts)."""
        return stable_hash(identity_tree(v1_form(self.to_dict(), DEFAULT_AGGREGATION), _defaults(type(self))))

    def flat(self) -> dict[str, Any]:
        return flatten(self.to_dict())


@functools.lru_cache(maxsize=None)
def _defaults(cls: type[RunConfig]) -> dict[str, Any]:
    return cls().flat()


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hash of a JSON-able object that does not depend on key order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating sections; the model validates the result."""
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: '{key}' is a value, not a section")
        node = child
    node[keys[-1]] = value


def field_exists(dotted: str) -> bool:
    """Whether `dotted` names a leaf field of RunConfig (used to validate study axes). Below a free-form mapping
    (`task.options`, passed through to a reasoning-gym generator that validates it) any key is a leaf."""
    model: Any = RunConfig
    for key in dotted.split("."):
        if get_origin(model) is dict:
            return True
        fields = getattr(model, "model_fields", None)
        if fields is None or key not in fields:
            return False
        model = fields[key].annotation
    return getattr(model, "model_fields", None) is None


def format_validation_error(err: ValidationError) -> str:
    """One line for a pydantic error: the dotted field, the reason, the value given (the one formatter)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if first["type"] == "value_error":  # our own validators: the message names the fields
        return f"{where}: {first['msg'].removeprefix('Value error, ')}"
    given = first.get("input")
    return f"{where}: {first['msg']}" + ("" if isinstance(given, dict) else f" (got {given!r})")


def build_config(tree: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err)) from None


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw) if raw.strip() else None


def apply_overrides(tree: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    for text in overrides:
        key, value = parse_override(text)
        if not field_exists(key):
            raise ConfigError(f"{key}: unknown key")
        set_dotted(tree, key, value)
    return tree


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} malformed YAML ({getattr(err, 'problem', err)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_run_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    tree = read_yaml(path) if path is not None else {}
    return build_config(apply_overrides(tree, overrides))


def save_run_config(config: RunConfig, path: str | Path) -> None:
    atomic_write(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def _looks_local(name: str) -> bool:
    """A filesystem path rather than a hub name like 'org/model'."""
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()


def check_inputs(config: RunConfig) -> None:
    """Fail before any work (or any job submission) when a file the run reads is missing."""
    files = []
    if config.task.name == "dataset":
        if config.task.path is None:
            raise ConfigError("task.path: the dataset task needs a file or folder (JSONL, Parquet, CSV or a saved HF dataset)")
        files += [("task.path", config.task.path), ("task.val_path", config.task.val_path)]
    if config.task.name == "reasoning_gym" and not config.task.dataset:
        raise ConfigError("task.dataset: name a reasoning-gym generator (e.g. basic_arithmetic, countdown)")
    if config.model.name_or_path and _looks_local(config.model.name_or_path):
        files.append(("model.name_or_path", config.model.name_or_path))
    for tracker in config.log.report_to:  # each tracker's module has the name report_to gives it
        if importlib.util.find_spec(tracker) is None:
            raise ConfigError(f"log.report_to: {tracker} is not installed (pip install 'scaling[{tracker}]')")
    for field_name, value in files:
        if value is not None and not Path(value).expanduser().exists():
            raise ConfigError(f"{field_name}: {value} does not exist (set it in the config or spec)")
