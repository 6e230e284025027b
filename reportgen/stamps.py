"""Incremental render and site build: a page whose inputs did not change is not rendered again.

A page's *stamp* is a hash of everything it is rendered from: the spec (as loaded), the
results it reads (this phase's, on every machine, and the previous results it compares
with), the neighbours and history points it shows, the code files it quotes, the template
files and the tool itself (every reportgen/ source file and its version).  The stamps of the
last render are kept beside the pages (``docs/phases/.stamps.json``); a page whose stamp is
unchanged is carried over as it was (hard links, with its charts) instead of rendered.  The
timeline and machine pages list every phase, so their stamps cover every phase's stamp.

Per-run bookkeeping (when the results were assembled, which records were reused:
plan.substance) is not an input: a page carried over shows the run that rendered it, with
the same figures.  The site build is skipped the same way: its stamp covers every file
under docs/, mkdocs.yml, the navigation, the site URL and the tool.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

STAMPS_FILE = ".stamps.json"
SITE_STAMP_FILE = ".reportgen-site-stamp"


class _Hasher:
    def __init__(self, label: str):
        self.h = hashlib.sha256(label.encode())

    def put(self, label: str, data) -> "_Hasher":
        if not isinstance(data, (bytes, str)):
            data = json.dumps(data, sort_keys=True, default=str)
        data = data.encode() if isinstance(data, str) else data
        self.h.update(f"{label}:{len(data)}:".encode())
        self.h.update(data)
        return self

    def file(self, label: str, path: Path) -> "_Hasher":
        try:
            return self.put(label, Path(path).read_bytes())
        except OSError:
            return self.put(label, "<missing>")

    def hexdigest(self) -> str:
        return self.h.hexdigest()[:24]


@functools.lru_cache(maxsize=1)
def tool_digest() -> str:
    """The tool's version and the content of every source file of the reportgen package."""
    from . import __version__

    h = _Hasher("tool").put("version", __version__)
    pkg = Path(__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        h.file(path.relative_to(pkg).as_posix(), path)
    return h.hexdigest()


def templates_digest(project) -> str:
    h = _Hasher("templates")
    root = project.templates_dir
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.file(path.relative_to(root).as_posix(), path)
    return h.hexdigest()


def common_digest(project) -> str:
    """What every page depends on: the tool and the templates."""
    return _Hasher("common").put("tool", tool_digest()).put("templates", templates_digest(project)).hexdigest()


def _phase_inputs(results: dict, pid: str) -> dict:
    """The results one phase page reads, without the per-run bookkeeping."""
    from .plan import substance

    def of(pr):
        pr = pr or {}
        prov = pr.get("provenance") or {}
        return {"results": substance(pr), "hashes": prov.get("source_hashes"),
                "git": prov.get("git")}

    machines = {mid: {"label": m.get("label"), "machine": m.get("machine"), "quick": m.get("quick"),
                      "local": m.get("local"), "results": of((m.get("phases") or {}).get(pid))}
                for mid, m in (results.get("machines") or {}).items()}
    prev = (results.get("previous") or {}).get(pid) or {}
    return {"phase": of((results.get("phases") or {}).get(pid)), "machines": machines,
            "machine": results.get("machine"), "quick": results.get("quick"),
            "previous": {"results": substance(prev.get("results")), "source_hash": prev.get("source_hash"),
                         "created": prev.get("created")}}


def phase_stamp(project, spec, results: dict, neighbours: dict, history_points, common: str,
                extra=None) -> str:
    """`extra`: what else the page is rendered from (which excerpts an older page quotes instead)."""
    h = _Hasher("phase-page").put("common", common)
    if extra is not None:
        h.put("extra", extra)
    # the spec as loaded (what the page is rendered from; a comment in the file changes nothing)
    h.put("spec", spec.model_dump(mode="json", by_alias=True)).put("spec-path", spec.path)
    h.put("inputs", _phase_inputs(results, spec.id))
    h.put("neighbours", {k: (n.id, n.title) if n is not None else None for k, n in neighbours.items()})
    h.put("history", history_points)
    for ex in spec.excerpts:
        h.file(f"excerpt:{ex.file}", project.root / ex.file)
    return h.hexdigest()


def listing_stamp(name: str, phase_stamps: dict, results: dict, common: str, extra=None) -> str:
    """The timeline index and the machine page: every phase's stamp, and the run's git state;
    `extra`: what else the page is rendered from (the phases' commit ranges on the timeline)."""
    return (_Hasher(name).put("common", common).put("phases", phase_stamps).put("extra", extra)
            .put("git", results.get("git")).put("quick", results.get("quick"))
            .put("machine", results.get("machine"))
            .put("machines", {mid: (m.get("label"), m.get("machine"), m.get("quick"), sorted(m.get("phases") or {}))
                              for mid, m in (results.get("machines") or {}).items()})
            .hexdigest())


def history_stamp(entry: dict, context, common: str) -> str:
    """A history page (reportgen.history.page): its recorded series and what else it shows (the
    phases linking it, the repository URL its commits link to)."""
    return _Hasher("history-page").put("common", common).put("series", entry).put("context", context).hexdigest()


def read_stamps(out_dir: Path) -> dict:
    try:
        data = json.loads((Path(out_dir) / STAMPS_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_stamps(out_dir: Path, stamps: dict) -> None:
    (Path(out_dir) / STAMPS_FILE).write_text(json.dumps(stamps, indent=1, sort_keys=True))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def carry_over(old_dir: Path, new_dir: Path, names) -> bool:
    """Put the files/folders `names` of the last render into the new one (hard links); False when
    one of them is missing (then the page is rendered again)."""
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    for name in names:
        if not (old_dir / name).exists():
            return False
    for name in names:
        src, dst = old_dir / name, new_dir / name
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)
        else:
            _link_or_copy(str(src), str(dst))
    return True


# ---- the site ----------------------------------------------------------------------

def site_stamp(project, docs_dir: Path, nav, site_url, announce: str | None = None) -> str:
    h = _Hasher("site").put("tool", tool_digest()).put("nav", nav).put("url", site_url).put("announce", announce)
    h.put("templates", templates_digest(project))       # the theme's overrides (templates/site/)
    h.file("mkdocs.yml", project.root / "mkdocs.yml")
    docs_dir = Path(docs_dir)
    for path in sorted(p for p in docs_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(docs_dir).as_posix()
        if rel.endswith(STAMPS_FILE):
            continue
        h.file(rel, path)
    return h.hexdigest()


def site_is_current(site_dir: Path, stamp: str) -> bool:
    try:
        return (Path(site_dir) / SITE_STAMP_FILE).read_text().strip() == stamp and \
            (Path(site_dir) / "index.html").is_file()
    except OSError:
        return False
