"""A phase's programs on its page: each program's time and memory per allocator, the candidate against
the baseline with its interval, and whether the micro-benchmark's verdict carries over to it.

Plain data for templates/phase.md.j2 from the phase's results (`programs`: workload -> the `bench
--json` shape of that program's group).  A program listed by the phase and not measured is listed
with the reason the run gives (a failed or unavailable measurement), never dropped.
"""
from __future__ import annotations

# A verdict's side: +1 faster, -1 slower, 0 nothing decided (no change, underpowered, not judged).
_SIDE = {"faster": 1, "slower": -1}


def _side(cmp: dict | None) -> int:
    if not cmp or cmp.get("underpowered") or cmp.get("failed"):
        return 0
    return _SIDE.get(cmp.get("verdict") or "", 0)


def carries_over(headline: dict | None, program: dict | None) -> tuple[str, str]:
    """(short label, sentence) for whether the headline comparison's verdict holds on a program."""
    h, p = _side(headline), _side(program)
    if program is None:
        return "not compared", "no comparison of the candidate on this program"
    if program.get("failed"):
        return "failed", f"no verdict: {program['failed']}"
    if headline is None or headline.get("failed") or not headline.get("verdict"):
        return "no headline", "the micro-benchmark's comparison has no verdict"
    word = {1: "faster", -1: "slower"}
    if h and p == h:
        return "carries over", f"{word[p]} here too"
    if h and p == -h:
        return "reverses", f"{word[p]} here, {word[h]} on the micro-benchmark"
    if h:
        return "does not carry over", f"no decided change here, {word[h]} on the micro-benchmark"
    if p:
        return "new here", f"{word[p]} here, where the micro-benchmark decided no change"
    return "neither decides", "no decided change here or on the micro-benchmark"


def page_rows(spec, phase_res: dict, describe) -> dict:
    """{"programs": [...], "not_measured": [...], "summary": {label: count}} for the page; `describe`
    gives a workload's declared description (or "")."""
    headline_b = (phase_res.get("bench") or {}).get(spec.headline_workload) or {}
    headline = next((c for c in headline_b.get("comparisons") or [] if c.get("candidate") == spec.candidate), None)
    failures = {}           # a measurement that could not run at all: "program <name> <allocators>"
    for f in phase_res.get("failures") or []:
        words = str(f.get("measurement") or "").split()
        if len(words) > 1 and words[0] == "program":
            failures[words[1]] = f
    rows, missing, summary = [], [], {}
    for name in spec.programs:
        b = (phase_res.get("programs") or {}).get(name)
        if not isinstance(b, dict) or not b.get("results"):
            f = failures.get(name) or {}
            missing.append({"name": name, "why": f.get("cause") or f.get("error") or "not measured in this run"})
            continue
        cmp = next((c for c in b.get("comparisons") or [] if c.get("candidate") == spec.candidate), None)
        allocators = []
        for r in b.get("results") or []:
            mem = r.get("memory") or {}
            ctr = r.get("counters") or {}
            reached = sum(int(ctr.get(k) or 0) for k in ("tiny_allocs", "mid_allocs", "large_allocs")) if ctr else None
            allocators.append({"variant": r.get("variant"), "s_per_run": (r["ns_per_op"] / 1e9) if r.get("ns_per_op") else None,
                               "peak_rss": mem.get("peak_rss_bytes"), "n": r.get("n"),
                               "failure": "; ".join(str(f.get("cause")) for f in r["failures"][:2]) if r.get("failures") else None,
                               "counted_failure": r.get("counted_failure"), "hak_allocs": reached,
                               "available": r.get("available", True), "why": r.get("why")})
        label, sentence = carries_over(headline, cmp)
        summary[label] = summary.get(label, 0) + 1
        peak = ((cmp or {}).get("memory") or {}).get("peak_rss") or {}
        rows.append({"name": name, "description": describe(name), "allocators": allocators,
                     "speedup": (cmp or {}).get("speedup"), "ci95": (cmp or {}).get("speedup_ci95"),
                     "verdict": (cmp or {}).get("verdict"), "underpowered": bool((cmp or {}).get("underpowered")),
                     "sessions": (cmp or {}).get("sessions"), "peak_ratio": peak.get("ratio"),
                     "peak_ci95": peak.get("ci95"), "carry": label, "carry_text": sentence})
    return {"programs": rows, "not_measured": missing, "summary": summary,
            "headline": {"workload": spec.headline_workload, "verdict": (headline or {}).get("verdict"),
                         "speedup": (headline or {}).get("speedup"), "ci95": (headline or {}).get("speedup_ci95")}}
