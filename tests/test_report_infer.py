"""The inference report and its figures from synthetic samples (no torch)."""

import numpy as np
import pandas as pd
import pytest

from scaling.report_infer import write_inference_report


def _samples():
    rng = np.random.default_rng(0)
    rows = []
    for step, flops, shift in ((0, 0.0, 0.0), (40, 5e9, 0.3)):
        for setting, budget, think in (("plain", None, 6), ("b2", 2, 2), ("b8", 8, 8)):
            for pid, p in enumerate(np.clip(rng.beta(0.6, 1.2, 40) + shift, 0, 1)):
                for i in range(8):
                    ok = rng.random() < p * (0.5 if budget == 2 else 1.0)
                    rows.append({"run": "r", "setting": setting, "step": step, "train_flops": flops, "prompt_id": pid,
                                 "sample": i, "answer": "1" if ok else str(rng.integers(2, 4)), "correct": float(ok),
                                 "completion_tokens": 10, "forced_tokens": 0 if budget is None else 3,
                                 "thinking_tokens": think, "inference_flops": 1e6,
                                 "budget_min": None if budget is None else 0, "budget_max": budget})
    return pd.DataFrame(rows)


def test_inference_report_writes_tables_figures_and_headline_numbers(tmp_path):
    path, tables = write_inference_report(_samples(), tmp_path, targets=(0.6,), boots=30)
    text = path.read_text()
    assert "coverage c(k) = exp(a k^b)" in text and ("maj@k saturates at" in text or "has not saturated" in text)
    for name in ("pass_maj_plain", "thinking_budget", "tradeoff"):
        assert (tmp_path / "figures" / f"{name}.png").exists()
    assert (tmp_path / "inference_frontier.csv").exists() and len(tables["budget"]) == 6
    assert set(tables["curves"]["setting"]) == {"plain"}   # forced samples stay out of pass@k and the trade-off
    with pytest.raises(ValueError, match="no `scaling infer` samples"):
        write_inference_report(_samples().iloc[:0], tmp_path / "empty")
