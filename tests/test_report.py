"""Reports as a reader sees them: the HTML rendered in headless Chromium (no raw Markdown, every figure loaded
at full width), figure text inside the canvas, coverage and RFT sections, short labels without derived columns."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling import plot
from scaling.fit import backtest, fit_groups
from scaling.fit.sigmoid import sigmoid_curve
from scaling.report import write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
# Dumped into the page after load: each image's natural and drawn size, and the text a reader sees.
PROBE = """window.addEventListener('load', () => {
  const images = [...document.images].map(i => { const r = i.getBoundingClientRect();
    return {src: i.getAttribute('src'), complete: i.complete, natural: i.naturalWidth, width: r.width,
            left: r.left, right: r.right}; });
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({images, text: document.body.innerText,
                                    page: document.documentElement.scrollWidth});
  document.body.appendChild(pre);
});"""


def _table() -> pd.DataFrame:
    """Two batch sizes (steps and eval interval set per batch size, as the quickstart does), two seeds, with
    the coverage columns; the batch-16 runs starve (zero reward) and the batch-8 runs score their training set."""
    rng = np.random.default_rng(0)
    rows = []
    for prompts, steps, every, truth in ((8, 900, 75, (0.6, 3.0, 6e11)), (16, 450, 38, (0.8, 1.7, 1.3e12))):
        for seed in (0, 1):
            run = f"p{prompts}-s{seed}"
            for i, flops in enumerate(np.geomspace(1e11, 3e12, 12)):
                mean = float(np.squeeze(sigmoid_curve(flops, A=truth[0], B=truth[1], C_mid=truth[2], R0=0.25)))
                counts = rng.binomial(4, np.clip(mean + rng.normal(0, 0.1, 200), 0, 1)).tolist()
                rows.append({"run_id": run, "run_name": f"prompts_{prompts},seed={seed}", "seed": seed,
                             "rollout.prompts_per_step": prompts, "train.steps": steps, "eval.every": every,
                             "step": i * every, "flops": float(flops), "pass_rate": float(np.mean(counts)) / 4,
                             "eval_prompts": 200, "eval_k": 4, "correct_counts": counts, "epochs": i * 0.5,
                             "zero_reward_frac": 0.1, "full_reward_frac": 0.2,
                             "train_zero_reward_frac": 0.95 if prompts == 16 else 0.3, "train_solved_frac": 0.5,
                             "train_pass_rate": min(1.0, mean + 0.04 * i) if prompts == 8 else float("nan")})
    return pd.DataFrame(rows)


def _report(tmp_path: Path, fmt: str) -> Path:
    table = _table()
    fits, errors = fit_groups(table)
    assert not errors and len(fits) == 2
    return write_report(fits, tmp_path / "report", backtest(table), fmt, table=table)


def test_markdown_report_names_one_axis_and_shows_coverage_and_the_rft_watch(tmp_path):
    text = _report(tmp_path, "md").read_text(encoding="utf-8")
    assert "rollout.prompts_per_step=8" in text and "train.steps" not in text and "eval.every" not in text
    coverage = text[text.index("## Verifier coverage"):]
    assert "prompts_16,seed=0" in coverage and "zero reward for 418 consecutive steps (steps 1–418)" in coverage
    assert "broaden the prompt set" in coverage and "prompts_8,seed=0" not in coverage.split("## Verifier coverage per run")[0]
    rft = text[text.index("## Training prompts against held-out prompts"):]
    assert "prompts_8,seed=0" in rft and "fitting its training prompts" in rft
    assert (tmp_path / "report" / "figures" / "rft.png").exists()


def _text_boxes_inside(fig) -> list[str]:
    """Texts of a drawn figure that reach past its edges (clipped in the PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer, box = canvas.get_renderer(), fig.bbox
    texts = []
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        legend = ax.get_legend()
        if legend is not None:
            texts += [legend.get_title(), *legend.get_texts()]
    return [t.get_text() for t in texts if t.get_text().strip()
            and (t.get_window_extent(renderer).x0 < box.x0 - 1 or t.get_window_extent(renderer).x1 > box.x1 + 1)]


def test_figure_titles_and_legends_stay_inside_the_canvas_with_long_labels():
    table = _table().assign(**{"rollout.prompts_per_step": lambda d: d["rollout.prompts_per_step"].map(
        {8: "a-rather-long-recipe-name-with-many-settings-8", 16: "a-rather-long-recipe-name-with-many-settings-16"})})
    fits, _ = fit_groups(table)
    for name, fig in (("curves", plot.curves(fits)), ("efficiency", plot.efficiency(fits)), ("params", plot.params(fits))):
        assert _text_boxes_inside(fig) == [], name


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_report_in_headless_chromium_has_no_raw_markdown_and_full_width_figures(tmp_path):
    report = _report(tmp_path, "html")
    probe = report.with_name("probe.html")
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", f"<script>{PROBE}</script></body>"),
                     encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--no-first-run", f"--user-data-dir={profile}", "--window-size=1600,1200",
                               "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    import html

    page = json.loads(html.unescape(found.group(1)))
    text = page["text"]
    for raw in ("**", "](", "|---", "- **", "\\n## ", "`"):
        assert raw not in text, f"raw Markdown {raw!r} in the rendered page"
    assert not re.search(r"^\s*(#+ |[-*] |\|)", text, re.M), "a line of the page starts with Markdown syntax"
    assert "Verifier coverage" in text and "Training prompts against held-out prompts" in text
    images = page["images"]
    assert {Path(i["src"]).name for i in images} >= {"curves.png", "params.png", "efficiency.png", "rft.png"}
    for image in images:
        assert image["complete"] and image["natural"] > 0, f"{image['src']} did not load"
        assert abs(image["width"] - image["natural"]) < 1, f"{image['src']} drawn at {image['width']} of {image['natural']} px"
        assert image["left"] >= 0 and image["right"] <= page["page"], f"{image['src']} is cut off"
