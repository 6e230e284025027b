"""Does a measurement see a known, small slowdown?  hak-6a against itself with HAK_MID_FREE_SPIN=N
(N iterations of a busy loop on every Mid free), through the very rule a phase uses (sessions,
layouts, the stopping rule).  It prints the verdict, the ratio and its interval, the per-layout
estimates and what one iteration costs relative to a whole op: ratios, never an absolute speed.

    python benchmarks/injected_slowdown.py --workload mid_only --spin 1 --repeats 3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reportgen.errors import UserError  # noqa: E402
from reportgen.measuring.kinds.bench import BUDGET_S, LAYOUTS, PRECISION, Sampling, run_bench  # noqa: E402
from reportgen.project import Project  # noqa: E402
from reportgen.variants import variant_with  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="hak-6a")
    ap.add_argument("--workload", default="mid_only")
    ap.add_argument("--spin", type=int, default=1, help="busy-loop iterations added to every Mid free")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layouts", type=int, default=LAYOUTS)
    ap.add_argument("--precision", type=float, default=PRECISION)
    ap.add_argument("--budget", type=float, default=BUDGET_S)
    ap.add_argument("--root", default=None)
    args = ap.parse_args(argv)
    project = Project.locate(args.root)
    slow = variant_with(args.variant, f"{args.variant}-spin{args.spin}", {"HAK_MID_FREE_SPIN": str(args.spin)})
    sampling = Sampling(precision=args.precision, budget_s=args.budget, layouts=args.layouts)
    called = 0
    for i in range(args.repeats):
        try:
            out = run_bench(project, args.workload, [args.variant, slow], sampling=sampling)
        except UserError as exc:
            print(f"injected_slowdown: {exc}", file=sys.stderr)
            return 2
        (c,) = out["comparisons"]
        lo, hi = c["speedup_ci95"] or (float("nan"), float("nan"))
        called += c["verdict"] == "slower"
        per = " ".join(f"{x['speedup']:+.1%}" for x in c.get("per_layout") or [])
        print(f"repeat {i + 1}/{args.repeats}: {slow.name} against {args.variant} on {args.workload}: "
              f"{c['speedup']:+.2%} [{lo:+.2%}, {hi:+.2%}] over {c['interval_level']} "
              f"({out['sessions']} sessions): {c['verdict']}; holds across layouts: {c['layout_robust']}"
              f"\n    per layout: {per}", flush=True)
    print(f"\ncalled slower in {called}/{args.repeats} repeats "
          f"({args.spin} busy-loop iteration{'s' if args.spin != 1 else ''} per Mid free, {args.layouts} layouts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
