"""Failures in plain sight: a crashing variant gets no verdict and no headline, its crash is on the
page and the timeline, and a record with failed runs is never reused as current.
Fixture results (FAKE values, tests/fixtures/)."""
from __future__ import annotations

import copy
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.loader import fixture_results  # noqa: E402
from reportgen import hypotheses, render  # noqa: E402
from reportgen.publish import exit_status, failure_summary  # noqa: E402
from reportgen.store import Failure, Record, Store, key_for  # noqa: E402

SEGV = "killed by SIGSEGV (last line: Fatal Python error: Segmentation fault)"


def crashed(results, variant="hak-6b", workloads=("mid_mt_gap", "mid_only", "mt_remote"), runs=6, ok=0):
    """`variant` in phase-6b: `runs` failed runs with SIGSEGV and `ok` successful ones, as bench records them;
    the comparison as the engine gives it for too few runs (a verdict of no change)."""
    res = copy.deepcopy(results)
    for wl in workloads:
        b = res["phases"]["phase-6b"]["bench"][wl]
        for r in b["results"]:
            if r["variant"] == variant:
                r["samples"] = r["samples"][:ok]
                r["failures"] = [{"run": i, "cause": SEGV} for i in range(runs)]
                if not ok:
                    r.update(median=None, ci95=None, cv=None, n=0, counters=None)
        for c in b["comparisons"]:
            if variant in (c["candidate"], c["baseline"]):
                c.update(verdict="no significant change", ci95=None, speedup_ci95=None, p_value=None)
    return res


def test_a_crashing_candidate_shows_its_crash_and_no_verdict(project, phases, tmp_path):
    res = crashed(fixture_results(list(phases.values())))
    render.render_all(project, list(phases.values()), res, out_dir=tmp_path / "phases")
    md = (tmp_path / "phases" / "phase-6b.md").read_text()
    summary = md.split("## Verdict and executive summary", 1)[1].split("\n## ", 1)[0]
    assert '!!! failure "Verdict: none, the measurement failed"' in summary
    assert "no significant change" not in summary and "SIGSEGV" in summary
    assert "**3 measurements failed** on this run" in summary
    perf = md.split("## Measured performance", 1)[1].split("\n## ", 1)[0]
    # the allocators' table is folded (4-space indented) under the judged comparisons
    row = next(l.strip() for l in perf.splitlines() if l.strip().startswith("| `hak-6b` | **failed**"))
    assert "**failed**" in row and "6 runs failed: killed by SIGSEGV" in row and "Segmentation fault" in row
    cmp_row = next(l for l in perf.splitlines() if l.startswith("| `hak-6b` | `hak-6a`"))
    assert "**no verdict**: failed" in cmp_row and "no significant change" not in cmp_row
    assert '!!! failure "Failed measurements (recorded, not hidden)"' in perf
    assert "bench mid_mt_gap · hak-6b: 6 runs failed" in perf
    # hypotheses reading that comparison are undecided, not decided by a crash
    outs = {o.id: o for o in hypotheses.assess_all(phases["phase-6b"],
                                                   render.failed_sides(res["phases"]["phase-6b"]))}
    assert outs["H5"].status == "inconclusive" and outs["H7"].status == "inconclusive"
    timeline = (tmp_path / "phases" / "index.md").read_text()
    entry = timeline.split("Phase 6-B", 1)[1].split("\n## ", 1)[0]
    assert 'rg-verdict">failed</span>' in entry and "no significant change" not in entry
    assert "measurements failed**" in entry and "SIGSEGV" in entry
    head = render.headline(phases["phase-6b"], res["phases"]["phase-6b"])
    assert head["verdict"] is None and head["median"] is None and "SIGSEGV" in head["failed"]
    # no headline point for the crashed phase in the history chart
    pts = [p for p in render.history_points(list(phases.values()), res) if p["phase"] == "phase-6b"]
    assert all(p["median"] is None for p in pts if p["series"].startswith("headline"))


def test_one_crashed_run_among_good_ones_still_gives_no_verdict(project, phases):
    res = crashed(fixture_results(list(phases.values())), workloads=("mid_mt_gap",), runs=1, ok=5)
    md = render.render_phase(project, phases["phase-6b"], res)
    assert "Verdict: none, the measurement failed" in md and "1 run failed: killed by SIGSEGV" in md


def test_publish_exit_status_and_failure_count(phases):
    good = fixture_results(list(phases.values()))
    assert exit_status(list(phases.values()), good) == 0 and failure_summary(list(phases.values()), good)[0] == 0
    bad = crashed(good)
    count, blocking = failure_summary(list(phases.values()), bad)
    assert count == 3 and len(blocking) == 3 and all("phase-6b: hak-6b on" in b for b in blocking)
    assert exit_status(list(phases.values()), bad) == 1
    # a peer failing is counted, but leaves the phase its verdict: exit 0
    peer = crashed(good, variant="glibc")
    assert failure_summary(list(phases.values()), peer)[0] == 3 and exit_status(list(phases.values()), peer) == 0


def test_a_record_with_failed_runs_is_never_current(tmp_path):
    store = Store(tmp_path, "m")
    key = key_for("bench", "w", "hak-6b", {"ops": 1})
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    good = Record(kind="bench", workload="w", allocator="hak-6b", params={"ops": 1}, source_hash="h",
                  created=t0, samples=[1.0, 2.0])
    store.put(good)
    assert store.current(key, "h") == good
    failed = Record(kind="bench", workload="w", allocator="hak-6b", params={"ops": 1}, source_hash="h",
                    created=t0 + timedelta(seconds=1), failures=[Failure(run=0, cause="OSError: bad CPU")])
    store.put(failed)
    assert store.current(key, "h") is None       # measure again
    assert store.latest(key) == failed           # still in the history
