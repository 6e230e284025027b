"""A/A rate on this machine: how often the bench's rule calls a variant different from itself.

Each pair is one real `reportgen.measuring.kinds.bench.run_bench` call in which the same
library runs under two names, through the very adaptive rounds a phase uses
(sessions of fresh processes, interleaved rounds paired inside a session, the
interval Student's t over sessions, sessions added until the 95% CI of the
speed-up reaches the precision or the budget is spent), in `--layouts` layouts (each name
draws its own, so the two sides of a pair never share one: the interval must hold what placement
alone does).  The verdict is the one the
page would print for a primary comparison.  On identical code a sound rule
says "no significant change" at least 95% of the time; drift and neighbours
on a shared machine are what push that rate down, which is what this script
measures.  It prints rates and ratios, never an absolute speed.

    python benchmarks/aa_rate.py --variant hak-6b --workload mid_mt_gap --pairs 20
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reportgen.measuring.kinds.bench import BUDGET_S, LAYOUTS, PRECISION, Sampling, run_bench  # noqa: E402
from reportgen.errors import UserError  # noqa: E402
from reportgen.measuring.child import resolve_allocator  # noqa: E402
from reportgen.project import Project  # noqa: E402


def aa_pair(project: Project, variant: str, workload: str, sampling: Sampling, ops: int | None) -> dict:
    """One A/A comparison: the variant's library against itself under another name."""
    spec = resolve_allocator(project, variant)
    twin = replace(spec, name=f"{spec.name}'")
    out = run_bench(project, workload, [spec, twin], sampling=sampling, ops=ops)
    return {**out["comparisons"][0], "rounds": out["rounds"], "stop": out["stop"], "n_sessions": out["sessions"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="hak-6b")
    ap.add_argument("--workload", default="mid_mt_gap")
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--precision", type=float, default=PRECISION)
    ap.add_argument("--budget", type=float, default=BUDGET_S, help="seconds a pair may sample")
    ap.add_argument("--rounds", type=int, default=None, help="a fixed design instead: rounds per session")
    ap.add_argument("--sessions", type=int, default=5, help="with --rounds: this many sessions")
    ap.add_argument("--ops", type=int, default=None, help="ops per timed loop (default: the workload's)")
    ap.add_argument("--layouts", type=int, default=LAYOUTS,
                    help="layouts the sessions run in (each name draws its own; 1: the default build only)")
    ap.add_argument("--root", default=None)
    args = ap.parse_args(argv)
    project = Project.locate(args.root)
    sampling = (Sampling.fixed(args.rounds, args.sessions, layouts=args.layouts) if args.rounds
                else Sampling(precision=args.precision, budget_s=args.budget, layouts=args.layouts))
    verdicts: Counter[str] = Counter()
    ratios, widths, rounds = [], [], []
    for i in range(args.pairs):
        t0 = time.monotonic()
        try:
            c = aa_pair(project, args.variant, args.workload, sampling, args.ops)
        except UserError as exc:
            print(f"aa_rate: {exc}", file=sys.stderr)
            return 2
        verdicts[c["verdict"] or "(failed)"] += 1
        if c.get("ratio"):
            ratios.append(c["ratio"])
            widths.append(c["half_width"])
        rounds.append(c["rounds"])
        print(f"pair {i + 1:2d}/{args.pairs}: ratio {c.get('ratio') or float('nan'):.4f}  "
              f"CI ±{(c.get('half_width') or float('nan')):.2%}  {c['n_sessions']} sessions, {c['rounds']} rounds ({c['stop']}, "
              f"{time.monotonic() - t0:.0f} s)  {c['verdict']}", flush=True)
    done = sum(v for k, v in verdicts.items() if k != "(failed)")
    if not done:
        print("aa_rate: no pair completed", file=sys.stderr)
        return 1
    same = verdicts["no significant change"]
    r = np.asarray(ratios)
    print()
    print(f"A/A on {args.variant} / {args.workload}: {done} pairs through the sessions scheme "
          f"(precision ±{args.precision:.1%}, budget {args.budget:g} s, {args.layouts} layouts a side)")
    print(f"  no significant change: {same}/{done} = {same / done:.1%}   "
          f"(false calls: {done - same}/{done}; faster {verdicts['faster']}, slower {verdicts['slower']})")
    print(f"  A/A ratio: median {np.median(r):.4f}, range {r.min():.4f}..{r.max():.4f}; "
          f"CI half-width median {np.median(widths):.2%}; rounds median {int(np.median(rounds))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
