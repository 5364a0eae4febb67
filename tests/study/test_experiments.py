"""Every committed spec expands; the cluster grid plans here and names its unset placeholders."""

from pathlib import Path

import pytest

from scaling.study.launch import launch
from scaling.study.spec import SpecError, expand, load_spec

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_committed_specs_expand(path):
    runs = expand(load_spec(path))
    assert runs and len({r.run_id for r in runs}) == len(runs)


def test_scalerl_grid_dry_runs_without_a_cluster_and_refuses_placeholders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the spec's output folder is relative
    plan = launch(EXPERIMENTS / "scalerl.yaml", dry_run=True)
    assert len(plan.submitted) == 27 and not (tmp_path / "results").exists()
    with pytest.raises(SpecError, match=r"task\.path: /SET/ME/math_train\.jsonl does not exist"):
        launch(EXPERIMENTS / "scalerl.yaml", executor="local")
    assert not (tmp_path / "results" / "scalerl" / "manifest.json").exists()


def test_scalerl_loss_variants_aggregate_as_their_papers():
    from scaling.rl.losses import aggregation_for

    runs = expand(load_spec(EXPERIMENTS / "scalerl.yaml"))
    used = {r.values["variant"]: aggregation_for(r.config.loss) for r in runs}
    assert used["scalerl"] == "prompt_mean"        # CISPO as ScaleRL runs it
    assert used["loss_gspo"] == "sample_mean"      # GSPO's sequence-level objective, not the recipe's prompt mean
    assert used["loss_dapo"] == "token_mean"
    assert used["agg_token"] == "token_mean" and used["agg_sample"] == "sample_mean"
