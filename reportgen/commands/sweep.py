"""`reportgen sweep`: one parameter of a workload over several values, each a full comparison
(the engine: reportgen.measuring.kinds.sweep)."""
from __future__ import annotations

from ..errors import UserError
from ..project import Project
from ..units import f_mega
from ._shared import report_measurement, stdout_console
from .bench import sampling_of


def main(args, project: Project) -> int:
    from ..measuring.kinds.sweep import run_sweep

    if args.threads is not None and args.param == "threads":
        raise UserError("--threads is what this sweep varies: give its values with --values")
    if args.ops is not None and args.param == "ops":
        raise UserError("--ops is what this sweep varies: give its values with --values")
    values = [v for v in args.values.split(",") if v.strip()]
    sampling = sampling_of(args)
    return report_measurement(args, project, lambda **kw: run_sweep(
        project, args.workload, args.param, values, args.variant, sampling=sampling, ops=args.ops,
        threads=args.threads, **kw), print_sweep)


def print_sweep(out: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    t = Table(title=f"{out['workload']}: {out['param']} swept over {', '.join(str(v) for v in out['values'])} "
                    f"({out['family']['method']}, {out['family']['size']} comparisons)")
    for col in ("value", "allocator", "median ops/s", "speed-up (95% CI)", "verdict", "peak RSS added",
                "registry lookups / remote frees"):
        t.add_column(col, overflow="fold")
    for p in out["points"]:
        cmp = {c["candidate"]: c for c in p["comparisons"]}
        for r in p["results"]:
            c = cmp.get(r["variant"])
            ci = c.get("speedup_ci95") if c else None
            speed = f"{c['speedup']:+.2%} [{ci[0]:+.2%}, {ci[1]:+.2%}]" if c and ci else ("baseline" if not c else "-")
            m = r.get("memory") or {}
            rss = f"{m['peak_rss_bytes'] / 2**20:,.1f} MiB" if m.get("peak_rss_bytes") is not None else "-"
            k = r.get("counters") or {}
            counters = f"{k.get('registry_lookups')} / {k.get('mid_remote_frees')}" if k else "-"
            value = f"{p['value']:,}" + (" (threads > cores)" if p.get("threads_over_cores") else "")
            t.add_row(value, r["variant"], f_mega(r["median"], na="-"), speed,
                      (c.get("verdict") or c.get("reason", "")) if c else "", rss, counters)
    con.print(t)
