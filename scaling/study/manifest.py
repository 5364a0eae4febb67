"""The study manifest: which job runs which run, when it was submitted, from which code.

`<study>/manifest.json` maps run ID -> {name, executor, job_id, submitted, git_commit, git_dirty,
spec_hash, attempts}. It is rewritten atomically under an exclusive lock on `<study>/.lock`, which
`launch` holds for its whole duration so two launches of one study never submit the same run twice.
"""

from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import scaling
from scaling.fsio import atomic_write, file_lock


def manifest_path(study_dir: Path) -> Path:
    return Path(study_dir) / "manifest.json"


def read_manifest(study_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(manifest_path(study_dir).read_text())
    except (OSError, json.JSONDecodeError):
        return {"runs": {}}
    data.setdefault("runs", {})
    return data


def write_json_atomic(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=1, default=str))


def write_manifest(study_dir: Path, data: dict[str, Any]) -> None:
    write_json_atomic(manifest_path(study_dir), data)


@contextmanager
def study_lock(study_dir: Path) -> Iterator[None]:
    """Exclusive for the duration of a launch (blocks while another launch holds it)."""
    with file_lock(Path(study_dir) / ".lock"):
        yield


def code_version() -> dict[str, Any]:
    """git commit and dirty flag of the source tree `scaling` is imported from (None outside git)."""
    root = Path(scaling.__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}
