"""`reportgen run`: measure what the phases need, only what is missing or stale (the engine: reportgen.plan)."""
from __future__ import annotations

import json

from ..project import Project
from ._shared import opened_store, rich_progress, stderr_console


def main(args, project: Project) -> int:
    from ..phases import load_phases
    from ..plan import plan_and_measure
    from ..publish import exit_status
    from ..render import run_failures

    phases = load_phases(project, args.phase)
    err = stderr_console()
    prog, update, sub = rich_progress(err)
    with opened_store(project) as store, prog:
        results = plan_and_measure(project, phases, quick=args.quick, force=args.force, progress=update,
                                   sub_progress=sub, store=store)
    if args.json:
        print(json.dumps(results, indent=2))
        return exit_status(phases, results)
    for pid, r in results["phases"].items():
        n_fail = len(run_failures(r))
        err.print(f"{pid}: {len(r['bench'])} benches, {sum(len(v) for v in r['route'].values())} routes"
                  f"{', header cost' if r.get('header_cost') else ''}"
                  + (f", [red]{n_fail} failed[/red]" if n_fail else ""))
        for f in run_failures(r):
            err.print(f"  [red]failed[/red] {f['measurement']}: {f['error']}", markup=True, highlight=False)
    return exit_status(phases, results)
