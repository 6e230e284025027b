"""The page's evidence section (templates/evidence.md.j2): exact counts and change coverage,
arranged for the tables, with each changed line linked to the code excerpt that shows it."""
from __future__ import annotations

from typing import Any

COUNT_COLUMNS = ("instructions", "data_reads", "data_writes", "d1_misses", "ll_misses")


def excerpt_anchor(ex) -> str:
    """The id of an excerpt's heading on the page (phase.md.j2 gives it to the heading)."""
    import re
    return "code-" + re.sub(r"[^a-z0-9]+", "-", (ex.marker or ex.function or ex.title).lower()).strip("-")


def _link(excerpts: list[dict], file: str, line: int, variant: str) -> str | None:
    for ex in excerpts:
        if ex.get("error") or ex.get("file") != file or not ex.get("anchor"):
            continue
        if ex.get("variant") not in (None, variant):
            continue
        if ex["first_line"] <= line <= ex["last_line"]:
            return ex["anchor"]
    return None


def _counts_tables(spec, res: dict) -> list[dict]:
    out = []
    for wl, c in (res.get("counts") or {}).items():
        if not isinstance(c, dict):
            continue
        rows = [r for r in c.get("results") or [] if r.get("per_op")]
        by = {r["variant"]: r for rows_ in [rows] for r in rows_}
        base, cand = by.get(spec.baseline), by.get(spec.candidate)
        out.append({"workload": wl, "ops": c.get("ops"), "rows": rows, "cache_sim": c.get("cache_sim") or {},
                    "failed": [r for r in c.get("results") or [] if not r.get("per_op")],
                    "base": base, "cand": cand, "valgrind": c.get("valgrind"),
                    "delta": next((d for d in c.get("comparisons") or [] if d.get("candidate") == spec.candidate),
                                  None),
                    "all_identical": all(r.get("identical") for r in rows),
                    "runs": min((r.get("runs") or 1 for r in rows), default=1)})
    return out


def _coverage_tables(cov: Any, excerpts: list[dict]) -> list[dict]:
    if not isinstance(cov, dict):
        return []
    out: dict[str, dict] = {}
    for run in cov.get("runs") or []:
        wl = out.setdefault(run["workload"], {"workload": run["workload"], "runs": [], "functions": []})
        wl["runs"].append(run)
        for fn, s in sorted((run.get("functions") or {}).items()):
            lines = [{**ln, "anchor": _link(excerpts, ln["file"], ln["line"], run["variant"])}
                     for ln in run.get("lines") or [] if ln.get("function") == fn]
            wl["functions"].append({"variant": run["variant"], "function": fn, "changed": s["lines"],
                                    "executed": s["executed"], "executions": s["executions"], "line_rows": lines})
    return list(out.values())


def context(spec, res: dict, v: dict, excerpts: list[dict], authored) -> dict:
    """What evidence.md.j2 prints for one phase (`authored`: render.authored, for the background)."""
    ev = spec.evidence
    background = ev.background if ev else None
    return {"asked": ev is not None,
            "background": authored(background, spec, v, "evidence.background") if background else None,
            "counts": _counts_tables(spec, res), "coverage": _coverage_tables(res.get("coverage"), excerpts),
            "coverage_result": res.get("coverage") if isinstance(res.get("coverage"), dict) else None,
            "profiles": [p for p in (res.get("profile") or {}).values() if isinstance(p, dict)],
            "columns": COUNT_COLUMNS}
