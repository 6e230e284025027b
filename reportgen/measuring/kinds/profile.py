"""`reportgen profile`: a CPU profile of a workload's timed loops per allocator (reportgen.measuring.profile).

Each allocator's timed build runs once under `perf record` (a software clock event,
sampling only inside the timed loops); the result lists the symbols with the most
samples, each with its share and the 95% interval of that share (a count of samples
of a total: stats.share_ci), and the total the tool counted (the sum of every symbol's exact
count).  One record per workload and allocator, current while the variant's sources, the
driver build and the parameters are the same (a profile is a sample: measured again only
when stale or forced).  Unlike the other kinds, a profile that failed stays current too: the
failure is reused (and shown as a failure) until those inputs change or `--force` is given,
so a machine where perf cannot profile a workload is not profiled again at every publish.
"""
from __future__ import annotations

from ...errors import UserError
from ..child import NullProgress, resolve_allocator, workload_request
from ...project import Project
from ...results import ProfileResult
from .base import SingleRecordKind, measure_through_store

# Samples per second of CPU time asked of perf: with the ops below, a default profile holds some
# 2,000 samples or more on every workload here, so a 5% share is resolved to about +-1%.
FREQ = 20_000
TOP = 12               # symbols kept per profile
# Timed ops of a profile, in workload defaults: mt_remote's loop is short (and 6-B leaks every block
# of it, which bounds how long it can be made).
OPS_FACTOR = {"gap": 5, "remote": 8}
METHOD = (f"perf record -e cpu-clock -F {FREQ}, sampling switched on around the timed loops only "
          "(perf --control); each symbol's share of the samples with its 95% Wilson interval")


def profile_ops(workload, quick: bool, ops: int | None = None) -> int:
    return int(ops or workload.ops * (1 if quick else OPS_FACTOR.get(workload.driver, 5)))


class ProfileKind(SingleRecordKind):
    def __init__(self, project: Project, spec, workload, ops: int):
        super().__init__("profile", workload.name, spec.name, {"ops": ops, "freq": FREQ, "event": "cpu-clock"},
                         spec.source_hash, spec.timed_driver_hash, "profile", spec.build_flags)
        self.project, self.spec, self.wl, self.ops = project, spec, workload, ops

    def current_record(self, store):
        """The newest record of this key measured from these sources and this driver build,
        failed or not (SingleRecordKind's, through Store.current, skips failed ones)."""
        for rec in reversed(store.history(self.key)):
            if rec.source_hash == self.source_hash:
                break
        else:
            return None
        if self.payload not in rec.extra:
            return None
        if self.driver_hash is not None and rec.extra.get("driver_hash") != self.driver_hash:
            return None
        return rec

    def current(self, store):
        rec = self.current_record(store)
        return None if rec is None else rec.extra["profile"]

    def measure(self, progress, store, force: bool):
        from .. import profile
        from ... import stats
        res = profile.run(workload_request(self.spec, self.wl, ops=self.ops, timed=True, values=1), FREQ)
        progress.advance()
        if not res.get("ok"):
            return {"variant": self.spec.name, "failures": [{"run": 0, "cause": res["failure"]}]}
        prof = res["profile"]
        total = prof["samples"]
        top = []
        for s in prof["symbols"][:TOP]:
            lo, hi = stats.share_ci(s["samples"], total) if total else (None, None)
            top.append({**s, "share": s["samples"] / total if total else None, "share_ci95": [lo, hi]})
        return {"variant": self.spec.name, "samples": total, "event": profile.EVENT, "freq": FREQ, "ops": self.ops,
                "elapsed_ns": res.get("elapsed_ns"), "symbols": top, "failures": []}

    def records(self, measured) -> list:
        return [self.record(self.project, failures=measured.get("failures") or [],
                            extra={"profile": measured, "unit": "samples"})]

    def result(self, found, reused: bool) -> dict:
        return {**found, "reused": reused}


def run_profile(project: Project, workload: str, variants, *, quick: bool = False, ops: int | None = None,
                store=None, force: bool = False, progress=None) -> dict:
    """The `profile --json` shape (docs/json.md)."""
    from ..profile import check_allowed
    from ..workloads import get_workload

    progress = progress or NullProgress()
    wl = get_workload(workload, drivers_only="profile")
    variants = list(dict.fromkeys(variants))
    if not variants:
        raise UserError("profile needs at least one --variant")
    specs = [resolve_allocator(project, v) for v in variants]
    n = profile_ops(wl, quick, ops)
    kinds = [ProfileKind(project, s, wl, n) for s in specs]
    # perf missing or refused: one line; asked only when something is to be recorded (the probe
    # costs perf record's own second, which a publish with nothing to profile need not pay)
    if force or store is None or any(k.current(store) is None for k in kinds):
        check_allowed()
    progress.start(len(specs), f"profile {workload}")
    rows = [measure_through_store(k, store, force=force, progress=progress) for k in kinds]
    return ProfileResult.shape({"workload": workload, "ops": n, "event": "cpu-clock", "freq": FREQ, "results": rows,
                                "failures": [{"run": r["variant"], "cause": f["cause"]} for r in rows
                                             for f in r.get("failures") or []],
                                "method": METHOD, "reused": all(r.get("reused") for r in rows)})
