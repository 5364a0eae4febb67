"""PipelineRL-k (ScaleRL, Khatri et al. 2025; Piché et al. 2025): sampling and training overlap.

A sampler process generates batches while the trainer trains. Each request is tagged with the
trainer's weight version when it was made, and the sampler samples it with exactly those weights:
after every update the trainer broadcasts its weights (a 2-process torch.distributed group, gloo
on CPU buffers, NCCL between two GPUs; `scaling.runtime.pair_group`), asynchronously, and the
sampler takes the broadcasts in order as its requests need them. At most k+1 requests are ahead of
the trainer, so a batch is consumed at most k updates after the weights it was sampled with, and
the run is deterministic: the same config gives the same rows, with or without interruptions.

Resume is exact. A checkpoint waits for the in-flight requests and stores their results with the
sampler's RNG state after them; a resumed run consumes those results first and its sampler
continues that random stream (it is seeded once, at the run's start, not at every restart).

The sampler ignores SIGUSR2, SIGTERM and SIGINT: the trainer alone decides when to stop (Slurm
signals every process of a job on preemption); it exits when the trainer closes it or goes away.
Requests and results go through a pipe, weights through the process group: no shared memory or
semaphores for multiprocessing's resource tracker to clean up.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections import deque
from dataclasses import asdict, dataclass, replace

import torch

from scaling.config import RunConfig
from scaling.rl.rollout import Completions, encode_prompts, sample, sampling_options
from scaling.runtime import pair_backend, pair_group, pair_store, sampler_device

# Seconds to wait for the sampler before declaring it dead (its first batch includes start-up).
TIMEOUT = 600
POLL = 2.0
SAMPLER_SEED_OFFSET = 7919


@dataclass
class Sampled:
    indices: list[int]
    prompt_ids: torch.Tensor     # (P, L): one row per prompt, shared by its group
    prompt_mask: torch.Tensor
    completions: Completions
    version: int                 # the trainer's weight version it was sampled with
    rng: torch.Tensor            # the sampler's generator state after sampling it


def _to(result: Sampled, device: torch.device) -> Sampled:
    return replace(result, prompt_ids=result.prompt_ids.to(device), prompt_mask=result.prompt_mask.to(device),
                   completions=result.completions.to(device))


def _saved(result: Sampled) -> dict:
    """Plain tensors, lists and ints for a checkpoint (loadable with torch.load(weights_only=True))."""
    return asdict(_to(result, torch.device("cpu")))


def _restored(saved: dict) -> Sampled:
    return Sampled(**{**saved, "completions": Completions(**saved["completions"]), "rng": saved["rng"].cpu()})


class _Weights:
    """The model's state as one flat buffer per dtype, the unit of a broadcast."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.tensors = list(model.state_dict().values())
        self.dtypes = list(dict.fromkeys(t.dtype for t in self.tensors))
        self.device = device

    @torch.no_grad()
    def pack(self) -> list[torch.Tensor]:
        return [torch.cat([t.detach().reshape(-1) for t in self.tensors if t.dtype == d]).to(self.device)
                for d in self.dtypes]

    def empty(self) -> list[torch.Tensor]:
        return [torch.empty(sum(t.numel() for t in self.tensors if t.dtype == d), dtype=d, device=self.device)
                for d in self.dtypes]

    @torch.no_grad()
    def unpack(self, buffers: list[torch.Tensor]) -> None:
        for dtype, flat in zip(self.dtypes, buffers):
            offset = 0
            for t in (t for t in self.tensors if t.dtype == dtype):
                t.copy_(flat[offset: offset + t.numel()].view_as(t))
                offset += t.numel()


def _sampler_main(config_tree: dict, base_path, conn, port: int, device: str, backend: str, threads: int,
                  version: int, rng: torch.Tensor | None) -> None:
    for sig in (signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    from scaling.config import build_config
    from scaling.model import make_policy
    from scaling.rl.precision import apply_precision
    from scaling.tasks.base import PromptStyle

    torch.set_num_threads(threads)
    device = torch.device(device)
    group = pair_group(1, port, backend, device, TIMEOUT)
    config = build_config(config_tree)
    model, tokenizer = make_policy(config.model, config.warmstart_seed, path=base_path)
    apply_precision(model, config.model.precision)
    model.to(device).eval()
    weights = _Weights(model, device if backend == "nccl" else torch.device("cpu"))
    generator = torch.Generator(device=device)
    if rng is None:
        generator.manual_seed(config.seed + SAMPLER_SEED_OFFSET)
    else:
        generator.set_state(rng)
    options = sampling_options(config.rollout, tokenizer, model)
    style = PromptStyle.of(config.task)
    seen = version - 1  # the first broadcast is the trainer's weights at start
    try:
        while (request := conn.recv()) is not None:
            indices, prompts, wanted = request
            while seen < wanted:
                buffers = weights.empty()
                for buffer in buffers:
                    group.broadcast(buffer, 0).wait()
                weights.unpack(buffers)
                seen += 1
            ids, mask = encode_prompts(tokenizer, prompts, style)
            out = sample(model, ids.to(device), mask.to(device), generator=generator,
                         repeat=config.rollout.generations_per_prompt, **options)
            conn.send(_to(Sampled(indices, ids, mask, out, seen, generator.get_state()), torch.device("cpu")))
    except EOFError:  # the trainer went away without closing us (killed): nothing left to do
        return


class PipelineSampler:
    """The trainer's handle on the sampler process; `state_dict()` for checkpoints, `resume=` to continue one."""

    def __init__(self, config: RunConfig, base_path, model: torch.nn.Module, threads: int, version: int,
                 resume: dict | None = None):
        self.model, self.version, self.k = model, version, config.train.pipeline_k
        self.device = next(model.parameters()).device
        theirs = sampler_device(self.device)
        backend = pair_backend(self.device, theirs)
        self.weights = _Weights(model, self.device if backend == "nccl" else torch.device("cpu"))
        self.buffered: deque[Sampled] = deque(_restored(r) for r in resume["results"]) if resume else deque()
        # The sampler's generator state after the last result it sent (a CPU tensor whatever the device).
        self.rng = resume["rng"].cpu() if resume else None
        self.requested = 0
        self.broadcasts: deque = deque()
        store = pair_store(TIMEOUT)
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_sampler_main, daemon=True,
                                   args=(config.to_dict(), base_path, child, store.port, str(theirs), backend,
                                         threads, version, self.rng))
        self.process.start()
        child.close()
        self.group = self._connect(store, backend)
        self._broadcast()

    def _connect(self, store, backend: str):
        """Join the pair group, but give up if the sampler dies before it joins (a bad model path, say)."""
        made: list = []
        worker = threading.Thread(target=lambda: made.append(pair_group(0, store.port, backend, self.device,
                                                                        TIMEOUT, store)), daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(POLL)
            if worker.is_alive() and not self.process.is_alive():
                raise RuntimeError(f"PipelineRL sampler process exited (code {self.process.exitcode})")
        if not made:
            raise RuntimeError("PipelineRL sampler: could not form the weight-broadcast group")
        return made[0]

    @property
    def outstanding(self) -> int:
        return self.requested + len(self.buffered)

    def request(self, indices: list[int], prompts: list[str]) -> None:
        try:
            self.conn.send((indices, prompts, self.version))
        except OSError:  # the sampler is gone: receive() reports it with its exit code
            pass
        self.requested += 1

    def _next_result(self) -> Sampled:
        waited = 0.0
        while not self.conn.poll(POLL):
            waited += POLL
            if not self.process.is_alive():  # e.g. it could not import the launching script (spawn)
                raise RuntimeError(f"PipelineRL sampler process exited (code {self.process.exitcode})")
            if waited >= TIMEOUT:
                raise RuntimeError(f"PipelineRL sampler sent nothing for {TIMEOUT} s")
        try:
            result = self.conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"PipelineRL sampler process exited (code {self.process.exitcode})") from None
        self.requested -= 1
        self.rng = result.rng
        return result

    def receive(self) -> Sampled:
        result = self.buffered.popleft() if self.buffered else self._next_result()
        return _to(result, self.device)

    def _broadcast(self) -> None:
        buffers = self.weights.pack()
        self.broadcasts.append((buffers, [self.group.broadcast(b, 0) for b in buffers]))
        # Broadcasts the sampler has not taken yet stay in flight (their buffers kept alive); it takes them
        # in order, and one k+1 versions old was needed by a batch already received.
        while len(self.broadcasts) > self.k + 1:
            for work in self.broadcasts.popleft()[1]:
                work.wait()

    @torch.no_grad()
    def publish(self, version: int) -> None:
        """Send the trainer's weights after an update; requests made from now on are sampled with them."""
        if version != self.version + 1:
            raise ValueError(f"PipelineRL: weights published out of order ({self.version} -> {version})")
        self.version = version
        self._broadcast()

    def state_dict(self) -> dict:
        """Wait for the in-flight results (sampled with the weights they were requested with) and keep them."""
        while self.requested:
            self.buffered.append(self._next_result())
        return {"results": [_saved(r) for r in self.buffered], "rng": self.rng}

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            # Requests still in flight would be sampled first, for nothing: do not wait for them.
            self.process.join(timeout=0.5 if self.requested else 10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()
        self.broadcasts.clear()
