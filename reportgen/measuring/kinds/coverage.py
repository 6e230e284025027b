"""`reportgen coverage`: did the benchmarks run what a phase changed? (reportgen.measuring.coverage)

For a phase: the native lines its baseline and candidate builds compile differently,
and per workload and variant how many times a coverage build of the variant executed
each of them.  One record per workload and variant holds the run's line counts of every
native file (current while the variant's sources and its coverage build are the same);
which of those lines are "changed" is worked out when the result is given, from the
sources as they are.
"""
from __future__ import annotations

from ...errors import UserError
from ..child import AllocatorSpec, NullProgress, workload_request
from ...project import Project
from ...results import CoverageResult
from .base import SingleRecordKind, measure_through_store

METHOD = ("changed lines: the allocator sources preprocessed with each variant's flags (line markers kept), "
          "compiled lines compared; counts: a gcc --coverage (-O0) build of each variant run once on the "
          "workload, read with gcov; a count covers the whole run (set-up, warm-up, timed loop)")


class CoverageRunKind(SingleRecordKind):
    """One variant's coverage run of one workload: the line counts of every native file."""

    def __init__(self, project: Project, variant: str, workload, ops: int):
        from ... import build
        from ..coverage import coverage_driver
        self.lib, self.driver = coverage_driver(project, variant)
        # the counts depend on the variant's code (source_hash), the driver's code and the flags: the
        # driver by its code, not by its coverage build, whose hash names the checkout (gcov's paths),
        # so a copy of the project finds the counts of the same code
        driver_code = build.code_hash(project, "bench-coverage", [project.native_dir / "bench.c"],
                                      {"BENCH_ALLOC_HAK": "1"})
        super().__init__("coverage", workload.name, variant, {"ops": ops}, build.source_hash(project, variant),
                         driver_code, "coverage",
                         {"compile": list(build.COVERAGE_FLAGS)})
        self.project, self.variant, self.wl, self.ops = project, variant, workload, ops

    def current(self, store):
        rec = self.current_record(store)
        return None if rec is None else rec.extra["coverage"]

    def measure(self, progress, store, force: bool):
        from ..coverage import run_counts
        spec = AllocatorSpec(self.variant, "project", str(self.driver), None, self.source_hash or "",
                             self.driver_hash or "")
        res = run_counts(self.project, self.lib, workload_request(spec, self.wl, ops=self.ops, values=1))
        progress.advance()
        if not res.get("ok"):
            return {"ops": self.ops, "failures": [{"run": 0, "cause": res["failure"]}]}
        # JSON keys are strings: lines by their number as text
        return {"ops": res.get("ops"), "failures": [],
                "lines": {f: {str(n): c for n, c in per.items()} for f, per in res["lines"].items()},
                "functions": {f: {str(n): fn for n, fn in per.items()} for f, per in res["functions"].items()}}

    def records(self, measured) -> list:
        return [self.record(self.project, failures=measured.get("failures") or [],
                            extra={"coverage": measured, "unit": "executions per line"})]

    def result(self, found, reused: bool) -> dict:
        return {**found, "reused": reused}


def _summary(lines: list[dict], by: str) -> dict:
    out: dict[str, dict] = {}
    for ln in lines:
        key = ln.get(by)
        if key:
            s = out.setdefault(key, {"lines": 0, "executed": 0, "executions": 0})
            s["lines"] += 1
            s["executed"] += ln["count"] > 0
            s["executions"] += ln["count"]
    return out


def changed_run(changed: list[dict], variant: str, workload: str, run: dict) -> dict:
    """A run's counts of the changed lines its variant compiles (only lines gcov counts: executable)."""
    counts, fns = run.get("lines") or {}, run.get("functions") or {}
    lines = []
    for ch in changed:
        if variant not in ch["in"]:
            continue
        c = (counts.get(ch["file"]) or {}).get(str(ch["line"]))
        if c is None:
            continue
        lines.append({"file": ch["file"], "line": ch["line"], "count": c, "text": ch["text"],
                      "function": (fns.get(ch["file"]) or {}).get(str(ch["line"])), "marker": ch["marker"]})
    return {"workload": workload, "variant": variant, "ops": run.get("ops"), "lines": lines,
            "executed": sum(l["count"] > 0 for l in lines), "never": sum(l["count"] == 0 for l in lines),
            "compiled_out": sum(variant not in ch["in"] for ch in changed),
            "functions": _summary(lines, "function"), "markers": _summary(lines, "marker"),
            "failures": run.get("failures") or [], "reused": run.get("reused")}


def run_coverage(project: Project, phase: str, workloads=None, *, quick: bool = False, store=None,
                 force: bool = False, progress=None) -> dict:
    """The `coverage --json` shape (docs/json.md)."""
    from ..coverage import changed_lines, gcov_path
    from ...phases import load_phases
    from ..workloads import get_workload
    from .counts import count_ops

    progress = progress or NullProgress()
    spec = load_phases(project, [phase])[0]
    if not spec.candidate:
        raise UserError(f"phase {phase!r} has no candidate: there is no change to cover")
    workloads = list(dict.fromkeys(workloads or spec.workloads))
    wls = [get_workload(w, drivers_only="coverage") for w in workloads]
    gcov_path()
    variants = [spec.baseline, spec.candidate]
    changed = changed_lines(project, spec.baseline, spec.candidate)
    progress.start(len(wls) * len(variants), f"coverage {phase}")
    runs, failures = [], []
    for wl in wls:
        for v in variants:
            kind = CoverageRunKind(project, v, wl, count_ops(wl, quick))
            run = measure_through_store(kind, store, force=force, progress=progress)
            failures += [{"run": f"{wl.name} {v}", "cause": f["cause"]} for f in run.get("failures") or []]
            runs.append(changed_run(changed, v, wl.name, run))
    return CoverageResult.shape({
        "phase": spec.id, "baseline": spec.baseline, "candidate": spec.candidate,
        "changed": [{k: ch[k] for k in ("file", "line", "in", "text", "marker")} for ch in changed],
        "workloads": workloads, "runs": runs, "failures": failures, "method": METHOD,
        "reused": all(r.get("reused") for r in runs)})
