"""Plan stage: what each phase needs measured, measured only when missing or stale.

For each phase spec: a bench per workload over baseline + candidate + the
available peers, a route per workload per project variant, and the header
cost when the phase asks for it.  The measurement kinds (reportgen/measuring/kinds/: bench, route,
header_cost) are given a Store, so a measurement whose record is current for
the variant's source hash is read back instead of run again.

A phase's assembled results are kept in the store too, as a record of kind
"phase" keyed by the phase id and the quick flag, with the combined source
hash of the variants it measured.  That record is what `render` reads (no
measuring), and the previous record with another source hash is what the
report's "what changed" section compares against.
"""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from .errors import UserError
from .machine import git_state, machine_id, machine_info
from .phases import Phase
from .project import Project
from .results import PhaseResults
from .store import Store

# --quick: what serves tests and CI. Labelled "quick run" on every page.
QUICK_OPS_FRACTION = 10   # ops = the workload's default / this
# --quick: a few seconds a comparison group; pages say "quick run" and which precision was reached.
QUICK_BUDGET_S = 2.0
QUICK_MIN_SESSIONS = 3    # the fewest a t interval over sessions is taken on (stats.MIN_SESSIONS)
QUICK_MAX_SESSIONS = 6
QUICK_SESSION_ROUNDS = 4
QUICK_LAYOUTS = 3         # the fewest an interval over layouts is taken on (stats.MIN_SESSIONS)
# A program group (plan.program_kind): seconds of sessions in a full run; rounds a session in a quick one.
PROGRAM_BUDGET_S = 20.0
QUICK_PROGRAM_ROUNDS = 1
# The layout A/A: the baseline in this many layouts side by side, for at most this many seconds of sessions.
AA_LAYOUTS = 4
AA_BUDGET_S = 40.0
# The placement experiment (evidence.placement): its groups' budget of sessions.
OFFSETS_BUDGET_S = 40.0
# A phase sweep's point (other than the workload's own value): its group's budget of sessions.
SWEEP_BUDGET_S = 20.0

RESULTS_SCHEMA = 1


@dataclass(frozen=True)
class Need:
    kind: str               # "bench" | "layout_aa" | "offsets" | "route" | "header_cost" | "counts" | "coverage"
    #                         | "profile" | "placement" | "sweep" | "program"
    workload: str | None
    variants: tuple[str, ...]
    param: str | None = None     # a sweep point: the parameter set, and its value
    value: int | None = None

    def label(self) -> str:
        what = {"bench": "bench", "layout_aa": "layout A/A", "route": "route", "header_cost": "header cost",
                "counts": "counts", "coverage": "coverage", "profile": "profile",
                "placement": "placement", "offsets": "bench with block offsets drawn", "sweep": "sweep",
                "program": "program"}[self.kind]
        point = f"{self.param}={self.value}" if self.param else None
        return " ".join(x for x in (what, self.workload, point, ",".join(self.variants)) if x)


# ---- small helpers -----------------------------------------------------------

def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become None (records refuse them), tuples become lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def available_peers(names: list[str], project: Project | None = None) -> tuple[list[str], dict[str, str]]:
    """The phase's peers that can run here: project variants always (they are built), system
    allocators when installed."""
    from .variants import peer_status, project_variants
    declared = project_variants(project)
    ok, missing = [], {}
    for n in names:
        if n in declared:
            ok.append(n)
            continue
        available, _lib, why = peer_status(n)
        if available:
            ok.append(n)
        else:
            missing[n] = why or "not available"
    return ok, missing


def needs(spec: Phase, peers: list[str]) -> list[Need]:
    out: list[Need] = []
    allocators = tuple(v for v in [spec.baseline, spec.candidate, *peers] if v)
    allocators = tuple(dict.fromkeys(allocators))
    for wl in spec.workloads:
        out.append(Need("bench", wl, allocators))
    for name in spec.programs:          # real and stress programs: the same allocators, run as programs
        out.append(Need("program", name, allocators))
    if spec.baseline:
        # the baseline against itself in other layouts, on the headline workload: the size of an effect
        # that placement alone makes here, the floor a verdict of this page must clear
        out.append(Need("layout_aa", spec.headline_workload, (spec.baseline,)))
    for wl in spec.workloads:
        for v in spec.project_variants:
            out.append(Need("route", wl, (v,)))
    if spec.header_cost:
        out.append(Need("header_cost", None, tuple(spec.project_variants)))
    out += evidence_needs(spec, allocators)
    out += sweep_needs(spec)
    return out


def sweep_needs(spec: Phase) -> list[Need]:
    """A comparison group per swept value of the baseline and the candidate; the workload's own value
    is the phase's bench of it (assemble takes that point from there)."""
    from .measuring.workloads import WORKLOADS
    out = []
    for sw in spec.sweeps:
        own = getattr(WORKLOADS.get(sw.workload), sw.param, None)
        out += [Need("sweep", sw.workload, tuple(spec.project_variants), sw.param, v)
                for v in sw.values if v != own]
    return out


def evidence_needs(spec: Phase, allocators: tuple[str, ...]) -> list[Need]:
    """Exact counts per workload (every allocator of the benches) and change coverage, when asked."""
    ev = spec.evidence
    if ev is None:
        return []
    out = [Need("counts", wl, allocators) for wl in ev.counts]
    out += [Need("profile", wl, tuple(spec.project_variants)) for wl in ev.profile]
    from .variants import PEERS
    hak = tuple(v for v in allocators if v not in PEERS)     # system peers' own metadata is not modelled
    out += [Need("placement", wl, hak) for wl in ev.placement]
    # the placement experiment: the same benches with hak's Mid chunk and heap offsets drawn too
    out += [Need("offsets", wl, hak) for wl in ev.placement if len(hak) > 1]
    if ev.coverage:
        out.append(Need("coverage", spec.id, tuple(spec.project_variants)))
    return out


def variant_hashes(project: Project, names) -> dict[str, str | None]:
    from .variants import project_variants
    declared = project_variants(project)
    out: dict[str, str | None] = {}
    for n in names:
        if n in declared:
            try:
                from .build import source_hash
                out[n] = source_hash(project, declared[n])
            except UserError:
                out[n] = None
    return out


def combined_hash(hashes: dict[str, str | None]) -> str:
    text = ";".join(f"{k}={v}" for k, v in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def quick_ops(workload: str) -> int | None:
    """A quick run's ops of a driver loop (None for a program: one run of it is one sample)."""
    from .measuring.workloads import get_workload
    w = get_workload(workload)
    return None if w.is_program else max(1000, w.ops // QUICK_OPS_FRACTION)


# ---- measuring -----------------------------------------------------------------

def sampling_for(spec: Phase | None, quick: bool):
    """The stopping rule of a phase's comparison groups: the spec's `sampling:` over the defaults."""
    from dataclasses import replace

    from .measuring.kinds.bench import Sampling
    base = Sampling(budget_s=QUICK_BUDGET_S, min_sessions=QUICK_MIN_SESSIONS, max_sessions=QUICK_MAX_SESSIONS,
                    session_rounds=QUICK_SESSION_ROUNDS, layouts=QUICK_LAYOUTS) if quick else Sampling()
    if spec is not None and spec.sampling is not None and not quick:
        base = replace(base, **{k: v for k, v in spec.sampling.model_dump().items() if v is not None})
    return base.check()


def bench_contrasts(spec: Phase | None, need: "Need") -> list[tuple[str, str]]:
    if spec is None or need.kind != "bench":
        return []
    from .phases import contrasts_of
    return contrasts_of(spec, need.workload)


def bench_roles(spec: Phase | None, workload: str, sampling) -> tuple[list[str] | None, dict[str, float]]:
    if spec is None:
        return None, {}
    from .phases import comparison_targets
    return comparison_targets(spec, workload, sampling.precision)


def forced(force, kind: str) -> bool:
    """Whether `force` (True: every kind; a collection: those kinds) measures `kind` again."""
    return bool(force) if isinstance(force, bool) or force is None else kind in force


def measure_benches(project: Project, groups: list[tuple], *, quick: bool, force, store,
                    progress=None) -> dict:
    """key -> the `bench --json` result (or the exception that ended it) of every (spec, need) group,
    measured together with their sessions interleaved (kinds.bench.run_interleaved)."""
    from dataclasses import replace

    from .measuring.kinds.bench import bench_kind, run_interleaved
    kinds, keys, out = [], [], {}
    for key, (spec, need) in groups:
        sampling = sampling_for(spec, quick)
        primary, tighter = bench_roles(spec, need.workload, sampling)
        try:
            if need.kind == "layout_aa":
                kinds.append(layout_aa_kind(project, need, sampling, quick))
            elif need.kind == "sweep":
                kinds.append(sweep_point_kind(project, spec, need, sampling, quick))
            elif need.kind == "program":
                kinds.append(program_kind(project, spec, need, sampling, quick))
            elif need.kind == "offsets":
                kinds.append(bench_kind(project, need.workload, list(need.variants), sampling=replace(
                    sampling, layout_heap=True, budget_s=min(sampling.budget_s, OFFSETS_BUDGET_S)),
                    ops=quick_ops(need.workload) if quick else None))
            else:
                kinds.append(bench_kind(project, need.workload, list(need.variants), sampling=sampling,
                                        primary=primary, tighter=tighter, contrasts=bench_contrasts(spec, need),
                                        ops=quick_ops(need.workload) if quick else None))
            keys.append(key)
        except Exception as exc:
            out[key] = exc
    need_of = {key: need for key, (_spec, need) in groups}
    for key, res in zip(keys, run_interleaved(kinds, store, force=[forced(force, need_of[k].kind) for k in keys],
                                              progress=progress)):
        out[key] = res
    return out


def sweep_point_kind(project: Project, spec: Phase, need: Need, sampling, quick: bool):
    """One point of a phase's sweep: its baseline and candidate, the candidate judged, in at most
    SWEEP_BUDGET_S seconds of sessions (a sweep adds points, not minutes each)."""
    from dataclasses import replace

    from .measuring.kinds.sweep import point_kind
    from .measuring.workloads import get_workload
    w = get_workload(need.workload)
    kw = {"ops": quick_ops(need.workload)} if quick and need.param != "ops" else {}
    return point_kind(project, w, need.param, need.value, list(need.variants),
                      sampling=replace(sampling, budget_s=min(sampling.budget_s, SWEEP_BUDGET_S)),
                      primary=[spec.candidate], **kw)


def program_kind(project: Project, spec: Phase, need: Need, sampling, quick: bool):
    """A phase's program group: every allocator of its benches in one layout (a program runs under the
    preload builds, which layouts do not relink), for at most PROGRAM_BUDGET_S seconds of sessions; a
    quick run takes the baseline and the candidate only, QUICK_PROGRAM_ROUNDS rounds a session."""
    from dataclasses import replace

    from .measuring.kinds.bench import bench_kind
    variants = list(need.variants[:2]) if quick else list(need.variants)
    s = replace(sampling, layouts=1, budget_s=min(sampling.budget_s, PROGRAM_BUDGET_S),
                **({"session_rounds": QUICK_PROGRAM_ROUNDS} if quick else {}))
    primary, tighter = bench_roles(spec, need.workload, s)
    return bench_kind(project, need.workload, variants, sampling=s, primary=primary, tighter=tighter)


def layout_aa_kind(project: Project, need: Need, sampling, quick: bool):
    """The layout A/A group of `need`: its variant under AA_LAYOUTS fixed layouts, each compared with the
    first (kinds.bench with the layout factor off: each side keeps its one layout in every session)."""
    from dataclasses import replace

    from .measuring.kinds.bench import bench_kind
    from .measuring.layouts.builds import aa_specs
    specs = aa_specs(project, need.variants[0], QUICK_LAYOUTS if quick else AA_LAYOUTS)
    return bench_kind(project, need.workload, specs, sampling=replace(sampling, layouts=1, budget_s=min(
        sampling.budget_s, AA_BUDGET_S)), ops=quick_ops(need.workload) if quick else None)


def measure_need(project: Project, need: Need, *, quick: bool, force: bool, store, spec: Phase | None = None,
                 progress=None) -> dict:
    """One measurement through the engine (which reuses current records in the store).

    `progress` follows the engine's protocol: start(total, description), advance(n).
    """
    if need.kind == "bench":
        from .measuring.kinds.bench import run_bench
        sampling = sampling_for(spec, quick)
        primary, tighter = bench_roles(spec, need.workload, sampling)
        return run_bench(project, need.workload, list(need.variants), sampling=sampling, primary=primary,
                         contrasts=bench_contrasts(spec, need),
                         tighter=tighter, ops=quick_ops(need.workload) if quick else None, store=store,
                         force=force, progress=progress)
    if need.kind == "route":
        from .measuring.kinds.route import run_route
        extra = {}
        if spec is not None and spec.claim is not None:
            # the engine's Amdahl block, computed from the routing's shares for this phase's claim
            # (the claim is not part of the measurement: editing it measures nothing again)
            extra = {"claim": (spec.claim.low, spec.claim.high), "claim_pool": spec.claim.pool}
        return run_route(project, need.workload, need.variants[0],
                         ops=quick_ops(need.workload) if quick else None, store=store, force=force,
                         progress=progress, **extra)
    if need.kind == "header_cost":
        from .measuring.kinds.header_cost import run_header_cost
        return run_header_cost(project, variants=list(need.variants), quick=quick, store=store, force=force,
                               progress=progress)
    if need.kind == "counts":
        from .measuring.kinds.counts import run_counts
        # --quick: the phase's own variants only (callgrind is slow); a full run counts every allocator
        variants = [v for v in need.variants if not quick or spec is None or v in spec.project_variants]
        return run_counts(project, need.workload, variants, quick=quick, store=store, force=force,
                          progress=progress)
    if need.kind == "profile":
        from .measuring.kinds.profile import run_profile
        return run_profile(project, need.workload, list(need.variants), quick=quick, store=store, force=force,
                           progress=progress)
    if need.kind == "placement":
        from .measuring.kinds.placement import run_placement
        return run_placement(project, need.workload, list(need.variants), store=store, force=force,
                             progress=progress)
    if need.kind == "coverage":
        from .measuring.kinds.coverage import run_coverage
        return run_coverage(project, need.workload, spec.workloads if spec else None, quick=quick, store=store,
                            force=force, progress=progress)
    raise ValueError(need.kind)


def assemble(spec: Phase, measured: dict[Need, dict], failures: list[dict], unavailable: dict[str, str],
             hashes: dict, git: dict, quick: bool) -> dict:
    """The phase's results: the engine's JSON placed by workload and variant (plain data)."""
    res = PhaseResults(phase=spec.id, quick=quick, failures=failures, unavailable=unavailable,
                       provenance={"source_hashes": hashes, "git": git,
                                   "assembled": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
                       ).dump()
    for need, data in measured.items():
        if need.kind == "bench":
            res["bench"][need.workload] = copy.deepcopy(data)   # shared between phases: adjusted per phase
        elif need.kind == "layout_aa":
            res["layout_aa"] = copy.deepcopy(data)
        elif need.kind == "placement":
            from .measuring.kinds.placement import compact
            res["placement"][need.workload] = compact(data)
        elif need.kind == "offsets":
            res["offsets"][need.workload] = copy.deepcopy(data)
        elif need.kind == "sweep":
            continue        # placed below, with the point the phase's bench gives
        elif need.kind == "program":
            res["programs"][need.workload] = copy.deepcopy(data)
        elif need.kind == "route":
            from .measuring.kinds.route import checked_time_shares
            res["route"].setdefault(need.workload, {})[need.variants[0]] = checked_time_shares(data)
        elif need.kind == "counts":
            res["counts"][need.workload] = data
        elif need.kind == "coverage":
            res["coverage"] = data
        elif need.kind == "profile":
            res["profile"][need.workload] = data
        else:
            res["header_cost"] = data
    adjust_phase_family(res)
    res["sweep"] = assemble_sweeps(spec, measured, res["bench"])
    return _clean(res)


def assemble_sweeps(spec: Phase, measured: dict, benches: dict) -> dict:
    """workload -> param -> the sweep's shape (kinds.sweep.sweep_shape): each value's group, the workload's
    own value from the phase's bench (its baseline and candidate), Holm over the sweep's points."""
    from .measuring.kinds.sweep import sweep_shape
    from .measuring.workloads import WORKLOADS
    out: dict = {}
    for sw in spec.sweeps:
        w = WORKLOADS.get(sw.workload)
        own = getattr(w, sw.param, None)
        points, values, failures = [], [], []
        for v in sw.values:
            if v == own:
                b = benches.get(sw.workload)
                data = _only(b, spec.project_variants) if isinstance(b, dict) else None
            else:
                data = next((d for n, d in measured.items() if n.kind == "sweep" and n.workload == sw.workload
                             and n.param == sw.param and n.value == v), None)
                data = copy.deepcopy(data) if isinstance(data, dict) else None
            if data is None:
                failures.append({"value": v, "cause": "not measured (see the phase's failures)"})
                continue
            if v == own:
                data["from_bench"] = True
            points.append(data)
            values.append(v)
        if w is None or not points:
            continue
        shape = sweep_shape(w, sw.param, values, points)
        for p, d in zip(shape["points"], points):
            p["from_bench"] = bool(d.get("from_bench"))
        shape["failures"] = failures
        out.setdefault(sw.workload, {})[sw.param] = shape
    return out


def _only(bench: dict, names) -> dict:
    """A copy of a bench's shape with only `names`' rows and the comparisons among them (a sweep's point)."""
    b = copy.deepcopy(bench)
    b["results"] = [r for r in b.get("results") or [] if r.get("variant") in names]
    b["comparisons"] = [c for c in b.get("comparisons") or [] if c.get("candidate") in names
                        and c.get("baseline") in names]
    b["contrasts"] = []
    return b


def adjust_phase_family(phase_res: dict) -> None:
    """Holm over every primary comparison of the phase (all its workloads): a page that makes
    several judged comparisons keeps its family-wise error at 5%."""
    from .measuring.kinds.bench import adjust_family
    adjust_family([c for b in (phase_res.get("bench") or {}).values() if isinstance(b, dict)
                   for c in b.get("comparisons") or []])
    # the programs are a family of their own (as a sweep's points are): the page counts how many
    # carry the headline's verdict over, each verdict held with the others at 5%
    adjust_family([c for b in (phase_res.get("programs") or {}).values() if isinstance(b, dict)
                   for c in b.get("comparisons") or []])


def _phase_key(spec: Phase, quick: bool) -> tuple[str, dict]:
    return spec.id, {"quick": bool(quick)}


# How this run came by its results (measured now or read back, when assembled, at which
# commit), as opposed to what was measured: left out when deciding whether anything changed.
_BOOKKEEPING = frozenset({"reused", "measured_now", "provenance"})


def substance(obj: Any) -> Any:
    """`obj` without the per-run bookkeeping (_BOOKKEEPING keys at any depth)."""
    if isinstance(obj, dict):
        return {k: substance(v) for k, v in obj.items() if k not in _BOOKKEEPING}
    if isinstance(obj, list):
        return [substance(v) for v in obj]
    return obj


def save_phase(store, spec: Phase, results: dict, source_hash: str, environment: dict) -> bool:
    """Keep the phase's assembled results unless the last record already says the same.

    Returns whether a new record was written (a publish with nothing changed writes none)."""
    from .store import Record
    pid, params = _phase_key(spec, results.get("quick", False))
    new = Record(kind="phase", allocator=pid, params=params, source_hash=source_hash,
                 environment=_clean(environment), extra={"results": results})
    last = store.latest(new.key)
    if last is not None and last.source_hash == source_hash and \
            substance(last.extra.get("results", {})) == substance(new.extra["results"]):
        return False
    store.put(new)
    return True


def load_phase_history(store, spec: Phase, quick: bool) -> list:
    from .store import key_for
    pid, params = _phase_key(spec, quick)
    return store.history(key_for("phase", None, pid, params))


ProgressFn = Callable[[str, int, int], None]


class _Sub:
    """The engine's progress protocol (start/advance), forwarded to a callback of ours."""

    def __init__(self, fn):
        self.fn = fn

    def start(self, total: int, description: str) -> None:
        if self.fn:
            self.fn(("start", total, description))

    def advance(self, n: int = 1) -> None:
        if self.fn:
            self.fn(("advance", n, None))


def build_all(project: Project, plans, progress: ProgressFn | None = None) -> None:
    """The build stage: every library the plans need (each allocator's driver, and with it a
    project variant's own library) compiled, or found in the cache, before anything is measured.

    So a missing compiler or a compile error stops the job here, as one line and exit 2
    (UserError), with no record written and no page touched; a crash while measuring is
    different: a recorded failure on the page, and the other measurements go on.
    """
    from .measuring.child import resolve_allocator

    names = list(dict.fromkeys(v for _spec, phase_needs, _u in plans for need in phase_needs
                               for v in need.variants))
    for i, name in enumerate(names):
        if progress:
            progress(f"build {name}", i, len(names))
        resolve_allocator(project, name)


def plan_and_measure(project: Project, phases: list[Phase], quick: bool = False, force=False,
                     progress: ProgressFn | None = None, sub_progress=None, store: Store | None = None) -> dict:
    """Measure what the phases need (missing or stale only, unless forced: `force` True for every kind
    of measurement, or a collection of kinds.KIND_NAMES) and return the results dict.

    progress(message, done, total) is called per measurement; sub_progress(event)
    receives the engine's start/advance events within one measurement.  `store`:
    the results store (default: this project's, for this machine).
    """
    plans = []
    for spec in phases:
        peers, unavailable = available_peers(spec.peers, project)
        plans.append((spec, needs(spec, peers), unavailable))
    build_all(project, plans, progress)
    store = store if store is not None else Store.for_project(project, machine_id())
    git = git_state(project)
    info = machine_info()
    total = sum(len(n) for _, n, _ in plans)
    done = 0
    cache: dict[tuple, dict] = {}  # one measurement shared by phases that need the same thing

    def key_of(spec, need):
        # a route's Amdahl block depends on the phase's claim (the measurement does not)
        claim = (spec.claim.low, spec.claim.high, spec.claim.pool) if need.kind == "route" and spec.claim \
            else None
        # a bench's roles are its phase's; the layout A/A and the placement experiment judge their own
        roles = json.dumps(bench_roles(spec, need.workload, sampling_for(spec, quick))) \
            if need.kind in ("bench", "program") else spec.candidate if need.kind == "sweep" else None
        return (need, quick, claim, roles, json.dumps(sampling_for(spec, quick).__dict__))

    # Every comparison group first, their sessions spread in time among each other (an exception is
    # kept as that group's result and recorded below as its failure, like any measurement's)
    benches = {}
    for spec, phase_needs, _u in plans:
        for need in phase_needs:
            if need.kind in ("bench", "layout_aa", "offsets", "sweep", "program"):
                benches.setdefault(key_of(spec, need), (spec, need))
    if benches:
        if progress:
            progress(f"benchmarks: {len(benches)} comparison groups, sessions interleaved", done, total)
        cache.update(measure_benches(project, list(benches.items()), quick=quick, force=force, store=store,
                                     progress=_Sub(sub_progress)))
    results = new_results(quick, info, git)
    for spec, phase_needs, unavailable in plans:
        measured, failures = {}, []
        for need in phase_needs:
            if progress:
                progress(f"{spec.id}: {need.label()}", done, total)
            key = key_of(spec, need)
            try:
                if key not in cache:
                    cache[key] = measure_need(project, need, quick=quick, force=forced(force, need.kind), store=store,
                                              spec=spec,
                                              progress=_Sub(sub_progress))
                if isinstance(cache[key], Exception):
                    raise cache[key]
                measured[need] = cache[key]
            except KeyboardInterrupt:
                raise
            except UserError as exc:
                failures.append({"measurement": need.label(), "error": str(exc), "detail": exc.detail})
            except Exception as exc:  # a crashing measurement is a recorded failure, not a dead pipeline
                failures.append({"measurement": need.label(), "error": f"{type(exc).__name__}: {exc}"})
            done += 1
        hashes = variant_hashes(project, spec.project_variants)
        phase_res = assemble(spec, measured, failures, unavailable, hashes, git, quick)
        save_phase(store, spec, phase_res, combined_hash(hashes), {"machine": info, "git": git})
        results["phases"][spec.id] = phase_res
    if progress:
        progress("measured", total, total)
    attach_history(results, store, phases, quick)
    return results


def new_results(quick: bool, info: dict, git: dict) -> dict:
    return {"schema": RESULTS_SCHEMA, "quick": quick, "machine": _clean(info), "git": git,
            "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "phases": {}, "previous": {}}


def attach_history(results: dict, store, phases: list[Phase], quick: bool) -> None:
    """For each phase: the newest earlier record measured from other sources ("what changed")."""
    for spec in phases:
        hist = load_phase_history(store, spec, quick)
        if not hist:
            continue
        current = hist[-1]
        for rec in reversed(hist[:-1]):
            if rec.source_hash != current.source_hash:
                results["previous"][spec.id] = {"results": rec.extra.get("results", {}),
                                                "source_hash": rec.source_hash,
                                                "created": rec.created.isoformat(timespec="seconds")}
                break


def collect(project: Project, phases: list[Phase], quick: bool | None = None,
            store: Store | None = None) -> dict:
    """The results of the last `run`, read from the store (no measuring).

    quick=None: the full-run record when there is one, else the quick one.
    """
    store = store if store is not None else Store.for_project(project, machine_id())
    results = None
    for spec in phases:
        modes = [quick] if quick is not None else [False, True]
        for q in modes:
            hist = load_phase_history(store, spec, q)
            if hist:
                rec = hist[-1]
                if results is None:
                    env = rec.environment or {}
                    results = new_results(q, env.get("machine") or machine_info(), env.get("git") or {})
                results["phases"][spec.id] = rec.extra.get("results", {})
                results["quick"] = results["quick"] or q
                break
    if results is None:
        raise UserError(f"no measured results in {project.results_dir} for machine {machine_id()!r}: "
                        "run `reportgen run` (or `reportgen publish`) first")
    attach_history(results, store, phases, results["quick"])
    return results
