"""One rank of the data-parallel equivalence test (tests/rl/test_data_parallel.py).

Run as a script with the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): every rank
takes its contiguous share of a fixed global batch, learns on it through the real step code (DDP or FSDP over gloo), and
rank 0 saves the parameters, gradients and metrics of every case.
"""

from __future__ import annotations

import gc
import os
import sys

import torch
from torch.distributed.tensor import DTensor

from scaling.config import build_config
from scaling.rl.batch import select_groups
from scaling.rl.state import build_state
from scaling.rl.step import learn
from scaling.runtime import init_runtime, shutdown_runtime


def snapshot(state, metrics: dict) -> dict:
    """The policy's parameters, its fp32 master weights and their (clipped) gradients; under FSDP the sampler
    copy's parameters (refreshed from the shards) and the shards gathered whole (a collective: every rank calls it)."""
    full = lambda g: g.full_tensor() if isinstance(g, DTensor) else g.detach().clone()
    return {"params": [p.detach().clone() for p in state.model.parameters()],
            "master": [full(p.detach()) for p in state.master.master],
            "grads": [full(m.grad) for m in state.master.master], "metrics": metrics,
            "sharded": state.sharded is not None}


def main(cases_path: str, out_path: str) -> None:
    runtime = init_runtime("cpu")
    spec = torch.load(cases_path, weights_only=False)
    batch = spec["batch"]
    mine = runtime.shard(list(range(batch.groups)))
    local = select_groups(batch, mine)
    out = {}
    for name, tree, keep in spec["cases"]:
        state = build_state(build_config(tree), runtime)
        local_keep = [i for i, g in enumerate(mine) if g in keep]
        out[name] = snapshot(state, learn(state, local, local_keep))
    if runtime.is_main:
        torch.save(out, out_path)
    # A DDP reducer still alive after destroy_process_group was seen to hang in ~ProcessGroupGloo at interpreter
    # exit (once in ~10 runs): free it first, and leave without the interpreter's teardown.
    del state, out
    gc.collect()
    shutdown_runtime(runtime)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:3])
