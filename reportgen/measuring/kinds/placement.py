"""Placement: which cache sets a gap workload's live blocks occupy on each allocator, kept in the store.

One record per workload and allocator list (the view compares them side by side), current while
every allocator's sources and driver builds, and the cache geometry, are the ones it was measured
with.  The view is reportgen.measuring.layouts.cachesets (the child's side and the set arithmetic); a failed child is recorded
as that allocator's failure, which makes the record not current (the next run measures again).
"""
from __future__ import annotations

import hashlib
import json

from ...errors import UserError
from ..layouts.cachesets import header_source, levels, set_view
from ...machine import cache_geometry
from ..child import AllocatorSpec, NullProgress, resolve_allocator, run_child
from ...project import Project
from ..workloads import get_workload
from .base import SingleRecordKind, measure_through_store


def _combined(parts) -> str:
    return hashlib.sha256(json.dumps(list(parts)).encode()).hexdigest()[:16]


def placement_request(spec, workload, warmup_ops: int) -> dict:
    """The "addresses" child request of `workload` (a gap workload) on `spec` (its counting build)."""
    return {"kind": "addresses", "bench_lib": spec.bench_lib, "hak_lib": spec.hak_lib,
            "sizes": [int(s) for s in workload.sizes], "slots": int(workload.slots),
            "seed": int(workload.seed), "warmup_ops": int(warmup_ops)}


def measure_placement(project, workload_name: str, allocators, *, warmup_ops: int | None = None,
                      progress=None) -> dict:
    """{"workload", "sizes", "slots", "seed", "warmup_ops", "geometry", "allocators": {name: {"blocks",
    "header_bytes", "header_bytes_source", "routes", "config", "physical", "page_size", "levels"} or
    {"failure"}}, "failures": [{"allocator", "cause"}]} for allocator names (project variants, system
    peers) or AllocatorSpecs.  A child that fails is that allocator's failure, never an exception."""
    progress = progress or NullProgress()
    w = get_workload(workload_name)
    if w.driver != "gap":
        raise UserError(f"placement needs a gap workload (a working set of live blocks); "
                        f"{w.name!r} uses the {w.driver} driver")
    warm = w.warmup_ops if warmup_ops is None else int(warmup_ops)
    if warm < 0:
        raise UserError(f"warm-up ops must be 0 or more, got {warm}")
    specs = [a if isinstance(a, AllocatorSpec) else resolve_allocator(project, a) for a in allocators]
    geometry = cache_geometry()
    progress.start(len(specs), f"placement {w.name}")
    out: dict = {}
    failures = []
    for spec in specs:
        res = run_child(placement_request(spec, w, warm), timeout=max(60.0, warm * 1e-5))
        progress.advance()
        if not res.get("ok"):
            out[spec.name] = {"failure": res["failure"]}
            failures.append({"allocator": spec.name, "cause": res["failure"]})
            continue
        view = set_view(res["addresses"], res["size_index"], res["sizes"], geometry,
                        header_bytes=res["header_bytes"], physical=res["physical"],
                        header_physical=res["header_physical"], page_size=res["page_size"],
                        routes=res["routes"])
        out[spec.name] = {"blocks": len(res["addresses"]), "header_bytes": res["header_bytes"],
                          "header_bytes_source": header_source(res["config"]), "routes": res["routes"],
                          "config": res["config"], "page_size": res["page_size"],
                          "physical": {"known": res["physical"] is not None, "note": res["physical_note"]},
                          "levels": view["levels"]}
    return {"workload": w.name, "sizes": list(w.sizes), "slots": w.slots, "seed": w.seed, "warmup_ops": warm,
            "geometry": {name: {k: lv[k] for k in ("size", "line", "sets", "ways")}
                         for name, lv in levels(geometry).items()},
            "allocators": out, "failures": failures}


class PlacementKind(SingleRecordKind):
    """The placement of one workload on a list of allocators: one record, kept whole under extra["placement"]."""

    def __init__(self, project: Project, w, specs, warmup_ops: int):
        params = {"allocators": [s.name for s in specs], "sizes": list(w.sizes), "slots": w.slots,
                  "seed": w.seed, "warmup_ops": warmup_ops}
        source = _combined([s.name, s.source_hash] for s in specs)
        # the driver builds (bench.c: bench_gap_addresses) and the geometry the view was computed for
        driver = _combined([[s.name, s.driver_hash] for s in specs] + [cache_geometry()])
        super().__init__("placement", w.name, None, params, source, driver, "placement",
                         {s.name: s.build_flags for s in specs})
        self.project, self.w, self.specs, self.warmup_ops = project, w, specs, warmup_ops

    def current(self, store):
        rec = self.current_record(store)
        return None if rec is None else rec.extra["placement"]

    def measure(self, progress, store, force: bool):
        return measure_placement(self.project, self.w.name, self.specs, warmup_ops=self.warmup_ops,
                                 progress=progress)

    def records(self, measured) -> list:
        failures = [{"run": i, "cause": f"{f['allocator']}: {f['cause']}"}
                    for i, f in enumerate(measured.get("failures") or [])]
        return [self.record(self.project, failures=failures,
                            extra={"placement": measured, "unit": "blocks per cache set"})]

    def result(self, found, reused: bool) -> dict:
        from ...results import PlacementResult
        return PlacementResult.shape({**found, "reused": reused})


def run_placement(project: Project, workload: str, allocators, store=None, force: bool = False,
                  progress=None, warmup_ops: int | None = None) -> dict:
    """The placement of `workload` (a gap workload) on `allocators` (names: project variants, system peers),
    through the store: measure_placement's dict plus "reused"."""
    w = get_workload(workload)
    names = list(dict.fromkeys(allocators))
    if not names:
        raise UserError("placement needs at least one allocator")
    if w.driver != "gap":
        raise UserError(f"placement needs a gap workload (a working set of live blocks); "
                        f"{w.name!r} uses the {w.driver} driver")
    specs = [resolve_allocator(project, a) for a in names]   # bad names fail before any measuring
    warm = w.warmup_ops if warmup_ops is None else int(warmup_ops)
    return measure_through_store(PlacementKind(project, w, specs, warm), store, force=force, progress=progress)


def compact(result: dict) -> dict:
    """The placement as a phase's results keep it: every count, and the per-set histograms only
    where they are small (L1d); the sparse occupancy of the wide levels stays in the record."""
    import copy
    out = copy.deepcopy(result)
    for a in (out.get("allocators") or {}).values():
        for lv in (a.get("levels") or {}).values():
            for entry in [lv.get("all") or {}, *(lv.get("classes") or [])]:
                for side in ("user", "header"):
                    view = entry.get(side)
                    if isinstance(view, dict):
                        view.pop("occupied", None)
                        if len(view.get("histogram") or []) > 64:
                            view.pop("histogram", None)
    return out
