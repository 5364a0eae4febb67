"""Device and process-group set-up: the one module that asks torch.cuda and torch.distributed where a run is.

Everything else takes a `Runtime` and reads `device`, `rank`, `world_size`, `is_main` from it, so a CPU
test runs the very same code as a multi-GPU job; the only differences are a device string and a
backend name (`cuda`/`nccl` against `cpu`/`gloo`), as nanochat's `compute_init` does it.

A data-parallel run learns its rank from the environment that its launcher sets: `torchrun`
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or submitit's
`helpers.TorchDistributedEnvironment().export()` inside a Slurm task. Without those variables a
run is one process (world size 1) and no process group is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


def cores_available() -> int:
    """CPU cores this process may use (its affinity mask: what Slurm or `taskset` gave it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cuda_available() -> bool:
    return torch.cuda.is_available()


def visible_gpus() -> list[str]:
    """The CUDA device ids this process may hand out (CUDA_VISIBLE_DEVICES when set), for per-run GPU slots."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())] if cuda_available() else []


def resolve_device(spec: str = "auto", local_rank: int = 0) -> torch.device:
    """`auto` is the local rank's GPU when one is visible, else the CPU; `cuda` picks the local rank's GPU."""
    if spec == "auto":
        spec = "cuda" if cuda_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not cuda_available():
            raise ValueError(f"device {spec!r}: no CUDA device is visible (set device: cpu or auto)")
        index = int(spec.split(":", 1)[1]) if ":" in spec else local_rank % torch.cuda.device_count()
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA devices are visible")
        return torch.device("cuda", index)
    raise ValueError(f"device {spec!r}: expected auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: its device and its place in the (possibly 1-process) data-parallel group."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # "nccl" or "gloo" once a process group exists

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes tables, markers and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def generator(self, seed: int) -> torch.Generator:
        """A seeded generator on the run's device (CUDA sampling needs a CUDA generator)."""
        return torch.Generator(device=self.device).manual_seed(seed)

    def devices_in_use(self, threads: int) -> int:
        """What device-hours count: one GPU per rank, or the CPU cores the ranks train on."""
        return self.world_size if self.is_cuda else self.world_size * threads

    def shard(self, items: list) -> list:
        """This rank's contiguous share of `items` (sizes differ by at most one), so gathers restore the order."""
        per, extra = divmod(len(items), self.world_size)
        start = self.rank * per + min(self.rank, extra)
        return items[start:start + per + (self.rank < extra)]

    # Collectives. With one process each is the identity, so callers never branch on the world size.

    def _reduce(self, values: list[float], op) -> list[float]:
        if not self.distributed:
            return [float(v) for v in values]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=op)
        return tensor.tolist()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over ranks (float64, so counts stay exact)."""
        return self._reduce(values, dist.ReduceOp.SUM)

    def all_reduce_max(self, values: list[float]) -> list[float]:
        return self._reduce(values, dist.ReduceOp.MAX)

    def any_true(self, flag: bool) -> bool:
        """Whether any rank says yes: stop requests and failures reach every rank at the same point."""
        return self.all_reduce_max([1.0 if flag else 0.0])[0] > 0

    def all_gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank (pickled; for small things: rewards, counts, RNG states)."""
        if not self.distributed:
            return [obj]
        out = [None] * self.world_size
        # Pickled tensors come back on the device index they were sent from (rank 1's cuda:1 on rank 0):
        # send them from the CPU and bring them onto this rank's device.
        dist.all_gather_object(out, _tensors_to(obj, torch.device("cpu")))
        return [_tensors_to(part, self.device) for part in out]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def device_mesh(self):
        """A 1-D mesh of every rank on the run's device type, over the default process group (FSDP2 shards on it)."""
        from torch.distributed.device_mesh import init_device_mesh

        return init_device_mesh(self.device.type, (self.world_size,))


def _tensors_to(obj, device: torch.device):
    """`obj` with every tensor in it (through lists, tuples and dicts) moved to `device`."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tensors_to(item, device) for item in obj)
    if isinstance(obj, dict):
        return {key: _tensors_to(value, device) for key, value in obj.items()}
    return obj


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def init_runtime(device: str = "auto") -> Runtime:
    """Set up this process: pick its device and, under a multi-process launcher, join the process group."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    resolved = resolve_device(device, local_rank)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if world_size == 1:
        return Runtime(device=resolved)
    backend = "nccl" if resolved.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                                device_id=resolved if resolved.type == "cuda" else None)
    return Runtime(device=resolved, rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)


def shutdown_runtime(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def reset_peak_memory(runtime: Runtime) -> None:
    if runtime.is_cuda:
        torch.cuda.reset_peak_memory_stats(runtime.device)


def peak_memory_bytes(runtime: Runtime) -> float:
    """Peak allocated device memory since the last reset; NaN on the CPU (no allocator statistics there)."""
    if runtime.is_cuda:
        return float(torch.cuda.max_memory_allocated(runtime.device))
    return float("nan")


def device_rng_state(runtime: Runtime) -> torch.Tensor | None:
    """The run's GPU's default generator state (kernels that draw without an explicit generator use it)."""
    return torch.cuda.get_rng_state(runtime.device) if runtime.is_cuda else None


def set_device_rng_state(runtime: Runtime, state: torch.Tensor | None) -> None:
    """Restore it on a CUDA run; a checkpoint from another device type has none to give, or none to take."""
    if runtime.is_cuda and state is not None:
        torch.cuda.set_rng_state(state.cpu(), runtime.device)


def device_name(runtime: Runtime) -> str:
    """The accelerator's marketing name (for peak-FLOPs tables), or "cpu"."""
    return torch.cuda.get_device_name(runtime.device) if runtime.is_cuda else "cpu"


def sampler_device(trainer: torch.device) -> torch.device:
    """A PipelineRL sampler's device: the next visible GPU when the trainer's GPU has a neighbour (sampling and
    training then overlap on separate devices), else the trainer's own device."""
    if trainer.type == "cuda" and torch.cuda.device_count() > 1:
        return torch.device("cuda", ((trainer.index or 0) + 1) % torch.cuda.device_count())
    return trainer


def pair_backend(a: torch.device, b: torch.device) -> str:
    """NCCL between two distinct GPUs; gloo (on CPU buffers) otherwise: NCCL cannot pair two processes on one GPU."""
    return "nccl" if a.type == b.type == "cuda" and a != b else "gloo"


def pair_store(timeout_s: float) -> dist.TCPStore:
    """The rendezvous for a 2-process group (trainer and its sampler), on a free local port (`.port`)."""
    return dist.TCPStore("127.0.0.1", 0, 2, True, timeout=timedelta(seconds=timeout_s), wait_for_workers=False)


def pair_group(rank: int, port: int, backend: str, device: torch.device, timeout_s: float,
               store: dist.TCPStore | None = None) -> dist.ProcessGroup:
    """A 2-process group outside the default one (a data-parallel run may hold that): rank 0 the trainer,
    rank 1 its sampler. Used through its own methods, e.g. `group.broadcast(tensor, root=0).wait()`."""
    timeout = timedelta(seconds=timeout_s)
    store = store or dist.TCPStore("127.0.0.1", port, 2, False, timeout=timeout)
    if backend == "nccl":
        torch.cuda.set_device(device)
        return dist.ProcessGroupNCCL(store, rank, 2)
    return dist.ProcessGroupGloo(store, rank, 2, timeout)
