"""The README runs as written: every `scaling` command in its code blocks that finishes in seconds runs and
exits 0 on this checkout, and every repository path it names exists.

Commands that train (and the ones that read what those commands made) are skipped by the explicit rule in
`_skipped`; everything else runs in a scratch folder that sees the checkout's `results/` and `experiments/`.
"""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Top-level folders of the repository: a README path starting with one of them must exist.
TRACKED = ("results", "experiments", "docs", "scaling", "analysis", "benchmarks", "tests", "constraints", ".ci")


def _commands() -> list[list[str]]:
    """Every `scaling ...` command in a fenced code block (also `.venv/bin/scaling` after a `&&`), comments cut."""
    found, fence = [], None
    for line in README.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "text")
            continue
        if fence in ("bash", "sh", "text"):
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0] in ("scaling", ".venv/bin/scaling"):
                    found.append(words[1:])
    return found


def _skipped(args: list[str]) -> str | None:
    """Why a README command is not run here, or None. The rule, explicitly: commands that train."""
    if args[0] in ("train", "quickstart"):
        return "trains"
    if args[0] == "launch" and "--dry-run" not in args:
        return "trains (launches runs)"
    if len(args) > 1 and args[1].startswith("runs/"):
        return "reads a run or study that a README training command (train, launch, quickstart) makes under runs/"
    return None


COMMANDS = _commands()


def test_the_readme_has_the_commands_this_test_expects():
    assert {a[0] for a in COMMANDS} >= {"train", "launch", "status", "fit", "predict", "plot", "report", "export",
                                         "quickstart"}
    assert [a for a in COMMANDS if _skipped(a) is None], "no README command would run"


@pytest.mark.parametrize("args", [a for a in COMMANDS if _skipped(a) is None], ids=" ".join)
def test_readme_command_runs(args, tmp_path, monkeypatch):
    from scaling.cli import _register, app

    if not app.registered_commands:
        _register()
    for folder in ("results", "experiments"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"scaling {' '.join(args)}:\n{result.output}"
    deprecated = [str(w.message) for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert not deprecated, f"scaling {' '.join(args)} printed deprecation warnings: {deprecated}"


def test_every_path_the_readme_names_exists():
    candidates = set(re.findall(r"\]\(([^)#\s]+)\)", README))  # links and images
    candidates |= set(re.findall(rf"(?<![\w/.-])((?:{'|'.join(map(re.escape, TRACKED))})/[\w./-]*[\w/])", README))
    # A file whose name starts with "my" is the reader's own (my.yaml, experiments/my_dp.yaml): not in the repository.
    missing = sorted(p for p in candidates if not p.startswith(("http://", "https://"))
                     and not Path(p).name.startswith("my") and not (ROOT / p).exists())
    assert not missing, f"README names paths that do not exist: {missing}"
    assert len(candidates) > 10
