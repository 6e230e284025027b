"""Sweeps: one numeric parameter of a driver workload over several values, each point a full comparison.

A point is the workload with that one parameter set (`point_workload`), measured by kinds.bench as any
workload is: sessions, layouts, intervals, verdicts, memory, counters.  The points of a sweep run as
comparison groups whose sessions are spread in time among each other (kinds.bench.run_interleaved), so
the machine's state over the sweep reaches every point alike.  Holm then runs once over the primary
comparisons of every point (a sweep of k values makes k judged statements per candidate), the sweep's
family of its own.

`reportgen sweep --json` prints {workload, param, values, cores, points: [{value, threads_over_cores,
results, comparisons, contrasts}], family}: each point's `results` and `comparisons` shaped as in
`bench --json` (docs/json.md).
"""
from __future__ import annotations

import os
from dataclasses import replace

from ...errors import UserError
from ..child import NullProgress
from ...project import Project
from ..workloads import MAX_OPS, Workload, get_workload

# What a sweep may vary, per driver kind: a field of the Workload and its bounds.
SWEEPABLE = {
    "gap": {"slots": (1, 1 << 24), "ops": (1, MAX_OPS)},
    "remote": {"threads": (2, 256), "ops": (2, MAX_OPS)},
}
MAX_POINTS = 32


def sweepable(w: Workload) -> dict[str, tuple[int, int]]:
    """The parameters of `w` a sweep may vary, each with its bounds."""
    return SWEEPABLE.get(w.driver, {})


def check_sweep(w: Workload, param: str, values) -> list[int]:
    """The sweep's values as whole numbers, or a one-line UserError naming what is wrong."""
    allowed = sweepable(w)
    if param not in allowed:
        raise UserError(f"workload {w.name!r} ({w.driver} driver) cannot sweep {param!r}; "
                        f"it sweeps {', '.join(allowed) or 'nothing'}")
    out: list[int] = []
    for v in values:
        if isinstance(v, str):
            v = v.strip().replace("_", "")
            if not v.isdigit():
                raise UserError(f"sweep values must be whole numbers, got {v!r}")
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise UserError(f"sweep values must be whole numbers, got {v!r}")
        lo, hi = allowed[param]
        if not lo <= v <= hi:
            raise UserError(f"{param} = {v} is outside {lo}..{hi}")
        if v in out:
            raise UserError(f"sweep value {v} is given twice")
        out.append(v)
    if not 1 <= len(out) <= MAX_POINTS:
        raise UserError(f"a sweep takes 1 to {MAX_POINTS} values, got {len(out)}")
    return sorted(out)


def point_workload(w: Workload, param: str, value: int) -> Workload:
    """`w` with `param` set to `value` (threads are passed to the driver apart: the bench's --threads)."""
    if param in ("slots", "ops"):
        return replace(w, **{param: int(value)})
    return w


def point_kind(project: Project, w: Workload, param: str, value: int, variants, **kw):
    """The comparison group of one point (kinds.bench.BenchKind)."""
    from .bench import bench_kind
    if param == "threads":
        kw["threads"] = int(value)
    elif param == "ops":
        kw["ops"] = int(value)
    return bench_kind(project, point_workload(w, param, value), variants, **kw)


def threads_over_cores(w: Workload, param: str, value: int, cores: int | None) -> bool:
    """Whether this point runs more threads than the machine has cores (its times then include waiting)."""
    threads = value if param == "threads" else (w.threads if w.driver == "remote" else 1)
    return bool(cores) and threads > cores


def adjust_sweep_family(points: list[dict]) -> int:
    """Holm over the primary comparisons of every point; returns the family's size."""
    from .bench import adjust_family
    comparisons = [c for p in points for c in (p.get("comparisons") or [])]
    adjust_family(comparisons)
    return sum(1 for c in comparisons if c.get("role") == "primary" and c.get("p_value") is not None)


def run_sweep(project: Project, workload: str, param: str, values, variants, *, sampling=None,
              ops: int | None = None, threads: int | None = None, store=None, force: bool = False,
              progress=None, primary=None) -> dict:
    """Measure (or reuse) `variants` on `workload` at each value of `param`: the `sweep --json` shape.
    `ops` and `threads` hold at every point (bench's options), unless they are what is swept."""
    from .bench import run_interleaved
    w = get_workload(workload)
    vals = check_sweep(w, param, values)
    fixed = {k: v for k, v in (("ops", ops), ("threads", threads)) if v is not None and k != param}
    kinds = [point_kind(project, w, param, v, variants, sampling=sampling, primary=primary, **fixed)
             for v in vals]
    results = run_interleaved(kinds, store, force=force, progress=progress or NullProgress())
    failed = [(v, r) for v, r in zip(vals, results) if isinstance(r, Exception)]
    if failed:
        v, exc = failed[0]
        if isinstance(exc, UserError):
            raise UserError(f"{param} = {v}: {exc}") from None
        raise exc
    return sweep_shape(w, param, vals, results)


def sweep_shape(w: Workload, param: str, values: list[int], results: list[dict]) -> dict:
    """The sweep's JSON from each point's `bench --json` shape (the family adjusted over the points)."""
    cores = os.cpu_count()
    points = [{"value": v, "threads_over_cores": threads_over_cores(w, param, v, cores),
               "results": r.get("results") or [], "comparisons": r.get("comparisons") or [],
               "contrasts": r.get("contrasts") or [], "sessions": r.get("sessions"), "ops": r.get("ops"),
               "reused": r.get("reused"), "session": r.get("session")}
              for v, r in zip(values, results)]
    family = adjust_sweep_family(points)
    from ...results import SweepResult
    return SweepResult.shape({"workload": w.name, "param": param, "values": list(values), "cores": cores,
                              "points": points,
                              "family": {"size": family, "method": "Holm over the primary comparisons of every point"}})


# ---- on the pages ------------------------------------------------------------------------------

# counters of a project variant a sweep table shows: what tells a path taken from a path not taken
PAGE_COUNTERS = ("registry_lookups", "mutex_locks", "mid_remote_frees")


def page_rows(sw: dict, baseline: str, candidate: str, claim: tuple[float, float] | None = None) -> dict:
    """A phase sweep (plan.assemble_sweeps) as the page shows it: per value the two medians, the
    candidate's speed-up with its CI and verdict (Holm over the sweep), both sides' counters and the
    peak-RSS ratio; and, with a claim, the smallest value at which the claim holds."""
    from ... import stats

    points = []
    for p in sw.get("points") or []:
        rows = {r.get("variant"): r for r in p.get("results") or []}
        c = next((c for c in p.get("comparisons") or [] if c.get("candidate") == candidate), {}) or {}
        peak = (c.get("memory") or {}).get("peak_rss") or {}
        status = stats.claim_check(claim[0], claim[1], c)["status"] if claim and c.get("speedup_ci95") else None
        points.append({
            "value": p.get("value"), "from_bench": p.get("from_bench"),
            "threads_over_cores": p.get("threads_over_cores"),
            "median": {n: (rows.get(n) or {}).get("median") for n in (baseline, candidate)},
            "speedup": c.get("speedup"), "ci95": c.get("speedup_ci95"), "verdict": c.get("verdict"),
            "sessions": c.get("sessions"),
            "counters": {n: {k: ((rows.get(n) or {}).get("counters") or {}).get(k) for k in PAGE_COUNTERS}
                         for n in (baseline, candidate) if (rows.get(n) or {}).get("counters")},
            "peak_rss": peak.get("ratio"), "peak_rss_ci95": peak.get("ci95"), "claim_status": status})
    # the claim reached: inside the interval, overlapping it, or wholly below it (the gain exceeds it)
    reached = [p["value"] for p in points if p["claim_status"] in ("consistent", "partly consistent", "under-claim")]
    return {"workload": sw.get("workload"), "param": sw.get("param"), "baseline": baseline,
            "candidate": candidate, "points": points, "family": sw.get("family") or {},
            "failures": sw.get("failures") or [], "claim": list(claim) if claim else None,
            "claim_reached_from": min(reached) if reached else None, "claim_reached_at": reached}
