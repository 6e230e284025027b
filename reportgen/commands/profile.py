"""`reportgen profile`: CPU profiles of a workload's timed loops (the engine: reportgen.measuring.kinds.profile)."""
from __future__ import annotations

from ..project import Project
from ._shared import report_measurement, stdout_console


def main(args, project: Project) -> int:
    from ..measuring.kinds.profile import run_profile
    return report_measurement(args, project, lambda **kw: run_profile(
        project, args.workload, args.variant, quick=args.quick, ops=args.ops, **kw), print_profile)


def print_profile(out: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    for r in out["results"]:
        t = Table(title=f"{out['workload']} on {r['variant']}: {r.get('samples', 0)} samples of {out['event']}")
        for col in ("symbol", "where", "samples", "share", "95% interval"):
            t.add_column(col, justify="right")
        for s in r.get("symbols") or []:
            lo, hi = s["share_ci95"]
            t.add_row(s["symbol"], s["dso"], str(s["samples"]), f"{s['share']:.1%}", f"{lo:.1%} .. {hi:.1%}")
        con.print(t)
    for f in out["failures"]:
        con.print(f"[red]failure[/red] {f}")
