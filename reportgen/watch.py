"""`reportgen serve --watch`: the edit loop without commands.

The site is served by mkdocs' LiveReloadServer, which watches native/, phases/, variants.yaml and
workloads.yaml (a polling observer: it works on any file system) and, after an edit settles,
calls `Watch.rebuild` in its build loop, then tells every open page to reload.  A rebuild is a
publish: what the edit made stale is measured again (the store reuses every record whose inputs
did not change, so an edit of one variant re-measures the comparison groups holding it, and a
revert measures nothing), the pages are rendered and the site is built.  Quick measurements by
default (`--full` for full length); the banner above every page says which, when it rebuilt and
what it re-measured.

A rebuild that fails (a variant that does not compile, a broken spec, a crash of the tool) keeps
the last good pages and shows the error in that banner, with the compiler's output: the server
keeps running, and the next edit tries again.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup, escape

from .errors import UserError
from .project import Project

# what an edit of re-measures: the allocator's code, the phases, the variants and the workloads
WATCHED = ("native", "phases", "variants.yaml", "workloads.yaml")
DETAIL_MAX_LINES = 60      # of a compiler's output in the banner


@dataclass
class Outcome:
    """One rebuild: whether it published, when, and what it measured or why it failed."""
    ok: bool
    at: str
    elapsed_s: float
    message: str
    detail: str | None = None
    measured: list[str] = field(default_factory=list)


def _stale(value) -> bool:
    """Whether a result (of any kind) holds a measurement made now: a `reused: False` anywhere in it."""
    if isinstance(value, dict):
        return value.get("reused") is False or any(_stale(v) for v in value.values())
    if isinstance(value, list):
        return any(_stale(v) for v in value)
    return False


def _measured(results: dict, phase_ids) -> list[str]:
    """What a publish measured now (not reused), of the phases it measured (the others' pages come
    from their records as they are): `phase: workload` for a bench, `phase: kind workload` for the
    other kinds (programs, sweeps, counts, profiles, coverage, ...)."""
    out = []
    for pid, pr in sorted((results.get("phases") or {}).items()):
        if pid not in phase_ids:
            continue
        for kind, val in pr.items():
            if kind in ("failures", "unavailable", "provenance", "phase", "quick") or not val:
                continue
            parts = val.items() if isinstance(val, dict) and all(isinstance(v, dict) for v in val.values()) \
                and "reused" not in val else [(None, val)]
            for key, v in sorted(parts, key=lambda kv: str(kv[0])):
                if _stale(v):
                    out.append(f"{pid}: {key}" if kind == "bench" else
                               f"{pid}: {kind}" + (f" {key}" if key is not None else ""))
    return out


class Watch:
    """The rebuild a watched edit triggers (its `rebuild` is the LiveReloadServer's builder)."""

    def __init__(self, project: Project, *, quick: bool = True, phase_ids=None, site_url: str | None = None,
                 say=print):
        self.project, self.quick, self.phase_ids, self.site_url, self.say = project, quick, phase_ids, site_url, say
        self.outcomes: list[Outcome] = []
        self.phases = None      # the phases of the last publish that worked: the error banner's navigation

    def banner(self, o: Outcome) -> str:
        how = ("quick measurements (fewer operations, not fit for conclusions; <code>--full</code> measures at "
               "full length)" if self.quick else "full-length measurements")
        watched = ", ".join(f"<code>{escape(p)}</code>" for p in WATCHED)
        if o.ok:
            what = (f"re-measured {escape(', '.join(o.measured))}" if o.measured
                    else "nothing was stale: every figure reused")
            return Markup(f'<span class="rg-watch rg-watch-ok">Watching {watched}: rebuilt at {escape(o.at)} in '
                          f'{o.elapsed_s:.0f} s from {how}; {what}.</span>')
        detail = ""
        if o.detail:
            lines = o.detail.splitlines()
            shown = "\n".join(lines[:DETAIL_MAX_LINES]) + (f"\n... ({len(lines) - DETAIL_MAX_LINES} more lines)"
                                                            if len(lines) > DETAIL_MAX_LINES else "")
            detail = f'<pre class="rg-watch-detail">{escape(shown)}</pre>'
        return Markup(f'<div class="rg-watch rg-watch-error"><strong>The last edit did not rebuild</strong> '
                      f'(at {escape(o.at)}): {escape(o.message)}. These pages are from the last rebuild that '
                      f'worked; the server keeps watching {watched}.{detail}</div>')

    def rebuild(self) -> Outcome:
        """Publish what is stale and build the site with its banner; never raises (the server stays up)."""
        from .publish import publish
        from .site import build_site

        started, at = time.monotonic(), datetime.now().strftime("%H:%M:%S")
        self.say(f"rebuilding ({'quick' if self.quick else 'full'}) ...")
        done: list[Outcome] = []

        def banner(results, phases) -> str:
            from .phases import load_phases
            self.phases = load_phases(self.project)
            # what was measured is known once the measuring is done, before the site is built
            done.append(Outcome(True, at, time.monotonic() - started, "published",
                                measured=_measured(results, {p.id for p in phases})))
            return self.banner(done[-1])

        try:
            publish(self.project, self.phase_ids, quick=self.quick, site_url=self.site_url, announce=banner)
            o = done[-1]
            o.elapsed_s = time.monotonic() - started
        except Exception as exc:
            if isinstance(exc, UserError):
                o = Outcome(False, at, time.monotonic() - started, str(exc), getattr(exc, "detail", None))
            else:                          # a crash of the tool: shown, and the server stays up
                o = Outcome(False, at, time.monotonic() - started, f"{type(exc).__name__}: {exc}",
                            traceback.format_exc())
            try:                           # the last good pages, with the error above them
                build_site(self.project, site_url=self.site_url, announce=self.banner(o), phases=self.phases)
            except UserError as site_exc:  # no pages yet, or mkdocs failed: said where the user looks
                self.say(f"the site could not be built, so the open pages do not show this error: {site_exc}")
        self.outcomes.append(o)
        self.say(f"{'rebuilt' if o.ok else 'failed'} in {o.elapsed_s:.1f} s: "
                 f"{', '.join(o.measured) or 'nothing re-measured' if o.ok else o.message}")
        return o


def server(project: Project, host: str, port: int, watch: Watch):
    """A LiveReloadServer of the project's site, rebuilding through `watch` on an edit of WATCHED."""
    from mkdocs.livereload import LiveReloadServer

    srv = LiveReloadServer(builder=watch.rebuild, host=host, port=port, root=str(project.site_dir))
    for name in WATCHED:
        path = project.root / name
        if path.exists():
            srv.watch(str(path))
    return srv


def serve(project: Project, host: str, port: int, *, quick: bool = True, phase_ids=None) -> int:
    """Build, serve and rebuild on every edit until Ctrl-C."""
    logging.getLogger("mkdocs").setLevel(logging.INFO)
    if not logging.getLogger("mkdocs").handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("mkdocs").addHandler(handler)
    import socket
    try:     # the port is taken or the host is not ours: said before a rebuild of minutes, not after
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise UserError(f"cannot serve on {host}:{port}: {exc.strerror} (try --port)") from None
    url = f"http://{host}:{port}/"
    watch = Watch(project, quick=quick, phase_ids=phase_ids, site_url=url)
    watch.rebuild()
    if not (project.site_dir / "index.html").exists():
        raise UserError(f"no site to serve in {project.site_dir}: {watch.outcomes[-1].message}")
    srv = server(project, host, port, watch)
    print(f"serving {project.site_dir} at {url}, rebuilding on an edit of {', '.join(WATCHED)} (Ctrl-C stops)")
    try:
        srv.serve()
    except KeyboardInterrupt:
        pass
    finally:
        srv.shutdown()
    return 0
