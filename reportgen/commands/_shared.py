"""What several commands share: the results store of a command, measure-and-print, consoles, progress bars."""
from __future__ import annotations

import contextlib
import json
import sys
import warnings

from ..errors import UserError
from ..measuring.child import NullProgress
from ..project import Project


def stdout_console():
    """The console a command's tables go to (120 columns when stdout is not a terminal)."""
    from rich.console import Console
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)


def stderr_console():
    from rich.console import Console
    return Console(stderr=True)


@contextlib.contextmanager
def opened_store(project: Project):
    """The results store of this project and machine, for one command.

    Unreadable records it meets are shown when the command ends, one line each on
    stderr ("reportgen: warning: unreadable record PATH: REASON (left in place)"),
    instead of as Python warnings; the store never deletes or rewrites them.
    """
    from ..machine import machine_id
    from ..store import CorruptRecordWarning, Store

    store = Store.for_project(project, machine_id())
    try:   # before anything is measured: a result that cannot be kept is lost work
        store.check_writable()
    except OSError as exc:
        raise UserError(f"cannot write results into {store.dir}: {exc.strerror or exc} "
                        "(REPORTGEN_RESULTS_DIR chooses another directory)") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptRecordWarning)
        try:
            yield store
        finally:
            for problem in store.problems():
                print(f"reportgen: warning: {problem.line()}", file=sys.stderr)


def report_measurement(args, project: Project, measure, show) -> int:
    """What route, bench and header-cost share: measure through the store, with a progress
    bar (none with --json), then print the result as JSON or as `show` renders it.

    `measure(store=, progress=, force=)` runs the kind's engine function.
    """
    with opened_store(project) as store, cli_progress(args.json) as progress:
        out = measure(store=store, progress=progress, force=getattr(args, "force", False))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        show(out)
    return 0


# ---- progress (rich, on stderr; silent when not a terminal or with --json) ------

class RichProgress(NullProgress):
    """The engine's progress protocol (start/advance) as one transient rich bar."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=stderr_console(), transient=True)
        self._task = None

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def start(self, total: int, description: str) -> None:
        if self._task is None:
            self._task = self._progress.add_task(description, total=total)
        else:
            self._progress.reset(self._task, total=total, description=description)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)


def cli_progress(json_output: bool) -> NullProgress:
    """A progress bar for a CLI command: only on a terminal, never with --json."""
    if json_output or not sys.stderr.isatty():
        return NullProgress()
    return RichProgress()


def rich_progress(console=None, first: str = "measure"):
    """A rich progress display: one bar for the whole job, one for the current measurement.

    Returns (progress, update(message, done, total), sub(event)); use `progress` as a
    context manager.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)
    task = prog.add_task(first, total=1)
    step = prog.add_task("", total=1, visible=False)

    def update(message: str, done: int, total: int) -> None:
        prog.update(task, description=message, completed=done, total=max(total, 1))

    def sub(event) -> None:
        kind, n, desc = event
        if kind == "start":
            prog.reset(step, total=max(n, 1), description=f"  {desc}", visible=True)
        else:
            prog.advance(step, n)

    return prog, update, sub
