"""Everything a run holds between steps, built from a RunConfig, and what of it a checkpoint saves."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from scaling.compute import ComputeMeter, ModelShape
from scaling.config import ConfigError, RunConfig
from scaling.model import count_parameters, make_policy
from scaling.rl.data import PromptPool
from scaling.rl.fsdp import ShardedWeights, full_state, load_full_state, shard_policy
from scaling.rl.prompts import check_encodable
from scaling.rl.precision import DTYPES, MasterWeights, apply_precision, dtype_summary
from scaling.rl.schedule import make_scheduler, param_groups
from scaling.rl.warmstart import ensure_base_model
from scaling.rl.update import PolicyLogProbs
from scaling.runtime import Runtime, cores_available, device_rng_state, init_runtime, set_device_rng_state
from scaling.tasks import make_task
from scaling.tasks.base import Example, Task
from scaling.tasks.lazy import upfront


@dataclass
class RunState:
    config: RunConfig
    model: torch.nn.Module
    tokenizer: object
    task: Task
    train_examples: Sequence[Example]  # a task may make them on first use (scaling.tasks.lazy)
    val_examples: list[Example]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    master: MasterWeights
    scaler: torch.amp.GradScaler | None
    pool: PromptPool
    sample_generator: torch.Generator
    meter: ComputeMeter
    shape: ModelShape
    runtime: Runtime = Runtime(torch.device("cpu"))
    trainer: torch.nn.Module | None = None  # the training log-prob pass: PolicyLogProbs, DDP-wrapped when distributed
    sharded: torch.nn.Module | None = None  # train.parallel fsdp: the fp32 policy the trainer shards; `model` samples
    reference: torch.nn.Module | None = None
    pipeline: object | None = None  # a PipelineSampler when train.pipeline_k > 0
    engine: object | None = None  # the rollout engine (scaling.rl.engines); None: the built-in sampler on `model`
    base_path: object | None = None
    dtypes: str = ""

    def state_dict(self) -> dict:
        # FSDP: the full fp32 model (the master weights) and optimizer state, gathered to rank 0 (a collective).
        model, optimizer = (full_state(self.sharded, self.optimizer) if self.sharded is not None
                            else (self.model.state_dict(), self.optimizer.state_dict()))
        return {"model": model, "master": [] if self.sharded is not None else self.master.state_dict(),
                "optimizer": optimizer, "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else None, "pool": self.pool.state_dict(),
                "sample_generator": self.sample_generator.get_state(), "meter": vars(self.meter).copy(),
                "pipeline": self.pipeline.state_dict() if self.pipeline is not None else None,
                # A collective under data parallelism: rank 0 saves every rank's sampling streams.
                "world_size": self.runtime.world_size, "ranks": self.runtime.all_gather(self._rank_rngs())}

    def _rank_rngs(self) -> dict:
        return {"sample_generator": self.sample_generator.get_state(), "torch": torch.get_rng_state(),
                "device": device_rng_state(self.runtime)}

    def load_state_dict(self, state: dict) -> None:
        if self.sharded is not None:
            load_full_state(self.sharded, self.optimizer, state["model"], state["optimizer"])
            self.master.master_to_model()
        else:
            self.model.load_state_dict(state["model"])
            self.master.load_state_dict(state["master"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.pool.load_state_dict(state["pool"])
        self.sample_generator.set_state(state["sample_generator"].cpu())
        saved_world = state.get("world_size", 1)
        if saved_world != self.runtime.world_size:
            raise ConfigError(f"the checkpoint was written by {saved_world} data-parallel ranks, this run has "
                              f"{self.runtime.world_size}: resume with the same world size (or a new output folder)")
        if "ranks" in state:
            mine = state["ranks"][self.runtime.rank]
            self.sample_generator.set_state(mine["sample_generator"].cpu())
            torch.set_rng_state(mine["torch"].cpu())
            set_device_rng_state(self.runtime, mine.get("device"))
        self.meter = ComputeMeter.restore(state["meter"], devices=self.meter.devices)


def sampling_seed(seed: int, rank: int) -> int:
    """Rank 0 samples as a one-process run does; the other ranks draw independent streams."""
    return seed + 1_000_003 * rank


def _base_model(config: RunConfig, runtime: Runtime):
    """The warm start, built once: rank 0 builds (or finds) it while the others wait, then they read the cache."""
    if not config.warmstart.enabled:
        return None
    base = ensure_base_model(config, runtime.device) if runtime.is_main else None
    runtime.barrier()
    return base if runtime.is_main else ensure_base_model(config, runtime.device)


def _trainer(model: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    trainer = PolicyLogProbs(model)
    if not runtime.distributed:
        return trainer
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(trainer, device_ids=[runtime.device.index] if runtime.is_cuda else None)


def build_state(config: RunConfig, runtime: Runtime | None = None, task: Task | None = None) -> RunState:
    """Everything a run needs, on `runtime.device` (default: `config.device`): policy, reference, fp32 master
    weights, optimizer state, generators. `task` is the one `validate_inputs` built (else built here)."""
    runtime = runtime or init_runtime(config.device)
    base = _base_model(config, runtime)
    precision = config.model.precision  # fp32_lm_head loads in fp32: its head keeps the checkpoint's fp32 weights
    shard = config.train.parallel == "fsdp" and runtime.distributed  # one process runs unsharded
    # FSDP shards an fp32 copy (its master weights) built on the CPU: no rank ever holds a full fp32 copy on its device.
    load_dtype = DTYPES[precision] if precision in ("bf16", "fp16") and not shard else torch.float32
    model, tokenizer = make_policy(config.model, config.warmstart_seed, path=base, dtype=load_dtype)
    sharded = shard_policy(copy.deepcopy(model), precision, runtime) if shard else None
    apply_precision(model, config.model.precision)
    model.to(runtime.device)
    if task is None:  # else validate_inputs built and checked it
        task = make_task(config.task, config.warmstart_seed)
        check_encodable(tokenizer, [*upfront(task.train_examples()), *task.val_examples()], task.prompt_style)
    master = ShardedWeights(sharded, model) if shard else MasterWeights(model)
    opt = config.optim
    # fused: one kernel for all parameters; torch's default per-tensor loop cost ~10 ms a step on CPU here.
    optimizer = torch.optim.AdamW(param_groups(model, master.master, opt.weight_decay), lr=opt.lr,
                                  betas=(opt.beta1, opt.beta2), eps=opt.adam_eps, fused=True)
    scheduler = make_scheduler(optimizer, opt, config.train.steps)
    scaler = torch.amp.GradScaler(runtime.device.type) if config.model.precision == "fp16" else None
    reference = None
    if config.loss.kl_beta > 0 or config.train.track_kl:
        reference = copy.deepcopy(model).requires_grad_(False)
    val = task.val_examples()[: config.eval.prompts or None]
    # RFT (task.train_prompts): a narrow, fixed set of the task's training prompts, trained on for many epochs.
    train = task.train_examples()[: config.task.train_prompts or None]
    return RunState(config=config, model=model, tokenizer=tokenizer, task=task, train_examples=train,
                    val_examples=val, optimizer=optimizer, scheduler=scheduler, master=master, scaler=scaler,
                    pool=PromptPool(len(train), config.seed),
                    sample_generator=runtime.generator(sampling_seed(config.seed, runtime.rank)),
                    meter=ComputeMeter(devices=runtime.devices_in_use(config.threads or cores_available())),
                    shape=ModelShape.of(model, count_parameters(model)["matmul"]),
                    runtime=runtime, trainer=PolicyLogProbs(sharded) if shard else _trainer(model, runtime), sharded=sharded,
                    reference=reference, base_path=base or config.model.name_or_path, dtypes=dtype_summary(model))
