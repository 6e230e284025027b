"""`reportgen bisect`: the first commit between --good and --bad whose figure moved beyond
--threshold, by binary search of decided comparisons (the engine: reportgen.history.bisect)."""
from __future__ import annotations

from ..errors import UserError
from ..project import Project
from ._shared import report_measurement, stdout_console
from .bench import sampling_of


def main(args, project: Project) -> int:
    from ..history.bisect import run_bisect

    if len(args.variant) != 1:
        raise UserError(f"bisect measures one variant at each commit; got {len(args.variant)} --variant")
    sampling = sampling_of(args)
    return report_measurement(args, project, lambda **kw: run_bisect(
        project, args.workload, args.variant[0], args.good, args.bad, threshold=args.threshold,
        sampling=sampling, ops=args.ops, threads=args.threads, **kw), print_bisect)


def _pct(x) -> str:
    return f"{x:+.2%}" if x is not None else "-"


def _ci(ci) -> str:
    return f"[{ci[0]:+.2%}, {ci[1]:+.2%}]" if ci else "-"


def print_bisect(out: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = stdout_console()
    ch = out.get("change") or {}
    con.print(f"{out['variant']} on {out['workload']}, good {out['good'][:10]} .. bad {out['bad'][:10]}: "
              f"{out['range_commits']} commits, threshold {out['threshold']:.1%}"
              + (f"; bad against good {_pct(ch.get('speedup'))} {_ci(ch.get('ci95'))} ({ch.get('verdict')})"
                 if ch else ""))
    if out["probes"]:
        t = Table(title="probes, in the order the search made them")
        for col in ("commit", "subject", "library", "vs good", "95% CI", "vs bad", "classified"):
            t.add_column(col, overflow="fold")
        for p in out["probes"]:
            vb = p.get("against_bad") or {}
            cls = f"like {p['classified']}" + (" (undecided: by the point estimate)" if p.get("undecided") else "")
            t.add_row(p["commit"][:10], escape(p["subject"][:40]), p["lib_hash"], _pct(p.get("speedup")), _ci(p.get("ci95")),
                      f"{_pct(vb.get('speedup'))} ({vb.get('verdict')})" if vb else "-",
                      cls if p["how"] == "measured" else f"{cls}: the same library as {p['same_library_as'][:10]}")
        con.print(t)
    for s in out["skipped_reasons"]:
        con.print(f"skipped {s['commit'][:10]} ({escape(s['subject'][:50])}): {escape(s['reason'])}")
    reused = sum(1 for r in out["runs"] if r["reused"])
    con.print(f"measured {len(out['measured'])} of {out['range_commits']} commits "
              f"({', '.join(c[:10] for c in out['measured']) or 'none'}) in {len(out['runs'])} comparison(s)"
              + (f", {reused} reused" if reused else ""))
    if out["culprit"] is None and out.get("candidate") is None:
        con.print(f"[bold]no culprit[/bold]: {escape(out['reason'])}")
        return
    what = f"culprit {out['culprit'][:10]}" if out["culprit"] else f"candidate {out['candidate'][:10]} (not decided)"
    mark = "" if out["confirmed"] else " [bold](not confirmed)[/bold]"
    con.print(f"[bold]{what}[/bold] ({escape(out['subject'][:60])}): {_pct(out['size'])} "
              f"{_ci(out['ci95'])} against its parent {out['parent'][:10]}, {out['verdict']}{mark}")
    if out["parent_skipped"]:
        con.print(f"between the parent and it, not built: {', '.join(c[:10] for c in out['parent_skipped'])} "
                  f"(the change may be in one of them)")
    if out["culprit"] is None:
        con.print(escape(out["reason"]))
