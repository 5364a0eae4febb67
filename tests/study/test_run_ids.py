"""Run IDs survive upgrades: a field added with its default changes no ID, so a relaunch reruns nothing."""

from __future__ import annotations

from pydantic import Field, create_model

import scaling.config as config_module
from scaling.config import RunConfig, TrainConfig
from scaling.study.launch import launch
from scaling.study.spec import expand, load_spec

from study_helpers import FAKE


def _config_with_a_new_knob(monkeypatch) -> type[RunConfig]:
    """The config of a release that added `train.new_knob` (default 0), as the new code would see it."""
    train = create_model("TrainConfig", __base__=TrainConfig, new_knob=(int, Field(0, description="added later")))
    upgraded = create_model("RunConfig", __base__=RunConfig, train=(train, train()))
    monkeypatch.setattr(config_module, "RunConfig", upgraded)  # build_config validates through this name
    return upgraded


def test_adding_a_default_field_keeps_ids_and_a_relaunch_reruns_nothing(write_spec, monkeypatch) -> None:
    spec = write_spec(resources={"executor": "debug"})
    first = launch(spec, entry=FAKE)
    assert len(first.submitted) == 4
    before = {r.run_id for r in expand(load_spec(spec))}

    upgraded = _config_with_a_new_knob(monkeypatch)
    runs = expand(load_spec(spec))
    assert all(isinstance(r.config, upgraded) and r.config.train.new_knob == 0 for r in runs)
    assert {r.run_id for r in runs} == before
    again = launch(spec, entry=FAKE)
    assert again.submitted == [] and {r["state"] for r in again.rows} == {"done"}

    changed = upgraded.model_validate({"train": {"new_knob": 1}})
    assert changed.identity_hash() != upgraded().identity_hash()  # a run that uses the knob is a new run


def test_only_v1_fields_and_non_default_later_fields_enter_the_id() -> None:
    from scaling.config import flatten
    from scaling.identity import ADDED_DEFAULTS, V1_FIELDS, identity_tree

    defaults = RunConfig().flat()
    moved = {f for f, added in ADDED_DEFAULTS.items() if f in defaults and defaults[f] != added}  # changed since added
    assert moved == {"optim.schedule"}  # cosine since issue 12; update this line when another default moves
    config = RunConfig.model_validate({"threads": 3, "device": "cpu", "log": {"trajectories": "all"}})
    tree = identity_tree(config.to_dict(), defaults)
    assert set(flatten(tree)) == V1_FIELDS | moved  # later fields at their added default, device and log: left out
    assert tree["threads"] is None and config.identity_hash() == RunConfig().identity_hash()


def _leaf_fields(model, prefix: str = "") -> set[str]:
    out = set()
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields"):
            out |= _leaf_fields(sub, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


def test_every_field_is_v1_or_registered_with_the_default_it_was_added_with() -> None:
    from scaling.identity import ADDED_DEFAULTS, LEFT_OUT, V1_FIELDS

    unregistered = {f for f in _leaf_fields(RunConfig) if f not in V1_FIELDS and f not in ADDED_DEFAULTS
                    and f.split(".")[0] not in LEFT_OUT}
    assert not unregistered, f"add these to scaling.identity.ADDED_DEFAULTS with their defaults: {sorted(unregistered)}"


def test_changing_a_later_fields_default_gives_new_ids() -> None:
    # Cosine became the default (issue 12): runs taking it compute something else than the old constant-lr runs,
    # and a run that pins the old default keeps the ID it had before the change.
    from scaling.identity import identity_tree
    constant = RunConfig.model_validate({"optim": {"schedule": "constant"}})
    assert RunConfig().identity_hash() != constant.identity_hash()
    assert "schedule" not in identity_tree(constant.to_dict(), RunConfig().flat())["optim"]


def test_v1_spellings_keep_their_ids() -> None:
    dapo = RunConfig.model_validate({"loss": {"type": "dapo"}})
    assert dapo.identity_hash() == RunConfig.model_validate({"loss": {"type": "dapo", "aggregation": "token_mean"}}).identity_hash()
    assert RunConfig.model_validate({"train": {"filter_zero_variance": True}}).identity_hash() == \
        RunConfig.model_validate({"train": {"filter_zero_variance": "drop"}}).identity_hash()
    grpo = RunConfig()  # grpo now averages per sample (its paper): a different run from v1's token mean
    assert grpo.identity_hash() != RunConfig.model_validate({"loss": {"aggregation": "token_mean"}}).identity_hash()


def test_committed_studies_keep_their_run_ids() -> None:
    import pandas as pd
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("cpu_study", "cpu_backtest", "cpu_scaling", "cpu_scaling_short", "cpu_scaling_large"):
        committed = set(pd.read_parquet(root / "results" / name / "evals.parquet", columns=["run_id"])["run_id"])
        assert {r.run_id for r in expand(load_spec(root / "experiments" / f"{name}.yaml"))} == committed, name


def test_committed_batch_size_studies_hold_full_curves() -> None:
    """Every committed run of the batch-size studies evaluated at its last step: no partial study under results/."""
    import pandas as pd
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("cpu_scaling", "cpu_scaling_short", "cpu_scaling_large"):
        table = pd.read_parquet(root / "results" / name / "evals.parquet", columns=["run_id", "step", "train.steps"])
        last = table.groupby("run_id").agg(step=("step", "max"), steps=("train.steps", "first"))
        assert (last["step"] == last["steps"]).all(), (name, last[last["step"] != last["steps"]])
