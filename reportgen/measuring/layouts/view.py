"""What a page shows of layouts: the layout A/A (the floor placement alone sets here), each
comparison's estimate per layout and whether its outcome holds in all, and the cache-set view.

Plain functions over a phase's results (plan.assemble); the template is templates/layouts.md.j2.
"""
from __future__ import annotations


def layout_floor(aa: dict | None) -> dict | None:
    """The layout A/A: one variant in several layouts, each against the first.

    `floor`: the largest |speed-up| among them (the size of an effect layout alone made here), with
    the comparison it came from; `decided`: how many of them the t test calls a change."""
    if not isinstance(aa, dict) or not aa.get("comparisons"):
        return None
    rows = []
    for c in aa["comparisons"]:
        rows.append({"candidate": c.get("candidate"), "baseline": c.get("baseline"), "speedup": c.get("speedup"),
                     "ci": c.get("speedup_ci95"), "verdict": c.get("verdict"), "sessions": c.get("sessions")})
    measured = [r for r in rows if r["speedup"] is not None]
    top = max(measured, key=lambda r: abs(r["speedup"]), default=None)
    layouts = {r.get("variant"): r.get("layouts") for r in aa.get("results") or []}
    return {"workload": aa.get("workload"), "variant": (aa.get("results") or [{}])[0].get("variant", "").split("@")[0],
            "rows": rows, "count": len(rows) + 1, "floor": abs(top["speedup"]) if top else None, "top": top,
            "decided": sum(1 for r in rows if r["verdict"] in ("faster", "slower")),
            "sessions": aa.get("sessions"), "layouts": layouts, "stop": aa.get("stop")}


def _layout_of(row: dict | None, j: int) -> dict | None:
    draws = ((row or {}).get("layouts") or {}).get("draws") or []
    return draws[j] if 0 <= j < len(draws) else None


def per_layout_tables(benches: dict | None) -> list[dict]:
    """Per workload (of `benches`: workload -> bench result) with a layout factor: each comparison's
    estimate in each layout, and whether its outcome holds in every one (comparisons without
    per-layout estimates are left out)."""
    out = []
    for wl, b in (benches or {}).items():
        if not isinstance(b, dict):
            continue
        comps = [c for c in b.get("comparisons") or [] if c.get("per_layout")]
        if not comps:
            continue
        rows_by = {r.get("variant"): r for r in b.get("results") or []}
        base = comps[0].get("baseline")
        indices = sorted({x["layout"] for c in comps for x in c["per_layout"]})
        table = []
        for j in indices:
            lay = _layout_of(rows_by.get(base), j)
            cells = []
            for c in comps:
                hit = next((x for x in c["per_layout"] if x["layout"] == j), None)
                cells.append(hit)
            table.append({"layout": j, "baseline_layout": lay, "cells": cells})
        out.append({"workload": wl, "baseline": base, "seed": (comps[0].get("layouts") or {}).get("seed"),
                    "comparisons": [{"candidate": c.get("candidate"), "role": c.get("role"),
                                     "speedup": c.get("speedup"), "ci": c.get("speedup_ci95"),
                                     "verdict": c.get("verdict"), "level": c.get("interval_level"),
                                     "robust": c.get("layout_robust"), "reason": c.get("layout_reason"),
                                     "layout_sd": c.get("layout_sd"),
                                     "heterogeneity_p": c.get("layout_heterogeneity_p")} for c in comps],
                    "rows": table, "sessions": b.get("sessions")})
    return out


def placement_rows(placement: dict | None) -> list[dict]:
    """The cache-set view, per workload: for each allocator and size class, on the first cache level
    (L1d), the sets its blocks' first lines fall in and the most blocks on one set against its ways."""
    out = []
    for wl, p in (placement or {}).items():
        if not isinstance(p, dict):
            continue
        allocs = []
        for name, a in (p.get("allocators") or {}).items():
            if "failure" in a:
                allocs.append({"allocator": name, "failure": a["failure"]})
                continue
            levels = a.get("levels") or {}
            lv = levels.get("L1d") or next(iter(levels.values()), None)
            if lv is None:
                continue
            classes = []
            for c in lv.get("classes") or []:
                u = c.get("user") or {}
                classes.append({"size": c.get("size"), "pool": c.get("pool"), "blocks": u.get("blocks"),
                                "sets": u.get("distinct_sets") if u.get("distinct_sets") is not None
                                else u.get("distinct_bins"),
                                "max_per_set": u.get("max_per_set") if u.get("max_per_set") is not None
                                else u.get("max_per_bin"),
                                "over": u.get("blocks_over_capacity")})
            hist = (lv.get("all") or {}).get("user", {}).get("histogram")
            allocs.append({"allocator": name, "classes": classes, "header_bytes": a.get("header_bytes"),
                           # segments are 2^HAK_SEGMENT_SHIFT-aligned: every segment's header line is on set 0
                           "on_header_set": hist[0] if hist and lv.get("sets_per_bin") == 1 else None,
                           "blocks": (lv.get("all") or {}).get("user", {}).get("blocks")})
        l1 = (p.get("geometry") or {}).get("L1d") or {}
        out.append({"workload": wl, "geometry": l1, "allocators": allocs, "slots": p.get("slots")})
    return out
