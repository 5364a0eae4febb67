"""`scaling export`: a run's (or a study's) logged trajectories as a deduplicated SFT dataset for distillation.

Rows come from trajectories.parquet (log.trajectories), are kept when their reward is at least `min_reward`,
and are deduplicated on (prompt, completion): a prompt solved the same way at many steps appears once. Prompts
are shown as the run's model saw them (its task.prompt_template and task.system_prompt). Two layouts, the ones
TRL's SFTTrainer reads: prompt/completion columns, or chat `messages` (system, user and assistant turns).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scaling.fsio import atomic_write
from scaling.rl.prompts import messages
from scaling.study.results import study_trajectories
from scaling.tasks.base import PromptStyle

FORMATS = ("jsonl", "parquet")


def _style(row: dict[str, Any], system: str | None) -> PromptStyle:
    """The run's prompt style (task.prompt_template, task.system_prompt), `system` overriding its system prompt."""
    template = row.get("task.prompt_template")
    return PromptStyle(template=template if isinstance(template, str) else "{question}",
                       system=system if system is not None else row.get("task.system_prompt") or None)


def sft_records(trajectories: pd.DataFrame, min_reward: float = 1.0, chat: bool = False,
                system: str | None = None) -> list[dict[str, Any]]:
    """Deduplicated SFT records from trajectory rows (earliest occurrence kept, in run and step order), with each
    run's prompt template and system prompt applied as the model saw them; `system` replaces the system prompt."""
    kept = trajectories[trajectories["reward"] >= min_reward]
    records, seen = [], set()
    for row in kept.to_dict("records"):
        style = _style(row, system)
        if chat:
            record = {"messages": messages(row["prompt"], style) + [{"role": "assistant", "content": row["completion"]}]}
            key = json.dumps(record["messages"], ensure_ascii=False)
        else:
            user = style.user_message(row["prompt"])
            record = {"prompt": f"{style.system}\n\n{user}" if style.system else user, "completion": row["completion"]}
            key = json.dumps([record["prompt"], record["completion"]], ensure_ascii=False)
        if key not in seen:
            seen.add(key)
            records.append(record)
    return records


def write_records(records: list[dict[str, Any]], out: Path, fmt: str) -> None:
    if fmt == "jsonl":
        atomic_write(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        atomic_write(out, lambda handle: pq.write_table(pa.Table.from_pylist(records), handle))


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
    rows = study_trajectories(source)
    if rows.empty:
        raise ValueError(f"{source}: no trajectories.parquet found (train with log.trajectories: correct or all)")
    records = sft_records(rows, min_reward, chat, system)
    if not records:
        raise ValueError(f"{source}: none of {len(rows)} trajectories has reward >= {min_reward:g}")
    write_records(records, out, fmt)
    return len(records)
