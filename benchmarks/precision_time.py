"""How long each default comparison of the phases takes to reach its precision, on this machine.

Runs every bench a `reportgen publish` runs (each phase's comparison group on
each of its workloads, with the phase's sampling settings and roles) through
the real engine, without the results store, and prints per group: the sessions
and rounds, the seconds, why it stopped, and for each judged comparison the half-width of
its 95% CI against its target.  Times here are wall-clock seconds of the
whole group (child start-up included), the cost of an answer, not a speed of
an allocator.

    python benchmarks/precision_time.py [--phase phase-6b] [--quick]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reportgen import plan  # noqa: E402
from reportgen.measuring.kinds.bench import run_bench  # noqa: E402
from reportgen.phases import load_phases  # noqa: E402
from reportgen.project import Project  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", action="append", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--root", default=None)
    args = ap.parse_args(argv)
    project = Project.locate(args.root)
    total = 0.0
    for spec in load_phases(project, args.phase):
        peers, _missing = plan.available_peers(spec.peers)
        sampling = plan.sampling_for(spec, args.quick)
        for need in plan.needs(spec, peers):
            if need.kind != "bench":
                continue
            primary, tighter = plan.bench_roles(spec, need.workload, sampling)
            out = run_bench(project, need.workload, list(need.variants), sampling=sampling, primary=primary,
                            tighter=tighter, ops=plan.quick_ops(need.workload) if args.quick else None)
            total += out["elapsed_s"]
            judged = [c for c in out["comparisons"] if c["role"] == "primary"]
            detail = "; ".join(f"{c['candidate']} ±{c['half_width']:.2%} (target ±{c['target']:.1%}, {c['verdict']})"
                               if c.get("half_width") is not None else f"{c['candidate']}: no CI"
                               for c in judged) or "context only"
            print(f"{spec.id:10s} {need.workload:11s} {out['elapsed_s']:6.1f} s  {out['sessions']:3d} sessions "
                  f"{out['rounds']:5d} rounds  "
                  f"{out['stop']:20s} {detail}", flush=True)
    print(f"total sampling time: {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
