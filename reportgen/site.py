"""Site stage: docs/ (hand-written + rendered pages) -> site/ with mkdocs-material; and a local server.

plotly.js is shipped once, as a site asset copied from the installed plotly
package (never from a CDN, never inlined per chart), so the site works offline.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import html
import http.server
import logging
import os
import shutil
import tempfile
from pathlib import Path

from .errors import UserError
from .project import Project

PLOTLY_ASSET = Path("javascripts") / "plotly.min.js"


def plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.exists():
        raise UserError(f"plotly.min.js not found in the installed plotly package ({path}): "
                        "reinstall plotly (pip install --force-reinstall plotly)")
    return path


def ship_plotly(docs_dir: Path) -> Path:
    dest = docs_dir / PLOTLY_ASSET
    src = plotly_js()
    if not dest.exists() or dest.stat().st_size != src.stat().st_size:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return dest


def _md_title(path: Path) -> str:
    """A generated page's title: its first `# ` heading, without the code marks."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].replace("`", "").strip()
    return path.stem


def nav_for(project: Project, docs_dir: Path, phases=None) -> list:
    """Home, the phases (timeline first, then newest first), methodology, machine.

    `phases`: the phase specs when the caller has loaded them already."""
    from .phases import load_phases

    phases_dir = docs_dir / "phases"
    rendered = []
    try:
        specs = load_phases(project) if phases is None else list(phases)
    except UserError:
        specs = []
    for spec in sorted(specs, key=lambda p: (p.date, p.id), reverse=True):
        if (phases_dir / f"{spec.id}.md").exists():
            # the theme prints navigation titles as HTML: authored text is escaped to stay text
            rendered.append({html.escape(spec.title): f"phases/{spec.id}.md"})
    # the recorded commit series (reportgen.history.page), by title, after the phases
    from .history.page import HISTORY_DIR
    histories = sorted((_md_title(p), f"phases/{HISTORY_DIR}/{p.name}")
                       for p in (phases_dir / HISTORY_DIR).glob("*.md")) if (phases_dir / HISTORY_DIR).is_dir() else []
    nav: list = [{"Home": "index.md"}]
    if (phases_dir / "index.md").exists():
        nav.append({"Phases": [{"Timeline": "phases/index.md"}, *rendered,
                               *([{"Across commits": [{html.escape(t): path} for t, path in histories]}]
                                 if histories else [])]})
    if (docs_dir / "methodology.md").exists():
        nav.append({"Methodology": "methodology.md"})
    if (docs_dir / "json.md").exists():
        nav.append({"The --json shapes": "json.md"})
    if (docs_dir / "machines.md").exists():
        nav.append({"Several machines": "machines.md"})
    if (phases_dir / "machine.md").exists():
        nav.append({"Machine and toolchain": "phases/machine.md"})
    return nav


# ---- building: into a temporary folder, swapped in whole ---------------------------------

_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(new: Path, site_dir: Path) -> None:
    """Put the built `new` where `site_dir` is, in one step: a reader (or a kill) sees the old
    site or the new one, never a mix. The old site is removed afterwards."""
    if not site_dir.exists() and not site_dir.is_symlink():
        new.rename(site_dir)
        return
    if _exchange(new, site_dir):
        shutil.rmtree(new, ignore_errors=True)   # `new` now holds the old site
        return
    # No atomic exchange on this file system: the shortest window we can make.
    old = site_dir.parent / f".{site_dir.name}.old-{new.name.rsplit('-', 1)[-1]}"
    site_dir.rename(old)
    new.rename(site_dir)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _site_lock(site_dir: Path):
    """One site build at a time per site folder; leftovers of a killed build are removed under it."""
    lock = site_dir.parent / f".{site_dir.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for left in site_dir.parent.glob(f".{site_dir.name}.building-*"):
            shutil.rmtree(left, ignore_errors=True)
        for left in site_dir.parent.glob(f".{site_dir.name}.old-*"):
            shutil.rmtree(left, ignore_errors=True)
        yield
    finally:
        os.close(fd)


def build_site(project: Project, docs_dir: Path | None = None, site_dir: Path | None = None,
               site_url: str | None = None, phases=None, announce: str | None = None) -> Path:
    """mkdocs build (through its Python API) into site_dir; errors become one UserError line.

    The site is built into a temporary folder beside site_dir and swapped in whole when
    the build succeeded: a failed or killed build leaves the previous site as it was.
    Every page's content is checked for active content (reportgen/site_hooks.py).

    site_url: where the site will be served. mkdocs-material's instant navigation
    only takes over links on the origin (host *and port*) of site_url; elsewhere
    links are ordinary page loads, which work too.

    announce: HTML (escaped already) for the theme's banner above every page (templates/site/
    main.html): `reportgen serve --watch` says there what it rebuilt, or why it could not.
    """
    from mkdocs import exceptions as mk_exc
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    docs_dir = Path(docs_dir or project.docs_dir)
    site_dir = Path(site_dir or project.site_dir)
    config_file = project.root / "mkdocs.yml"
    if not config_file.exists():
        raise UserError(f"{config_file} is missing: the site's configuration")
    if not (docs_dir / "phases" / "index.md").exists():
        raise UserError(f"no rendered reports in {docs_dir / 'phases'}: run `reportgen render` "
                        "(or `reportgen publish`) first")
    ship_plotly(docs_dir)
    from .stamps import SITE_STAMP_FILE, site_is_current, site_stamp
    nav = nav_for(project, docs_dir, phases)
    stamp = site_stamp(project, docs_dir, nav, site_url, announce)
    if site_is_current(site_dir, stamp):   # no page, doc or setting changed since the last build
        return site_dir
    # mkdocs logs every page at INFO; keep its warnings, drop the chatter (for this build only: the
    # watch's server logs its own lines through the same logger)
    mk_logger = logging.getLogger("mkdocs")
    level = mk_logger.level
    mk_logger.setLevel(logging.WARNING)
    hooks = [str(Path(__file__).with_name("site_hooks.py"))]
    errors = _ErrorLog()
    logging.getLogger("mkdocs").addHandler(errors)
    try:
        site_dir.parent.mkdir(parents=True, exist_ok=True)
        with _site_lock(site_dir):
            tmp = Path(tempfile.mkdtemp(prefix=f".{site_dir.name}.building-", dir=site_dir.parent))
            try:
                tmp.chmod(0o755)  # mkdtemp makes it private; the site is not
                overrides = {"site_url": site_url} if site_url else {}
                cfg = load_config(str(config_file), docs_dir=str(docs_dir), site_dir=str(tmp),
                                  nav=nav, hooks=hooks, **overrides)
                if announce:
                    cfg["extra"]["reportgen_announce"] = announce
                cfg.plugins.on_startup(command="build", dirty=False)
                try:
                    build(cfg)
                finally:
                    cfg.plugins.on_shutdown()
                (tmp / SITE_STAMP_FILE).write_text(stamp + "\n")
                _swap_in(tmp, site_dir)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except (mk_exc.ConfigurationError, mk_exc.BuildError, mk_exc.Abort) as exc:
        # mkdocs logs the cause and raises a bare "Aborted with a BuildError!": say the cause
        why = errors.messages[-1] if errors.messages and isinstance(exc, mk_exc.Abort) else str(exc)
        raise UserError(f"mkdocs could not build the site: {' '.join(why.split())}") from None
    except OSError as exc:
        raise UserError(f"mkdocs could not build the site: {exc}") from None
    finally:
        logging.getLogger("mkdocs").removeHandler(errors)
        mk_logger.setLevel(level)
    return site_dir


class _ErrorLog(logging.Handler):
    """mkdocs' log during a build: errors kept for the one-line message, warnings shown."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        if record.levelno >= logging.ERROR:
            self.messages.append(record.getMessage())
        else:
            import sys
            print(record.getMessage(), file=sys.stderr)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # one line per request is noise for a local preview
        pass


@contextlib.contextmanager
def serving(site_dir: Path, host: str = "127.0.0.1", port: int = 0):
    """A threaded static server of site_dir in the background (for tests); yields the base URL."""
    import threading

    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    httpd = http.server.ThreadingHTTPServer((host, port), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def built_site_url(site_dir: Path) -> str | None:
    import re
    try:
        text = (site_dir / "sitemap.xml").read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"<loc>([^<]+)</loc>", text)
    return m.group(1) if m else None
