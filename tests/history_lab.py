"""A throwaway git history of a copy of the project, for the history, bisect and check tests.

The reference, a comment-only edit (the same library), a commit that makes every Mid free spin
(HAK_MID_FREE_SPIN: a slowdown of many times, so a step cannot be missed or mistaken for noise),
one outside native/, one that does not compile, and one that mends it (the slow library again).
`lab_env` points the results at the copy and the build cache at the suite's (content-addressed:
the reference's libraries are found built).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from reportgen.project import Project

from test_publish import copy_project

# what makes a run quick: a fixed design, one layout, short loops
QUICK = ["--rounds", "5", "--sessions", "4", "--layouts", "1", "--ops", "20000"]


def git(root, *args) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}).stdout.strip()


def commit(root, message) -> str:
    git(root, "commit", "-q", "-am", message)
    return git(root, "rev-parse", "HEAD")


def build_lab(root: Path) -> dict[str, str]:
    """Make `root` a copy of the project with the history above; {name: full commit id}."""
    copy_project(root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    c = {"ref": commit(root, "reference")}
    mid, config, large = root / "native" / "mid.c", root / "native" / "hak_config.h", root / "native" / "large.c"
    mid.write_text(mid.read_text() + "\n/* a comment only: the compiler sees the same code */\n")
    c["comment"] = commit(root, "comment in mid.c")
    text = config.read_text()
    assert "#define HAK_MID_FREE_SPIN 0\n" in text
    config.write_text(text.replace("#define HAK_MID_FREE_SPIN 0\n", "#define HAK_MID_FREE_SPIN 4000\n"))
    c["slow"] = commit(root, "spin on every Mid free")
    (root / "NOTES.txt").write_text("not native\n")
    git(root, "add", "NOTES.txt")
    c["docs"] = commit(root, "outside native/")
    good_large = large.read_text()
    large.write_text(good_large + "\nthis is not C;\n")
    c["broken"] = commit(root, "does not compile")
    large.write_text(good_large)
    c["mended"] = commit(root, "compiles again")
    return c


def run_json(root: Path, *argv: str) -> dict:
    """`reportgen --root ROOT ARGV... --json` in this process, for a module fixture (which has no
    capsys): its exit status asserted 0, its output read."""
    import io
    import json

    from reportgen.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--root", str(root), *argv, "--json"])
    assert rc == 0
    return json.loads(buf.getvalue())


@contextlib.contextmanager
def lab_env(root: Path):
    values = {"REPORTGEN_RESULTS_DIR": str(root / "results"), "REPORTGEN_BUILD_DIR": str(Project.locate().build_dir)}
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
