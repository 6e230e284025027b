"""`reportgen header-cost`: what the Mid header costs, in time and space (the engine: reportgen.measuring.kinds.header_cost)."""
from __future__ import annotations

from ..project import Project
from ..units import f_bytes
from ._shared import report_measurement, stdout_console


def main(args, project: Project) -> int:
    from ..measuring.kinds.header_cost import run_header_cost
    return report_measurement(args, project, lambda **kw: run_header_cost(
        project, variants=args.variant, quick=args.quick, **kw), print_header_cost)


def print_header_cost(out: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    caches = out["caches"]
    con.print("caches: " + ", ".join(f"{k} {f_bytes(v)}" for k, v in caches.items()))
    t = Table(title=f"header read, ns per free (stride {out['stride_bytes']} B, random order)")
    for col in ("working set", "level", "dep. with", "dep. without", "header", "indep. with",
                "indep. without", "header"):
        t.add_column(col, justify="right")
    for r in out["time"]:
        ws = r["working_set_bytes"]
        level = next((k for k in ("L1d", "L2", "L3") if k in caches and ws <= caches[k]), "DRAM")
        d, i = r["dependent"], r["independent"]
        t.add_row(f_bytes(ws), level, f"{d['with']:.2f}", f"{d['without']:.2f}", f"{r['header_ns']:+.2f}",
                  f"{i['with']:.2f}", f"{i['without']:.2f}", f"{r['independent_header_ns']:+.2f}")
    con.print(t)
    s = Table(title="space per block")
    for col in ("variant", "request", "pool", "block", "header bytes", "usable", "overhead"):
        s.add_column(col, justify="right")
    for r in out["space"]:
        s.add_row(r["variant"], str(r["request"]), str(r["pool"]), str(r["block"]), str(r["header_bytes"]),
                  str(r["usable"]), "-" if r["overhead_ratio"] is None else f"{r['overhead_ratio']:.1%}")
    con.print(s)
    for f in out["failures"]:
        con.print(f"[red]failure[/red] {f}")
