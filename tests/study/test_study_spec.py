"""Spec validation, grid expansion, run names and stable run IDs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scaling.study.spec import SpecError, expand, load_spec, parse_spec, run_id, select

from study_helpers import tiny_spec


def test_grid_is_variants_times_axes_times_seeds(tmp_path: Path) -> None:
    # (A variant setting prompt_mean would be CISPO's own default: expand rightly refuses such a duplicate.)
    data = tiny_spec(tmp_path, axes={"loss.type": ["grpo", "cispo"], "rollout.prompts_per_step": [4, 8]},
                     variants={"plain": {}, "drgrpo": {"loss": {"aggregation": "constant"}}}, seeds=[0, 1, 2])
    runs = expand(parse_spec(data))
    assert len(runs) == 2 * 2 * 2 * 3
    names = [r.name for r in runs]
    assert names[0] == "plain,loss.type=grpo,rollout.prompts_per_step=4,seed=0"
    assert len(set(names)) == len(names) and len({r.run_id for r in runs}) == len(runs)
    drgrpo = [r for r in runs if r.values["variant"] == "drgrpo"]
    assert {r.config.loss.aggregation for r in drgrpo} == {"constant"}
    cispo8 = next(r for r in runs if r.name == "drgrpo,loss.type=cispo,rollout.prompts_per_step=8,seed=2")
    assert (cispo8.config.loss.type, cispo8.config.rollout.prompts_per_step, cispo8.config.seed) == ("cispo", 8, 2)


def test_ids_are_stable_across_key_order_and_expansions(tmp_path: Path) -> None:
    data = tiny_spec(tmp_path, axes={"loss.type": ["grpo", "cispo"], "optim.lr": [1e-4, 3e-4]})
    reordered = {k: data[k] for k in reversed(list(data))}
    reordered["base"] = {"eval": {"every": 2}, "train": {"steps": 4}}
    reordered["axes"] = {"optim.lr": [1e-4, 3e-4], "loss.type": ["grpo", "cispo"]}
    a = {r.config.model_dump_json(): r.run_id for r in expand(parse_spec(data))}
    b = {r.config.model_dump_json(): r.run_id for r in expand(parse_spec(reordered))}
    assert a == b
    assert [r.run_id for r in expand(parse_spec(data))] == [r.run_id for r in expand(parse_spec(data))]


def test_id_follows_the_config_but_not_threads(tmp_path: Path) -> None:
    one = expand(parse_spec(tiny_spec(tmp_path, resources={"cpus_per_run": 1})))[0]
    two = expand(parse_spec(tiny_spec(tmp_path, resources={"cpus_per_run": 2})))[0]
    assert (one.config.threads, two.config.threads) == (1, 2)
    assert one.run_id == two.run_id
    changed = expand(parse_spec(tiny_spec(tmp_path, base={"train": {"steps": 5}, "eval": {"every": 2}})))[0]
    assert changed.run_id != one.run_id
    assert run_id(one.config) == one.run_id


def test_short_axis_names(tmp_path: Path) -> None:
    data = tiny_spec(tmp_path, axes={"loss.type": {"values": ["cispo"], "short": "loss"},
                                     "model.precision": {"values": ["fp32_lm_head"], "short": "precision"}})
    spec = parse_spec(data)
    runs = expand(spec)
    assert runs[0].name == "loss=cispo,precision=fp32_lm_head,seed=0"
    assert [r.name for r in select(spec, runs, ["loss=cispo", "seed=1"])] == ["loss=cispo,precision=fp32_lm_head,seed=1"]


@pytest.mark.parametrize("change, message", [
    ({"axes": {"loss.kind": ["grpo"]}}, "axis loss.kind: unknown config field"),
    ({"axes": {"loss.type": []}}, "axis loss.type: empty list"),
    ({"axes": {"loss.type": ["grpo", "ppo"]}}, "axis loss.type: value 'ppo' rejected"),
    ({"axes": {"model.hidden_size": [32, "big"]}}, "axis model.hidden_size: value 'big' rejected"),
    ({"axes": {"rollout.prompts_per_step": [4, "4"]}}, "axis rollout.prompts_per_step: duplicate value '4'"),
    ({"axes": {"seed": [0, 1]}}, "axis seed: not allowed"),
    ({"axes": {"loss": ["grpo"]}}, "axis loss: unknown config field"),
    ({"seeds": [0, 0]}, "seeds: duplicate"),
    ({"seeds": []}, "seeds: empty"),
    ({"base": {"model": {"layers": 0}}}, "base.model.layers"),
    ({"variants": {"a": {"loss.type": "cispo"}}}, "variant a: loss.type is also an axis"),
    ({"variants": {"a": {"optim": {"lr": -1}}}}, "variant a: rejected: optim.lr"),
    ({"resources": {"executor": "kubernetes"}}, "resources.executor"),
    ({"colour": "blue"}, "colour: unknown key"),
    ({"derived": ["train.stepz"]}, "derived train.stepz: unknown config field"),
    ({"derived": ["loss.type"]}, "derived loss.type: an axis cannot be derived"),
    ({"resources": {"tasks_per_node": 2, "gpus_per_run": 1}}, "resources.gpus_per_run: a data-parallel run"),
    ({"resources": {"tasks_per_node": 2}, "base": {"train": {"pipeline_k": 1}}}, "PipelineRL"),
    ({"resources": {"tasks_per_node": 4}, "base": {"rollout": {"prompts_per_step": 2}}},
     "rollout.prompts_per_step=2 is fewer than the 4 data-parallel ranks"),
    ({"resources": {"executor": "local", "nodes": 2}}, "resources.nodes > 1 needs Slurm"),
])
def test_bad_specs_name_the_problem(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(".", r"\.")) as err:
        expand(parse_spec(tiny_spec(tmp_path, **change)))
    assert "\n" not in str(err.value)


def test_duplicate_configs_are_rejected(tmp_path: Path) -> None:
    # two variants that resolve to one config would share a run folder
    from scaling.config import RunConfig

    data = tiny_spec(tmp_path, variants={"a": {"optim": {"lr": RunConfig().optim.lr}}, "b": {}})  # "a" sets the default
    with pytest.raises(SpecError, match="resolve to the same config"):
        expand(parse_spec(data))


def test_yaml_is_safe_loaded_and_malformed_yaml_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\naxes: {loss.type: [grpo,\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_spec(bad)
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError):
        load_spec(evil)


def test_only_rejects_unknown_axes_and_values(tmp_path: Path) -> None:
    spec = parse_spec(tiny_spec(tmp_path))
    runs = expand(spec)
    assert len(select(spec, runs, ["loss.type=cispo"])) == 2
    with pytest.raises(SpecError, match="not an axis"):
        select(spec, runs, ["optim.lr=0.1"])
    with pytest.raises(SpecError, match="matches no run"):
        select(spec, runs, ["loss.type=dapo"])


@pytest.mark.parametrize("name", ["tiny.yaml", "loss_variants.yaml"])
def test_example_specs_are_valid(name: str) -> None:
    path = Path(__file__).parents[2] / "experiments" / name
    runs = expand(load_spec(path))
    assert len(runs) >= 4
    assert yaml.safe_load(path.read_text())["resources"]["executor"] in ("auto", "local")
