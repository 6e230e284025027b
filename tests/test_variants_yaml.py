"""Variants as data: variants.yaml declares the project variants (flags, optionally a git revision).

A new variant plus a new phase spec, with no Python change, builds, measures and renders a phase;
a variant declared at an older commit is built from that commit's native/ and measured beside
the current ones. A bad declaration is one line and exit 2.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from reportgen.build import source_hash
from reportgen.cli import main
from reportgen.project import Project
from reportgen.variants import PEERS, Variant, project_variants

from test_publish import copy_project

SHIPPED = yaml.safe_load((Project.locate().root / "variants.yaml").read_text())


def test_the_shipped_declarations_are_the_project_variants():
    declared = project_variants(Project.locate())
    assert list(declared) == ["hak-6a", "hak-6b", "hak-6c", "hak-6a-pad16", "hak-6d", "hak-6d-pad16"]
    assert declared["hak-6d-pad16"].flags == {"HAK_MID_FREE_CHUNK": "1", "HAK_MID_BLOCK_PAD": "16"}
    assert declared["hak-6c"].flags == {"HAK_MID_FREE_HEADER": "1", "HAK_MID_REMOTE_LOCKFREE": "1"}
    assert declared["hak-6a-pad16"].flags == {"HAK_MID_FREE_REGISTRY": "1", "HAK_MID_BLOCK_PAD": "16"}
    assert all(v.revision is None and v.description for v in declared.values())


def _with(tmp_path: Path, *entries: dict) -> Path:
    root = tmp_path / "lab"
    copy_project(root)
    data = {"variants": SHIPPED["variants"] + list(entries)}
    (root / "variants.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root


@pytest.mark.parametrize("entry, says", [
    ({"name": "hak-x", "description": "d", "flags": {}, "colour": "red"}, "colour"),
    ({"name": "hak-6a", "description": "again", "flags": {}}, "declared twice"),
    ({"name": "hak-x", "description": "d", "flags": {"1BAD": "1"}}, "not a C identifier"),
    ({"name": "hak-x", "description": "d", "flags": {"HAK A": "1"}}, "not a C identifier"),
    ({"name": "glibc", "description": "d", "flags": {}}, "system allocator"),
    ({"name": "hak-x", "description": "d", "flags": {}, "revision": "--upload-pack=x"}, "revision"),
    ({"name": "hak-x", "description": "d", "flags": {}, "revision": "a..b"}, "revision"),
    ({"name": "../x", "description": "d", "flags": {}}, "name"),
])
def test_a_bad_declaration_is_one_line_and_exit_2(tmp_path, capsys, entry, says):
    root = _with(tmp_path, entry)
    for argv in (["variants", "--json"], ["run", "--quick"]):
        assert main(["--root", str(root), *argv]) == 2
        err = capsys.readouterr().err
        first_new = len(SHIPPED["variants"])
        assert err.startswith(f"reportgen: error: variants.yaml: variants[{first_new}]") and says in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_revision_that_is_not_a_commit_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    root = _with(tmp_path, {"name": "hak-x", "description": "d", "flags": {}, "revision": "no-such-tag"})
    monkeypatch.setenv("REPORTGEN_BUILD_DIR", str(root / "build"))
    assert main(["--root", str(root), "bench", "--workload", "mid_mt_gap", "--variant", "hak-x"]) == 2
    err = capsys.readouterr().err
    assert "revision 'no-such-tag' is not a commit" in err and "Traceback" not in err


def test_a_phase_spec_may_only_name_declared_variants(tmp_path, capsys):
    root = _with(tmp_path)
    spec = (root / "phases" / "phase-6a.yaml").read_text().replace("baseline: hak-6a", "baseline: hak-6z", 1)
    (root / "phases" / "phase-6a.yaml").write_text(spec)
    assert main(["--root", str(root), "render"]) == 2
    assert "unknown allocator 'hak-6z'" in capsys.readouterr().err


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


NEW_PHASE = """\
id: phase-6x
title: "Phase 6-X: the header free against its own older code"
date: 2026-01-10
status: investigating
question: Does the header free at its older commit differ from a new flag set?
baseline: hak-6b-then
candidate: hak-6x
peers: [hak-6b]
workloads: [mid_mt_gap]
sampling: {budget_s: 2, min_sessions: 3, max_sessions: 4, session_rounds: 3}
conclusion: Declared in data only.
"""


def test_a_new_variant_and_an_old_revision_measured_from_data_only(tmp_path, monkeypatch):
    """No Python change: a variants.yaml entry with new flags, one at an older commit, and a phase spec."""
    root = tmp_path / "lab"
    copy_project(root)
    # a throwaway history: the old code, then a real change to the Mid pool
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "old")
    mid = root / "native" / "mid.c"
    mid.write_text(mid.read_text() + "\nint hak_issue11_marker(void) { return 11; }\n")
    _git(root, "commit", "-q", "-am", "new")
    entries = [{"name": "hak-6b-then", "description": "6-B as it stood one commit ago",
                "flags": {"HAK_MID_FREE_HEADER": "1"}, "revision": "HEAD~1"},
               {"name": "hak-6x", "description": "6-C with Tiny up to 1023 bytes",
                "flags": {"HAK_MID_FREE_HEADER": "1", "HAK_MID_REMOTE_LOCKFREE": 1, "HAK_TINY_MAX": 1023}}]
    (root / "variants.yaml").write_text(yaml.safe_dump({"variants": SHIPPED["variants"] + entries}, sort_keys=False))
    (root / "phases" / "phase-6x.yaml").write_text(NEW_PHASE)
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(root / "results"))
    monkeypatch.setenv("REPORTGEN_BUILD_DIR", str(root / "build" / "native"))
    project = Project(root)

    # the build hash covers the extracted code, not the revision's name
    then = project_variants(project)["hak-6b-then"]
    at_head = Variant(then.name, then.description, then.flags, "HEAD")
    working_tree = Variant(then.name, then.description, then.flags)
    assert source_hash(project, at_head) == source_hash(project, working_tree) != source_hash(project, then)
    old_commit = _git(root, "rev-parse", "HEAD~1")
    assert "hak_issue11_marker" not in (root / "build" / "sources" / old_commit / "native" / "mid.c").read_text()

    assert main(["--root", str(root), "publish", "--quick", "--phase", "phase-6x"]) == 0
    benches = [json.loads(p.read_text()) for p in (root / "results").glob("*/bench/*/*.json")]
    measured = {b["allocator"]: b for b in benches if b["workload"] == "mid_mt_gap"}
    assert {"hak-6b-then", "hak-6x", "hak-6b"} <= set(measured)
    assert measured["hak-6b-then"]["source_hash"] == source_hash(project, then)
    assert measured["hak-6b-then"]["source_hash"] != measured["hak-6b"]["source_hash"]
    page = (root / "docs" / "phases" / "phase-6x.md").read_text()
    assert "Phase 6-X" in page and "hak-6b-then" in page and "hak-6x" in page
    assert "not measured yet" not in page
    assert (root / "site" / "phases" / "phase-6x" / "index.html").exists()
