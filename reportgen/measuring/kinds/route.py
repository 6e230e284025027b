"""`reportgen route`: where a workload's requests go, predicted and measured.

Prediction: each of the workload's sizes through the router's thresholds, as
the built library reports them (hak_config_json and hak_route: never retyped
here).  Measurement: the workload run once with counters (pool counts), and
each size run alone, which attributes every size to the pool whose counters
moved and gives a time per op per size.  From these, each pool's share by
count (counters), by bytes (requested bytes) and by time (count x time per
op of that size alone), given only where that time model explains the timed mixed run
within TIME_MODEL_TOLERANCE (else `time_share_withheld` says why).  Given a claimed speed-up S of one pool (a phase's
claim, or `--claim`), also the Amdahl ceiling 1/((1-E)+E/S) with E its time
share, beside the count-share estimate 1 + E_count x (S-1) the reference used.
The claim is not part of what is measured: the ceiling is computed from the
shares each time the routing is given back, so editing a claim measures nothing.
"""
from __future__ import annotations

import math
import statistics

from ... import stats
from ...errors import UserError
from ..native import POOL_NAMES as POOLS
from ..child import resolve_allocator, run_child, workload_request
from ...project import Project
from ...results import RouteResult
from ...store import in_order
from ..workloads import get_workload
from .base import SingleRecordKind, measure_through_store

SINGLE_SIZE_REPEATS = 3
# A time share is given only where the time model (each size's time alone, weighted by its count)
# explains the mixed run within this relative error; beyond it the shares would explain noise or an
# interaction nobody measured, so none is given (and no ceiling built on one).
TIME_MODEL_TOLERANCE = 0.10


def _pool_allocs(counters: dict) -> dict[str, int]:
    return {p: int(counters.get(f"{p}_allocs", 0)) for p in POOLS}


def _measured_pool(counters: dict) -> tuple[str | None, dict[str, int]]:
    allocs = _pool_allocs(counters)
    total = sum(allocs.values())
    if total == 0:
        return None, allocs
    used = [p for p in POOLS if allocs[p]]
    return (used[0] if len(used) == 1 else "mixed"), allocs


def _shares(values: dict[str, float]) -> dict[str, float | None]:
    total = sum(values.values())
    return {p: (values[p] / total if total else None) for p in values}


def _check_claim(claim, claim_pool: str | None) -> tuple[tuple[float, float] | None, str]:
    if claim_pool is not None and claim_pool not in POOLS:
        raise UserError(f"unknown pool {claim_pool!r}; pools: {', '.join(POOLS)}")
    if claim is None:
        if claim_pool is not None:
            raise UserError("--claim-pool needs --claim LO..HI (the claimed speed-up of that pool)")
        return None, "mid"
    try:
        lo, hi = (float(x) for x in claim)
    except (TypeError, ValueError):
        raise UserError(f"a claim is two numbers LO..HI (e.g. 0.17..0.27), got {claim!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo <= -1:
        raise UserError(f"a claim LO..HI needs -1 < LO <= HI (relative speed-ups), got {lo}..{hi}")
    return (lo, hi), claim_pool or "mid"


def amdahl(pools: dict, claim: tuple[float, float], pool: str = "mid") -> dict | None:
    """The Amdahl ceiling of a claimed speed-up (lo, hi) of `pool`, from the measured shares (none
    where the time share is withheld), beside the reference's count-share estimate.

    None when the shares are not measured (e.g. a failed run)."""
    e_time, e_count = pools[pool]["time_share"], pools[pool]["count_share"]
    if e_count is None:
        return None
    lo, hi = claim
    timed = e_time is not None       # a withheld time share (the time model misses) gives no ceiling
    return {"pool": pool, "claim": [lo, hi], "time_share": e_time, "count_share": e_count,
            "ceiling": [stats.amdahl_ceiling(e_time, 1 + lo), stats.amdahl_ceiling(e_time, 1 + hi)] if timed else None,
            "ceiling_if_path_free": (1 / (1 - e_time)) if timed and e_time < 1 else None,
            "reference_estimate": [1 + e_count * lo, 1 + e_count * hi],
            "formula": "1/((1-E)+E/S), E = time share of the pool, S = 1 + claim",
            "reference_formula": "1 + E_count * claim (the reference's count-share estimate)"}


def _with_claim(out: dict, claim, claim_pool: str) -> dict:
    """The routing as given back: documented shape and order (RouteResult), and the Amdahl block when a
    claim is given."""
    out = checked_time_shares(out)
    out.pop("amdahl", None)
    if claim is not None:
        out["amdahl"] = amdahl(out["pools"], claim, claim_pool)
    return RouteResult.shape(out)


def checked_time_shares(out: dict) -> dict:
    """The routing with its time shares given only where its time model holds (TIME_MODEL_TOLERANCE):
    otherwise withheld, and `time_share_withheld` says why.  Idempotent."""
    out = dict(out)
    out["pools"] = in_order(out["pools"], POOLS)
    tm = out.get("time_model")
    err = (tm or {}).get("relative_error")
    holds = isinstance(err, (int, float)) and math.isfinite(err) and abs(err) <= TIME_MODEL_TOLERANCE
    if tm is not None:
        out["time_model"] = {**tm, "tolerance": TIME_MODEL_TOLERANCE, "holds": holds}
    if not holds and any(p.get("time_share") is not None for p in out["pools"].values()):
        why = (f"the time model misses the mixed run by {err:+.1%}, beyond its {TIME_MODEL_TOLERANCE:.0%} tolerance"
               if isinstance(err, (int, float)) and math.isfinite(err) else "the mixed run was not timed")
        out["pools"] = {p: {**v, "time_share": None} for p, v in out["pools"].items()}
        out["time_share_withheld"] = f"no time share: {why}"
    return out


def run_route(project: Project, workload: str, variant, ops: int | None = None, store=None,
              force: bool = False, progress=None, claim: tuple[float, float] | None = None,
              claim_pool: str | None = None) -> dict:
    """Predicted vs measured routing of `workload` on a project variant; the `route --json` shape (docs/json.md).

    With `claim=(lo, hi)` (a claimed relative speed-up of `claim_pool`, default mid) the
    result also holds an `amdahl` block; without one it has none.
    """
    w = get_workload(workload, drivers_only="route")
    if ops is not None and (not isinstance(ops, int) or ops <= 0):
        raise UserError(f"--ops must be a positive whole number, got {ops!r}")
    claim, claim_pool = _check_claim(claim, claim_pool)
    spec = resolve_allocator(project, variant)
    if not spec.is_project:
        raise UserError(f"route needs a project variant (its counters and thresholds); "
                        f"{spec.name!r} is a system allocator")
    return measure_through_store(RouteKind(project, w, spec, ops or w.ops, claim, claim_pool), store,
                                 force=force, progress=progress)


class RouteKind(SingleRecordKind):
    """One record per workload and variant: the routing, kept whole under extra["route"]."""

    def __init__(self, project: Project, w, spec, ops: int, claim, claim_pool: str):
        # what is measured, and nothing else: a claim only changes what is computed from it
        params = {"ops": ops, "sizes": list(w.sizes), "seed": w.seed, "repeats": SINGLE_SIZE_REPEATS}
        if w.driver == "gap":
            params["slots"] = w.slots
        elif w.driver == "retention":
            params.update(slots=w.slots, sizes_after=list(w.sizes_after), keep=w.keep)
        else:
            params["threads"] = w.threads
        super().__init__("route", w.name, spec.name, params, spec.source_hash, spec.builds_hash, "route",
                         spec.build_flags)
        self.project, self.w, self.spec, self.ops = project, w, spec, ops
        self.claim, self.claim_pool = claim, claim_pool

    def current(self, store):
        rec = self.current_record(store)
        return None if rec is None else {**rec.extra["route"], "reused": True}

    def result(self, found, reused: bool) -> dict:
        return _with_claim(found if reused else found[0], self.claim, self.claim_pool)

    def records(self, measured) -> list:
        out, full, failures = measured
        samples = [full["elapsed_ns"] / full["ops"]] if full.get("ok") else []
        return [self.record(self.project, samples=samples, counters=out["counters"], failures=failures,
                            extra={"unit": "ns/op", "route": out})]

    def measure(self, progress, store, force: bool):
        return _measure(self.w, self.spec, self.ops, progress)


def _measure(w, spec, ops: int, progress) -> tuple[dict, dict, list[dict]]:
    """The routing of `w` on `spec`: (the result, the full counted run, the failures)."""
    sizes = list(w.all_sizes)      # a retention workload's regrowth sizes are routed too
    progress.start(2 + len(sizes) * SINGLE_SIZE_REPEATS, f"route {w.name} on {spec.name}")
    failures: list[dict] = []
    timeout = max(120.0, ops * 2e-6 * 20)

    intro = run_child({"kind": "introspect", "hak_lib": spec.hak_lib, "sizes": sizes}, timeout=60)
    progress.advance()
    if not intro.get("ok"):
        failures.append({"run": 0, "cause": f"introspection: {intro['failure']}"})
        config, routes = {}, {}
    else:
        config = intro["config"]
        routes = {row["size"]: row for row in intro["sizes"]}

    # Counters and counts come from the counting build; every time from the timed build (no counters
    # on the hot path), so the time model is not bent by the instrument.
    full = run_child(workload_request(spec, w, ops=ops), timeout=timeout)
    progress.advance()
    if not full.get("ok"):
        failures.append({"run": 1, "cause": f"full workload (counted): {full['failure']}"})
    full_timed = run_child(workload_request(spec, w, ops=ops, timed=True), timeout=timeout)
    if not full_timed.get("ok"):
        failures.append({"run": 1, "cause": f"full workload (timed): {full_timed['failure']}"})

    # each size alone: counted once (its pool), then timed, repeated, interleaved across sizes
    single: dict[int, dict] = {s: {"ns": [], "counters": None} for s in sizes}
    run_no = 2
    for size in sizes:
        res = run_child(workload_request(spec, w, ops=ops, sizes=[size]), timeout=timeout)
        if res.get("ok"):
            single[size]["counters"] = res["counters"]
        else:
            failures.append({"run": run_no, "cause": f"size {size} alone (counted): {res['failure']}"})
        run_no += 1
    for _ in range(SINGLE_SIZE_REPEATS):
        for size in sizes:
            res = run_child(workload_request(spec, w, ops=ops, sizes=[size], timed=True), timeout=timeout)
            progress.advance()
            if res.get("ok"):
                single[size]["ns"].append(res["elapsed_ns"] / res["ops"])
            else:
                failures.append({"run": run_no, "cause": f"size {size} alone: {res['failure']}"})
            run_no += 1

    counts = dict(zip(sizes, full["counts"])) if full.get("ok") else {}
    sizes_out = []
    for size in sizes:
        r = routes.get(size, {})
        measured, allocs = (_measured_pool(single[size]["counters"]) if single[size]["counters"]
                            else (None, {}))
        ns = statistics.median(single[size]["ns"]) if single[size]["ns"] else None
        sizes_out.append({"size": size, "predicted": r.get("route"), "measured": measured,
                          "count": counts.get(size), "ns_per_op_alone": ns,
                          "ns_per_op_alone_runs": single[size]["ns"], "pool_allocs_alone": allocs,
                          "block_footprint": r.get("footprint"), "usable": r.get("usable")})

    pools = {p: {"count_share": None, "byte_share": None, "time_share": None} for p in POOLS}
    counters = full.get("counters") if full.get("ok") else None
    attributed_ok = all(s["measured"] in POOLS and s["count"] is not None and s["ns_per_op_alone"]
                        for s in sizes_out)
    if counters:
        for p, share in _shares({p: float(v) for p, v in _pool_allocs(counters).items()}).items():
            pools[p]["count_share"] = share
    if attributed_ok:
        by_bytes = {p: 0.0 for p in POOLS}
        by_time = {p: 0.0 for p in POOLS}
        by_count = {p: 0.0 for p in POOLS}
        for s in sizes_out:
            by_bytes[s["measured"]] += s["count"] * s["size"]
            by_time[s["measured"]] += s["count"] * s["ns_per_op_alone"]
            by_count[s["measured"]] += s["count"]
        for p in POOLS:
            pools[p]["byte_share"] = _shares(by_bytes)[p]
            pools[p]["time_share"] = _shares(by_time)[p]
            pools[p]["count_share_by_size"] = _shares(by_count)[p]

    time_model = None
    if attributed_ok and full.get("ok") and full_timed.get("ok"):
        modelled = sum(s["count"] * s["ns_per_op_alone"] for s in sizes_out) / full["ops"]
        actual = full_timed["elapsed_ns"] / full_timed["ops"]
        time_model = {"ns_per_op_modelled": modelled, "ns_per_op_measured": actual,
                      "relative_error": modelled / actual - 1,
                      "note": "time shares assume each size costs in the mix what it costs alone"}

    thresholds = {k: config.get(k) for k in ("tiny_max", "mid_min", "mid_max")}
    out = {"workload": w.name, "variant": spec.name, "ops": ops, "thresholds": thresholds,
           "sizes": sizes_out, "pools": pools, "counters": counters or {},
           "time_model": time_model, "config": config, "failures": failures,
           "source_hash": spec.source_hash, "reused": False}
    return out, full, failures
