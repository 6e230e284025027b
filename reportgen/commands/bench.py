"""`reportgen bench`: allocators on one workload, compared (the engine: reportgen.measuring.kinds.bench)."""
from __future__ import annotations

from dataclasses import replace

from ..project import Project
from ..units import f_mega, f_pct, f_range
from ._shared import report_measurement, stdout_console


def sampling_of(args):
    """The stopping rule bench's and sweep's options ask for (kinds.bench.Sampling)."""
    from ..measuring.kinds.bench import Sampling

    sampling = Sampling()
    if args.rounds:       # a fixed design: --sessions sessions (default 1) of --rounds rounds, no stopping rule
        sampling = Sampling.fixed(args.rounds, args.sessions or 1)
    over = {k: v for k, v in (("precision", args.precision), ("budget_s", args.budget),
                              ("min_sessions", None if args.rounds else args.sessions),
                              ("max_sessions", args.max_sessions), ("layouts", args.layouts)) if v is not None}
    return replace(sampling, **over)


def main(args, project: Project) -> int:
    from ..measuring.kinds.bench import run_bench

    sampling = sampling_of(args)
    return report_measurement(args, project, lambda **kw: run_bench(
        project, args.workload, args.variant, sampling=sampling, ops=args.ops, threads=args.threads, **kw),
        print_bench)


def print_bench(out: dict) -> None:
    from rich.table import Table

    con = stdout_console()
    source = "reused from results/" if out.get("reused") else "measured now"
    program = out.get("program")
    # a program: one run a sample, shown as seconds a run (the rate's reciprocal, its CI's ends swapped)
    rate = (lambda x, na="-": f"{1 / x:.3f} s" if x else na) if program else f_mega
    what = (f"{' '.join(' '.join(program['argv']).split())[:60]} ({program['path']}), seconds a run" if program
            else f"{out['ops']:,} ops a loop, ops/s")
    t = Table(title=f"{out['workload']}: {what}; measurement {out['session']} ({source}): "
                    f"{out.get('sessions')} sessions of {out.get('session_rounds')} rounds, {out['stop']}")
    keys = (("tiny_allocs", "mid_allocs", "large_allocs") if program else
            ("mid_remote_frees", "registry_lookups", "mutex_locks", "leaked_blocks"))
    for col in ("allocator", "median", "95% CI", "CV", "runs ok" if program else "loops ok", "failures",
                "peak RSS / faults per run" if program else "RSS added / faults per op",
                "tiny/mid/large allocs" if program else "remote/registry/mutex/leaked"):
        t.add_column(col, overflow="fold")
    for r in out["results"]:
        ci = f_range((r.get("ci95") or [])[::-1] if program else r.get("ci95"), rate, na="-")
        c = r.get("counters") or {}
        counters = "/".join(str(c.get(k)) for k in keys) if c else "-"
        fails = "; ".join(f"run {f['run']}: {f['cause']}" for f in r["failures"]) or "-"
        m = r.get("memory") or {}
        mem = (f"{m['peak_rss_bytes'] / 2**20:,.1f} MiB{' peak' if program else ''} / {m['minor_faults_per_op']:.3g}"
               if m.get("peak_rss_bytes") is not None and m.get("minor_faults_per_op") is not None else "-")
        if r.get("counted_failure"):
            counters += f" ({r['counted_failure']})"
        t.add_row(r["variant"], rate(r["median"], na="-"), ci, f_pct(r["cv"], na="-"), str(r["n"]),
                  fails, mem, counters)
    con.print(t)
    for c in out["comparisons"]:
        ratio = "-" if c.get("ratio") is None else f"{c['ratio']:.4f}"
        ci = (f"[{c['speedup_ci95'][0]:+.2%}, {c['speedup_ci95'][1]:+.2%}]" if c.get("speedup_ci95") else "-")
        half = "-" if c.get("half_width") is None else f"±{c['half_width']:.2%}"
        p = "-" if c.get("p_value") is None else f"{c.get('p_adjusted', c['p_value']):.3g}"
        verdict = c["verdict"] if c.get("verdict") else c.get("reason", "")
        con.print(f"{c['candidate']} vs {c['baseline']} ({c['role']}): ratio {ratio}, speed-up 95% CI {ci} "
                  f"({half}, target ±{c['target']:.1%}; over {c.get('sessions')} sessions), p = {p}: "
                  f"[bold]{verdict}[/bold]")
        for what, m in (("peak RSS", (c.get("memory") or {}).get("peak_rss")),
                        ("RSS at the end", (c.get("memory") or {}).get("end_rss"))):
            if m:
                con.print(f"  {what}: {c['candidate']} {m['candidate_bytes'] / 2**20:,.1f} MiB, {c['baseline']} "
                          f"{m['baseline_bytes'] / 2**20:,.1f} MiB above their processes' own: ratio {m['ratio']:.3f} "
                          f"(95% CI {m['ci95'][0]:.3f}..{m['ci95'][1]:.3f} over {m['sessions']} sessions): "
                          f"{m['verdict'] or 'not judged'}")
        if c.get("underpowered") or (c.get("role") == "primary" and c.get("mde")):
            con.print(f"  smallest effect this run resolves: about {c['mde']:.1%}" if c.get("mde") else "")
        for wmsg in c.get("warnings") or []:
            con.print(f"  [yellow]warning[/yellow]: {wmsg}")
    noise = out.get("noise") or {}
    for wmsg in noise.get("warnings") or []:
        con.print(f"[yellow]noise[/yellow]: {wmsg}")
    for m in noise.get("by_mode") or []:
        con.print(f"  {m['candidate']} vs {m['baseline']} in the {m['mode']}: {m['speedup']:+.2%} "
                  f"({m['rounds']} rounds with both sides in it)")
