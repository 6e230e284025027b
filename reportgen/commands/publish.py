"""`reportgen publish`: build, measure, render and build the site, with a progress display (the engine: reportgen.publish)."""
from __future__ import annotations

from ..project import Project
from ._shared import opened_store, rich_progress, stderr_console


def main(args, project: Project) -> int:
    from ..publish import exit_status, failure_summary, publish

    console = stderr_console()
    prog, update, sub = rich_progress(console, "publish")
    with opened_store(project) as store, prog:
        done = publish(project, args.phase, quick=args.quick, force=args.force, store=store,
                       progress=update, sub_progress=sub)
    failures, blocking = failure_summary(done.phases, done.results)
    console.print(f"published {len(done.phases)} phase report(s), {len(done.pages)} pages, into {done.site} "
                  f"in {done.seconds:.0f} s"
                  + (" [yellow](quick run)[/yellow]" if args.quick else "")
                  + (f"; [red]{failures} measurement(s) failed[/red] (shown on the pages)" if failures else ""))
    for line in blocking:
        console.print(f"[red]not measured[/red] {line}", markup=True, highlight=False)
    console.print("browse it with `reportgen serve`")
    return exit_status(done.phases, done.results)
