import pytest

from scaling.config import (ConfigError, RunConfig, apply_overrides, field_exists, flatten, load_run_config,
                            stable_hash)


def test_defaults_validate_and_hash_is_stable():
    a, b = RunConfig(), RunConfig.model_validate({})
    assert a.config_hash() == b.config_hash()
    assert stable_hash({"x": 1, "y": 2}) == stable_hash({"y": 2, "x": 1})


def test_unknown_key_names_the_dotted_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loss:\n  typo: 1\n")
    with pytest.raises(ConfigError, match=r"^loss\.typo: unknown key"):
        load_run_config(path)


def test_wrong_type_names_the_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rollout:\n  prompts_per_step: many\n")
    with pytest.raises(ConfigError, match=r"rollout\.prompts_per_step"):
        load_run_config(path)


def test_bad_choice_is_rejected():
    with pytest.raises(ConfigError, match=r"loss\.type"):
        load_run_config(None, ["loss.type=ppo"])


def test_overrides_parse_yaml_scalars():
    cfg = load_run_config(None, ["seed=3", "loss.tis_cap=2.5", "train.filter_zero_variance=true"])
    assert cfg.seed == 3 and cfg.loss.tis_cap == 2.5 and cfg.train.filter_zero_variance == "drop"


def test_filter_zero_variance_modes_and_legacy_booleans():
    # Before drop/refill existed the field was a bool: true meant ScaleRL's drop, false no filtering.
    assert load_run_config(None, ["train.filter_zero_variance=false"]).train.filter_zero_variance == "none"
    assert load_run_config(None, ["train.filter_zero_variance=refill"]).train.filter_zero_variance == "refill"
    with pytest.raises(ConfigError, match="train.filter_zero_variance"):
        load_run_config(None, ["train.filter_zero_variance=maybe"])


def test_override_unknown_path_and_malformed():
    with pytest.raises(ConfigError, match="nope.x: unknown key"):
        apply_overrides({}, ["nope.x=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["seed"])


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\nloss: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+ malformed YAML"):
        load_run_config(path)


def test_field_exists_only_for_leaves():
    assert field_exists("loss.type") and field_exists("seed")
    assert not field_exists("loss") and not field_exists("loss.type.x") and not field_exists("nope")


def test_flatten_gives_dotted_columns():
    flat = flatten(RunConfig().to_dict())
    assert flat["loss.type"] == "grpo" and "rollout.max_new_tokens" in flat


def test_warmstart_band_must_be_ordered():
    with pytest.raises(ConfigError, match="target_low"):
        load_run_config(None, ["warmstart.target_low=0.5", "warmstart.target_high=0.1"])


def test_check_inputs_names_missing_files(tmp_path):
    from scaling.config import check_inputs

    check_inputs(RunConfig())  # the built-in default reads no file
    with pytest.raises(ConfigError, match="task.path: .*/nope.jsonl does not exist"):
        check_inputs(load_run_config(None, ["task.name=dataset", f"task.path={tmp_path}/nope.jsonl"]))
    with pytest.raises(ConfigError, match="model.name_or_path: /SET/ME/model does not exist"):
        check_inputs(load_run_config(None, ["model.name_or_path=/SET/ME/model"]))
    check_inputs(load_run_config(None, ["model.name_or_path=Qwen/Qwen2.5-0.5B"]))  # a hub name is not checked here


def test_warmstart_defaults_off_for_a_pretrained_model():
    assert RunConfig().warmstart.enabled is True  # the random-weight built-in needs it
    pretrained = load_run_config(None, ["model.name_or_path=Qwen/Qwen2.5-0.5B"])
    assert pretrained.warmstart.enabled is False and pretrained.to_dict()["warmstart"]["enabled"] is False
    assert load_run_config(None, ["model.name_or_path=Qwen/Qwen2.5-0.5B", "warmstart.enabled=true"]).warmstart.enabled


def test_device_is_checked_and_not_part_of_the_run_identity():
    assert load_run_config(None, ["device=cuda:1"]).identity_hash() == RunConfig().identity_hash()
    assert load_run_config(None, ["device=cpu"]).config_hash() != RunConfig().config_hash()
    with pytest.raises(ConfigError, match="device: .*'gpu'"):
        load_run_config(None, ["device=gpu"])


def test_generator_options_are_settable_and_sweepable_key_by_key():
    from scaling.config import field_exists
    from scaling.study.spec import expand, parse_spec

    assert field_exists("task.options.max_digits") and not field_exists("task.digits.x")
    config = load_run_config(None, ["task.name=reasoning_gym", "task.dataset=basic_arithmetic",
                                    "task.options.max_digits=2", "task.options.operators=['+']"])
    assert config.task.options == {"max_digits": 2, "operators": ["+"]}
    spec = parse_spec({"name": "gym", "base": {"task": {"name": "reasoning_gym", "dataset": "basic_arithmetic"}},
                       "axes": {"task.options.max_digits": [1, 2]}})
    assert [run.config.task.options for run in expand(spec)] == [{"max_digits": 1}, {"max_digits": 2}]
