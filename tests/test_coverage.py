"""Change coverage (reportgen coverage): a phase's changed lines, and how often real runs executed them."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from reportgen import hypotheses
from reportgen.measuring.coverage import changed_lines
from reportgen.measuring.kinds.coverage import run_coverage
from reportgen.store import Store

pytestmark = pytest.mark.skipif(shutil.which("gcov") is None, reason="gcov is not installed")

CLI = "import sys; from reportgen.cli import main; sys.exit(main(sys.argv[1:]))"


def _lookup_lines(run):
    return [l for l in run["lines"] if l["function"] == "_hak_mid_registry_lookup"]


@pytest.fixture(scope="module")
def covered(project, tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("coverage-store"), "m")
    return run_coverage(project, "phase-6b", ["mid_mt_gap", "mt_remote"], quick=True, store=store), store


def test_changed_lines_are_what_the_builds_compile_differently(project):
    rows = changed_lines(project, "hak-6a", "hak-6b")
    by = {(r["file"], r["text"]): r for r in rows}
    lookup = [r for r in rows if "_hak_lock(&_hak_mid_registry_mutex" in r["text"]]
    assert lookup and all(r["in"] == ["hak-6a"] for r in lookup)         # 6-A's registry mutex
    assert any("hdr->magic" in r["text"] and r["in"] == ["hak-6b"] for r in rows)   # 6-B's header
    assert not any("HAK_VARIANT_NAME" in r["text"] for r in rows)        # the variant's own name is no change
    assert all(r["file"].startswith("native/") for r in rows)
    assert ("native/mid.c", "void _hak_mid_free(_hak_heap_t* heap, _hak_segment_t* chunk, void* p) {") in by


def test_registry_lookup_and_mutex_ran_on_mt_remote_and_not_on_mid_mt_gap(covered):
    out, _store = covered
    runs = {(r["workload"], r["variant"]): r for r in out["runs"]}
    gap, remote = runs[("mid_mt_gap", "hak-6a")], runs[("mt_remote", "hak-6a")]
    assert _lookup_lines(gap) and all(l["count"] == 0 for l in _lookup_lines(gap))
    mutex = [l for l in _lookup_lines(remote) if "_hak_mid_registry_mutex" in l["text"]]
    assert mutex and all(l["count"] > 0 for l in mutex)
    assert gap["functions"]["_hak_mid_registry_lookup"]["executions"] == 0
    assert remote["functions"]["_hak_mid_registry_lookup"]["executions"] > 0
    assert gap["functions"]["_hak_mid_free"]["executions"] > 0           # 6-A's free itself did run
    # 6-B compiles none of the registry lookup
    assert not _lookup_lines(runs[("mid_mt_gap", "hak-6b")])


def test_the_hypothesis_reads_it(phases, covered):
    out, _store = covered
    spec = phases["phase-6b"]
    (e1,) = [o for o in hypotheses.assess_all(spec, {"coverage": out}) if o.id == "E1"]
    assert e1.status == "confirmed", e1


def test_coverage_is_reused_while_current(project, covered):
    out, store = covered
    again = run_coverage(project, "phase-6b", ["mid_mt_gap", "mt_remote"], quick=True, store=store)
    assert again["reused"] and not out["reused"]
    assert [r["lines"] for r in again["runs"]] == [r["lines"] for r in out["runs"]]


def test_json_gives_file_line_and_count(project, tmp_path):
    import os
    proc = subprocess.run([sys.executable, "-c", CLI, "coverage", "--phase", "phase-6b", "--workload", "mid_mt_gap",
                           "--quick", "--json"], capture_output=True, text=True, cwd=project.root, timeout=600,
                          env={**os.environ, "REPORTGEN_RESULTS_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    line = out["runs"][0]["lines"][0]
    assert {"file", "line", "count"} <= set(line)


@pytest.mark.parametrize("args, env, expect", [
    (["--phase", "nope"], {}, "unknown phase 'nope'"),
    (["--phase", "phase-6b"], {"REPORTGEN_GCOV": "/nonexistent/gcov"}, "gcov is not installed"),
])
def test_bad_input_is_one_line(project, tmp_path, args, env, expect):
    import os
    proc = subprocess.run([sys.executable, "-c", CLI, "coverage", *args, "--quick"], capture_output=True, text=True,
                          cwd=project.root, timeout=600, env={**os.environ, "REPORTGEN_RESULTS_DIR": str(tmp_path), **env})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert not list(tmp_path.rglob("*.json"))
