"""The results store: one folder per run, Parquet tables, written atomically.

Layout of a run folder (schema version `SCHEMA_VERSION`):

    <run>/config.yaml        the resolved RunConfig
    <run>/evals.parquet      one row per evaluation            (EVAL_COLUMNS)
    <run>/metrics.parquet    one row per RL optimizer step     (STEP_COLUMNS)
    <run>/trajectories.parquet  sampled completions, if log.trajectories is set (TRAJECTORY_COLUMNS)
    <run>/checkpoints/       newest checkpoints (see scaling.rl.checkpoint)
    <run>/DONE | FAILED      completion / failure marker, JSON
    <run>/run.json           study runs only: study name, run ID, readable name, axis values
    <run>/weights/step_N/    with checkpoint.keep_eval_weights: the policy at each evaluation (a saved model)
    <run>/infer/<setting>/step_N.parquet   `scaling infer`: one row per sample   (SAMPLE_COLUMNS)
    <run>/infer/<setting>/setting.json     how those samples were drawn (n, temperature, budget, ...)

Every table is rewritten whole through `scaling.fsio.atomic_write` (temp file, fsync, rename), so a
reader never sees a half-written file and a killed writer or a crashed node leaves the previous version. Tables are small (hundreds of
rows), so rewriting is cheap. duckdb and polars read the same files directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scaling.fsio import atomic_write, file_lock, retry_stale

SCHEMA_VERSION = 1

# name -> (arrow type, unit, meaning). The one place the schema is written down.
COMPUTE_COLUMNS: dict[str, tuple[pa.DataType, str, str]] = {
    "step": (pa.int64(), "steps", "RL steps done: sampled batches consumed, each train.updates_per_batch optimizer updates"),
    "prompts_seen": (pa.int64(), "prompts", "training prompts sampled so far"),
    "samples_seen": (pa.int64(), "completions", "training completions sampled so far"),
    "generated_tokens": (pa.int64(), "tokens", "tokens generated for training rollouts"),
    "trained_tokens": (pa.int64(), "tokens", "completion tokens that entered a loss (each update counted)"),
    "flops": (pa.float64(), "FLOP", "training compute: see scaling.compute (excludes evaluation)"),
    "wall_seconds": (pa.float64(), "s", "training wall-clock, excluding evaluation and checkpointing"),
    "device_hours": (pa.float64(), "h", "training seconds x devices in use: GPUs (world size) on GPUs, cores (world size x threads) on CPU"),
}

EVAL_COLUMNS: dict[str, tuple[pa.DataType, str, str]] = {
    **COMPUTE_COLUMNS,
    "pass_rate": (pa.float64(), "fraction", "mean@k on the held-out prompts at the sampling temperature"),
    "greedy_accuracy": (pa.float64(), "fraction", "greedy accuracy on the same prompts (NaN if disabled)"),
    "eval_prompts": (pa.int64(), "prompts", "held-out prompts evaluated (n)"),
    "eval_k": (pa.int64(), "samples", "samples per prompt (k)"),
    "correct_counts": (pa.list_(pa.int32()), "samples", "correct samples out of k, per prompt, in a fixed order"),
    "mean_response_tokens": (pa.float64(), "tokens", "mean completion length at evaluation"),
    "eval_seconds": (pa.float64(), "s", "wall-clock of this evaluation"),
    "zero_reward_frac": (pa.float64(), "fraction", "held-out prompts with no correct sample of k (verifier coverage)"),
    "full_reward_frac": (pa.float64(), "fraction", "held-out prompts with all k samples correct"),
    "train_zero_reward_frac": (pa.float64(), "fraction", "training groups with all-zero reward, mean over the steps since the previous evaluation"),
    "train_solved_frac": (pa.float64(), "fraction", "training prompts solved (a full-reward sample) at least once so far"),
    "train_pass_rate": (pa.float64(), "fraction", "mean@k on a fixed sample of training prompts (eval.train_prompts; NaN if none): the RFT overfitting watch"),
    "epochs": (pa.float64(), "epochs", "passes over the training prompts so far (prompts_seen / training prompts)"),
    "health": (pa.string(), "", "run health at this evaluation: ok, collapsed, diverging or nan (scaling.rl.health)"),
}

STEP_COLUMNS: dict[str, tuple[pa.DataType, str, str]] = {
    **COMPUTE_COLUMNS,
    "reward_mean": (pa.float64(), "reward", "mean task reward of every completion sampled in the step"),
    "zero_variance_frac": (pa.float64(), "fraction", "sampled groups whose rewards are all equal"),
    "filtered_frac": (pa.float64(), "fraction", "sampled groups not trained on (zero-variance drop/refill, refill surplus)"),
    "sampling_rounds": (pa.int64(), "rounds", "sampling rounds in the step (>1 only with filter_zero_variance: refill)"),
    "retired_prompts": (pa.int64(), "prompts", "prompts retired by no-positive-resampling so far"),
    "pool_size": (pa.int64(), "prompts", "training prompts still in the pool"),
    "clip_frac": (pa.float64(), "fraction", "loss tokens whose ratio was clipped"),
    "tis_truncated_frac": (pa.float64(), "fraction", "tokens whose sampler/trainer IS weight hit the cap"),
    "entropy": (pa.float64(), "nats", "mean token entropy of the policy on sampled completions"),
    "kl_to_init": (pa.float64(), "nats", "mean k3 estimate of KL(policy || initial policy)"),
    "response_tokens": (pa.float64(), "tokens", "mean length of the sampled completions"),
    "truncated_frac": (pa.float64(), "fraction", "sampled completions cut at the budget without EOS"),
    "grad_norm": (pa.float64(), "", "gradient norm before clipping (last update of the step)"),
    "loss": (pa.float64(), "", "policy loss (mean over updates)"),
    "lag_mean": (pa.float64(), "steps", "mean staleness of the sampler weights (PipelineRL)"),
    "lr": (pa.float64(), "", "learning rate of the step's updates"),
    "step_seconds": (pa.float64(), "s", "wall-clock of the step"),
    "peak_memory_gib": (pa.float64(), "GiB", "peak device memory allocated during the step (torch.cuda.max_memory_allocated); NaN on CPU"),
    "peak_memory_gib": (pa.float64(), "GiB", "peak device memory allocated during the step (torch.cuda.max_memory_allocated); NaN on CPU"),
    "dtype": (pa.string(), "", "parameter dtype / lm-head dtype in use"),
    "zero_reward_frac": (pa.float64(), "fraction", "groups whose rewards are all zero (verifier coverage: no signal)"),
    "full_reward_frac": (pa.float64(), "fraction", "groups whose rewards are all full (1): already solved"),
    "solved_frac": (pa.float64(), "fraction", "training prompts solved (a full-reward sample) at least once so far"),
    "epochs": (pa.float64(), "epochs", "passes over the training prompts so far (prompts_seen / training prompts)"),
    "health": (pa.string(), "", "run health after this step: ok, collapsed, diverging or nan (scaling.rl.health)"),
}

TRAJECTORY_COLUMNS: dict[str, tuple[pa.DataType, str, str]] = {
    "step": (pa.int64(), "steps", "RL step that sampled the completion (1-based, as in metrics.parquet)"),
    "prompt_id": (pa.int64(), "", "index of the prompt in the run's training set"),
    "sample": (pa.int64(), "", "index of the completion in its group (0 .. G-1)"),
    "prompt": (pa.string(), "", "the task's prompt text (before any chat template)"),
    "completion": (pa.string(), "", "the sampled completion, EOS removed"),
    "reward": (pa.float64(), "reward", "task reward from the verifier (before length shaping)"),
    "tokens": (pa.int64(), "tokens", "completion length"),
}


SAMPLE_COLUMNS: dict[str, tuple[pa.DataType, str, str]] = {
    "step": (pa.int64(), "steps", "RL step of the checkpoint sampled (0: the base model)"),
    "train_flops": (pa.float64(), "FLOP", "training compute of that checkpoint (the evaluation row's flops; NaN if unknown)"),
    "setting": (pa.string(), "", "label of the sampling setting (the folder name; setting.json has every field)"),
    "temperature": (pa.float64(), "", "sampling temperature"),
    "budget_min": (pa.int64(), "tokens", "s1 budget forcing: thinking tokens below which a stop becomes 'Wait' (null: no forcing)"),
    "budget_max": (pa.int64(), "tokens", "s1 budget forcing: thinking tokens at which the end of thinking is forced (null: none)"),
    "prompt_id": (pa.int64(), "", "index of the prompt in the task's held-out set"),
    "sample": (pa.int64(), "", "index of the sample for this prompt, 0..n-1"),
    "answer": (pa.string(), "", "final answer extracted by the task (Task.extract_answer); null: none stated"),
    "correct": (pa.float64(), "reward", "the task verifier's score of the completion (1 correct, 0 wrong)"),
    "prompt_tokens": (pa.int64(), "tokens", "prompt length"),
    "completion_tokens": (pa.int64(), "tokens", "tokens the model wrote (EOS included, forced tokens excluded)"),
    "forced_tokens": (pa.int64(), "tokens", "tokens written by budget forcing ('Wait', end marker, answer prefix)"),
    "thinking_tokens": (pa.int64(), "tokens", "model-written tokens before the end-of-thinking marker (null: task does not think)"),
    "truncated": (pa.bool_(), "", "no EOS within the generation budget"),
    "inference_flops": (pa.float64(), "FLOP", "forward FLOPs of this sample: prompt + every completion token (scaling.compute)"),
}


def arrow_schema(columns: dict[str, tuple[pa.DataType, str, str]]) -> pa.Schema:
    return pa.schema([pa.field(name, typ) for name, (typ, _, _) in columns.items()],
                     metadata={"scaling_schema_version": str(SCHEMA_VERSION)})


def write_rows_atomic(path: Path, rows: list[dict[str, Any]], columns: dict[str, tuple[pa.DataType, str, str]]) -> None:
    """Write `rows` (all of them) to `path` atomically; unknown keys are an error."""
    schema = arrow_schema(columns)
    for row in rows:
        extra = set(row) - set(columns)
        if extra:
            raise KeyError(f"{path.name}: columns not in the schema: {sorted(extra)}")
    table = pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows], schema=schema)
    atomic_write(path, lambda handle: pq.write_table(table, handle))


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return read_table_pinned(path).to_pylist()


class TableLog:
    """An append-only table kept in memory and rewritten atomically on each append."""

    def __init__(self, path: Path, columns: dict[str, tuple[pa.DataType, str, str]], write: bool = True):
        """`write=False` keeps the rows in memory only (the ranks of a data-parallel run other than rank 0)."""
        self.path, self.columns, self.write = path, columns, write
        self.rows: list[dict[str, Any]] = read_rows(path)

    def truncate_after(self, step: int) -> None:
        """Drop rows written after a checkpoint at `step` (they are redone on resume)."""
        kept = [r for r in self.rows if r["step"] <= step]
        if len(kept) != len(self.rows):
            self.rows = kept
            if self.write:
                write_rows_atomic(self.path, self.rows, self.columns)

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        if self.write:
            write_rows_atomic(self.path, self.rows, self.columns)


class RunFiles:
    """Paths inside one run folder."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.config = self.dir / "config.yaml"
        self.evals = self.dir / "evals.parquet"
        self.metrics = self.dir / "metrics.parquet"
        self.trajectories = self.dir / "trajectories.parquet"
        self.checkpoints = self.dir / "checkpoints"
        self.done = self.dir / "DONE"
        self.failed = self.dir / "FAILED"

    def lock(self, wait_s: float | None = 0.0):
        """The run's writer lock (`<run>/.lock`): one process writes a run folder at a time."""
        return file_lock(self.dir / ".lock", wait_s=wait_s, what=f"run folder {self.dir}")

    def mark(self, marker: Path, info: dict[str, Any]) -> None:
        atomic_write(marker, json.dumps(info, indent=1, default=str))

    def read_marker(self, marker: Path) -> dict[str, Any] | None:
        try:
            return json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            return None


def read_evals(run_dir: str | Path) -> pd.DataFrame:
    """One run's evaluation rows as a DataFrame (empty with the right columns if none yet)."""
    path = RunFiles(run_dir).evals
    if not path.exists():
        return arrow_schema(EVAL_COLUMNS).empty_table().to_pandas()
    return read_table_pinned(path).to_pandas()


def read_metrics(run_dir: str | Path) -> pd.DataFrame:
    path = RunFiles(run_dir).metrics
    if not path.exists():
        return arrow_schema(STEP_COLUMNS).empty_table().to_pandas()
    return read_table_pinned(path).to_pandas()


def schema_markdown() -> str:
    """The schema as Markdown tables (used by the README and `docs`)."""
    lines = []
    tables = (("evals.parquet", EVAL_COLUMNS), ("metrics.parquet", STEP_COLUMNS),
              ("trajectories.parquet", TRAJECTORY_COLUMNS),
              ("infer/<setting>/step_N.parquet (scaling infer)", SAMPLE_COLUMNS))
    for title, cols in tables:
        lines += [f"### {title}", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        lines += [f"| `{n}` | {t} | {u} | {m} |" for n, (t, u, m) in cols.items()]
        lines.append("")
    return "\n".join(lines)


def read_table_pinned(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet file through one open handle. `pq.read_table(path)` may open the path more
    than once (footer, then pages); a writer's `os.replace` in between gives it the footer of one
    file and the pages of another ("Couldn't deserialize thrift", measured with 6 writers). One
    handle pins one inode, so a concurrent reader sees the old file or the new one, whole."""
    def read() -> pa.Table:
        with open(path, "rb") as handle:
            return pq.ParquetFile(handle).read(columns=columns)

    return retry_stale(read)  # NFS: ESTALE when a writer replaced the file under us; the new one reads whole


def _run_meta(run_dir: Path) -> dict[str, Any]:
    """Flattened resolved config (dotted keys) and the readable name of one run folder."""
    import yaml

    from scaling.config import flatten

    try:  # the C loader is ~10x faster; still a safe loader
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        config = yaml.load(RunFiles(run_dir).config.read_text(), Loader=loader) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    try:
        info = json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        info = {}
    return {"run_name": info.get("name", Path(run_dir).name), **flatten(config)}


def _marker_state(run_dir: Path) -> str:
    files = RunFiles(run_dir)
    return "done" if files.done.exists() else "failed" if files.failed.exists() else "incomplete"


RunEntry = tuple[Path, str, "dict[str, Any] | None"]  # run folder, state, {run_name, config columns} or None


def run_entries(folder: str | Path) -> list[RunEntry]:
    """The runs of a results folder, states from their markers (done, failed, incomplete): a study folder
    (`runs/<run_id>/`), one run's folder, or a folder of run folders. The store knows folders, not
    studies: scaling.study.results adds specs and the scheduler's states."""
    folder = Path(folder)
    if folder.suffix in (".yaml", ".yml"):
        raise ValueError(f"{folder}: a study spec; read it with scaling.study.results.study_evals")
    if (folder / "runs").is_dir():
        folder = folder / "runs"
    elif RunFiles(folder).config.exists():  # one run's own folder
        return [(folder, _marker_state(folder), None)]
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "config.yaml").exists()) if folder.is_dir() else []
    return [(p, _marker_state(p), None) for p in runs]


def _entries(source: Any) -> list[RunEntry]:
    return list(source) if isinstance(source, (list, tuple)) else run_entries(source)


def combined_table(source: Any) -> pd.DataFrame | None:
    """A results folder's combined table (`<folder>/evals.parquet` with a `run_id` column), if that is what it holds."""
    if not isinstance(source, (str, Path)):
        return None
    folder = Path(source)
    path = folder / "evals.parquet"
    if not path.exists() or (folder / "runs").is_dir() or RunFiles(folder).config.exists():
        return None
    table = read_table_pinned(path)
    return table.to_pandas() if "run_id" in table.column_names else None


def load_trajectories(source: Any) -> pd.DataFrame:
    """Every run's trajectory rows (TRAJECTORY_COLUMNS, then `run_id`, `run_name` and the run's config as dotted
    columns, as in load_evals) for a results folder (see `run_entries`) or a list of run entries; empty when no
    run logged trajectories."""
    frames = []
    for run_dir, _, info in _entries(source):
        path = RunFiles(run_dir).trajectories
        if path.exists():
            frame = read_table_pinned(path).to_pandas()
            meta = info or _run_meta(run_dir)
            frames.append(frame.assign(run_id=run_dir.name, **{k: [v] * len(frame) for k, v in meta.items()}))
    if not frames:
        return arrow_schema(TRAJECTORY_COLUMNS).empty_table().to_pandas().assign(
            run_id=pd.Series(dtype=str), run_name=pd.Series(dtype=str))
    return pd.concat(frames, ignore_index=True)


def load_evals(source: Any, derived: Iterable[str] = ()) -> pd.DataFrame:
    """Every run's evaluation rows, one table: the EVAL_COLUMNS, then `run_id`, `run_name`, `state`,
    then the run's resolved config flattened to dotted columns (`loss.type`, `rollout.prompts_per_step`).

    `source`: a study folder (with `runs/`), a folder of run folders, one run's folder, or a list of
    run entries (`run_entries`; scaling.study.results.study_evals passes a spec's, with the scheduler's
    states). Runs without evaluation rows yet contribute no rows. A folder that holds a combined table
    instead (`evals.parquet` at its top level with a `run_id` column, as the committed results/ folders
    do) is read as it is. `derived`: config columns a spec marked as following an axis.
    """
    combined = combined_table(source)
    if combined is not None:
        return combined
    tables, meta, derived = [], [], set(derived)
    for run_dir, state, info in _entries(source):
        path = RunFiles(run_dir).evals
        table = read_table_pinned(path) if path.exists() else None
        if table is None or table.num_rows == 0:
            continue
        derived.update(_read_json(Path(run_dir) / "run.json").get("derived", []))
        tables.append(table.append_column("run_id", pa.array([run_dir.name] * table.num_rows, pa.string())))
        meta.append({"run_id": run_dir.name, "state": state, **(info or _run_meta(run_dir))})
    if not tables:
        empty = arrow_schema(EVAL_COLUMNS).empty_table().to_pandas()
        return empty.assign(run_id=pd.Series(dtype=str), run_name=pd.Series(dtype=str), state=pd.Series(dtype=str))
    # older files may lack newer columns: fill them with nulls rather than fail
    evals = pa.concat_tables(tables, promote_options="default").to_pandas()
    columns = pd.DataFrame(meta)
    columns = columns[["run_id", "run_name", "state"] + [c for c in columns.columns if c not in ("run_id", "run_name", "state")]]
    out = evals.merge(columns, on="run_id", how="left", sort=False)
    out.attrs["derived"] = sorted(derived)  # config columns the spec marked as following an axis (not axes)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
