"""Run IDs that survive upgrades: which config fields enter the hash of a run's identity.

A run ID is the hash of its resolved config. Hashing every field with defaults filled in would give
every run a new ID the day a release adds a knob, and a relaunched study would rerun its whole grid
and orphan its results. So the hash covers the fields of ID version 1 (`V1_FIELDS`, the config as it
was when IDs were introduced; results from then keep their IDs) always, and any later field only
when its value differs from its default: a run that does not use a new knob keeps its ID.

A later field is compared with the default it had when it was added (`ADDED_DEFAULTS`), not with
today's: if a release changes that default, runs that take the new one get new IDs instead of
silently matching the old results. A v1 field whose representation changed is hashed in its v1
form (`V1_FORMS`), so the same computation keeps its ID.

Rules: a new field goes into `ADDED_DEFAULTS` with its default (tests/study/test_run_ids.py fails
until it does); never edit an entry there; changing a v1 field's default changes the ID of every run
that relied on it, which is right, since those runs now compute something else.
"""

from __future__ import annotations

import copy
from typing import Any

V1_FIELDS = frozenset("""
seed warmstart_seed threads checkpoint_every
task.name task.digits task.numbers task.max_number task.path task.val_path task.train_size task.val_size
model.name_or_path model.arch model.hidden_size model.layers model.heads model.intermediate_size
model.max_positions model.precision model.attn_implementation
warmstart.enabled warmstart.lr warmstart.batch_size warmstart.max_steps warmstart.check_every
warmstart.check_prompts warmstart.target_low warmstart.target_high warmstart.cache_dir
rollout.prompts_per_step rollout.generations_per_prompt rollout.temperature rollout.max_new_tokens
rollout.overlong rollout.overlong_buffer rollout.interrupt_text rollout.interrupt_budget
loss.type loss.aggregation loss.adv_norm loss.eps_low loss.eps_high loss.cispo_eps_max loss.kl_beta loss.tis_cap
optim.lr optim.warmup_steps optim.weight_decay optim.beta1 optim.beta2 optim.adam_eps optim.grad_clip
train.steps train.updates_per_batch train.filter_zero_variance train.no_positive_resampling train.retire_at
train.track_kl train.pipeline_k
eval.every eval.prompts eval.k eval.greedy
""".split())

# Every field added after ID version 1, with the default it had when it was added. Frozen: a later change
# of default must not be edited in here (runs at the new default then differ from these and get new IDs).
ADDED_DEFAULTS: dict[str, Any] = {
    "task.prompt_field": "prompt", "task.answer_field": "answer", "task.answer_format": "auto",
    "task.train_prompts": None, "task.dataset": None, "task.options": {}, "task.chat_template": "auto",
    "task.system_prompt": None, "task.prompt_template": "{question}",
    "model.gradient_checkpointing": False, "rollout.engine": "builtin",
    "optim.schedule": "constant", "optim.min_lr_ratio": 0.1,
    "train.refill_max_rounds": 10, "train.micro_batch_size": None,
    "eval.train_prompts": None, "checkpoint.keep_eval_weights": False,
    "train.parallel": "ddp",
}

# The loss aggregation every loss type used in v1 (one default for all); today None means each loss's paper.
V1_AGGREGATION = "token_mean"


def _v1_aggregation(tree: dict[str, Any], resolved: dict[str, str]) -> None:
    loss = tree.get("loss", {})
    if loss.get("aggregation") is None and "type" in loss:
        loss["aggregation"] = resolved[loss["type"]]


def _v1_filter(tree: dict[str, Any], resolved: dict[str, str]) -> None:
    train = tree.get("train", {})
    if train.get("filter_zero_variance") in ("none", "drop"):  # v1 said false / true; refill is new
        train["filter_zero_variance"] = train["filter_zero_variance"] == "drop"


# v1 fields whose spelling changed, rewritten to their v1 form before hashing (same computation, same ID).
V1_FORMS = (_v1_aggregation, _v1_filter)


def v1_form(tree: dict[str, Any], resolved_aggregation: dict[str, str]) -> dict[str, Any]:
    """A copy of the nested config `tree` with changed v1 fields spelled as v1 spelled them."""
    out = copy.deepcopy(tree)
    for rewrite in V1_FORMS:
        rewrite(out, resolved_aggregation)
    return out


# Where or how fast a run executes, not what it computes: never part of its identity. The v1 fields
# are blanked (as they were then, so old IDs hold); later ones, and the `log` section (what a run
# records, not what it computes), are left out whatever their value.
NOT_IN_ID = {"threads": None, "warmstart.cache_dir": None}
LEFT_OUT = frozenset({"device", "log"})


def identity_tree(tree: dict[str, Any], defaults: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`tree` (a nested config dict) less the post-v1 fields at their default (`defaults`: dotted -> value),
    with the NOT_IN_ID fields blanked; sections left empty are dropped."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if name in LEFT_OUT:
            continue
        if isinstance(value, dict):
            kept = identity_tree(value, defaults, name + ".")
            if kept or name in V1_SECTIONS:
                out[key] = kept
        elif name in NOT_IN_ID:
            out[key] = NOT_IN_ID[name]
        elif name in V1_FIELDS or value != ADDED_DEFAULTS.get(name, defaults.get(name, _MISSING)):
            out[key] = value
    return out


_MISSING = object()
V1_SECTIONS = frozenset(name.rsplit(".", 1)[0] for name in V1_FIELDS if "." in name)
