"""Several machines in one site: the results of every machine under results/, side by side.

Each machine's records live in ``results/<machine-id>/`` (measured here, or committed from
another machine running `reportgen run`).  `attach_machines` reads the last phase results
of every machine present into ``results["machines"]`` (this machine's first); the pages
then show each phase's verdicts per machine.  A verdict is always one machine's: samples of
two machines are never pooled, and where the machines' verdicts differ the page says they
disagree rather than pick one.
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


def per_machine(spec, results: dict) -> dict | None:
    """One phase's verdicts on every machine (None with fewer than two machines): per machine
    the headline, the claim check and each hypothesis's status, each from that machine's own
    results; and whether the machines disagree, on what, and where the conclusion holds."""
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
        rows.append({"id": mid, "label": m.get("label") or mid, "local": m.get("local"), "measured": measured,
                     "quick": m.get("quick"), "cpu": (m.get("machine") or {}).get("cpu_model") or mid,
                     "head": headline(spec, pr), "claim": (v.get("claim") or {}).get("status"),
                     "statuses": statuses,
                     "holds": None if not measured or not spec.conclusion_assumes
                     else all(s == "confirmed" for s in assumed)})
    measured = [r for r in rows if r["measured"]]
    disagree = []
    if len({r["head"]["verdict"] for r in measured}) > 1:
        disagree.append("the headline verdict")
    if len({r["claim"] for r in measured}) > 1:
        disagree.append("the claim check")
    for h in spec.hypotheses:
        if len({r["statuses"].get(h.id) for r in measured}) > 1:
            disagree.append(h.id)
    return {"rows": rows, "hypotheses": [{"id": h.id, "title": h.title} for h in spec.hypotheses],
            "disagree": disagree, "holds": [r["id"] for r in rows if r["holds"]],
            "fails": [r["id"] for r in rows if r["holds"] is False],
            "unmeasured": [r["id"] for r in rows if not r["measured"]]}
