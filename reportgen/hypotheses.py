"""Analyse stage: a phase's results as an addressable view, and the hypothesis checks over it.

`view(spec, phase_results)` turns the measurement JSON (the `--json` shapes of
bench, route and header-cost) into nested dicts addressed by dotted paths:

  bench.<workload>.<allocator>.{median, ci95, best3of5, samples, cv, n, counters.<name>}
  bench.<workload>.comparisons.<allocator>.{ratio, ci95, speedup, speedup_ci95, p_value, verdict, mde}
        (that allocator against the bench's baseline, the phase's baseline)
  bench.<workload>.contrasts.<a>.<b>.{speedup, speedup_ci95, ...}
        (a against b from the same rounds, for the pairs the checks read: no verdict, an interval)
  sweep.<workload>.<param>.<value>.{<allocator>.*, comparisons.<allocator>.*}  (a phase's sweeps: each
        point as a bench of the baseline and the candidate)
  programs.<workload>.{<allocator>.*, comparisons.<allocator>.*}  (a phase's programs: a bench of
        runs/s, with memory.* and counters.* per allocator)
  route.<workload>.<variant>.{thresholds.*, sizes.<size>.{predicted, measured, count}, pools.<pool>.*, counters.*}
  header_cost.{caches.*, derived.{delta_ns_median, delta_ns_min, delta_ns_max, rel_median, header_bytes.<variant>}}
  counts.<workload>.<allocator>.{instructions_per_op, per_op.*, per_free.*, groups.*}, counts.<workload>.comparisons.*
  coverage.<workload>.<variant>.{executed, never, functions.<fn>.{lines, executed, executions}, markers.<marker>.*}
  claim.{status, measured, measured_ci95, low, high}          (stats.claim_check)
  impact.{variant, share_count, share_bytes, share_time, ceiling_low, ceiling_high, overall_low, overall_high,
         count_overall_low, count_overall_high, time_model_error, time_share_withheld}
        (the claim pool's shares of the baseline's routing: the whole-pool ceiling from the time share,
        given only where the routing's time model explains the mixed run, kinds.route)
  impact.mechanism.{ran, instructions, share_low, share_high, ceiling, required_share, claim_possible, ...}
        (the ceiling of the code the claim credits, from the baseline's exact counts: reportgen.ceilings)

`evaluate(check, view)` is three-valued: True, False, or None when a metric is
missing (not measured, or the measurement failed). A hypothesis is confirmed
when its check is True, rejected when False, inconclusive when None or when its
`inconclusive_when` check is True. The evidence is the list of leaf comparisons
with the measured values, so a reader sees exactly which number decided.

Measured quantities that come with an interval (metrics.INTERVAL_OF: a speed-up, a
ratio, a median, ...) are judged on that interval, without the author asking:
`speedup > 0` holds only if the whole 95% CI is above 0, fails only if the
whole CI is at or below 0, and cannot be decided otherwise; `within [lo, hi]`
holds if the CI lies inside, fails if it lies wholly outside.  Exact values
(counters, routes, sizes) compare exactly.  Checks on noisy values without an
interval (metrics.NOISY_LEAVES) are refused when the spec is loaded (phases.py).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from . import stats
from .ceilings import mechanism_ceiling
from .measuring.kinds.route import TIME_MODEL_TOLERANCE, checked_time_shares  # noqa: F401  (pages read the tolerance here)
from .metrics import interval_key
from .phases import All, Any_, Compare, Hypothesis, Not, Phase


class _Missing:
    def __repr__(self):
        return "not measured"


MISSING = _Missing()



def _by(items, key) -> dict:
    return {str(it.get(key)): it for it in (items or []) if isinstance(it, dict)}


def _nearest_working_set(rows: list[dict], blocks: int | None) -> dict | None:
    """The kernel's row whose number of blocks is nearest (on a log scale) to a workload's live blocks:
    the kernel spaces its blocks one cache line apart, so blocks, not bytes, say which row is the
    benchmark's (a working set of 256 blocks is the 16 KiB row)."""
    rows = [r for r in rows if isinstance(r.get("blocks"), int) and r["blocks"] > 0]
    if not rows or not blocks:
        return None
    return min(rows, key=lambda r: abs(math.log(r["blocks"] / blocks)))


def _derive_header_cost(hc: dict, benchmark_blocks: int | None = None, workload: str | None = None) -> dict:
    out: dict[str, Any] = {}
    rows = [r for r in hc.get("time") or [] if r.get("ns_with_header") is not None
            and r.get("ns_without_header") is not None]
    if rows:
        deltas = [r["ns_with_header"] - r["ns_without_header"] for r in rows]
        rel = [(r["ns_with_header"] - r["ns_without_header"]) / r["ns_without_header"]
               for r in rows if r["ns_without_header"]]
        out.update(delta_ns_median=statistics.median(deltas), delta_ns_min=min(deltas),
                   delta_ns_max=max(deltas), rel_median=statistics.median(rel) if rel else None,
                   positive_sets=sum(d > 0 for d in deltas), working_sets=len(deltas),
                   delta_ns_ci95=stats.median_ci(deltas))
        near = _nearest_working_set(rows, benchmark_blocks)
        if near is not None:
            ind = near.get("independent") or {}
            out["at_benchmark"] = {
                "workload": workload, "blocks": near["blocks"], "working_set_bytes": near.get("working_set_bytes"),
                "dependent_delta_ns": near["ns_with_header"] - near["ns_without_header"],
                "independent_delta_ns": (ind["with"] - ind["without"]) if ind.get("with") is not None
                and ind.get("without") is not None else None}
    hb: dict[str, Any] = {}
    for r in hc.get("space") or []:
        v = r.get("variant")
        if v is not None and r.get("header_bytes") is not None:
            hb[v] = max(hb.get(v, 0), r["header_bytes"])
    out["header_bytes"] = hb
    return out


def _counts_view(counts) -> dict:
    """counts.<workload>.<allocator>.{instructions_per_op, per_op.*, per_free.*, groups.<group>.per_op.*},
    counts.<workload>.comparisons.<candidate>.delta_*"""
    out: dict[str, Any] = {}
    for wl, c in (counts or {}).items():
        if isinstance(c, dict):
            out[wl] = {**_by(c.get("results"), "variant"), "comparisons": _by(c.get("comparisons"), "candidate")}
    return out


def _coverage_view(cov) -> dict:
    """coverage.<workload>.<variant>.{executed, never, compiled_out, functions.<fn>.{lines, executed,
    executions}, markers.<marker>.*}"""
    out: dict[str, Any] = {}
    for run in (cov or {}).get("runs") or [] if isinstance(cov, dict) else []:
        out.setdefault(run.get("workload"), {})[run.get("variant")] = run
    return out


def _gap_workload(name: str):
    """The workload when it keeps a working set of live blocks (the gap driver), else None."""
    from .measuring.workloads import WORKLOADS
    wl = WORKLOADS.get(name)
    return wl if wl is not None and wl.slots else None


def _bench_entry(b: dict) -> dict:
    """A bench's shape addressable by allocator: <allocator>.*, comparisons.<allocator>.*,
    contrasts.<a>.<b>.*."""
    entry = {k: val for k, val in b.items() if k not in ("results", "comparisons", "contrasts")}
    for r in b.get("results") or []:
        entry[r.get("variant")] = r
    entry["comparisons"] = {c.get("candidate"): c for c in b.get("comparisons") or []}
    entry["contrasts"] = {}
    for c in b.get("contrasts") or []:
        entry["contrasts"].setdefault(c.get("candidate"), {})[c.get("baseline")] = c
    return entry


def view(spec: Phase, results: dict) -> dict:
    """The addressable view of one phase's results (see the module doc)."""
    v: dict[str, Any] = {"bench": {}, "route": {}, "header_cost": {}, "claim": {}, "impact": {},
                         "counts": _counts_view(results.get("counts")), "coverage": _coverage_view(results.get("coverage"))}
    # offsets: the placement experiment; programs: the phase's programs; both shaped like the benches
    for root in ("bench", "offsets", "programs"):
        v.setdefault(root, {})
        for wl, b in (results.get(root) or {}).items():
            if isinstance(b, dict):
                v[root][wl] = _bench_entry(b)
    v["sweep"] = {}                          # sweep.<workload>.<param>.<value>: each point as a bench
    for wl, per in (results.get("sweep") or {}).items():
        for param, sw in (per or {}).items():
            if isinstance(sw, dict):
                v["sweep"].setdefault(wl, {})[param] = {str(p.get("value")): _bench_entry(p)
                                                        for p in sw.get("points") or []}
    for wl, per in (results.get("route") or {}).items():
        v["route"][wl] = {}
        for variant, r in (per or {}).items():
            if isinstance(r, dict) and isinstance(r.get("pools"), dict):
                r = checked_time_shares(r)       # a time share only where its time model holds
            if isinstance(r, dict):
                v["route"][wl][variant] = {**r, "sizes": _by(r.get("sizes"), "size")}
    hc = results.get("header_cost")
    if isinstance(hc, dict):
        wl = _gap_workload(spec.headline_workload)
        v["header_cost"] = {**hc, "derived": _derive_header_cost(hc, wl.slots if wl else None,
                                                                 spec.headline_workload if wl else None),
                            "space": {var: _by([r for r in hc.get("space") or [] if r.get("variant") == var],
                                               "request")
                                      for var in {r.get("variant") for r in hc.get("space") or []}}}
    if spec.claim and spec.candidate:
        cmp = v["bench"].get(spec.claim.workload, {}).get("comparisons", {}).get(spec.candidate)
        if cmp and cmp.get("speedup_ci95") is None and cmp.get("ci95"):
            # bench JSON from an older engine: derive the speed-up CI from the ratio CI
            cmp = {**cmp, "speedup": cmp["ratio"] - 1, "speedup_ci95": [cmp["ci95"][0] - 1, cmp["ci95"][1] - 1]}
        if cmp:
            v["claim"] = stats.claim_check(spec.claim.low, spec.claim.high, cmp)
            v["claim"]["low"], v["claim"]["high"] = spec.claim.low, spec.claim.high
        # the pool's share of the *baseline's* time: what the change could take away from
        r = v["route"].get(spec.claim.workload, {}).get(spec.baseline)
        pool = (r or {}).get("pools", {}).get(spec.claim.pool)
        mechanism = mechanism_ceiling(spec, v["counts"], v["bench"])
        if mechanism:
            v["impact"]["mechanism"] = mechanism
        if pool:
            amd = (r or {}).get("amdahl") or {}
            if amd.get("pool") not in (None, spec.claim.pool):
                amd = {}
            e = amd.get("time_share", pool.get("time_share"))
            e_count = amd.get("count_share", pool.get("count_share"))
            imp = {"pool": spec.claim.pool, "variant": spec.baseline, "share_count": e_count,
                   "share_bytes": pool.get("byte_share"), "share_time": e}
            if mechanism:
                imp["mechanism"] = mechanism
            if e is not None and 0 <= e <= 1:
                rng = stats.amdahl_range(e, spec.claim.low, spec.claim.high)
                imp.update(ceiling_low=rng["ceiling"][0], ceiling_high=rng["ceiling"][1],
                           overall_low=rng["overall"][0], overall_high=rng["overall"][1])
                imp["required_speedup_low"] = stats.amdahl_required_speedup(e, spec.claim.low)
                imp["required_speedup_high"] = stats.amdahl_required_speedup(e, spec.claim.high)
            if e_count is not None and 0 <= e_count <= 1:
                rc = stats.amdahl_range(e_count, spec.claim.low, spec.claim.high)
                imp.update(count_ceiling_low=rc["ceiling"][0], count_ceiling_high=rc["ceiling"][1],
                           count_overall_low=rc["overall"][0], count_overall_high=rc["overall"][1])
            tm = (r or {}).get("time_model") or {}
            err = tm.get("relative_error")
            if isinstance(err, (int, float)) and math.isfinite(err):
                imp["time_model_error"] = err
            # a time share only where the time model explains the mixed run (kinds.route)
            imp["time_share_withheld"] = e is None
            v["impact"] = imp
    return v


def lookup(view_: dict, path: str):
    node: Any = view_
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    if node is None or (isinstance(node, float) and not math.isfinite(node)):
        return MISSING
    return node


def interval_of(view_: dict, path: str):
    """The 95% CI of a measured estimate at `path` ([lo, hi]), None when the path has none,
    MISSING when it should have one and it was not measured."""
    key = interval_key(path)
    if key is None:
        return None
    ci = lookup(view_, f"{path.rpartition('.')[0]}.{key}")
    if ci is MISSING or not (isinstance(ci, (list, tuple)) and len(ci) == 2):
        return MISSING
    return ci


def _as_interval(x):
    if isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(v, (int, float)) for v in x):
        return float(x[0]), float(x[1])
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x), float(x)
    return None


def _apply_interval(op: str, a, b) -> bool | None:
    """Three-valued comparison of an interval with a number or another interval: True when every
    value of the interval satisfies it, False when none does, None when the interval straddles."""
    A, B = _as_interval(a), _as_interval(b)
    if A is None or B is None or not all(math.isfinite(v) or math.isinf(v) for v in (*A, *B)) \
            or any(v != v for v in (*A, *B)):
        return None
    (alo, ahi), (blo, bhi) = A, B
    if op == ">":
        return True if alo > bhi else (False if ahi <= blo else None)
    if op == ">=":
        return True if alo >= bhi else (False if ahi < blo else None)
    if op == "<":
        return True if ahi < blo else (False if alo >= bhi else None)
    if op == "<=":
        return True if ahi <= blo else (False if alo > bhi else None)
    if op == "within":
        return True if blo <= alo and ahi <= bhi else (False if ahi < blo or alo > bhi else None)
    return _apply(op, a, b)


def _apply(op: str, a, b) -> bool | None:
    try:
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "in":
            return a in b
        if op == "not in":
            return a not in b
        if op in ("contains", "excludes"):
            lo, hi = a
            inside = lo <= b <= hi
            return inside if op == "contains" else not inside
        if op == "within":
            return _apply_interval(op, a, b)
    except (TypeError, ValueError):
        return None
    raise ValueError(f"unknown op {op!r}")


def fmt_value(x) -> str:
    if x is MISSING:
        return "not measured"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return ("-" if x < 0 else "") + "inf" if math.isinf(x) else f"{x:.4g}"
    if isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(i, (int, float)) for i in x):
        return f"[{fmt_value(x[0])}, {fmt_value(x[1])}]"
    return str(x)


@dataclass
class Leaf:
    metric: str
    op: str
    expected: Any
    measured: Any
    result: bool | None
    label: str | None = None
    negated: bool = False  # under an odd number of `not`s: a True leaf counts against its check
    interval: bool = False  # judged on the measured value's 95% CI

    def key(self) -> tuple:
        return (self.metric, self.op, repr(self.expected))

    def sentence(self) -> str:
        label = f"{self.label}: " if self.label else ""
        if self.interval:
            mark = {True: "holds over the whole interval", False: "fails over the whole interval",
                    None: ("cannot be decided: the interval straddles the bound"
                           if self.measured is not MISSING else "cannot be decided")}[self.result]
            return (f"{label}`{self.metric}` 95% CI = {fmt_value(self.measured)} "
                    f"(expected {self.op} {fmt_value(self.expected)}): {mark}")
        mark = {True: "holds", False: "does not hold", None: "cannot be decided"}[self.result]
        return (f"{label}`{self.metric}` = {fmt_value(self.measured)} "
                f"(expected {self.op} {fmt_value(self.expected)}): {mark}")


def evaluate(check, view_: dict, leaves: list[Leaf] | None = None, _negated: bool = False) -> bool | None:
    """Kleene three-valued evaluation; appends every leaf to `leaves`."""
    leaves = leaves if leaves is not None else []
    if isinstance(check, Compare):
        a_ci = interval_of(view_, check.metric)
        b_ci = interval_of(view_, check.ref) if check.ref else None
        a = a_ci if a_ci is not None else lookup(view_, check.metric)
        b = (b_ci if b_ci is not None else lookup(view_, check.ref)) if check.ref else check.value
        expected = f"{check.ref} ({fmt_value(b)})" if check.ref else b
        ranged = a_ci is not None or b_ci is not None
        if a is MISSING or b is MISSING:
            res = None
        else:
            res = _apply_interval(check.op, a, b) if ranged else _apply(check.op, a, b)
        leaves.append(Leaf(check.metric, check.op, expected, a, res, check.label, _negated, ranged))
        return res
    if isinstance(check, All):
        rs = [evaluate(c, view_, leaves, _negated) for c in check.all]
        return False if False in rs else (None if None in rs else True)
    if isinstance(check, Any_):
        rs = [evaluate(c, view_, leaves, _negated) for c in check.any]
        return True if True in rs else (None if None in rs else False)
    if isinstance(check, Not):
        r = evaluate(check.not_, view_, leaves, not _negated)
        return None if r is None else not r
    raise TypeError(f"not a check: {check!r}")


def _for(leaf: Leaf) -> bool:
    """The leaf speaks for its check (holds, or fails under a `not`)."""
    return leaf.result is (not leaf.negated)


def _against(leaf: Leaf) -> bool:
    return leaf.result is leaf.negated


@dataclass
class Outcome:
    id: str
    title: str
    statement: str
    status: str  # confirmed | rejected | inconclusive
    reason: str
    evidence: list[str] = field(default_factory=list)
    implication: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


STATUSES = ("confirmed", "rejected", "inconclusive")


def assess(h: Hypothesis, view_: dict) -> Outcome:
    leaves: list[Leaf] = []
    result = evaluate(h.check, view_, leaves)
    guard_leaves: list[Leaf] = []
    guard = evaluate(h.inconclusive_when, view_, guard_leaves) if h.inconclusive_when is not None else False
    evidence = [l.sentence() for l in leaves]
    if guard:
        seen = {l.key() for l in leaves}
        evidence += [l.sentence() for l in guard_leaves if l.key() not in seen]
        status = "inconclusive"
        reason = "the data cannot decide: " + "; ".join(l.sentence() for l in guard_leaves if _for(l))
    elif result is None:
        status = "inconclusive"
        missing = [l.metric for l in leaves if l.result is None and l.measured is MISSING]
        open_ = [l for l in leaves if l.result is None and l.measured is not MISSING]
        parts = []
        if open_:
            parts.append("the measured interval does not decide it: " + "; ".join(l.sentence() for l in open_))
        if missing:
            parts.append("not every number the check needs was measured: " + ", ".join(f"`{m}`" for m in missing))
        reason = "; ".join(parts) or "the check cannot be decided"
    elif result:
        status, reason = "confirmed", "every condition of the check holds"
    else:
        status = "rejected"
        reason = "the check fails on: " + "; ".join(l.sentence() for l in leaves if _against(l))
    for b in h.beside:
        got = lookup(view_, b.metric)
        ci = interval_of(view_, b.metric)
        shown = fmt_value(got) + (f" (95% CI {fmt_value(ci)})" if ci not in (None, MISSING) else "")
        evidence.append(f"beside it, not checked: {b.label + ': ' if b.label else ''}`{b.metric}` = {shown}")
    return Outcome(h.id, h.title, h.statement, status, reason, evidence, h.implication)


def assess_all(spec: Phase, phase_results: dict) -> list[Outcome]:
    v = view(spec, phase_results)
    return [assess(h, v) for h in spec.hypotheses]
