"""Coverage of the fitter's 95% intervals on simulated studies with a known truth.

    python benchmarks/bench_coverage.py [--sims 200] [--runs 1,3,6] [--rho 0,0.3,0.6,0.8,0.9]

Each run: the ScaleRL sigmoid (A 0.6, B 1.5, C_mid 1000, R0 0.1), its own asymptote offset
(sd 0.015 across seeds; none with one run), an AR(1) wander of sd 0.015 with lag-one correlation
rho between successive evaluations, and measurement noise of sd 0.01 (known to the fit). 41
evaluations evenly spaced to C = 4000 (4x C_mid) are all fitted; A and the true mean curve at 2x
and 4x the window's end are checked against the intervals. Prints one row per (runs, rho): coverage
over all studies, then over the studies whose A was identified, the share not identified and the
median widening factor.
"""

from __future__ import annotations

import argparse
import time

from scaling.fit.simulate import coverage


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--runs", default="1,3,6")
    ap.add_argument("--rho", default="0,0.3,0.6,0.8,0.9")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print("| runs pooled | rho | A | R at 2x | R at 4x | A, identified | R 2x, identified | R 4x, identified "
          "| A not identified | median factor | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for runs in (int(r) for r in args.runs.split(",")):
        for rho in (float(r) for r in args.rho.split(",")):
            t = time.perf_counter()
            kw = {"seed_sd": 0.0} if runs == 1 else {}
            c = coverage(args.sims, runs, rho, seed=args.seed, **kw)
            print(f"| {runs} | {rho:g} | {c['A']:.0%} | {c['R@2x']:.0%} | {c['R@4x']:.0%} | {c['A|id']:.0%} "
                  f"| {c['R@2x|id']:.0%} | {c['R@4x|id']:.0%} | {c['unidentified']:.0%} | {c['factor']:.2f} "
                  f"| {time.perf_counter() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
