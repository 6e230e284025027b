"""How long a `publish` with nothing changed takes against the number of phases, on this machine.

In a temporary copy of the project: one `publish --quick` measures the shipped phases (or
`--results DIR` copies stored results in, so nothing is measured), then for each count N the
copy gets N synthetic phase specs (copies of phase-6b with their own ids, so every measurement
they need is already in the store: nothing is measured) and is published twice: once to
render the new pages and build the site, then with nothing changed, which is the time printed.
Last, one spec's summary is edited and published again: that phase and the pages listing it
(timeline, machine page) are rendered, nothing else.

    python benchmarks/publish_scaling.py [--counts 10,50,200] [--results DIR] [--keep]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reportgen.project import Project  # noqa: E402

PARTS = ("native", "phases", "templates", "docs", "mkdocs.yml", "variants.yaml")
TEMPLATE_PHASE = "phase-6b"


def copy_project(src: Project, root: Path) -> None:
    for part in PARTS:
        path = src.root / part
        if path.is_dir():
            generated = ("phases", "plotly.min.js") if part == "docs" else ()
            shutil.copytree(path, root / part, ignore=shutil.ignore_patterns("*.o", "*.so", *generated))
        elif path.exists():
            shutil.copy2(path, root / part)


def synthetic_phases(root: Path, count: int) -> None:
    """`count` copies of the template phase as phases/phase-syn-NNNN.yaml (old ones removed)."""
    for old in (root / "phases").glob("phase-syn-*.yaml"):
        old.unlink()
    text = (root / "phases" / f"{TEMPLATE_PHASE}.yaml").read_text()
    for i in range(count):
        pid = f"phase-syn-{i:04d}"
        spec = re.sub(rf"^id: {TEMPLATE_PHASE}$", f"id: {pid}", text, count=1, flags=re.M)
        spec = re.sub(r'^title: "?(.*?)"?$', lambda m: f'title: "{m.group(1)} (synthetic copy {i})"', spec,
                      count=1, flags=re.M)
        (root / "phases" / f"{pid}.yaml").write_text(spec)


def timed_publish(project: Project):
    from reportgen.publish import publish
    from reportgen.store import Store
    from reportgen.machine import machine_id

    started = time.monotonic()
    done = publish(project, quick=True, store=Store.for_project(project, machine_id()))
    return time.monotonic() - started, done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="10,50,200", help="phase counts, comma-separated")
    ap.add_argument("--results", default=None, help="a results/ folder to reuse (else measured once, --quick)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project and print where it is")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",") if c.strip()]

    tmp = Path(tempfile.mkdtemp(prefix="publish-scaling-"))
    root = tmp / "lab"
    root.mkdir()
    copy_project(Project.locate(), root)
    os.environ["REPORTGEN_RESULTS_DIR"] = str(root / "results")
    os.environ["REPORTGEN_BUILD_DIR"] = str(root / "build" / "native")
    from reportgen.variants import using_project
    project = Project(root)
    with using_project(project):       # VARIANTS and WORKLOADS: the copy's declarations
        try:
            if args.results:
                shutil.copytree(args.results, root / "results")
            print("measuring the shipped phases once (publish --quick)..." if not args.results
                  else f"reusing the results in {args.results}", file=sys.stderr)
            seconds, _ = timed_publish(project)
            print(f"first publish (shipped phases): {seconds:.1f} s", file=sys.stderr)
            print(f"{'phases':>7} {'no-change publish':>18} {'pages rendered':>15} {'one spec edited':>16} "
                  f"{'pages rendered':>15}")
            for n in counts:
                synthetic_phases(root, n)
                timed_publish(project)                       # renders the new pages, builds the site
                seconds, done = timed_publish(project)       # nothing changed
                spec = root / "phases" / "phase-syn-0000.yaml"
                spec.write_text(spec.read_text().replace("summary: >", f"summary: >\n  Edited at {n}.", 1))
                edit_s, edited = timed_publish(project)
                total = len(list((root / "phases").glob("*.yaml")))
                print(f"{total:>7} {seconds:>16.2f} s {len(done.pages.rendered):>15} {edit_s:>14.2f} s "
                      f"{len(edited.pages.rendered):>15}", flush=True)
        finally:
            if args.keep:
                print(f"kept {tmp}", file=sys.stderr)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
