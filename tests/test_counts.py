"""Exact counts (reportgen counts): callgrind over the timed loop only, noise-free, stored and reused.

Small runs (a few thousand ops); no test asserts a timing."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from reportgen.measuring import callgrind
from reportgen.measuring.kinds.counts import run_counts
from reportgen.store import Store

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")

CLI = "import sys; from reportgen.cli import main; sys.exit(main(sys.argv[1:]))"
OPS = 3000


def cli(project, *args, env=None):
    import os
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, cwd=project.root,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def counted(project):
    return run_counts(project, "mid_mt_gap", ["hak-6a", "hak-6b"], ops=OPS)


def test_two_runs_give_the_same_counts(project, counted):
    for row in counted["results"]:
        assert row["runs"] == 2 and row["identical"], row["variant"]
        assert row["run_totals"][0] == row["run_totals"][1]
    # and a third and fourth run, in other processes, agree with them too
    again = run_counts(project, "mid_mt_gap", ["hak-6b"], ops=OPS)
    assert again["results"][0]["total"] == counted["results"][1]["total"]


def test_counts_per_op_per_free_and_the_difference(counted):
    a, b = counted["results"]
    assert counted["ops"] == OPS and a["ops"] == OPS
    for row in (a, b):
        assert row["instructions_per_op"] == row["per_op"]["instructions"] > 0
        assert row["per_free"]["instructions"] > 0          # the allocator's free path was counted
        assert row["groups"]["malloc"]["per_op"]["instructions"] > 0
        assert row["total"]["d1_misses"] == row["total"]["d1_read_misses"] + row["total"]["d1_write_misses"]
        assert any(f["function"] == "_hak_mid_free" and f["group"] == "free" for f in row["functions"])
    (d,) = counted["comparisons"]
    assert (d["baseline"], d["candidate"]) == ("hak-6a", "hak-6b")
    assert d["delta_instructions_per_op"] == pytest.approx(b["per_op"]["instructions"] - a["per_op"]["instructions"])
    assert d["delta_d1_misses_per_free"] == pytest.approx(b["per_free"]["d1_misses"] - a["per_free"]["d1_misses"])
    assert set(counted["cache_sim"]) >= {"D1", "LL"}


def test_counts_cover_the_timed_loop_only(project, counted):
    """More ops, more instructions in proportion: the set-up and warm-up are not counted (per op
    at twice the ops stays within a few instructions)."""
    twice = run_counts(project, "mid_mt_gap", ["hak-6a"], ops=2 * OPS)["results"][0]
    one = counted["results"][0]
    assert twice["total"]["instructions"] > 1.8 * one["total"]["instructions"]
    assert abs(twice["instructions_per_op"] - one["instructions_per_op"]) < 0.05 * one["instructions_per_op"]


def test_counts_are_reused_from_the_store(project, tmp_path):
    store = Store(tmp_path, "m")
    first = run_counts(project, "mid_mt_gap", ["hak-6b"], ops=1000, store=store)
    second = run_counts(project, "mid_mt_gap", ["hak-6b"], ops=1000, store=store)
    assert not first["reused"] and second["reused"]
    assert second["results"][0]["total"] == first["results"][0]["total"]


def test_parse_skips_the_inclusive_cost_of_calls():
    text = "\n".join(["events: Ir Dr", "fn=(1) caller", "3 10 2", "cfn=(2) callee", "calls=1 0", "4 100 50",
                      "fn=(2)", "5 100 50", "totals: 110 52"])
    got = callgrind.parse(text)
    assert got["functions"] == {"caller": {"Ir": 10, "Dr": 2}, "callee": {"Ir": 100, "Dr": 50}}
    assert got["totals"] == {"Ir": 110, "Dr": 52}


def test_groups_by_name():
    assert callgrind.group_of("_hak_mid_free") == "free"
    assert callgrind.group_of("_hak_mid_registry_lookup") == "free"
    assert callgrind.group_of("hak_malloc") == "malloc"
    assert callgrind.group_of("_hak_mid_alloc_slow") == "refill"
    assert callgrind.group_of("_hak_route") == "router"
    assert callgrind.group_of("sdallocx") == "free"


def test_json_names_instructions_per_op(project, tmp_path):
    proc = cli(project, "counts", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--ops", "1000", "--json",
               env={"REPORTGEN_RESULTS_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["results"][0]["instructions_per_op"] > 0


@pytest.mark.parametrize("args, env, expect", [
    (["--variant", "nope"], {}, "unknown variant 'nope'"),
    (["--variant", "hak-6b"], {"REPORTGEN_VALGRIND": "/nonexistent/valgrind"}, "valgrind is not installed"),
])
def test_bad_input_is_one_line(project, tmp_path, args, env, expect):
    proc = cli(project, "counts", "--workload", "mid_mt_gap", *args, "--ops", "1000",
               env={"REPORTGEN_RESULTS_DIR": str(tmp_path), **env})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert not list(tmp_path.rglob("*.json"))      # nothing recorded


def test_a_last_level_with_sets_not_a_power_of_two_keeps_its_size_for_valgrind():
    """A virtual machine's 480 MiB 16-way L3 has 491,520 sets, which valgrind refuses: the simulator
    is told the same size and line at the nearest associativity that it accepts, and says so."""
    geometry = {"L1d": {"size": 49152, "assoc": 12, "line": 64}, "L3": {"size": 503316480, "assoc": 16, "line": 64}}
    opts, used = callgrind.cache_options(geometry)
    assert used["LL"]["size"] == 503316480 and used["LL"]["assoc"] == 15 and used["LL"]["assoc_reported"] == 16
    proc = subprocess.run([callgrind.valgrind_path(), "--tool=callgrind", "--cache-sim=yes", *opts,
                           "--callgrind-out-file=/dev/null", "true"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_each_source_line_goes_to_its_own_function_inlined_or_not(project, counted):
    """The timed loop's cost by source function (kinds.counts, callgrind positions against the
    build's own copy of its sources): it accounts for the loop's cost, an inlined static helper
    keeps its own lines, and code 6-A's timed loop never reaches has none."""
    a, b = counted["results"]
    for row in (a, b):
        attributed = sum(f["self"]["instructions"] for f in row["source_functions"])
        assert attributed > 0.99 * row["total"]["instructions"]
        names = {f["function"] for f in row["source_functions"]}
        assert {"_hak_mid_free", "bench_gap_step", "_hak_map_lookup"} <= names
        # _hak_map_lookup is a static inline of hak_internal.h: no callgrind function of its own
        assert not any(f["function"] == "_hak_map_lookup" for f in row["functions"])
    names_a = {f["function"] for f in a["source_functions"]}
    assert "_hak_mid_registry_lookup" not in names_a            # ran 0 times on mid_mt_gap (H1)
    assert any(f["function"] == "_hak_mid_magic_at" for f in b["source_functions"])   # 6-B's header check


def test_a_quick_count_runs_each_allocator_once(project, tmp_path):
    out = run_counts(project, "mid_mt_gap", ["hak-6b"], quick=True, ops=1000, store=Store(tmp_path, "m"))
    (row,) = out["results"]
    assert row["runs"] == 1 and len(row["run_totals"]) == 1 and row["per_op"]["instructions"] > 0
