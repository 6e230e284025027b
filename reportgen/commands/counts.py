"""`reportgen counts`: exact counts of a workload's timed loop (the engine: reportgen.measuring.kinds.counts)."""
from __future__ import annotations

from ..project import Project
from ._shared import report_measurement, stdout_console


def main(args, project: Project) -> int:
    from ..measuring.kinds.counts import run_counts
    return report_measurement(args, project, lambda **kw: run_counts(
        project, args.workload, args.variant, quick=args.quick, ops=args.ops, **kw), print_counts)


def _f(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def print_counts(out: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    t = Table(title=f"{out['workload']}: exact counts per op ({out['ops']} timed ops, callgrind)")
    for col in ("allocator", "instr/op", "reads/op", "writes/op", "L1d miss/op", "LL miss/op",
                "free instr", "free L1d miss", "free LL miss"):
        t.add_column(col, justify="right")
    for r in out["results"]:
        if not r.get("per_op"):
            t.add_row(r["variant"], "failed", *[""] * 7)
            continue
        p, f = r["per_op"], r["per_free"]
        t.add_row(r["variant"], _f(p["instructions"]), _f(p["data_reads"]), _f(p["data_writes"]),
                  _f(p["d1_misses"], 3), _f(p["ll_misses"], 4), _f(f["instructions"]), _f(f["d1_misses"], 3),
                  _f(f["ll_misses"], 4))
    con.print(t)
    for c in out["comparisons"]:
        con.print(f"{c['candidate']} - {c['baseline']}: {_f(c['delta_instructions_per_op'])} instructions per op, "
                  f"{_f(c['delta_instructions_per_free'])} per free; L1d misses per free "
                  f"{_f(c['delta_d1_misses_per_free'], 3)}, LL misses per free {_f(c['delta_ll_misses_per_free'], 4)}")
    for f in out["failures"]:
        con.print(f"[red]failure[/red] {f}")
