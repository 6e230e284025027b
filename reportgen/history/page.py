"""History on the site: a measured commit series as a page, and where the phases meet the commits.

`reportgen history` finds where a variant's figure moved between commits; that finding belongs
beside the phases it bears on.  So the newest recorded series of each workload and variant
(reportgen.history.record) becomes a page under docs/phases/history/ (reportgen.render's
render_history_page from what this module reads; swapped in and carried over with the phase pages): the figure against the commits with its intervals, each
decided step marked at its commit, the commits that did not build with why, and peak RSS beside
time where the same processes measured it.  A phase page links the series of its baseline and
candidate on its workloads; the timeline gives each phase the commits it covered.

A phase's commits are computed from the repository, never authored: from the commit that added
its spec (phases/<id>.yaml) to the commit that added the next phase's (the newest phase: HEAD),
read as git reads A..B (what `reportgen history --range A..B` measures).  Without a repository
of the project's own (a copy without .git) there is no range, and the pages show none.

Commit subjects are user text, escaped like any authored text (reportgen.render.md_text).
"""
from __future__ import annotations

import re
from pathlib import Path

from markupsafe import Markup

from ..units import f_short

HISTORY_DIR = "history"          # under docs/phases/
_HEX = re.compile(r"[0-9a-f]{7,64}")
_REPO_URL = re.compile(r"https?://[^\s()<>\"'\[\]{}`|\\]+")
DETAIL_MAX_LINES = 40            # of a compiler's output shown under a commit that did not build


def page_name(workload: str, variant: str) -> str:
    """The page's file name (without .md): workload and variant names are plain already."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", f"{workload}-{variant}")


def title(workload: str, variant: str) -> str:
    return f"{variant} on {workload} across commits"


# ---- commits as the pages show them ---------------------------------------------------------

def repo_url(project) -> str | None:
    """The repository URL mkdocs.yml configures (`repo_url`), http(s) only; None when there is none."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may carry mkdocs' own tags (!ENV, !!python/name): read them as nothing
    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    try:
        cfg = yaml.load((Path(project.root) / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return None
    url = (cfg or {}).get("repo_url") if isinstance(cfg, dict) else None
    return url.rstrip("/") if isinstance(url, str) and _REPO_URL.fullmatch(url) else None


def commit_ref(commit: str | None, repo: str | None = None) -> Markup:
    """A commit as code, its short id shown: linked to the repository's page of it when mkdocs.yml
    names the repository, the full id as its title (a tooltip) either way."""
    if not commit or not _HEX.fullmatch(str(commit)):
        return Markup("<code>{}</code>").format(f_short(commit))     # escaped: not a commit id from git
    if repo:
        return Markup('[`{}`]({}/commit/{} "{}")').format(f_short(commit), Markup(repo), commit, commit)
    return Markup('<code title="{}">{}</code>').format(commit, f_short(commit))


def range_ref(a: str, b: str, repo: str | None = None) -> Markup:
    """A..B as code, linked to the repository's comparison of the two when it is known."""
    text = Markup("`{}..{}`").format(f_short(a), f_short(b))
    if repo and _HEX.fullmatch(a) and _HEX.fullmatch(b):
        return Markup('[{}]({}/compare/{}...{} "{}..{}")').format(text, Markup(repo), a, b, a, b)
    return text


# ---- the series, read ----------------------------------------------------------------------

def series_rows(entry: dict) -> list[dict]:
    """Every commit of a recorded series in its order (skipped ones where they sit): what the
    table and the chart show of it."""
    h = entry["history"]
    built = {c["commit"]: c for c in h.get("commits") or []}
    skipped = {s["commit"]: s for s in h.get("skipped") or []}
    step_at = {s["commit"]: s for s in h.get("steps") or []}
    ref_lib = (built.get(h.get("reference")) or {}).get("lib_hash")
    rows = []
    for i, commit in enumerate(entry["order"]):
        c, s = built.get(commit), skipped.get(commit)
        if c is None and s is None:
            continue
        r = (c or {}).get("results") or {}
        mem = r.get("memory") or {}
        ref = (c or {}).get("against_reference")
        rows.append({
            "index": i, "commit": commit, "short": f_short(commit), "subject": (c or s).get("subject") or "",
            "lib_hash": (c or {}).get("lib_hash"), "median": r.get("median"), "ci95": r.get("ci95"),
            "n": r.get("n"), "peak_rss": mem.get("peak_rss_bytes"), "peak_rss_ci95": mem.get("peak_rss_ci95_bytes"),
            "is_reference": commit == h.get("reference"),
            "same_as_reference": c is not None and commit != h.get("reference") and c.get("lib_hash") == ref_lib,
            "against_reference": ref, "skipped": (s or {}).get("reason"), "detail": (s or {}).get("detail"),
            "step": step_at.get(commit)})
    return rows


def detail_block(text: str | None) -> dict | None:
    """A compiler's output as a fenced block (its first DETAIL_MAX_LINES lines): a fence longer than
    any run of backticks in it, so the output cannot close it."""
    if not text:
        return None
    lines = str(text).splitlines()
    shown = lines[:DETAIL_MAX_LINES]
    fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", "\n".join(shown))), default=0))
    return {"lines": [Markup(line) for line in shown], "fence": Markup(fence), "cut": len(lines) - len(shown)}


# ---- the phases and the commits --------------------------------------------------------------

def _git_lines(project, *args) -> list[str] | None:
    from ..errors import UserError
    from ..revisions import _git         # the one place the project runs git

    try:
        proc = _git(project, *args)
    except UserError:
        return None
    return proc.stdout.splitlines() if proc.returncode == 0 else None


def own_repository(project) -> bool:
    """Whether the project's folder is the top of a git repository with a commit (a copy of the
    project inside some other repository is not: that history is not the project's)."""
    top = _git_lines(project, "rev-parse", "--show-toplevel")
    if not top or Path(top[0]).resolve() != Path(project.root).resolve():
        return False
    return bool(_git_lines(project, "rev-parse", "--verify", "--quiet", "HEAD"))


def phase_commit_ranges(project, phases, histories: dict | None = None) -> dict:
    """Per phase id, the commits it covered: {"from", "to", "to_head", "commits", "native", "histories",
    "note"}; "from" the commit that added its spec, "to" the one that added the next phase's spec
    (oldest first by date, as the timeline orders them) or HEAD; "commits" how many A..B holds and
    "native" how many of them touched native/; "histories" the recorded series (page names) that
    measured any of those.  {} without a repository of the project's own."""
    from ..phases import chronological

    if not own_repository(project):
        return {}
    head = _git_lines(project, "rev-parse", "HEAD")[0]
    starts = {}
    for spec in chronological(phases):
        added = _git_lines(project, "log", "--diff-filter=A", "--format=%H", "--",
                           spec.path or f"phases/{spec.id}.yaml")
        if added:
            starts[spec.id] = added[-1]         # git log is newest first: the first time it was added
    ordered = [s for s in chronological(phases) if s.id in starts]
    out = {}
    for i, spec in enumerate(ordered):
        a = starts[spec.id]
        b = starts[ordered[i + 1].id] if i + 1 < len(ordered) else head
        row = {"from": a, "to": b, "to_head": i + 1 == len(ordered), "commits": 0, "native": 0,
               "histories": [], "note": None}
        if a != b and _git_lines(project, "merge-base", "--is-ancestor", a, b) is None:
            row.update(to=None, note="its spec was committed after the next phase's, so it spans no range")
        elif a != b:
            row["commits"] = len(_git_lines(project, "rev-list", f"{a}..{b}") or [])
            native = set(_git_lines(project, "rev-list", f"{a}..{b}", "--", "native/") or [])
            row["native"] = len(native)
            row["histories"] = [name for name, e in (histories or {}).items()
                                if native & (set(e["order"]) - {e["history"].get("reference")})]
        out[spec.id] = row
    return out


def attach_histories(project, phases, results: dict, store=None) -> None:
    """results["histories"]: page name -> the newest recorded series of a workload and variant on
    this machine; results["phase_commits"]: phase id -> its commits (phase_commit_ranges)."""
    from ..machine import machine_id
    from ..store import Store
    from .record import latest_series

    store = store if store is not None else Store.for_project(project, machine_id())
    histories = {}
    for entry in latest_series(store):
        name = page_name(entry["workload"], entry["variant"])
        histories[name if name not in histories else f"{name}-{len(histories)}"] = entry
    results["histories"] = histories
    results["phase_commits"] = phase_commit_ranges(project, phases, histories)


def histories_of_phase(spec, results: dict) -> list[dict]:
    """The recorded series of the phase's baseline and candidate on its workloads: [{name, title,
    workload, variant, steps}] for the phase page's links."""
    out = []
    for name, e in (results.get("histories") or {}).items():
        if e["workload"] in spec.workloads and e["variant"] in spec.project_variants:
            out.append({"name": name, "title": title(e["workload"], e["variant"]), "workload": e["workload"],
                        "variant": e["variant"], "steps": [
                            {"commit": s["commit"], "verdict": s.get("verdict")} for s in e["history"].get("steps") or []]})
    return out


def linked_from(name: str, phases, results: dict) -> list[dict]:
    """The phases whose pages link the series `name`, oldest first: [{id, title}]."""
    from ..phases import chronological
    return [{"id": p.id, "title": p.title} for p in chronological(phases)
            if any(h["name"] == name for h in histories_of_phase(p, results))]
