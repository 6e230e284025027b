"""`reportgen coverage`: did the benchmarks run what a phase changed (the engine: reportgen.measuring.kinds.coverage)."""
from __future__ import annotations

from ..project import Project
from ._shared import report_measurement, stdout_console


def main(args, project: Project) -> int:
    from ..measuring.kinds.coverage import run_coverage
    return report_measurement(args, project, lambda **kw: run_coverage(
        project, args.phase, args.workload, quick=args.quick, **kw), print_coverage)


def print_coverage(out: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    con.print(f"{out['phase']}: {len(out['changed'])} source lines compiled differently by "
              f"{out['baseline']} and {out['candidate']}")
    for run in out["runs"]:
        t = Table(title=f"{run['workload']} on {run['variant']}: {run['executed']} changed lines executed, "
                        f"{run['never']} never")
        for col in ("function", "changed lines", "executed", "executions"):
            t.add_column(col, justify="right")
        for fn, s in sorted(run.get("functions", {}).items()):
            t.add_row(fn, str(s["lines"]), str(s["executed"]), str(s["executions"]))
        con.print(t)
    for f in out["failures"]:
        con.print(f"[red]failure[/red] {f}")
