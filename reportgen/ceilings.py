"""Analyse stage: the ceiling of a claim per mechanism, from the baseline's exact counts.

A claimed change removes or replaces some code of the baseline (the claim's `mechanism`: source
functions of native/).  Whatever the change does, it cannot give the whole benchmark more than
removing that code outright would: at most 1 / (1 - E) - 1, E the share of the *baseline's* timed
loop spent in it (Amdahl with an infinite local speed-up).  E comes from the exact counts of the
baseline's timed build on the claim's workload (kinds.counts: callgrind, each source line given to
its own function, inlined or not; a call's cost goes to its caller, once):

- E by instructions, and E by callgrind's cycle estimate (instructions + 10 per L1 miss + 100 per
  last-level miss, callgrind_annotate's weights without branch simulation): two cost models of time.
- The models' error: how far the cycle estimate of the whole loop misses the measured time ratio of
  the candidate against the baseline (the bench comparison on the same workload).  The share's
  interval is [min of the two shares / (1 + error), max * (1 + error)].
- Code that ran 0 times in the timed loop has a share of exactly 0 and a ceiling of 0%, whatever any
  model's error: there is nothing to remove.

The claim needs at least E = 1 - 1 / (1 + claimed gain) of the baseline's time in that code (with an
infinite local speed-up; any finite one needs more).
"""
from __future__ import annotations

import re
from typing import Any

L1_MISS_CYCLES = 10
LL_MISS_CYCLES = 100


def _base_name(symbol: str) -> str:
    """callgrind's symbol without its version and recursion marks: pthread_mutex_lock@@GLIBC_2.2.5'2."""
    return re.split(r"[@']", symbol, maxsplit=1)[0]


def _cycles(c: dict) -> float:
    return c.get("instructions", 0) + L1_MISS_CYCLES * c.get("d1_misses", 0) + LL_MISS_CYCLES * c.get("ll_misses", 0)


def code_cost(row: dict, functions: list[str]) -> dict | None:
    """The inclusive cost of `functions` in one counts row: {instructions, cycles_estimate, by_function};
    None when the row has no source attribution (an older record)."""
    attributed = row.get("source_functions")
    if attributed is None:
        return None
    names = set(functions)
    by_fn = {f: {"instructions": 0, "cycles_estimate": 0.0} for f in functions}
    for f in attributed:
        if f.get("function") not in names:
            continue
        parts = [f.get("self") or {}] + [c for callee, c in (f.get("calls") or {}).items()
                                         if _base_name(callee) not in names]   # a callee inside: counted once
        acc = by_fn[f["function"]]
        for c in parts:
            acc["instructions"] += c.get("instructions", 0)
            acc["cycles_estimate"] += _cycles(c)
    return {"instructions": sum(v["instructions"] for v in by_fn.values()),
            "cycles_estimate": sum(v["cycles_estimate"] for v in by_fn.values()),
            "by_function": [{"function": k, **v} for k, v in by_fn.items()]}


def model_error(base_row: dict, cand_row: dict, comparison: dict | None) -> dict | None:
    """How far the cycle estimate's speed-up of candidate over baseline misses the measured one."""
    if not comparison or comparison.get("speedup") is None:
        return None
    b, c = _cycles(base_row.get("total") or {}), _cycles(cand_row.get("total") or {})
    if not b or not c:
        return None
    predicted = b / c - 1
    measured = comparison["speedup"]
    return {"predicted_speedup": predicted, "measured_speedup": measured,
            "measured_ci95": comparison.get("speedup_ci95"),
            "relative_error": abs((1 + predicted) / (1 + measured) - 1)}


def mechanism_ceiling(spec, counts_view: dict, bench_view: dict) -> dict[str, Any] | None:
    """The `impact.mechanism` block of a phase whose claim names a mechanism (module doc), or None."""
    claim = spec.claim
    if claim is None or claim.mechanism is None or not spec.baseline:
        return None
    mech = claim.mechanism
    out: dict[str, Any] = {"title": mech.title, "functions": list(mech.functions), "workload": claim.workload,
                           "variant": spec.baseline,
                           "required_share": 1 - 1 / (1 + claim.low) if claim.low > 0 else None,
                           "required_share_high": 1 - 1 / (1 + claim.high) if claim.high > 0 else None}
    counts = counts_view.get(claim.workload) or {}
    base = counts.get(spec.baseline)
    if not isinstance(base, dict) or not base.get("total"):
        return {**out, "measured": False, "reason": f"needs the exact counts of {spec.baseline} on {claim.workload}"}
    cost = code_cost(base, mech.functions)
    if cost is None:
        return {**out, "measured": False, "reason": "the counts record has no source attribution (measure it again)"}
    total_ir = base["total"].get("instructions") or 0
    total_cy = _cycles(base["total"])
    shares = [cost["instructions"] / total_ir if total_ir else None,
              cost["cycles_estimate"] / total_cy if total_cy else None]
    cand = counts.get(spec.candidate) if spec.candidate else None
    cmp = (bench_view.get(claim.workload) or {}).get("comparisons", {}).get(spec.candidate) if spec.candidate else None
    err = model_error(base, cand, cmp) if isinstance(cand, dict) and cand.get("total") else None
    out.update(measured=True, ran=cost["instructions"] > 0, instructions=cost["instructions"],
               total_instructions=total_ir, instructions_per_op=cost["instructions"] / base["ops"] if base.get("ops") else None,
               by_function=cost["by_function"], share_instructions=shares[0], share_cycles_estimate=shares[1],
               model=err)
    if None in shares:
        return {**out, "reason": "the timed loop has no counted cost"}
    e = err["relative_error"] if err else None
    lo, hi = min(shares), max(shares)
    if e is not None:
        lo, hi = lo / (1 + e), min(1.0, hi * (1 + e))
    out.update(share_low=lo, share_high=hi, model_error=e,
               ceiling=(1 / (1 - hi) - 1) if hi < 1 else None)
    if out["required_share"] is not None:
        out["claim_possible"] = hi >= out["required_share"]
    return out
