"""The main job: build, measure what is missing or stale, render, build the site.

Building comes first (plan.build_all: every library compiled, or found in the
build cache, before anything is measured); the store makes a second publish
with unchanged sources measure nothing and write no new record, and an edit of
one variant's source re-measures only what depends on that variant.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .project import Project


@dataclass
class Published:
    """What one publish did: the results, the pages written, the site, the phases measured."""
    results: dict
    pages: list
    site: Path
    phases: list
    seconds: float


def publish(project: Project, phase_ids=None, quick: bool = False, force=False,
            site_url: str | None = None, store=None, progress=None, sub_progress=None,
            announce=None) -> Published:
    """progress(message, done, total) and sub_progress(event) as in plan.plan_and_measure;
    announce: the site's banner (site.build_site): HTML, or a function of (results, the phases
    measured) giving it, for a banner that says what this publish measured."""
    from .phases import load_phases
    from .plan import plan_and_measure
    from .history.page import attach_histories
    from .machines import attach_machines
    from .render import render_all
    from .site import build_site

    update = progress or (lambda message, done, total: None)
    every_phase = load_phases(project)          # a broken spec stops here, before any work
    phases = load_phases(project, phase_ids) if phase_ids else every_phase
    started = time.monotonic()
    results = plan_and_measure(project, phases, quick=quick, force=force, progress=progress,
                               sub_progress=sub_progress, store=store)
    update("render reports", 0, 2)
    # `--phase X` measures X; every other phase keeps its page, rendered from its last record
    add_recorded(project, results, [p for p in every_phase if p.id not in results["phases"]], store)
    attach_machines(project, every_phase, results, store)   # every machine under results/, side by side
    attach_histories(project, every_phase, results, store)  # the recorded commit series, and the phases' commits
    pages = render_all(project, every_phase, results)
    update("build the site (mkdocs)", 1, 2)
    banner = announce(results, phases) if callable(announce) else announce
    site = build_site(project, site_url=site_url, phases=every_phase, announce=banner)
    update("published", 2, 2)
    return Published(results, pages, site, phases, time.monotonic() - started)


def failure_summary(phases, results: dict) -> tuple[int, list[str]]:
    """How many measurements of `phases` failed (each failed bench allocator, route, header cost or
    measurement that could not run counts once), and, one line each, the failures that leave a
    phase without a result: its baseline or candidate has failed runs (so no verdict) or its
    bench could not run at all."""
    from .render import failed_runs, run_failures

    count, blocking = 0, []
    for spec in phases:
        pr = (results.get("phases") or {}).get(spec.id) or {}
        count += len(run_failures(pr))
        for wl, b in (pr.get("bench") or {}).items():
            for r in (b or {}).get("results") or []:
                if r.get("variant") in spec.project_variants and (r.get("failures") or not r.get("samples")):
                    blocking.append(f"{spec.id}: {r['variant']} on {wl}: {failed_runs(r) or 'no successful run'}")
        for f in pr.get("failures") or []:
            if str(f.get("measurement", "")).startswith("bench "):
                blocking.append(f"{spec.id}: {f['measurement']}: {f.get('error')}")
    return count, blocking


def exit_status(phases, results: dict) -> int:
    """0, or 1 when a phase's baseline or candidate could not be measured (2 stays for bad input)."""
    return 1 if failure_summary(phases, results)[1] else 0


def add_recorded(project: Project, results: dict, phases, store=None) -> None:
    """Put the last recorded results of `phases` (measured by an earlier run) into `results`."""
    from .errors import UserError
    from .plan import collect

    if not phases:
        return
    try:
        recorded = collect(project, phases, store=store)
    except UserError:   # nothing recorded for them yet: their pages say "not measured yet"
        return
    for pid, res in recorded["phases"].items():
        results["phases"].setdefault(pid, res)
    for pid, prev in recorded.get("previous", {}).items():
        results.setdefault("previous", {}).setdefault(pid, prev)
