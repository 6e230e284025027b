"""A commit range measured as one experiment: each commit that touched native/ built from its own
native/ (reportgen.revisions, never the work tree's, HEAD never moved) and all of them measured as
the allocators of one comparison group of the bench kind (one session series, rounds interleaved).

Commits are named in the group by the library they compile to (`<variant>@<lib hash>`): commits
whose code is the same (a comment, a file outside the build) share one library and are measured
once, and a later history over the same code finds their records under the same name.  The
reference (A of A..B) is the group's baseline.  A commit that does not build is recorded as
skipped with the compiler's one-line reason.  The harness (bench.c) and the workload are the work
tree's for every commit, so only the allocator differs between them.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import UserError
from ..project import Project

MAX_COMMITS = 64      # allocators of one group; beyond it a range is to be thinned with --every


def _git(project: Project, *args: str) -> tuple[int, str, str]:
    from ..revisions import _git as git     # the one place the project runs git
    proc = git(project, *args)
    return proc.returncode, proc.stdout or "", proc.stderr or ""


def commit_series(project: Project, text: str, every: int = 1) -> list[dict]:
    """[{commit, subject}] of A..B: A (the reference) first, then each commit after it up to B that
    touched native/, oldest first (`git rev-list --reverse A..B -- native/`); with `every` N, every
    Nth of those, and always B's side's last one, so the range's end is measured."""
    parts = text.split("..")
    if len(parts) != 2 or "" in parts or "." in (parts[0][-1:], parts[1][:1]):
        raise UserError(f"--range expects A..B (two revisions, as git reads it), got {text!r}")
    from ..revisions import resolve
    a, b = (resolve(project, p, f"--range {text!r}:") for p in parts)
    rc, _, _ = _git(project, "merge-base", "--is-ancestor", a, b)
    if rc != 0:
        raise UserError(f"--range {text!r}: {parts[0]} is not an ancestor of {parts[1]}")
    rc, out, err = _git(project, "log", "--reverse", "--format=%H%x09%s", f"{a}..{b}", "--", "native/")
    if rc != 0:
        raise UserError(f"--range {text!r}: git log failed: {(err.strip().splitlines() or ['?'])[-1]}")
    later = [dict(zip(("commit", "subject"), line.split("\t", 1))) for line in out.splitlines() if line]
    if not later:
        raise UserError(f"--range {text!r}: no commit after {parts[0]} up to {parts[1]} touched native/")
    if every > 1:
        later = later[every - 1::every] + ([later[-1]] if len(later) % every else [])
    rc, subject, _ = _git(project, "log", "-1", "--format=%s", a)
    out = [{"commit": a, "subject": subject.strip()}, *later]
    if len(out) > MAX_COMMITS:
        raise UserError(f"--range {text!r}: {len(out)} commits to measure, at most {MAX_COMMITS} in one "
                        f"series; thin it with --every")
    return out


def build_series(project: Project, variant, commits: list[dict]) -> tuple[list[dict], list, list[dict]]:
    """Each commit built as `variant` at that commit: (commits with lib_hash and label, the
    distinct allocator specs in series order, skipped [{commit, reason}])."""
    from ..build import lib_hash
    from ..measuring.child import resolve_allocator
    from ..variants import Variant

    built, specs, skipped, seen = [], [], [], {}
    for c in commits:
        # the variant's own name, so the build (and its hash) depends only on the code and flags
        at = Variant(variant.name, variant.description, dict(variant.flags), c["commit"])
        try:
            spec = resolve_allocator(project, at)
        except UserError as exc:
            # the reason one line (the compiler's first error); its whole output beside it
            reason = str(exc).replace(" (compiler output follows)", "")
            skipped.append({"commit": c["commit"], "subject": c["subject"], "reason": reason,
                            "detail": exc.detail})
            continue
        h = lib_hash(Path(spec.hak_lib))
        label = f"{variant.name}@{h}"
        if label not in seen:
            seen[label] = replace(spec, name=label)
            specs.append(seen[label])
        built.append({**c, "lib_hash": h, "label": label})
    return built, specs, skipped


def run_history(project: Project, workload: str, variant: str, range_text: str, *, every: int = 1,
                sampling=None, ops: int | None = None, threads: int | None = None, store=None,
                force: bool = False, progress=None, record: bool = True) -> dict:
    """Measure (or reuse) variant `variant` at each commit of `range_text`: the `history --json` shape.

    With a store, the series is kept there as a `history` record (reportgen.history.record: what
    the site's history page shows) unless `record` is False (a caller measuring a range only to
    answer a question of its own)."""
    from ..measuring.kinds.bench import run_bench
    from ..measuring.workloads import get_workload
    from ..variants import get_variant
    from .steps import find_steps

    if every < 1:
        raise UserError(f"--every must be a positive whole number, got {every!r}")
    v = get_variant(variant, project)
    w = get_workload(workload)          # a bad workload is refused before anything is built
    commits = commit_series(project, range_text, every)
    built, specs, skipped = build_series(project, v, commits)
    if not specs:
        raise UserError(f"no commit of {range_text} builds {variant}: "
                        + "; ".join(f"{s['commit'][:10]}: {s['reason']}" for s in skipped[:3]))
    labels = [b["label"] for b in built]
    # adjacent commits with different code: the comparisons a step is judged by, from the same rounds
    pairs = list(dict.fromkeys((after, before) for before, after in zip(labels, labels[1:]) if before != after))
    bench = run_bench(project, w.name, specs, sampling=sampling, ops=ops, threads=threads, store=store,
                      force=force, progress=progress, contrasts=pairs)
    rows = {r["variant"]: r for r in bench.get("results") or []}
    against_ref = {c["candidate"]: c for c in bench.get("comparisons") or []}
    contrasts = {(c["candidate"], c["baseline"]): c for c in bench.get("contrasts") or []}
    series = [{"commit": b["commit"], "subject": b["subject"], "lib_hash": b["lib_hash"], "label": b["label"],
               "results": rows.get(b["label"]),
               "against_reference": against_ref.get(b["label"])} for b in built]
    order = [c["commit"] for c in commits]
    steps, candidates = find_steps(series, contrasts, skipped, order)
    out = {"workload": w.name, "variant": v.name, "range": range_text, "every": every,
           "reference": commits[0]["commit"], "commits": series, "steps": steps, "candidates": candidates,
           "skipped": skipped, "libraries": len(specs),
           "measurement": {k: bench.get(k) for k in ("session", "sessions", "session_rounds", "stop", "elapsed_s",
                                                     "reused", "ops", "unit")},
           "noise": bench.get("noise")}
    if store is not None and record:
        from .record import save_series
        save_series(project, store, out, order)
    return out
