"""The closed-loop safety matrix (issue 9, Deliver 5): every marketplace × campaign type the cycle
bids on × strategy × dayparting × data condition, a simulated day of cycles against the sandbox's
market model, the invariants of app/sandbox/safety_matrix.py checked after every cycle.

    python bench/safety_matrix.py [--cycles 96] [--seed 1] [--size small] [--marketplace wb]
                                  [--strategy target_drr] [--condition stale_stats]

Prints one line per combination (the invariant closest to failing and its margin; negative =
violated) and ends with

    RESULT combinations=N cycles=N violations=0 max_bid_to_needed=… drr_error=…

`max_bid_to_needed` is the highest sent bid ÷ what position 1 needed at that moment (the guard
keeps it ≤ 1.5); `drr_error` the largest relative miss of a DRR target where the market allows
it (the invariant keeps it ≤ 0.25). The exit status is 1 when any invariant is violated.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.sandbox.safety_matrix import CONDITIONS, STRATEGIES, Outcome, campaigns_of, run, worst_margin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=96, help="cycles per combination (96 = a day)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", default="small", help="sandbox world size: small, demo, bench")
    parser.add_argument("--marketplace", choices=("wb", "ozon", "ym"), help="only this marketplace")
    parser.add_argument("--strategy", choices=STRATEGIES, help="only this strategy")
    parser.add_argument("--condition", choices=[c.name for c in CONDITIONS], help="only this data condition")
    args = parser.parse_args(argv)
    if args.cycles < 8:
        parser.error("--cycles must be at least 8 (the invariants judge the second half)")
    shapes = {
        s: c
        for s, c in campaigns_of(args.seed, args.size).items()
        if args.marketplace in (None, s.marketplace)
    }
    strategies = (args.strategy,) if args.strategy else STRATEGIES
    conditions = tuple(c for c in CONDITIONS if args.condition in (None, c.name))
    started = time.monotonic()
    print(f"{'combination':<58} {'worst invariant':<14} {'margin':>8}")

    def show(outcome: Outcome) -> None:
        name, margin = worst_margin(outcome)
        flag = "  VIOLATED: " + ", ".join(outcome.violations) if outcome.violations else ""
        print(f"{outcome.combination!s:<58} {name:<14} {margin:>8.3f}{flag}", flush=True)

    outcomes = run(args.seed, args.size, args.cycles, shapes, strategies, conditions, progress=show)
    violations = sum(len(o.violations) for o in outcomes)
    ratio = max((o.max_bid_to_needed for o in outcomes), default=0.0)
    drr = max((o.drr_error for o in outcomes if o.drr_error is not None), default=0.0)
    elapsed = time.monotonic() - started
    print(f"{len(outcomes)} combinations of {args.cycles} cycles in {elapsed:.0f} s")
    print(
        f"RESULT combinations={len(outcomes)} cycles={args.cycles} violations={violations} "
        f"max_bid_to_needed={ratio:.3f} drr_error={drr:.3f}"
    )
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
