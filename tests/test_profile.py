"""CPU profiles (reportgen profile): perf over the timed loops, each share with its interval.

Small runs; no test asserts a timing.  Skipped where perf is missing or refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reportgen import profile
from reportgen.errors import UserError
from reportgen.kinds.profile import run_profile
from reportgen.store import Store


def _perf_works() -> bool:
    try:
        profile.check_allowed()
        return True
    except UserError:
        return False


pytestmark = pytest.mark.skipif(not _perf_works(), reason="perf is missing or refused here")
CLI = "import sys; from reportgen.cli import main; sys.exit(main(sys.argv[1:]))"


def test_profile_of_the_timed_loop_with_intervals(project, tmp_path):
    store = Store(tmp_path, "m")
    out = run_profile(project, "mid_mt_gap", ["hak-6b"], ops=300_000, store=store)
    (row,) = out["results"]
    assert row["samples"] > 0 and row["symbols"]
    assert sum(s["samples"] for s in row["symbols"]) <= row["samples"]
    for s in row["symbols"]:
        lo, hi = s["share_ci95"]
        assert 0 <= lo <= s["share"] <= hi <= 1
    # sampling is on for the timed loop only: the allocator and the driver hold most samples
    ours = sum(s["samples"] for s in row["symbols"] if "hak" in s["dso"])
    assert ours > row["samples"] / 2
    assert run_profile(project, "mid_mt_gap", ["hak-6b"], ops=300_000, store=store)["reused"]


def test_parse_report():
    text = "# Samples: 10  of event 'cpu-clock'\n    60.00%  6  libhak.so  [.] hak_free\n    40.00%  4  [kernel.kallsyms]  [k] clear_page\n"
    got = profile.parse_report(text)
    assert got["samples"] == 10
    assert got["symbols"][0] == {"symbol": "hak_free", "dso": "libhak.so", "samples": 6, "kernel": False}
    assert got["symbols"][1]["kernel"]


def test_missing_perf_is_one_line(project, tmp_path):
    proc = subprocess.run([sys.executable, "-c", CLI, "profile", "--workload", "mid_mt_gap", "--variant", "hak-6b",
                           "--quick", "--json"], capture_output=True, text=True, cwd=project.root, timeout=300,
                          env={**os.environ, "REPORTGEN_RESULTS_DIR": str(tmp_path),
                               "REPORTGEN_PERF": "/nonexistent/perf"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "perf is not installed" in lines[0]
    assert not list(tmp_path.rglob("*.json"))
    assert not json.loads("[]")
