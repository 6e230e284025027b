"""`reportgen counts`: exact counts of a workload's timed loop per allocator (callgrind).

Instructions, data reads and writes, simulated L1d and last-level misses of the
timed loop only (the driver switches callgrind's instrumentation on and off
around it), per operation (one free and one allocation) and per function group
of the allocator: malloc path, free path, router, refill (reportgen.measuring.callgrind.GROUPS).
Each allocator runs its timed build (no counters: they are instrumentation too)
once under callgrind; one record per workload and allocator, current while the
variant's sources, the driver build, valgrind and the cache geometry are the same.
"""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from ...errors import UserError
from ..child import NullProgress, resolve_allocator, workload_request
from ...project import Project
from ...results import CountsResult, CountsRow
from .base import SingleRecordKind, measure_through_store

# Ops of the timed loop under callgrind (tens of times slower than native): small, and exact anyway.
COUNT_OPS = 50_000
QUICK_COUNT_OPS = 10_000
GROUPING = 2   # the version of callgrind.GROUPS and of the source attribution: records otherwise are measured again
RUNS = 2   # each allocator is counted twice: the page shows whether the two runs gave the same counts
QUICK_RUNS = 1   # --quick: once (fewer ops and runs, as every quick measurement)
METHOD = ("valgrind --tool=callgrind --cache-sim=yes --instr-atstart=no, instrumentation on for the timed "
          "loop only; the allocator's timed build; per op = total / timed ops; per free = the free path's "
          "own cost / frees (one free per op); each allocator counted twice (once with --quick)")


@functools.lru_cache(maxsize=1)
def valgrind_version() -> str:
    from ..callgrind import valgrind_path
    proc = subprocess.run([valgrind_path(), "--version"], capture_output=True, text=True)
    return proc.stdout.strip() or "valgrind"


def count_ops(workload, quick: bool, ops: int | None = None) -> int:
    return int(ops or min(workload.ops, QUICK_COUNT_OPS if quick else COUNT_OPS))


def _sources(spec) -> list:
    """The copies of the sources the allocator's timed build and its driver were compiled from."""
    from ...build import sources_of
    libs = [*(spec.timed_links[:1] if spec.is_project else []), spec.timed_bench_lib]
    return [d for d in (sources_of(Path(x)) for x in libs if x) if d is not None]


def _row(spec, res: dict) -> dict:
    from ..callgrind import attribute, summarise
    s = summarise(res["callgrind"], res["ops"])
    # the timed loop's cost by source function (inlined code on its own function's lines): what a
    # ceiling per mechanism sums (reportgen.ceilings)
    by_source = attribute(res["callgrind"].get("lines") or {}, _sources(spec))
    free = s["groups"].get("free", {}).get("per_op") or {k: 0.0 for k in s["per_op"]}
    return {"variant": spec.name, "kind": spec.kind, "instructions_per_op": s["per_op"]["instructions"],
            "per_op": s["per_op"], "per_free": free, "groups": s["groups"], "functions": s["functions"],
            "total": s["total"], "ops": s["ops"], "source_hash": spec.source_hash,
            "source_functions": by_source,
            "driver_hash": spec.timed_driver_hash, "failures": []}


class CountsKind(SingleRecordKind):
    """One allocator's counts on one workload: one record."""

    def __init__(self, project: Project, spec, workload, ops: int, geometry: dict, runs: int = RUNS):
        params = {"ops": ops, "valgrind": valgrind_version(), "geometry": geometry, "grouping": GROUPING,
                  **({"runs": runs} if runs != RUNS else {})}
        super().__init__("counts", workload.name, spec.name, params, spec.source_hash, spec.timed_driver_hash,
                         "counts", spec.build_flags)
        self.project, self.spec, self.wl, self.ops, self.geometry = project, spec, workload, ops, geometry
        self.runs = runs

    def current(self, store):
        rec = self.current_record(store)
        return None if rec is None else rec.extra["counts"]

    def measure(self, progress, store, force: bool):
        """Two runs of the same request: exact counts repeat, and the record says whether they did."""
        from ..callgrind import run
        req = workload_request(self.spec, self.wl, ops=self.ops, timed=True)
        runs = []
        for i in range(self.runs):
            res = run(req, self.geometry, line_files=f"/{self.project.native_dir.name}/")
            if not res.get("ok"):
                progress.advance()
                return {"variant": self.spec.name, "kind": self.spec.kind,
                        "failures": [{"run": i, "cause": res["failure"]}]}
            runs.append(res)
        progress.advance()
        first = runs[0]["callgrind"]
        identical = all(r["callgrind"]["totals"] == first["totals"] and r["callgrind"]["functions"] ==
                        first["functions"] for r in runs[1:])
        return {**_row(self.spec, runs[0]), "runs": len(runs), "identical": identical,
                "run_totals": [r["callgrind"]["totals"] for r in runs]}

    def records(self, measured) -> list:
        return [self.record(self.project, failures=measured.get("failures") or [],
                            extra={"counts": measured, "unit": "events per op"})]

    def result(self, found, reused: bool) -> dict:
        return {**found, "reused": reused}


def _delta(base: dict, cand: dict) -> dict:
    def d(side: str, key: str):
        a, b = (base.get(side) or {}).get(key), (cand.get(side) or {}).get(key)
        return None if a is None or b is None else b - a
    return {"baseline": base["variant"], "candidate": cand["variant"],
            "delta_instructions_per_op": d("per_op", "instructions"),
            "delta_instructions_per_free": d("per_free", "instructions"),
            "delta_d1_misses_per_op": d("per_op", "d1_misses"), "delta_d1_misses_per_free": d("per_free", "d1_misses"),
            "delta_ll_misses_per_op": d("per_op", "ll_misses"), "delta_ll_misses_per_free": d("per_free", "ll_misses")}


def run_counts(project: Project, workload: str, variants, *, quick: bool = False, ops: int | None = None,
               store=None, force: bool = False, progress=None) -> dict:
    """The `counts --json` shape (docs/json.md): one row per allocator, the first one the baseline
    of `comparisons` (each other allocator minus it)."""
    from ..callgrind import cache_options, valgrind_path
    from ...machine import cache_geometry
    from ..workloads import get_workload

    progress = progress or NullProgress()
    wl = get_workload(workload, drivers_only="counts")
    variants = list(dict.fromkeys(variants))
    if not variants:
        raise UserError("counts needs at least one --variant")
    valgrind_path()                                             # no valgrind: one line, before any build
    specs = [resolve_allocator(project, v) for v in variants]   # bad names fail before any measuring
    geometry = cache_geometry()
    n = count_ops(wl, quick, ops)
    progress.start(len(specs), f"counts {workload}")
    rows, failures = [], []
    for spec in specs:
        row = measure_through_store(CountsKind(project, spec, wl, n, geometry, QUICK_RUNS if quick else RUNS),
                                    store, force=force,
                                    progress=progress)
        rows.append(row)
        failures += [{"run": spec.name, "cause": f["cause"]} for f in row.get("failures") or []]
    ok = [r for r in rows if r.get("per_op")]
    comparisons = [_delta(ok[0], r) for r in ok[1:]] if ok and ok[0]["variant"] == variants[0] else []
    return CountsResult.shape({
        "workload": workload, "ops": n, "threads": wl.threads if wl.driver == "remote" else 1,
        "cache_sim": cache_options(geometry)[1], "valgrind": valgrind_version(),
        "results": [CountsRow.shape(r) for r in rows],
        "comparisons": comparisons, "failures": failures, "method": METHOD,
        "reused": bool(rows) and all(r.get("reused") for r in rows)})
