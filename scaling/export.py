"""`scaling export`: a run's (or a study's) logged trajectories as a deduplicated SFT dataset for distillation.

Rows come from trajectories.parquet (log.trajectories), are kept when their reward is at least `min_reward`,
and are deduplicated on (prompt, completion): a prompt solved the same way at many steps appears once. Two
layouts, the ones TRL's SFTTrainer reads: prompt/completion columns, or chat `messages` (a user turn with the
prompt, an assistant turn with the completion; `system` adds a system turn first).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scaling.store import load_trajectories

FORMATS = ("jsonl", "parquet")


def sft_records(trajectories: pd.DataFrame, min_reward: float = 1.0, chat: bool = False,
                system: str | None = None) -> list[dict[str, Any]]:
    """Deduplicated SFT records from trajectory rows (earliest occurrence kept, in run and step order)."""
    kept = trajectories[trajectories["reward"] >= min_reward]
    kept = kept.drop_duplicates(["prompt", "completion"], keep="first")
    if not chat:
        return [{"prompt": p, "completion": c} for p, c in zip(kept["prompt"], kept["completion"])]
    head = [{"role": "system", "content": system}] if system else []
    return [{"messages": head + [{"role": "user", "content": p}, {"role": "assistant", "content": c}]}
            for p, c in zip(kept["prompt"], kept["completion"])]


def _write_atomic(out: Path, write) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_records(records: list[dict[str, Any]], out: Path, fmt: str) -> None:
    if fmt == "jsonl":
        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        def write(tmp):
            pq.write_table(pa.Table.from_pylist(records), tmp)
    _write_atomic(out, write)


def export(source: str | Path, out: str | Path, min_reward: float = 1.0, fmt: str | None = None,
           chat: bool = False, system: str | None = None) -> int:
    """Write the SFT dataset of `source` (a run folder, study folder or spec) to `out`; returns the record count.
    Raises ValueError (nothing written) when there is nothing to export."""
    out = Path(out)
    fmt = fmt or ("parquet" if out.suffix == ".parquet" else "jsonl")
    if fmt not in FORMATS:
        raise ValueError(f"--format must be jsonl or parquet, not {fmt!r}")
    if not Path(source).exists():
        raise ValueError(f"{source}: no such run folder, study folder or spec")
    rows = load_trajectories(source)
    if rows.empty:
        raise ValueError(f"{source}: no trajectories.parquet found (train with log.trajectories: correct or all)")
    records = sft_records(rows, min_reward, chat, system)
    if not records:
        raise ValueError(f"{source}: none of {len(rows)} trajectories has reward >= {min_reward:g}")
    write_records(records, out, fmt)
    return len(records)
