"""`launch(spec)`: validate, expand, decide what to (re)submit, submit, record the manifest.

Idempotent: done runs are skipped, failed / requeued / cancelled / incomplete / missing runs are
submitted again (they resume from their checkpoints), live runs (pending, running) are left alone
unless `force`, in which case the old job is cancelled first. A run whose job the scheduler did not
report on (`unknown`: squeue failed after retries) is never resubmitted, even with `force`: it may
be running, and a second copy would be a second writer. Everything that can be wrong with the
input is checked before the first file is written; the study lock makes concurrent launches
of one study take turns.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scaling.config import save_run_config
from scaling.fsio import atomic_write
from scaling.study import executors
from scaling.study.executors import Entry, Prepared
from scaling.study.manifest import code_version, read_manifest, study_lock, write_json_atomic, write_manifest
from scaling.study.spec import Run, Spec, SpecError, check_paths, expand, load_spec, select
from scaling.study.status import LIVE, study_status
from scaling.store import RunFiles

RESUBMIT = ("failed", "requeued", "cancelled", "incomplete", "missing")


@dataclass
class LaunchResult:
    spec: Spec
    executor: str
    rows: list[dict[str, Any]]  # status before launching, one per selected run
    submitted: list[str] = field(default_factory=list)  # run IDs
    job_ids: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def held_back(self) -> list[dict[str, Any]]:
        """Runs not (re)submitted because the scheduler did not say whether their job still lives."""
        return [r for r in self.rows if r["state"] == "unknown"]


def plan(rows: list[dict[str, Any]], force: bool) -> list[str]:
    """Run IDs to submit given their current states."""
    return [r["run_id"] for r in rows if r["state"] in RESUBMIT or (force and r["state"] in LIVE)]


def check_writable(folder: Path) -> None:
    """Fail before writing anything if the study folder cannot be created and written."""
    probe_dir = folder
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir() or not os.access(probe_dir, os.W_OK | os.X_OK):
        raise SpecError(f"output {folder}: not writable ({probe_dir} is not a writable directory)")
    if folder.exists():
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as err:
            raise SpecError(f"output {folder}: not writable ({err.strerror})") from None


def launch(spec: Spec | str | Path, executor: str | None = None, only: list[str] | tuple[str, ...] = (),
           max_parallel: int | None = None, force: bool = False, dry_run: bool = False,
           entry: Entry | None = None) -> LaunchResult:
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if max_parallel is not None and max_parallel < 1:
        raise SpecError(f"--max-parallel {max_parallel}: must be at least 1")
    runs = expand(spec)
    runs = select(spec, runs, list(only)) if only else runs
    # A dry run submits nothing, so a Slurm grid can be planned on a machine without a controller.
    kind = executors.choose(executor or spec.resources.executor, dry_run=dry_run)
    study_dir = spec.study_dir.resolve()
    rows = study_status(study_dir, [(r.run_id, r.name) for r in runs])
    result = LaunchResult(spec, kind, rows, dry_run=dry_run)
    if dry_run:
        result.submitted = plan(rows, force)
        return result
    check_paths(runs)
    check_writable(study_dir)
    with study_lock(study_dir):
        rows = study_status(study_dir, [(r.run_id, r.name) for r in runs])  # another launch may have run
        result.rows = rows
        chosen = set(plan(rows, force))
        todo = [r for r in runs if r.run_id in chosen]
        if todo:
            result.job_ids = _submit(spec, study_dir, todo, kind, max_parallel, entry or Entry())
            result.submitted = [r.run_id for r in todo if r.run_id in result.job_ids]
    return result


def _prepare(study_dir: Path, run: Run, spec: Spec) -> Prepared:
    files = RunFiles(run.run_dir(study_dir))
    files.dir.mkdir(parents=True, exist_ok=True)
    save_run_config(run.config, files.config)
    write_json_atomic(files.dir / "run.json", {"study": spec.name, "run_id": run.run_id, "name": run.name,
                                               "values": run.values, "derived": spec.derived})
    files.failed.unlink(missing_ok=True)  # a resubmitted run is no longer failed
    return Prepared(run.run_id, run.name, files.dir, run.config.to_dict())


def _submit(spec: Spec, study_dir: Path, todo: list[Run], kind: str, max_parallel: int | None,
            entry: Entry) -> dict[str, str]:
    manifest = read_manifest(study_dir)
    for run in todo:  # --force: stop the old job first; it checkpoints, the new one waits for its lock
        record = manifest["runs"].get(run.run_id)
        if record:
            executors.cancel(study_dir, run.run_id, record)
    prepared = [_prepare(study_dir, run, spec) for run in todo]
    atomic_write(study_dir / "spec.yaml", yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    if kind == "debug":  # in-process: record first, so status knows the runs while they train
        job_ids = {r.run_id: "debug" for r in todo}
        _record(study_dir, manifest, spec, todo, job_ids, kind)
        executors.submit_debug(study_dir, prepared, entry)
        return job_ids
    job_ids: dict[str, str] = {}
    try:
        if kind == "local":
            job_ids.update(executors.submit_local(study_dir, prepared, max_parallel, entry, spec.resources))
        else:
            executors.submit_slurm(study_dir, prepared, spec.resources, spec.name, max_parallel, entry, job_ids)
    finally:  # also after a failed sbatch: the arrays already submitted must be in the manifest
        _record(study_dir, manifest, spec, todo, job_ids, kind)
    return job_ids


def _record(study_dir: Path, manifest: dict[str, Any], spec: Spec, todo: list[Run], job_ids: dict[str, str],
            kind: str) -> None:
    version, now = code_version(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest.update({"study": spec.name, "spec_hash": spec.spec_hash()})
    for run in todo:
        if run.run_id not in job_ids:
            continue
        old = manifest["runs"].get(run.run_id, {})
        history = old.get("history", []) + ([old["job_id"]] if old.get("job_id") else [])
        manifest["runs"][run.run_id] = {
            "name": run.name, "executor": kind, "job_id": job_ids[run.run_id], "submitted": now,
            **version, "spec_hash": spec.spec_hash(), "attempts": old.get("attempts", 0) + 1, "history": history}
    write_manifest(study_dir, manifest)
