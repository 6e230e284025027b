"""`reportgen history`: a commit range measured as one comparison group, and its steps.

The history is tests/history_lab.py's.  No timing is asserted but its gross slowdown.
"""
from __future__ import annotations

import json

import pytest

from reportgen.cli import main

from history_lab import QUICK, build_lab, git as _git, lab_env, run_json


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
    return run_json(root, "history", "--workload", "mid_only", "--variant", "hak-6b",
                    "--range", f"{c['ref']}..HEAD", *QUICK)


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


# ---- the series on the site (reportgen.history.page) ------------------------------------------

@pytest.fixture(scope="module")
def rendered(lab, measured):
    """The lab's pages rendered, with the series `measured` recorded."""
    root, _ = lab
    from fixtures.loader import fixture_results
    from reportgen.history.page import attach_histories
    from reportgen.phases import load_phases
    from reportgen.project import Project
    from reportgen.render import render_all

    project = Project.locate(root=root)
    phases = load_phases(project)
    # the phases' own figures are the renderer fixtures' (not what this test is about); the series is measured
    results = fixture_results(phases)
    attach_histories(project, phases, results)
    render_all(project, phases, results)
    return root / "docs" / "phases"


def test_the_series_has_a_page_with_its_step_marked_at_its_commit(lab, rendered):
    _, c = lab
    page = (rendered / "history" / "mid_only-hak-6b.md").read_text()
    assert page.count("# `hak-6b` on `mid_only` across commits") == 1
    # the step's callout names the slowing commit, and its row in the commits table says so
    callout = next(line for line in page.splitlines() if line.startswith('!!! failure "Step at'))
    assert c["slow"][:10] in callout and "slower" in callout
    row = next(line for line in page.splitlines() if "spin on every Mid free" in line and "| 3 |" in line)
    assert "**slower step**" in row and c["slow"] in row        # the full id, as the link's title
    # the commit that did not build is in its own table, with the compiler's output folded under it
    assert "## Commits that did not build" in page and "does not compile" in page
    assert '??? note "The compiler\'s output at ' + c["broken"][:10] in page
    # the chart: the median and its interval at every measured commit, the step drawn
    fig = json.loads((rendered / "history" / "mid_only-hak-6b" / "series.json").read_text())
    (medians,) = [t for t in fig["data"] if t["name"].startswith("median")]
    assert len(medians["x"]) == 4 and all(v > 0 for v in medians["y"])
    assert any(s.get("line", {}).get("color") == "#d32f2f" for s in fig["layout"].get("shapes") or [])


def test_the_phase_page_links_its_series_and_the_timeline_gives_each_phase_its_commits(lab, rendered):
    _, c = lab
    six_b = (rendered / "phase-6b.md").read_text()
    assert "## Across commits" in six_b and "(history/mid_only-hak-6b.md)" in six_b
    assert f"slower at `{c['slow'][:10]}`" in six_b
    # the lab's phases were all added in its first commit: each spans no commits or up to HEAD
    timeline = (rendered / "index.md").read_text()
    assert timeline.count("Commits: ") >= 1 and "touching `native/`" in timeline
    from reportgen.project import Project
    from reportgen.site import nav_for
    nav = nav_for(Project.locate(root=lab[0]), lab[0] / "docs")
    (phases,) = [n["Phases"] for n in nav if "Phases" in n]
    (across,) = [n["Across commits"] for n in phases if "Across commits" in n]
    assert across == [{"hak-6b on mid_only across commits": "phases/history/mid_only-hak-6b.md"}]


def test_measured_again_the_series_writes_no_second_record(lab, measured):
    root, _ = lab
    from reportgen.machine import machine_id
    from reportgen.project import Project
    from reportgen.store import Store
    records, _ = Store.for_project(Project.locate(root=root), machine_id()).scan("history")
    assert len(records) == 1 and records[0].extra["history"]["steps"][0]["commit"] == lab[1]["slow"]
