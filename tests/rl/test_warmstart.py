"""The supervised warm start: reaches the band at the sampling temperature, cached once per config."""

from __future__ import annotations

import json

from scaling.config import build_config
from scaling.rl.warmstart import ensure_base_model, warmstart_key


def test_warm_start_reaches_band_and_is_cached(tiny_tree, monkeypatch):
    tiny_tree["warmstart"].update({"target_low": 0.2, "target_high": 1.0, "max_steps": 400, "check_every": 20,
                                   "lr": 3e-3, "batch_size": 32})
    tiny_tree["task"]["digits"] = 1
    tiny_tree["task"]["train_size"] = 80
    tiny_tree["task"]["val_size"] = 16
    cfg = build_config(tiny_tree)
    path = ensure_base_model(cfg)
    info = json.loads((path / "warmstart.json").read_text())
    assert info["steps"] > 0 and info["pass_rate"] >= 0.2 and not info.get("outside_band")
    # A second call (another run of the grid) takes the cache: supervised training is not run again.
    import scaling.rl.warmstart as ws
    monkeypatch.setattr(ws, "supervised_warm_start", lambda config: (_ for _ in ()).throw(AssertionError("rebuilt")))
    assert ensure_base_model(cfg) == path


def test_key_ignores_rl_knobs_but_not_the_task(tiny_tree):
    base = build_config(tiny_tree)
    tiny_tree["loss"] = {"type": "cispo"}
    tiny_tree["seed"] = 7
    assert warmstart_key(build_config(tiny_tree)) == warmstart_key(base)
    tiny_tree["task"]["digits"] = 3
    assert warmstart_key(build_config(tiny_tree)) != warmstart_key(base)
