"""`scaling infer SOURCE`: sample many completions per held-out prompt from a run's checkpoints, a study's
runs or a saved model, and store them (one Parquet table per checkpoint and setting; resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli.errors import user_errors


def infer_command(
    source: Path = typer.Argument(..., help="A run folder, a study (spec .yaml or results folder) or a saved model."),
    n: int = typer.Option(..., "--n", help="Samples per prompt (pass@k and maj@k up to k = n)."),
    prompts: Optional[int] = typer.Option(None, "--prompts", help="Held-out prompts (the first P); default: all."),
    checkpoints: List[str] = typer.Option(["all"], "--checkpoints", help="all, last, or step numbers (repeatable)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Default: the run's rollout.temperature."),
    budget: List[str] = typer.Option([], "--budget", help="Thinking budget for s1 budget forcing: MAX, MIN:MAX, MIN: "
                                     "or none (repeatable: one setting each). Default: no forcing."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Generation cap per sample; default: "
                                                 "the run's rollout.max_new_tokens (plus the budget when forcing)."),
    wait: str = typer.Option("Wait", "--wait", help="Text forced in when thinking stops below the minimum (s1)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (the same for every checkpoint)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder; default: <run>/infer for runs."),
    config: Optional[Path] = typer.Option(None, "--config", help="Run config for a saved model (task, precision)."),
    set_: List[str] = typer.Option([], "--set", help="Override a field of that config (repeatable)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N; default: the run's."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Sample N completions per prompt; score them and extract their answers; one table per checkpoint and setting."""
    from scaling.config import load_run_config
    from scaling.infer.run import infer
    from scaling.infer.settings import settings_for
    from scaling.infer.sources import resolve

    with user_errors():
        base = load_run_config(config, set_) if (config or set_) else None
        sources = resolve(source, base)
        settings = settings_for(sources[0].config, n=n, prompts=prompts, temperature=temperature, budgets=budget,
                                max_new_tokens=max_new_tokens, wait=wait, seed=seed)
        paths = infer(sources, settings, checkpoints, out=out, device=device, progress=not quiet)
    folders = sorted({str(p.parent.parent) for p in paths})
    typer.echo(f"{len(paths)} table(s) of {n} samples per prompt in {', '.join(folders)}")


def inference_outputs(source: Path, out: Path, kind: str, fmt: str = "md") -> list[Path]:
    """For `scaling plot` / `scaling report`: the inference figures (or report) of any `scaling infer` samples
    under SOURCE; [] when there are none."""
    from scaling.infer.tables import has_samples, load_samples

    if not has_samples(source):
        return []
    from scaling.report_infer import analyse, figures, write_inference_report

    samples = load_samples(source)
    if kind == "plot":
        return [p for paths in figures(analyse(samples), out).values() for p in paths]
    return [write_inference_report(samples, out, fmt=fmt)[0]]


def register(app: typer.Typer) -> None:
    app.command("infer")(infer_command)


def samples_only(source: Path) -> bool:
    from scaling.infer.tables import samples_only as only

    return only(source)
