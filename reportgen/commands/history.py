"""`reportgen history`: a variant at each commit of a range that touched native/, measured as one
comparison group, and the steps in the series (the engine: reportgen.history)."""
from __future__ import annotations

from ..errors import UserError
from ..project import Project
from ..units import f_mega
from ._shared import report_measurement, stdout_console
from .bench import sampling_of


def main(args, project: Project) -> int:
    from ..history.series import run_history

    if len(args.variant) != 1:
        raise UserError(f"history measures one variant at each commit; got {len(args.variant)} --variant")
    sampling = sampling_of(args)
    return report_measurement(args, project, lambda **kw: run_history(
        project, args.workload, args.variant[0], args.range, every=args.every, sampling=sampling, ops=args.ops,
        threads=args.threads, **kw), print_history)


def print_history(out: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = stdout_console()
    m = out["measurement"]
    t = Table(title=f"{out['variant']} on {out['workload']} over {out['range']}: {len(out['commits'])} commits, "
                    f"{out['libraries']} distinct libraries measured interleaved ({m.get('sessions')} sessions, "
                    f"{'reused from results/' if m.get('reused') else 'measured now'})")
    for col in ("commit", "subject", "library", "median ops/s", "95% CI", "vs reference"):
        t.add_column(col, overflow="fold")
    ref_lib = next((c["lib_hash"] for c in out["commits"] if c["commit"] == out["reference"]), None)
    for c in out["commits"]:
        r = c.get("results") or {}
        ci = r.get("ci95")
        ref = c.get("against_reference")
        vs = (f"{ref['speedup']:+.2%} ({ref.get('verdict') or ref.get('reason', '')})"
              if ref and ref.get("speedup") is not None else "reference" if c["commit"] == out["reference"]
              else "the reference's library" if c["lib_hash"] == ref_lib else "-")
        t.add_row(c["commit"][:10], escape(c["subject"][:50]), c["lib_hash"], f_mega(r.get("median"), na="-"),
                  f"{f_mega(ci[0])}..{f_mega(ci[1])}" if ci else "-", vs)
    con.print(t)
    for s in out["skipped"]:
        con.print(f"skipped {s['commit'][:10]} ({escape(s['subject'][:50])}): {escape(s['reason'])}")
    for c in out["candidates"]:
        size = f"{c['size']:+.2%}" if c.get("size") is not None else "-"
        ci = f" [{c['ci95'][0]:+.2%}, {c['ci95'][1]:+.2%}]" if c.get("ci95") else ""
        what = "step" if c["verdict"] in ("faster", "slower") else "not a step"
        con.print(f"{what} at {c['commit'][:10]} (after {c['parent'][:10]}): {size}{ci}: [bold]{escape(c['reason'])}[/bold]")
    if not out["candidates"]:
        con.print("no step: the series keeps one level")
