"""The site is swapped in whole: a build killed at any moment leaves the previous site complete,
and the next build clears what the killed one left. Fixture results (FAKE values)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.loader import fixture_results  # noqa: E402
from reportgen import render, site  # noqa: E402
from reportgen.phases import load_phases  # noqa: E402
from reportgen.project import Project  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

BUILD = """
import sys
from pathlib import Path
from reportgen import site
from reportgen.project import Project
site.build_site(Project.locate(), docs_dir=Path(sys.argv[1]), site_dir=Path(sys.argv[2]))
"""


def count_files(path: Path) -> int:
    n = 0
    for _dirpath, _dirs, files in os.walk(path):  # tolerant of folders vanishing meanwhile
        n += len(files)
    return n


def tree(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    project = Project.locate()
    phases = load_phases(project)
    docs = tmp_path_factory.mktemp("docs") / "docs"
    shutil.copytree(project.docs_dir, docs, ignore=shutil.ignore_patterns("phases", "plotly.min.js"))
    render.render_all(project, phases, fixture_results(phases, quick=True), out_dir=docs / "phases")
    return docs


@pytest.mark.parametrize("kill_after_files", [1, 40, 10**9])
def test_a_kill_during_the_build_leaves_the_old_site_whole(docs, tmp_path, kill_after_files):
    out = tmp_path / "site"
    site.build_site(Project.locate(), docs_dir=docs, site_dir=out)
    before = tree(out)
    assert "index.html" in before and "phases/phase-6b/index.html" in before
    (docs / "index.md").write_text((docs / "index.md").read_text() + "\n\nA second build.\n")
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(docs), str(out)], cwd=ROOT)
    try:
        # wait until the new build has written kill_after_files files (or has finished), then kill -9
        while proc.poll() is None:
            building = list(tmp_path.glob(".site.building-*"))
            if building and count_files(building[0]) >= kill_after_files:
                break
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    after = tree(out)
    # the old site or the new one, whole: the same files, every page there
    assert set(after) == set(before)
    new = "A second build." in (out / "index.html").read_text()
    if not new:
        assert after == before
    # the next build clears the killed one's leftovers and swaps in the new site
    site.build_site(Project.locate(), docs_dir=docs, site_dir=out)
    assert "A second build." in (out / "index.html").read_text()
    assert not list(tmp_path.glob(".site.building-*")) and not list(tmp_path.glob(".site.old-*"))
    assert set(tree(out)) == set(before)


def test_a_failed_build_keeps_the_old_site(docs, tmp_path):
    from reportgen.errors import UserError

    out = tmp_path / "site"
    site.build_site(Project.locate(), docs_dir=docs, site_dir=out)
    before = tree(out)
    bad = tmp_path / "docs"
    shutil.copytree(docs, bad)
    (bad / "phases" / "phase-6a.md").write_text("# x\n\n<script>alert(1)</script>\n")
    with pytest.raises(UserError, match="active content"):
        site.build_site(Project.locate(), docs_dir=bad, site_dir=out)
    assert tree(out) == before
    assert not list(tmp_path.glob(".site.building-*"))
