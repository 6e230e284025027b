"""Several machines in one site: the results of every machine under results/, side by side.

Each machine's records live in ``results/<machine-id>/`` (measured here, or committed from
another machine running `reportgen run`).  `attach_machines` reads the last phase results
of every machine present into ``results["machines"]`` (this machine's first); the pages
then show each phase's verdicts per machine.  A verdict is always one machine's: samples of
two machines are never pooled.  `per_machine` compares the machines item by item (the headline,
the claim check, each hypothesis, each judged comparison): they *disagree* only where two of them
decide opposite outcomes (or measure non-overlapping speed-up intervals); an item decided on one
machine and left open on another (inconclusive, no significant change, underpowered) is said as
such, and a machine whose run failed or has no record is "not measured", never a disagreement.
"""
from __future__ import annotations

from .errors import UserError
from .machine import machine_id, machine_label
from .project import Project


def attach_machines(project: Project, phases, results: dict, store=None) -> None:
    """results["machines"]: machine id -> {"machine", "label", "quick", "phases", "local"}, for
    this machine (the results given) and every other machine with phase records under results/;
    and results["per_machine"]: phase id -> per_machine() (what the phase pages show)."""
    from .plan import collect
    from .store import Store

    local_info = results.get("machine") or {}
    local = store.machine if store is not None else (machine_id(local_info) if local_info else machine_id())
    root = store.root if store is not None else project.results_dir
    out = {local: {"machine": local_info, "label": machine_label(local_info) if local_info else local,
                   "quick": bool(results.get("quick")), "phases": results.get("phases") or {}, "local": True}}
    for mid in Store.machines(root):
        if mid == local:
            continue
        try:
            other = collect(project, phases, store=Store(root, mid))
        except UserError:      # no phase records there (only raw measurements): nothing to show
            continue
        info = other.get("machine") or {}
        out[mid] = {"machine": info, "label": machine_label(info) if info else mid,
                    "quick": bool(other.get("quick")), "phases": other.get("phases") or {}, "local": False}
    results["machines"] = out
    results["local_machine"] = local
    results["per_machine"] = {spec.id: per_machine(spec, results) for spec in phases}


# Verdict states of one item on one machine: decided (an outcome), open (measured, but the data could not
# decide) or not measured (no record, a failed run, a number missing).  Only two decided outcomes can disagree.
DECIDED, OPEN, NOT_MEASURED = "decided", "open", "not measured"
_DECIDED_VERDICTS = ("faster", "slower")                  # stats.VERDICTS: the others decide nothing
_DECIDED_HYPOTHESES = ("confirmed", "rejected")           # hypotheses.STATUSES: "inconclusive" is open
# stats.CLAIM_STATUSES that decide, and what they decide: the claim lies above the interval, below it,
# or within it (partly or wholly: both say the claim holds).  "not excluded" and "untestable" are open.
_CLAIM_OUTCOME = {"over-claim": "above", "under-claim": "below", "consistent": "within",
                  "partly consistent": "within"}


def _not_measured(why: str | None) -> dict:
    return {"state": NOT_MEASURED, "outcome": None, "verdict": None, "speedup": None, "ci": None, "why": why,
            "text": f"not measured ({why})" if why else "not measured"}


def _cmp_value(c: dict | None, why_missing: str) -> dict:
    """One machine's value of one comparison: {"state", "outcome", "text", "verdict", "speedup", "ci"}."""
    from .units import f_range, f_spct

    if not c:
        return _not_measured(why_missing)
    if c.get("failed"):
        return _not_measured(f"the run failed: {c['failed']}")
    verdict, speed, ci = c.get("verdict"), c.get("speedup"), c.get("speedup_ci95")
    ci = list(ci) if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci else None
    if verdict is None and speed is None and ci is None:
        return _not_measured("no result")
    state = DECIDED if verdict in _DECIDED_VERDICTS else OPEN
    text = f"{verdict or 'no verdict'} {f_spct(speed)}" + (f" (95% CI {f_range(ci)})" if ci else " (no interval)")
    return {"state": state, "outcome": verdict if state == DECIDED else None, "verdict": verdict,
            "speedup": speed, "ci": ci, "text": text}


def _cmp_disagree(a: dict, b: dict) -> str | None:
    """Why two machines' values of one comparison disagree (None when they do not): their speed-up
    intervals do not overlap (one machine's whole CI above the other's), or they decided opposite
    verdicts."""
    if a["ci"] and b["ci"] and (a["ci"][0] > b["ci"][1] or b["ci"][0] > a["ci"][1]):
        return "the 95% intervals of the speed-up do not overlap"
    return _plain_disagree(a, b)


def _plain_disagree(a: dict, b: dict) -> str | None:
    if a["state"] == b["state"] == DECIDED and a["outcome"] != b["outcome"]:
        return "opposite decided outcomes"
    return None


def _hypothesis_value(h, v: dict, outcome) -> dict:
    """"inconclusive" is open when the measured numbers could not decide it (an interval across the
    threshold, or its `inconclusive_when` guard), not measured when a number it needs is missing
    (whatever its other numbers say)."""
    from . import hypotheses

    status = outcome.status if outcome else None
    if status in _DECIDED_HYPOTHESES:
        return {"state": DECIDED, "outcome": status, "text": status}
    if status is None:
        return _not_measured(None)
    guard = hypotheses.evaluate(h.inconclusive_when, v, []) if h.inconclusive_when is not None else False
    leaves: list = []
    hypotheses.evaluate(h.check, v, leaves)
    undecided = [l for l in leaves if l.result is None]
    missing = [l.metric for l in undecided if l.measured is hypotheses.MISSING]
    # a number it needs is missing (a failed side, no record): not measured, even if another of its
    # numbers is measured and open -- that one alone could not have decided it either way
    if not guard and missing:
        return _not_measured(", ".join(f"`{m}`" for m in missing) + " missing")
    return {"state": OPEN, "outcome": None, "text": status}


def _classify(item: dict, rows: list[dict], disagree_fn) -> str:
    """Sort one item into "disagree", "open" (decided on one machine, open on another) or "agree", from
    every pair of machines that both have a value (item["values"]: machine id -> value); a machine
    without one is in item["not_measured_on"] and pairs with no machine."""
    vals = item["values"]
    ids = [r["id"] for r in rows]
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
             if vals[a]["state"] != NOT_MEASURED and vals[b]["state"] != NOT_MEASURED]
    why = {(a, b): disagree_fn(vals[a], vals[b]) for a, b in pairs}
    item["pairs"] = [[a, b] for (a, b), w in why.items() if w]
    item["why"] = "; ".join(dict.fromkeys(w for w in why.values() if w)) or None
    item["decided_on"] = [m for m in ids if vals[m]["state"] == DECIDED]
    item["open_on"] = [m for m in ids if vals[m]["state"] == OPEN]
    item["not_measured_on"] = [m for m in ids if vals[m]["state"] == NOT_MEASURED]
    if item["pairs"]:
        return "disagree"
    if item["decided_on"] and item["open_on"]:
        return "open"
    return "agree"


def per_machine(spec, results: dict) -> dict | None:
    """One phase's verdicts on every machine (None with fewer than two machines): per machine
    the headline, the claim check, each hypothesis's status and each judged (primary) comparison,
    each from that machine's own results; and how the machines compare on each of them:

    - "disagree": items on which two machines decide opposite outcomes (a hypothesis confirmed on
      one, rejected on the other; a verdict faster on one, slower on the other; for a comparison
      also two speed-up intervals that do not overlap), each with every machine's value;
    - "open_there": items one machine decided and another could not (inconclusive, no significant
      change, underpowered, untestable): not a disagreement;
    - "not_measured": items a machine has no value for (no record, a failed run, a missing number),
      per machine: never a disagreement.
    """
    from . import hypotheses
    from .render import empty_phase_results, failed_sides, headline

    machines = results.get("machines") or {}
    if len(machines) < 2:
        return None
    rows = []
    for mid, m in machines.items():
        pr = (m.get("phases") or {}).get(spec.id) or {}
        measured = bool(pr)
        pr = failed_sides({**empty_phase_results(spec), **{k: v for k, v in pr.items() if v is not None}})
        outcomes = hypotheses.assess_all(spec, pr)
        v = hypotheses.view(spec, pr)
        statuses = {o.id: o.status for o in outcomes}
        assumed = [statuses.get(h) for h in spec.conclusion_assumes]
        by_out = {o.id: o for o in outcomes}
        cmps = {}
        for wl, b in (pr.get("bench") or {}).items():
            if not isinstance(b, dict):
                continue
            for c in b.get("comparisons") or []:
                if isinstance(c, dict) and c.get("role", "primary") == "primary":
                    cmps.setdefault((b.get("workload") or wl, c.get("baseline"), c.get("candidate")), c)
        head = headline(spec, pr)
        claim = (v.get("claim") or {}).get("status")
        # the machine's pace and noise beside its verdicts: the subject's throughput and how much one
        # timed loop of it varies there (reportgen.noise), on the headline workload
        hb = (pr.get("bench") or {}).get(spec.headline_workload) or {}
        noise_of = {n.get("variant"): n for n in ((hb.get("noise") or {}).get("allocators") or [])}
        subject_noise = noise_of.get(head.get("subject")) or {}
        rows.append({"id": mid, "label": m.get("label") or mid, "local": m.get("local"), "measured": measured,
                     "quick": m.get("quick"), "cpu": (m.get("machine") or {}).get("cpu_model") or mid,
                     "head": head, "claim": claim if measured else None,
                     "loop_cv": subject_noise.get("cv"), "modes": subject_noise.get("modes"),
                     "statuses": statuses, "_cmps": cmps,
                     "hyp": {h.id: _hypothesis_value(h, v, by_out.get(h.id)) if measured
                             else _not_measured("no record of this phase")
                             for h in spec.hypotheses},
                     "failed": head.get("failed"),
                     "holds": None if not measured or not spec.conclusion_assumes
                     else all(s == "confirmed" for s in assumed)})

    def why_missing(r):
        return "no record of this phase" if not r["measured"] else "not in this machine's results"

    items = []
    # the headline: the verdict of the phase's candidate against its baseline on the headline workload
    head_key = None
    if spec.candidate:
        for r in rows:
            c = r["head"].get("comparison")
            if c and head_key is None:
                head_key = (spec.headline_workload, c.get("baseline"), spec.candidate)
        vals = {}
        for r in rows:
            c = r["head"].get("comparison") if r["measured"] else None
            vals[r["id"]] = _cmp_value(c, why_missing(r))
        items.append({"item": "the headline verdict", "kind": "headline", "values": vals, "fn": _cmp_disagree})
    else:
        vals = {r["id"]: (_not_measured(why_missing(r) if not r["measured"] else r["failed"])
                          if not r["measured"] or r["failed"] or r["head"].get("median") is None
                          else {"state": OPEN, "outcome": None, "text": "measured"}) for r in rows}
        items.append({"item": "the headline verdict", "kind": "headline", "values": vals, "fn": _plain_disagree})
    for r in rows:
        r["head_value"] = items[0]["values"][r["id"]]
    if spec.claim:
        vals = {}
        for r in rows:
            # the comparison the claim is checked against (hypotheses.view: the candidate's on the claim's workload)
            c = next((c for (wl, _b, cand), c in r["_cmps"].items()
                      if wl == spec.claim.workload and cand == spec.candidate), None)
            cv = _cmp_value(c, why_missing(r))
            if not r["measured"] or r["claim"] is None or cv["state"] == NOT_MEASURED:
                vals[r["id"]] = cv if cv["state"] == NOT_MEASURED else _not_measured(None)
            elif r["claim"] in _CLAIM_OUTCOME:
                vals[r["id"]] = {"state": DECIDED, "outcome": _CLAIM_OUTCOME[r["claim"]], "text": r["claim"]}
            else:
                vals[r["id"]] = {"state": OPEN, "outcome": None, "text": r["claim"]}
            r["claim_value"] = vals[r["id"]]
        items.append({"item": "the claim check", "kind": "claim", "values": vals, "fn": _plain_disagree})
    for h in spec.hypotheses:
        items.append({"item": h.id, "title": h.title, "kind": "hypothesis",
                      "values": {r["id"]: r["hyp"][h.id] for r in rows}, "fn": _plain_disagree})
    keys = []
    for r in rows:
        keys += [k for k in r["_cmps"] if k not in keys and k != head_key]
    comparisons = []
    for k in keys:
        wl, base, cand = k
        vals = {r["id"]: _cmp_value(r["_cmps"].get(k), why_missing(r)) for r in rows}
        item = {"item": f"{cand} against {base} on {wl}", "kind": "comparison", "workload": wl,
                "baseline": base, "candidate": cand, "values": vals, "fn": _cmp_disagree}
        items.append(item)
        comparisons.append(item)
    for r in rows:
        r["comparisons"] = {c["item"]: c["values"][r["id"]] for c in comparisons}
        del r["_cmps"]

    disagree, open_there = [], []
    for it in items:
        cls = _classify(it, rows, it.pop("fn"))
        it["class"] = cls
        if cls == "disagree":
            disagree.append(it)
        elif cls == "open":
            open_there.append(it)
    # per machine, what it has no value for while another machine measured it
    not_measured = []
    for r in rows:
        missing = [{"item": it["item"], "text": it["values"][r["id"]]["text"], "why": it["values"][r["id"]].get("why")}
                   for it in items
                   if it["values"][r["id"]]["state"] == NOT_MEASURED
                   and len(it["not_measured_on"]) < len(rows)]
        if missing:
            not_measured.append({"id": r["id"], "label": r["label"], "measured": r["measured"],
                                 "failed": r["failed"], "items": missing})
    return {"rows": rows, "hypotheses": [{"id": h.id, "title": h.title} for h in spec.hypotheses],
            "comparisons": [{"item": c["item"], "workload": c["workload"], "baseline": c["baseline"],
                             "candidate": c["candidate"]} for c in comparisons],
            "items": items, "disagree": disagree, "open_there": open_there, "not_measured": not_measured,
            "holds": [r["id"] for r in rows if r["holds"]],
            "fails": [r["id"] for r in rows if r["holds"] is False],
            "unmeasured": [r["id"] for r in rows if not r["measured"]]}
