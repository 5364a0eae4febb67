"""Files that survive crashes and shared filesystems: atomic writes, file locks, stale-handle retries.

Every file the package writes whole (tables, checkpoints, markers, configs, manifests) goes through
`atomic_write`: write a temp file beside the target, flush, fsync it, rename it over the target,
fsync the folder. Without the fsyncs a node crash can leave the rename on disk but not the data,
and a zero-length file replaces a good one. Temp files are named `.NAME.XXXXXXXX.tmp`, so
`remove_stale_temps` can clear what a killed writer left behind.

Every lock is a `flock` taken through `try_flock` or `file_lock`. On Lustre mounted without
`-o flock` (and some NFS set-ups) flock raises an OSError other than "held"; that becomes a
`LockError` naming the file and the fix instead of a crash. `retry_stale` re-runs a read that hit
ESTALE, which NFS readers get when a writer replaced the file between open and read.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator, TypeVar

T = TypeVar("T")
TEMP_SUFFIX = ".tmp"
# Temp files of the writers before this module: `.evals.parquet.k3j2_x` (mkstemp), `DONE.tmp`, `.step_000010.pt.tmp`.
_LEGACY_TEMP = re.compile(r"^\.(evals|metrics|trajectories)\.parquet\..+$|^(DONE|FAILED)\.tmp$|^config\.yaml\.tmp$")


class StorageError(RuntimeError):
    """A folder that cannot be used as it is (the message says why and what to do); nothing was changed."""


class LockError(StorageError):
    """A lock that cannot be taken: held by another process, or not supported by the filesystem."""


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable. Some filesystems refuse fsync on a directory: nothing to do there."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file under `folder` and the folders themselves (before renaming a folder into place)."""
    for path in sorted(Path(folder).rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(Path(folder))


def replace_dir(tmp: Path, target: Path) -> None:
    """Move a fully written folder into place durably (its files, then the rename). `target` must not exist."""
    fsync_tree(tmp)
    os.replace(tmp, target)
    fsync_dir(Path(target).parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """A handle on a temp file beside `path`; on a clean exit it replaces `path` durably, on an error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | Path, data: bytes | str | Callable[[IO], None]) -> None:
    """Replace `path` with `data` (bytes, text, or a function that writes to a binary handle), crash-safely."""
    with atomic_open(path, "wb") as handle:
        if callable(data):
            data(handle)
        else:
            handle.write(data.encode() if isinstance(data, str) else data)


def remove_stale_temps(*folders: str | Path) -> list[Path]:
    """Delete temp files a killed writer left in `folders` (not recursive). Call only while holding
    the lock that excludes every other writer of those folders, or a live writer's temp file goes."""
    removed = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            name = path.name
            stale = (name.startswith(".") and name.endswith(TEMP_SUFFIX)) or _LEGACY_TEMP.match(name)
            if stale and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _unsupported(path: object, err: OSError) -> LockError:
    return LockError(f"{path}: file locks are not supported here ({err.strerror or err}); on Lustre mount with "
                     f"-o flock, or put this folder on a filesystem with flock support")


def try_flock(fd: int, path: object = "lock file", exclusive: bool = True) -> bool:
    """Take a flock without waiting: True if taken, False if another process holds it."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):  # "held" on some platforms
            return False
        raise _unsupported(path, err) from None


def holder(path: str | Path) -> str:
    """Who holds a lock taken by `file_lock`: 'host HOST pid PID', or 'unknown'."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        text = ""
    return text or "unknown"


@contextmanager
def file_lock(path: str | Path, wait_s: float | None = None, poll_s: float = 0.2,
              what: str = "") -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if needed). `wait_s=None` waits as long as it takes;
    otherwise a `LockError` naming the holder's host and PID after `wait_s` seconds (0: fail at once)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no truncation: the holder's name stays readable
    try:
        if wait_s is None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:
                raise _unsupported(path, err) from None
        else:
            deadline = time.monotonic() + wait_s
            while not try_flock(fd, path):
                if time.monotonic() >= deadline:
                    raise LockError(f"{what or path}: in use by another process ({holder(path)})")
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"host {socket.gethostname()} pid {os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def retry_stale(read: Callable[[], T], attempts: int = 4, delay_s: float = 0.05) -> T:
    """Run `read`, again after an ESTALE (NFS: the file was replaced under an open handle or path)."""
    for attempt in range(attempts):
        try:
            return read()
        except OSError as err:
            if err.errno != errno.ESTALE or attempt == attempts - 1:
                raise
            time.sleep(delay_s * (attempt + 1))
    raise AssertionError("unreachable")
