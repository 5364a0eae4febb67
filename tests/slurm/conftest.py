"""Fixtures for tests that go through a real Slurm cluster (helpers live in slurm_helpers.py).

Without a cluster the tests are skipped with the reason; with CI=true they fail instead, so a CI whose
cluster did not come up cannot pass by skipping everything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slurm_helpers import HERE, cluster_problem, in_ci, slurm, slurm_env, use_cluster


@pytest.fixture(scope="session")
def slurm_session() -> dict[str, str]:
    """The cluster's environment; skips (laptop) or fails (CI=true) every test that needs it when none answers."""
    problem = cluster_problem()
    if problem is not None:
        if in_ci():
            pytest.fail(f"CI=true but {problem}", pytrace=False)
        pytest.skip(problem)
    env = slurm_env()
    # Functions defined in these test modules are pickled by reference (module `test_cluster`, ...); the job's
    # interpreter inherits the submitting environment (sbatch --export=ALL), so it finds them here.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    # One thread per job process: the cluster shares the CI machine's two cores with everything else.
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(autouse=True)
def slurm_cluster(slurm_session: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every test here needs the cluster. SLURM_CONF is set for the test only, so tests outside tests/slurm
    never see this cluster (their `auto` executor stays local)."""
    use_cluster(monkeypatch, slurm_session)
    return slurm_session


@pytest.fixture
def executor_factory(tmp_path: Path):
    """submitit Slurm executors writing under this test's tmp folder; jobs left behind are cancelled."""
    import submitit

    made: list[Path] = []

    def make(name: str = "jobs", **params) -> "submitit.AutoExecutor":
        folder = tmp_path / name
        made.append(folder)
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
        executor.update_parameters(timeout_min=params.pop("timeout_min", 5), cpus_per_task=1, mem_gb=0.5,
                                   slurm_additional_parameters=params.pop("slurm_additional_parameters", {}),
                                   **params)
        return executor

    yield make
    # A failed assertion must not leave a sleeping job holding one of the two cores for later tests.
    for folder in made:
        ids = {p.name.split("_")[0] for p in folder.glob("*") if p.is_dir() and p.name[0].isdigit()}
        if ids:
            slurm("scancel", *sorted(ids), check=False)
