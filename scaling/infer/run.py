"""`scaling infer`: every selected checkpoint of every source, under every sampling setting."""

from __future__ import annotations

from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from scaling.infer.sampling import CheckpointInfo, Setting, sample_checkpoint, table_path
from scaling.infer.sources import Source, select
from scaling.runtime import cores_available, resolve_device
from scaling.tasks import make_task


def output_folder(source: Source, out: Path | None, several: bool) -> Path:
    if out is None:
        if source.out is None:
            raise ValueError(f"{source.name}: a saved model has no run folder to write into; give --out")
        return source.out
    return out / source.name if several else out


def _progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn())
    progress.start()
    return progress


def _done(folder: Path, setting: Setting, step: int) -> bool:
    """A finished table is never resampled (the model is not even loaded)."""
    from scaling.store import read_table_pinned

    path = table_path(folder / setting.label, step)
    return path.exists() and read_table_pinned(path, ["step"]).num_rows == setting.n * setting.prompts


def infer(sources: list[Source], settings: list[Setting], checkpoints: list[str], *, out: Path | None = None,
          device: str | None = None, threads: int | None = None, progress: bool = False) -> list[Path]:
    """Sample every (source, checkpoint, setting) not yet done; returns the tables' paths."""
    plan = []
    for source in sources:
        folder = output_folder(source, out, len(sources) > 1)
        chosen = select(source.checkpoints, checkpoints, source.name)
        plan.append((source, folder, chosen))
    torch.set_num_threads(threads or sources[0].config.threads or cores_available())
    bar = _progress(progress)
    paths = []
    try:
        for source, folder, chosen in plan:
            task = make_task(source.config.task, source.config.warmstart_seed)
            examples = task.val_examples()
            target = resolve_device(device or source.config.device)
            for ckpt in chosen:
                todo = [s for s in settings if not _done(folder, s, ckpt.step)]
                paths += [table_path(folder / s.label, ckpt.step) for s in settings if s not in todo]
                if not todo:
                    continue
                model, tokenizer = ckpt.load()
                model.to(target)
                for setting in todo:
                    job = bar.add_task(f"{source.name} step {ckpt.step} {setting.label}", total=setting.prompts) if bar else None
                    report = (lambda done, total, job=job: bar.update(job, completed=done)) if bar else None
                    paths.append(sample_checkpoint(model, tokenizer, task, examples, setting,
                                                   CheckpointInfo(ckpt.step, ckpt.train_flops), folder / setting.label,
                                                   on_chunk=report))
                del model
    finally:
        if bar:
            bar.stop()
    return paths
