"""One rank of a data-parallel run through scaling.rl.loop.train (tests/rl/test_data_parallel_run.py).

Run as a script with the torchrun environment. `mode` is `run`, `stop:N:R` (rank R asks to stop at its N-th step
boundary) or `crash:N:R` (rank R dies there without a word, as a killed process does).
"""

from __future__ import annotations

import json
import os
import sys

from scaling.config import load_run_config
from scaling.rl.loop import train


def main(config_path: str, run_dir: str, mode: str) -> None:
    rank = int(os.environ["RANK"])
    boundaries = iter(range(1, 10_000))
    kind, at, who = (mode.split(":") + ["0", "0"])[:3]

    def should_stop() -> bool:
        reached = next(boundaries) >= int(at) and rank == int(who)
        if reached and kind == "crash":
            os._exit(3)
        return reached and kind == "stop"

    summary = train(load_run_config(config_path), run_dir, should_stop=should_stop)
    print(json.dumps({"rank": rank, **{k: v for k, v in summary.items() if k in ("status", "step")}}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
