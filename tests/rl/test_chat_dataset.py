"""The issue's 'done when': a dataset of multi-line LaTeX prompts trains end to end on a locally saved chat model."""

from __future__ import annotations

import json

from tiny_chat import save_tiny_chat_model

from scaling.config import build_config
from scaling.rl.loop import train
from scaling.store import read_evals, read_metrics

ROWS = [{"problem": f"Let $a = {i}$ and $b = {i + 1}$.\nCompute $a \\cdot b$ — in ℤ.", "solution": f"\\boxed{{{i * (i + 1)}}}"}
        for i in range(40)]


def test_latex_dataset_trains_on_a_chat_model(tmp_path, tiny_tree):
    data = tmp_path / "latex.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", encoding="utf-8")
    model = save_tiny_chat_model(tmp_path / "qwen2-chat", [r["problem"] + r["solution"] for r in ROWS])
    tree = {**tiny_tree,
            "task": {"name": "dataset", "path": str(data), "val_size": 8, "prompt_field": "problem",
                     "answer_field": "solution", "system_prompt": "Answer in \\boxed{}.",
                     "prompt_template": "Problem:\n{question}"},
            "model": {"name_or_path": str(model)},
            "warmstart": {**tiny_tree["warmstart"], "enabled": True, "cache_dir": str(tmp_path / "bases"), "target_low": 0.9, "max_steps": 4, "check_every": 2,
                          "batch_size": 8, "check_prompts": 8},
            "rollout": {**tiny_tree["rollout"], "max_new_tokens": 6},
            "train": {"steps": 3}, "eval": {"every": 3, "k": 2}}
    summary = train(build_config(tree), tmp_path / "run")
    evals, metrics = read_evals(tmp_path / "run"), read_metrics(tmp_path / "run")
    assert summary["status"] == "done"
    assert list(evals["step"]) == [0, 3] and list(metrics["step"]) == [1, 2, 3]
    assert all(len(c) == 8 for c in evals["correct_counts"])
    assert (metrics["samples_seen"].diff().dropna() == 16).all()
    warm = [json.loads(p.read_text()) for p in (tmp_path / "bases").glob("*/warmstart.json")]
    assert [w["steps"] for w in warm] == [4]  # the SFT warm start ran on the chat-rendered prompts too
