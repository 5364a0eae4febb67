"""The local executor: a detached runner process that runs each run as a subprocess, with a cap.

submitit's LocalExecutor starts every job of an array at once; an oversubscribed torch run was
measured ~40x slower on this 2-core machine, so the cap is ours. `launch` writes a batch file and
starts `python -m scaling.study.local runner BATCH` in its own session, then returns. The runner
builds the warm-start base models first (one after the other, so never two writers of one cache
file), then starts `python -m scaling.study.local worker RUN_DIR ...` per run while (a) fewer than
`max_parallel` of its runs are alive and (b) it can lock `threads` core slots. Slots are flock'ed
files shared by every runner on the machine (two launches do not oversubscribe); the lock fds are
inherited by the worker, so a slot is held exactly as long as the worker lives.

Per-run state for `status` lives in `<study>/local/<run_id>.json`: queued -> running (pid) ->
exited (returncode), or cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scaling.config import build_config, read_yaml
from scaling.fsio import try_flock
from scaling.runtime import cores_available
from scaling.study.job import STOPPED_EXIT_CODE, RunJob, resolve, warmstart_configs
from scaling.study.manifest import write_json_atomic

POLL_S = 0.2


def state_path(study_dir: Path, run_id: str) -> Path:
    return Path(study_dir) / "local" / f"{run_id}.json"


def read_state(study_dir: Path, run_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(study_dir, run_id).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_state(study_dir: Path, run_id: str, **info: Any) -> None:
    write_json_atomic(state_path(study_dir, run_id), {**info, "time": time.time()})


def _write_own(study_dir: Path, run_id: str, me: int, **info: Any) -> None:
    """Update a run's state only while it is still ours: after a forced relaunch the file belongs
    to the new runner (or was just removed for it), and the old runner must not overwrite it."""
    if (read_state(study_dir, run_id) or {}).get("runner_pid") == me:
        write_state(study_dir, run_id, runner_pid=me, **info)


def slots_dir() -> Path:
    return Path(os.environ.get("SCALING_SLOTS_DIR", Path.home() / ".cache" / "scaling" / "slots"))


def try_lock_slots(count: int) -> list[int] | None:
    """Lock `count` of the machine's core slots without blocking; None if not enough are free."""
    held = _try_lock([f"slot-{index}" for index in range(cores_available())], count)
    return None if held is None else [fd for _, fd in held]


def try_lock_gpus(count: int) -> tuple[list[int], list[str]] | None:
    """Lock `count` of the visible GPUs (slot files shared by every runner, like the core slots) without blocking:
    (lock fds, their CUDA_VISIBLE_DEVICES ids), or None if not enough are free. 0 GPUs: nothing to lock."""
    if count == 0:
        return [], []
    from scaling.runtime import visible_gpus

    gpus = visible_gpus()
    if count > len(gpus):
        raise RuntimeError(f"a run asks for {count} GPUs, this machine shows {len(gpus)}")
    held = _try_lock([f"gpu-{gpu}" for gpu in gpus], count)
    return None if held is None else ([fd for _, fd in held], [name.removeprefix("gpu-") for name, _ in held])


def _try_lock(names: list[str], count: int) -> list[tuple[str, int]] | None:
    folder = slots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    held: list[tuple[str, int]] = []
    for name in names:
        fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            taken = try_flock(fd, folder / name)
        except BaseException:
            os.close(fd)
            raise
        if taken:
            held.append((name, fd))
        else:
            os.close(fd)
        if len(held) == min(count, len(names)):
            return held
    for _, fd in held:  # never hold part of a request while waiting (two runners could deadlock)
        os.close(fd)
    return None


def spawn_runner(batch_file: Path, log_file: Path) -> int:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "scaling.study.local", "runner", str(batch_file)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc.pid


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """Alive and not a zombie; with `marker`, also its command line contains it (PIDs get reused)."""
    if not pid:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if "\nState:\tZ" in status:
            return False
        if marker is not None:
            return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        return True
    except OSError:
        return False


def _ensure_warmstarts(batch: dict[str, Any]) -> str | None:
    """Build each distinct base model once, in order, before any worker starts; an error text on failure."""
    if not batch["warmstarts"]:
        return None
    ensure = resolve(batch["warmstart_entry"])
    for tree in warmstart_configs(batch["warmstarts"], batch["warmstart_entry"]):
        try:
            ensure(build_config({**tree, "threads": cores_available()}))
        except Exception as error:  # every run of the batch needs it: report and stop
            return f"warm start failed: {type(error).__name__}: {error}"
    return None


def _start_worker(batch: dict[str, Any], run: dict[str, Any], fds: list[int], gpus: list[str]) -> subprocess.Popen:
    log_file = Path(batch["study_dir"]) / "logs" / f"{run['run_id']}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(run["threads"]), "MKL_NUM_THREADS": str(run["threads"])}
    if gpus:  # this run's own GPUs; its ranks pick theirs by local rank (scaling.runtime)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    with open(log_file, "ab") as log:
        log.write(f"=== start {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}\n".encode())
        log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "scaling.study.local", "worker", run["run_dir"], batch["train_entry"], run["run_id"],
             "--world-size", str(run.get("world_size", 1))],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, pass_fds=fds)


def run_batch(batch_file: Path) -> None:
    batch = json.loads(Path(batch_file).read_text())
    study, me = Path(batch["study_dir"]), os.getpid()
    for run in batch["runs"]:
        write_state(study, run["run_id"], state="queued", runner_pid=me)
    error = _ensure_warmstarts(batch)
    pending, alive = list(batch["runs"]), {}
    while pending or alive:
        for run_id, proc in list(alive.items()):
            if proc.poll() is not None:
                _write_own(study, run_id, me, state="exited", pid=proc.pid, returncode=proc.returncode)
                del alive[run_id]
        while pending and len(alive) < batch["max_parallel"]:
            run = pending[0]
            if (read_state(study, run["run_id"]) or {}).get("runner_pid") != me:  # cancelled meanwhile
                pending.pop(0)
                continue
            if error:
                _fail_unstarted(study, run, error, me)
                pending.pop(0)
                continue
            fds = try_lock_slots(run["threads"] * run.get("world_size", 1))
            gpus = try_lock_gpus(run.get("gpus", 0)) if fds is not None else None
            if gpus is None:
                for fd in fds or []:
                    os.close(fd)
                break
            fds = fds + gpus[0]
            try:
                proc = _start_worker(batch, run, fds, gpus[1])
            finally:
                for fd in fds:  # the worker holds its own copies; the slot frees when it exits
                    os.close(fd)
            _write_own(study, run["run_id"], me, state="running", pid=proc.pid)
            alive[run["run_id"]] = proc
            pending.pop(0)
        time.sleep(POLL_S)


def _fail_unstarted(study: Path, run: dict[str, Any], error: str, me: int) -> None:
    from scaling.store import RunFiles

    files = RunFiles(run["run_dir"])
    files.mark(files.failed, {"reason": error, "time": time.time()})
    _write_own(study, run["run_id"], me, state="exited", returncode=1)


def run_ranks(run_dir: str, train_entry: str, world_size: int) -> int:
    """A data-parallel run on this machine: `world_size` rank processes with torchrun's environment. SIGTERM and
    SIGUSR2 go to every rank (they stop together at the next step boundary); when a rank fails, the others are
    ended, as torchrun does. Exit code: 0 done, STOPPED_EXIT_CODE stopped, else the failing rank's code."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ranks = [subprocess.Popen([sys.executable, "-m", "scaling.study.local", "worker", run_dir, train_entry, "rank"],
                              env={**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(world_size),
                                   "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1",
                                   "MASTER_PORT": str(port)}) for r in range(world_size)]
    forward = lambda signum, frame: [p.send_signal(signum) for p in ranks if p.poll() is None]
    for signum in (signal.SIGTERM, signal.SIGUSR2):
        signal.signal(signum, forward)
    while any(p.poll() is None for p in ranks):
        failed = [p for p in ranks if p.poll() not in (None, 0, STOPPED_EXIT_CODE)]
        if failed:
            time.sleep(5)  # a grace period: the survivors usually fail on their own, with their reason
            for p in ranks:
                if p.poll() is None:
                    p.kill()
        time.sleep(POLL_S)
    codes = [p.returncode for p in ranks]
    bad = [c for c in codes if c not in (0, STOPPED_EXIT_CODE)]
    return bad[0] if bad else (STOPPED_EXIT_CODE if STOPPED_EXIT_CODE in codes else 0)


def run_worker(run_dir: str, train_entry: str) -> int:
    """One run in this process; SIGTERM / SIGUSR2 make it checkpoint and stop (exit code 3)."""
    config = read_yaml(Path(run_dir) / "config.yaml")
    job = RunJob(config, run_dir, train_entry, stop_signals=(signal.SIGTERM, signal.SIGUSR2))
    result = job()
    print(json.dumps(result, default=str), flush=True)
    return STOPPED_EXIT_CODE if result.get("status") == "stopped" else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaling.study.local")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("runner").add_argument("batch")
    worker = sub.add_parser("worker")
    worker.add_argument("run_dir")
    worker.add_argument("train_entry")
    worker.add_argument("run_id", help="unused; makes the run findable in the process list")
    worker.add_argument("--world-size", type=int, default=1, help="data-parallel ranks (processes) of the run")
    args = parser.parse_args(argv)
    if args.command == "runner":
        run_batch(Path(args.batch))
        return 0
    if args.world_size > 1:
        return run_ranks(args.run_dir, args.train_entry, args.world_size)
    return run_worker(args.run_dir, args.train_entry)


if __name__ == "__main__":
    sys.exit(main())
