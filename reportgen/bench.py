"""`reportgen bench`: allocators on one workload, runs interleaved, with A/B comparisons.

Method (after pyperf/asv): a child process per run; one discarded warm-up
run per allocator; then `runs` rounds, each running every allocator once
(A B A B ...), so drift hits them alike.  Each successful run gives one
sample in ops/s; a crashed run is a recorded failure with its cause.  The
first allocator is the baseline; every other is compared with it (ratio of
medians, bootstrap CI, Mann-Whitney U, verdict: see stats.compare).

With a Store, each allocator's record (raw samples, counters, environment,
source hash) is saved, and an allocator whose record is current (same key,
same source hash, same driver build) is not measured again: after an edit
to one variant only that variant is, and the baseline with it, interleaved,
so every comparison with what changed is between runs of one session.  When
the baseline itself is stale, every allocator is compared with it, so the
whole group is measured again.  A comparison whose two sides come from
different sessions (a reused peer beside a re-measured baseline) says so in
its warnings.
"""
from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

from . import stats
from .errors import UserError
from .measure import (NullProgress, resolve_allocator, run_child, workload_request)
from .project import Project
from .workloads import Workload, get_workload

BEST3OF5_LABEL = "mean of the 3 best of the first 5 runs (the reference's figure; biased upwards)"


def bench_params(workload: Workload, ops: int, runs: int, threads: int | None) -> dict:
    params = {"ops": ops, "runs": runs, "sizes": list(workload.sizes), "seed": workload.seed}
    if workload.driver == "gap":
        params["slots"] = workload.slots
    else:
        params["threads"] = threads
    return params


def _check_args(workload: str, variants, runs, ops, threads) -> tuple[Workload, int, int | None]:
    w = get_workload(workload)
    if not variants:
        raise UserError("no allocator given: name at least one with --variant")
    names = [v if isinstance(v, str) else v.name for v in variants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"allocator {dup[0]!r} given twice; to compare a variant with itself (A/A) "
                        f"use benchmarks/aa_rate.py")
    for what, value in (("runs", runs), ("ops", ops), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise UserError(f"--{what} must be a positive whole number, got {value!r}")
    if threads is not None and w.driver != "remote":
        raise UserError(f"--threads applies to mt_remote only ({workload} is single-threaded)")
    if w.driver == "remote":
        threads = threads or w.threads
        if threads < 2:
            raise UserError("mt_remote needs at least 2 threads (blocks go to another thread)")
    ops = ops or w.ops
    if w.driver == "remote" and ops < threads:
        raise UserError(f"--ops must be at least the number of threads ({threads})")
    return w, ops, threads


def _ops_per_s(result: dict) -> float:
    return result["ops"] / (result["elapsed_ns"] / 1e9)


def _compare(base: list[float], cand: list[float]) -> dict:
    try:
        return stats.compare(base, cand, higher_is_better=True).to_dict()
    except ValueError as exc:
        # stats.compare needs 2+ samples per side for the test; too few runs is not an error.
        return {"ratio": (stats.summarize(cand).median / stats.summarize(base).median
                          if base and cand else None),
                "ci95": None, "p_value": None, "verdict": "no significant change",
                "reason": f"cannot test: {exc}", "warnings": [f"too few successful runs ({exc})"]}


def _result_row(name: str, spec, samples, counters, failures, ns_per_op, reused: bool, extra=None) -> dict:
    s = stats.summarize(samples, higher_is_better=True)
    row = {"variant": name, "kind": spec.kind, "samples": list(samples), "median": s.median,
           "best3of5": s.best3of5, "best3of5_label": BEST3OF5_LABEL, "ci95": list(s.ci95) if s.ci95 else None,
           "q1": s.q1, "q3": s.q3, "iqr": s.iqr, "cv": s.cv, "n": s.n, "warnings": list(s.warnings),
           "ns_per_op": ns_per_op, "counters": counters, "failures": failures,
           "source_hash": spec.source_hash, "reused": reused}
    if extra:
        row.update(extra)
    return row


def run_bench(project: Project, workload: str, variants, runs: int = 5, ops: int | None = None,
              threads: int | None = None, store=None, force: bool = False, progress=None) -> dict:
    """Measure (or reuse) `variants` on `workload`; the DESIGN.md `bench --json` shape."""
    from .machine import environment
    from .store import Failure, Record, key_for

    w, ops, threads = _check_args(workload, variants, runs, ops, threads)
    progress = progress or NullProgress()
    specs = [resolve_allocator(project, v) for v in variants]
    # The group is part of each record's key: runs are interleaved within a group, so a
    # record is reused only for the comparison it was measured for (phases that share a
    # baseline keep their own, each measured beside its own candidate).
    params = {**bench_params(w, ops, runs, threads), "group": [s.name for s in specs]}
    keys = [key_for("bench", w.name, s.name, params) for s in specs]

    records = [None] * len(specs)
    if store is not None and not force:
        for i, (key, spec) in enumerate(zip(keys, specs)):
            rec = store.current(key, spec.source_hash)
            if rec is not None and rec.extra.get("driver_hash") == spec.driver_hash:
                records[i] = rec
    stale = [i for i, rec in enumerate(records) if rec is None]
    if stale and stale[0] == 0:
        stale = list(range(len(specs)))  # every comparison is with the baseline: measure them all beside it
    elif stale:
        stale.insert(0, 0)  # the baseline runs beside what changed, so their comparison is interleaved

    rows: list[dict | None] = [None] * len(specs)
    for i, rec in enumerate(records):
        if i not in stale:
            rows[i] = _result_row(specs[i].name, specs[i], rec.samples, rec.counters or None,
                                  [f.model_dump() for f in rec.failures], rec.extra.get("ns_per_op"), True,
                                  {"session": rec.extra.get("session"), "created": rec.created.isoformat()})
    if stale:
        measured = _measure(project, w, [specs[i] for i in stale], ops, runs, threads, [keys[i] for i in stale],
                            params, store, progress, environment, Record, Failure)
        for i, row in zip(stale, measured):
            rows[i] = row

    comparisons = []
    base = rows[0]
    for cand in rows[1:]:
        c = _compare(base["samples"], cand["samples"])
        if base.get("session") != cand.get("session"):
            c["warnings"] = [*c.get("warnings", []),
                             f"{cand['variant']} and {base['variant']} were measured in different sessions "
                             f"(not interleaved), so drift between the sessions is not cancelled"]
        comparisons.append({"baseline": base["variant"], "candidate": cand["variant"], **c})
    return {"workload": w.name, "ops": ops, "runs": runs, "threads": threads if w.driver == "remote" else 1,
            "sizes": list(w.sizes), "unit": "ops/s", "results": rows, "comparisons": comparisons,
            "reused": not stale, "measured_now": [specs[i].name for i in stale]}


def _measure(project, w, specs, ops, runs, threads, keys, params, store, progress,
             environment, Record, Failure) -> list[dict]:
    session = uuid.uuid4().hex[:12]
    n = len(specs)
    samples = [[] for _ in specs]
    ns_per_op = [[] for _ in specs]
    counters = [None] * n
    counters_runs = [[] for _ in specs]
    failures = [[] for _ in specs]
    counts = [None] * n
    requests = [workload_request(s, w, ops=ops, threads=threads) for s in specs]
    timeout = max(120.0, ops * 2e-6 * (threads or 1) * 20)
    progress.start(n * (runs + 1), f"{w.name}: {', '.join(s.name for s in specs)}")
    # run 0 is the discarded warm-up (a failure there is recorded all the same)
    for run in range(runs + 1):
        for i, spec in enumerate(specs):      # interleaved: A B A B ...
            res = run_child(requests[i], timeout=timeout)
            progress.advance()
            if not res.get("ok"):
                failures[i].append({"run": run, "cause": res["failure"]})
                continue
            if run == 0:
                continue
            samples[i].append(_ops_per_s(res))
            ns_per_op[i].append(res["elapsed_ns"] / res["ops"])
            counts[i] = res.get("counts")
            if res.get("counters") is not None:
                counters[i] = res["counters"]
                counters_runs[i].append(res["counters"])
    rows = []
    created = datetime.now(timezone.utc)
    for i, spec in enumerate(specs):
        med_ns = float(sorted(ns_per_op[i])[len(ns_per_op[i]) // 2]) if ns_per_op[i] else None
        extra = {"driver_hash": spec.driver_hash, "session": session,
                 "interleaved_with": [s.name for s in specs], "position": i,
                 "ns_per_op": med_ns, "ns_per_op_runs": ns_per_op[i], "counts": counts[i],
                 "counters_per_run": counters_runs[i], "unit": "ops/s", "warmup_runs": 1}
        if store is not None:
            rec = Record(kind="bench", workload=w.name, allocator=spec.name, params=params,
                         source_hash=spec.source_hash, created=created,
                         environment=environment(project, spec.build_flags), samples=samples[i],
                         counters=counters[i] or {}, failures=[Failure(**f) for f in failures[i]],
                         extra=extra)
            store.put(rec)
        rows.append(_result_row(spec.name, spec, samples[i], counters[i], failures[i], med_ns, False,
                                {"session": session, "created": created.isoformat()}))
    return rows


# ---- CLI ---------------------------------------------------------------------------

def cmd_bench(args, project: Project) -> int:
    from .cli import report_measurement
    return report_measurement(args, project, lambda **kw: run_bench(
        project, args.workload, args.variant, runs=args.runs, ops=args.ops, threads=args.threads, **kw),
        print_bench)


def _m(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e6:.2f} M"


def print_bench(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
    now = out.get("measured_now") or []
    source = ("all reused from results/" if not now else
              f"measured now, interleaved: {', '.join(now)}" + ("; the rest reused from results/"
                                                                if len(now) < len(out["results"]) else ""))
    t = Table(title=f"{out['workload']}: {out['ops']:,} ops x {out['runs']} runs, ops/s ({source})")
    for col in ("allocator", "median", "95% CI", "best 3 of 5*", "CV", "runs ok", "failures",
                "remote/registry/mutex/leaked"):
        t.add_column(col, overflow="fold")
    for r in out["results"]:
        ci = f"{_m(r['ci95'][0])} .. {_m(r['ci95'][1])}" if r.get("ci95") else "-"
        c = r.get("counters") or {}
        counters = "/".join(str(c.get(k)) for k in ("mid_remote_frees", "registry_lookups", "mutex_locks",
                                                        "leaked_blocks")) if c else "-"
        fails = "; ".join(f"run {f['run']}: {f['cause']}" for f in r["failures"]) or "-"
        t.add_row(r["variant"], _m(r["median"]), ci, _m(r["best3of5"]),
                  "-" if r["cv"] is None else f"{r['cv']:.1%}", str(r["n"]), fails, counters)
    con.print(t)
    con.print(f"* {BEST3OF5_LABEL}")
    for c in out["comparisons"]:
        ratio = "-" if c.get("ratio") is None else f"{c['ratio']:.4f}"
        ci = f"[{c['ci95'][0]:.4f}, {c['ci95'][1]:.4f}]" if c.get("ci95") else "-"
        p = "-" if c.get("p_value") is None else f"{c['p_value']:.3g}"
        con.print(f"{c['candidate']} vs {c['baseline']}: ratio {ratio}, 95% CI {ci}, p = {p}: "
                  f"[bold]{c['verdict']}[/bold]" + (f" ({c['reason']})" if c.get("reason") else ""))
        for wmsg in c.get("warnings") or []:
            con.print(f"  [yellow]warning[/yellow]: {wmsg}")
    for r in out["results"]:
        for wmsg in r.get("warnings") or []:
            con.print(f"[yellow]warning[/yellow] {r['variant']}: {wmsg}")
