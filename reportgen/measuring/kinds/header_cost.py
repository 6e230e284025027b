"""`reportgen header-cost`: what the 6-B Mid header costs, in time and in space.

Time: the free-path kernel of native/bench_header.c, with and without the
header load, over working sets from 4 KiB to 64 MiB (blocks visited in
random order), in a dependent chain (latency exposed: the headline figures
ns_with_header / ns_without_header) and independent (loads may overlap).
One child per working set; the repetitions happen inside C.
Space: for each variant and request size, the block the library really
uses (hak_block_footprint), the usable size of a real block, and the header
bytes the library's config reports for that pool.
"""
from __future__ import annotations


from ...build import lib_hash
from ...errors import UserError
from ..child import (HEADER_COST_STRIDE, NullProgress, header_cost_flags, header_cost_lib,
                      resolve_allocator, run_child)
from ...project import Project
from ...results import HeaderCostResult, TimePoint
from .base import SingleRecordKind, measure_through_store

# Requests for the space table: tiny ones, the Tiny/Mid boundary, and every Mid class.
SPACE_REQUESTS = (16, 100, 512, 1024, 2047, 2048, 3000, 4096, 8192, 16384, 32768)
MIN_WS, MAX_WS = 4 << 10, 64 << 20


def working_sets(quick: bool) -> list[int]:
    step = 4 if quick else 2
    out, ws = [], MIN_WS
    while ws <= MAX_WS:
        out.append(ws)
        ws *= step
    return out


def _time_point(res: dict) -> dict:
    dep, ind = res["dependent"], res["independent"]
    return {"working_set_bytes": res["working_set_bytes"],
            "ns_with_header": dep["with"], "ns_without_header": dep["without"],
            "header_ns": dep["with"] - dep["without"],
            "dependent": dep, "independent": ind,
            "independent_header_ns": ind["with"] - ind["without"],
            "blocks": res["blocks"], "ops_per_rep": res["ops_per_rep"], "reps": res["reps"],
            "bad_magic": res["bad_magic"]}


def _space_specs(project: Project, variants) -> list:
    specs = []
    for v in variants:
        spec = resolve_allocator(project, v)
        if not spec.is_project:
            raise UserError(f"header-cost space needs a project variant; {spec.name!r} is a system allocator")
        specs.append(spec)
    return specs


def _space_rows(specs, progress) -> tuple[list[dict], list[dict]]:
    rows, failures = [], []
    for spec in specs:
        res = run_child({"kind": "introspect", "hak_lib": spec.hak_lib, "sizes": list(SPACE_REQUESTS)},
                        timeout=60)
        progress.advance()
        if not res.get("ok"):
            failures.append({"variant": spec.name, "cause": res["failure"]})
            continue
        config = res["config"]
        for r in res["sizes"]:
            pool = r["route"]
            hdr = config.get(f"{pool}_header_bytes") if pool in ("tiny", "mid") else None
            block = r["footprint"] or None
            rows.append({"variant": spec.name, "request": r["size"], "pool": pool, "block": block,
                         "header_bytes": hdr, "usable": r["usable"],
                         "overhead_bytes": (block - r["size"]) if block else None,
                         "overhead_ratio": (block / r["size"] - 1) if block else None})
    return rows, failures


def run_header_cost(project: Project, variants=None, quick: bool = False, store=None, force: bool = False,
                    progress=None) -> dict:
    """the `header-cost --json` shape (docs/json.md): caches, time[], space[]."""
    from ...machine import cache_sizes
    from ...variants import project_variants

    progress = progress or NullProgress()
    variants = list(variants or project_variants(project))
    specs = _space_specs(project, variants)   # bad names fail before any measuring
    lib = header_cost_lib(project)
    driver_hash = lib_hash(lib)
    sets = working_sets(quick)
    min_ops, reps = (1 << 18, 3) if quick else (1 << 21, 5)
    params = {"quick": quick, "stride": HEADER_COST_STRIDE, "min_ops": min_ops, "reps": reps,
              "working_sets": sets}
    caches = cache_sizes()

    time_kind = HeaderTimeKind(project, lib, driver_hash, params, sets, min_ops, reps, caches, len(variants))
    timed = measure_through_store(time_kind, store, force=force, progress=progress)
    if timed["reused"]:
        progress.start(len(variants), "header cost")
    time_rows, failures, reused = timed["time"], timed["failures"], timed["reused"]

    space, space_failures = _space_rows(specs, progress)
    if store is not None:
        for spec in specs:
            rows = [r for r in space if r["variant"] == spec.name]
            if not rows:
                continue
            # the space table is measured every time (introspection, no timing) and kept when it changed
            kept = SingleRecordKind("header_space", None, spec.name, {"requests": list(SPACE_REQUESTS)},
                                    spec.source_hash, None, "space", spec.build_flags)
            cur = kept.current_record(store)
            if cur is None or cur.extra["space"] != rows:
                store.put(kept.record(project, extra={"space": rows, "driver_hash": spec.driver_hash}))
    return HeaderCostResult.shape({"caches": caches, "time": time_rows, "space": space, "stride_bytes": HEADER_COST_STRIDE,
            "quick": quick, "reps": reps, "min_ops": min_ops, "failures": failures + space_failures,
            "reused": reused,
            "method": "ns per free, median of the repetitions; ns_with_header / ns_without_header are the "
                      "dependent chain (latency exposed), `independent` lets loads overlap"})


class HeaderTimeKind(SingleRecordKind):
    """The kernel's timings over the working sets: one record, stale when the kernel's build changes."""

    def __init__(self, project: Project, lib, driver_hash: str, params: dict, sets, min_ops: int, reps: int,
                 caches: dict, n_variants: int):
        super().__init__("header_cost", None, None, params, driver_hash, None, "time", header_cost_flags())
        self.project, self.lib, self.sets, self.min_ops, self.reps = project, lib, sets, min_ops, reps
        self.caches, self.n_variants = caches, n_variants

    def current(self, store):
        rec = self.current_record(store)
        return None if rec is None else {"time": [TimePoint.shape(r) for r in rec.extra["time"]],
                                         "failures": [{"run": f.run, "cause": f.cause} for f in rec.failures]}

    def measure(self, progress, store, force: bool):
        progress.start(len(self.sets) + self.n_variants, "header cost")
        time_rows, failures = [], []
        for i, ws in enumerate(self.sets):
            res = run_child({"kind": "header_cost", "lib": str(self.lib), "working_set_bytes": ws,
                             "stride": HEADER_COST_STRIDE, "min_ops": self.min_ops, "reps": self.reps, "seed": 0x6B},
                            timeout=600)
            progress.advance()
            if res.get("ok"):
                time_rows.append(_time_point(res))
            else:
                failures.append({"run": i, "cause": f"working set {ws}: {res['failure']}"})
        return {"time": time_rows, "failures": failures}

    def records(self, measured) -> list:
        rows = measured["time"]
        return [self.record(self.project, samples=[r["ns_with_header"] for r in rows], failures=measured["failures"],
                            extra={"time": rows, "caches": self.caches, "unit": "ns/op",
                                   "samples_are": "ns_with_header per working set (dependent chain)"})]

    def result(self, found, reused: bool) -> dict:
        return {**found, "reused": reused}
