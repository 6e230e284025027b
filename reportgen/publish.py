"""The main job: build, measure what is missing or stale, render, build the site.

Building comes first (plan.build_all: every library compiled, or found in the
build cache, before anything is measured); the store makes a second publish
with unchanged sources measure nothing and write no new record, and an edit of
one variant's source re-measures only what depends on that variant.
"""
from __future__ import annotations

import time

from .project import Project


def publish(project: Project, phase_ids=None, quick: bool = False, force: bool = False, console=None,
            site_url: str | None = None, store=None) -> dict:
    from rich.console import Console

    from .phases import load_phases
    from .plan import plan_and_measure, rich_progress
    from .render import render_all
    from .site import build_site

    console = console or Console(stderr=True)
    every_phase = load_phases(project)          # a broken spec stops here, before any work
    phases = load_phases(project, phase_ids) if phase_ids else every_phase
    started = time.monotonic()
    prog, update, sub = rich_progress(console, "publish")
    with prog:
        results = plan_and_measure(project, phases, quick=quick, force=force, progress=update, sub_progress=sub,
                                   store=store)
        update("render reports", 0, 2)
        # `--phase X` measures X; every other phase keeps its page, rendered from its last record
        add_recorded(project, results, [p for p in every_phase if p.id not in results["phases"]], store)
        pages = render_all(project, every_phase, results)
        update("build the site (mkdocs)", 1, 2)
        site = build_site(project, site_url=site_url)
        update("published", 2, 2)
    failures = sum(len(r.get("failures") or []) for r in results["phases"].values())
    console.print(f"published {len(phases)} phase report(s), {len(pages)} pages, into {site} "
                  f"in {time.monotonic() - started:.0f} s"
                  + (" [yellow](quick run)[/yellow]" if quick else "")
                  + (f"; [red]{failures} measurement(s) failed[/red] (shown on the pages)" if failures else ""))
    console.print("browse it with `reportgen serve`")
    return results


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


def cmd_publish(args, project: Project) -> int:
    from .cli import opened_store
    with opened_store(project) as store:
        publish(project, getattr(args, "phase", None), quick=args.quick, force=args.force, store=store)
    return 0
