"""`reportgen route`: where a workload's requests go, predicted and measured (the engine: reportgen.measuring.kinds.route)."""
from __future__ import annotations

from ..project import Project
from ..units import f_pct
from ._shared import report_measurement, stdout_console


def main(args, project: Project) -> int:
    from ..measuring.kinds.route import run_route
    return report_measurement(args, project, lambda **kw: run_route(
        project, args.workload, args.variant, ops=args.ops, claim=args.claim, claim_pool=args.claim_pool, **kw),
        print_route)


def print_route(out: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    th = out["thresholds"]
    t = Table(title=f"{out['workload']} on {out['variant']} (tiny_max {th['tiny_max']}, "
                    f"mid {th['mid_min']}..{th['mid_max']}; {out['ops']:,} ops)")
    for col in ("size", "predicted", "measured", "count", "ns/op alone", "block"):
        t.add_column(col)
    for s in out["sizes"]:
        ok = s["predicted"] == s["measured"]
        t.add_row(str(s["size"]), str(s["predicted"]), f"{'' if ok else '[red]'}{s['measured']}",
                  "-" if s["count"] is None else f"{s['count']:,}",
                  "-" if s["ns_per_op_alone"] is None else f"{s['ns_per_op_alone']:.1f}",
                  str(s.get("block_footprint")))
    con.print(t)
    p = Table(title="shares per pool")
    for col in ("pool", "by count", "by bytes", "by time"):
        p.add_column(col)
    for name, v in out["pools"].items():
        p.add_row(name, f_pct(v["count_share"], na="-"), f_pct(v["byte_share"], na="-"), f_pct(v["time_share"], na="-"))
    con.print(p)
    c = out["counters"]
    if c:
        con.print("counters: " + ", ".join(f"{k} {c[k]:,}" for k in (
            "tiny_allocs", "mid_allocs", "large_allocs", "mid_remote_frees", "registry_lookups",
            "mutex_locks", "header_reads", "leaked_blocks") if k in c))
    a = out.get("amdahl")
    if a and a.get("ceiling"):
        con.print(f"Amdahl: a claimed {a['claim'][0]:+.0%}..{a['claim'][1]:+.0%} on {a['pool']} "
                  f"(time share {a['time_share']:.1%}) can give at most "
                  f"{a['ceiling'][0] - 1:+.1%}..{a['ceiling'][1] - 1:+.1%} overall; the count-share "
                  f"estimate ({a['count_share']:.0%}) says {a['reference_estimate'][0] - 1:+.1%}.."
                  f"{a['reference_estimate'][1] - 1:+.1%}")
    tm = out.get("time_model")
    if tm:
        con.print(f"time model: {tm['ns_per_op_modelled']:.1f} ns/op from single-size runs vs "
                  f"{tm['ns_per_op_measured']:.1f} measured ({tm['relative_error']:+.1%})")
    if out.get("time_share_withheld"):
        con.print(out["time_share_withheld"])
    for f in out["failures"]:
        con.print(f"[red]failure[/red] {f['cause']}")
