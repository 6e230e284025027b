"""`reportgen history`: a commit range measured as one comparison group, and its steps.

The history is tests/history_lab.py's.  No timing is asserted but its gross slowdown.
"""
from __future__ import annotations

import json

import pytest

from reportgen.cli import main

from history_lab import QUICK, build_lab, git as _git, lab_env


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("history") / "lab"
    return root, build_lab(root)


@pytest.fixture(scope="module")
def env(lab):
    with lab_env(lab[0]):
        yield


def _history(root, capsys, *extra):
    rc = main(["--root", str(root), "history", "--workload", "mid_only", "--variant", "hak-6b", *extra])
    return rc, capsys.readouterr()


@pytest.fixture(scope="module")
def measured(lab, env):
    root, c = lab
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--root", str(root), "history", "--workload", "mid_only", "--variant", "hak-6b",
                   "--range", f"{c['ref']}..HEAD", "--json", *QUICK])
    assert rc == 0
    return json.loads(buf.getvalue())


def test_the_json_lists_each_native_commit_with_its_library_and_figure(lab, measured):
    _, c = lab
    out = measured
    assert {"workload", "variant", "commits", "steps", "skipped"} <= set(out)
    assert out["workload"] == "mid_only" and out["variant"] == "hak-6b"
    # the reference first, then the commits that touched native/ and built, oldest first (full ids)
    assert [x["commit"] for x in out["commits"]] == [c["ref"], c["comment"], c["slow"], c["mended"]]
    assert all(len(x["commit"]) == 40 and x["subject"] for x in out["commits"])
    for x in out["commits"]:
        assert {"commit", "subject", "lib_hash", "results"} <= set(x)
        assert x["results"]["median"] > 0 and x["results"]["n"] > 0



def test_no_command_moves_head_or_touches_the_work_tree(lab, measured):
    root, c = lab
    assert _git(root, "rev-parse", "HEAD") == c["mended"]
    assert _git(root, "status", "--porcelain", "--untracked-files=no") == ""


def test_the_same_code_is_one_library_measured_once(measured):
    by = {x["subject"]: x for x in measured["commits"]}
    assert by["comment in mid.c"]["lib_hash"] == by["reference"]["lib_hash"]
    assert by["compiles again"]["lib_hash"] == by["spin on every Mid free"]["lib_hash"] != by["reference"]["lib_hash"]
    assert measured["libraries"] == 2
    # one row of results per library: the commits that share it share its samples
    assert by["comment in mid.c"]["results"]["samples"] == by["reference"]["results"]["samples"]


def test_a_commit_that_does_not_build_is_skipped_with_its_reason(lab, measured):
    _, c = lab
    (s,) = measured["skipped"]
    assert s["commit"] == c["broken"] and "failed" in s["reason"] and "large" in s["reason"]


def test_a_gross_slowdown_is_one_step_at_its_commit(lab, measured):
    _, c = lab
    (step,) = measured["steps"]
    assert step["commit"] == c["slow"] and step["parent"] == c["comment"]
    # a spin of thousands of iterations on a free of tens of ns: several times slower, not a few %
    assert step["verdict"] == "slower" and step["ci95"][1] < -0.5 and step["size"] < -0.5
    assert set(step) >= {"commit", "parent", "size", "ci95", "verdict"}


def test_measured_again_the_series_is_reused(lab, measured, capsys):
    root, c = lab
    rc, cap = _history(root, capsys, "--range", f"{c['ref']}..HEAD", "--json", *QUICK)
    assert rc == 0
    again = json.loads(cap.out)
    assert again["measurement"]["reused"] is True
    assert [x["results"]["samples"] for x in again["commits"]] == [x["results"]["samples"] for x in measured["commits"]]


@pytest.mark.parametrize("bad, said", [
    ("HEAD", "expects A..B"),
    ("no-such-rev..HEAD", "'no-such-rev' is not a commit"),
    ("HEAD..HEAD~1", "is not an ancestor"),
    ("{slow}..{docs}", "touched native/"),      # only a commit outside native/ in it
    ("HEAD...HEAD~2", "expects A..B"),
])
def test_a_bad_range_is_one_line_and_exit_2(lab, env, capsys, bad, said):
    root, c = lab
    rc, cap = _history(root, capsys, "--range", bad.format(**c), "--json")
    assert rc == 2 and cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in cap.err
