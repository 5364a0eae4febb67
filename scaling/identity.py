"""Run IDs that survive upgrades: which config fields enter the hash of a run's identity.

A run ID is the hash of its resolved config. Hashing every field with defaults filled in would give
every run a new ID the day a release adds a knob, and a relaunched study would rerun its whole grid
and orphan its results. So the hash covers the fields of ID version 1 (`V1_FIELDS`, the config as it
was when IDs were introduced; results from then keep their IDs) always, and any later field only
when its value differs from its default: a run that does not use a new knob keeps its ID.

Rule for changing a field: adding one needs nothing here; changing a v1 field's default changes
the ID of every run that relied on it, which is right, since those runs now compute something else.
"""

from __future__ import annotations

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
        elif name in V1_FIELDS or name not in defaults or value != defaults[name]:
            out[key] = value
    return out


V1_SECTIONS = frozenset(name.rsplit(".", 1)[0] for name in V1_FIELDS if "." in name)
