"""Workloads as data: workloads.yaml declares the workloads (a driver loop with its parameters, or a
program). A new entry is measured with no Python change; a bad one is one line and exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reportgen.cli import main
from reportgen.project import Project
from reportgen.measuring.workloads import project_workloads

from test_publish import copy_project

SHIPPED = yaml.safe_load((Project.locate().root / "workloads.yaml").read_text())


def test_the_shipped_declarations_are_todays_workloads():
    declared = project_workloads(Project.locate())
    assert list(declared) == ["mid_mt_gap", "mid_only", "mt_remote", "retention",
                              "py_churn", "sqlite_rows", "xz_t2", "gcc_hak", "redis",
                              "larson", "xmalloc", "larson_mid", "xmalloc_mid", "cache_scratch", "mstress"]
    gap, only, remote, retention, py, sql, xz, gcc, redis, *stress = declared.values()
    assert (gap.driver, gap.sizes, gap.slots, gap.ops, gap.warmup_ops, gap.seed) == \
        ("gap", (1024, 2048, 4096, 8192), 256, 1_000_000, 100_000, 0x6B)
    assert only.sizes == (8192, 16384, 32768) and only.slots == 256
    assert (remote.driver, remote.threads, remote.ops, remote.values, remote.session_rounds) == \
        ("remote", 2, 100_000, 1, 5)
    assert (retention.driver, retention.sizes_after, retention.keep, retention.ops) == \
        ("retention", (3000, 6000), 16, 2 * retention.slots)          # tests/test_retention.py: the rest
    assert all(w.description and "  " not in w.description for w in declared.values())
    # the programs (tests/test_programs.py measures them): one run a sample, five rounds a session
    for w in (py, sql, xz, gcc):
        assert (w.driver, w.ops, w.values, w.session_rounds, w.timeout_s, w.sizes) == ("program", 1, 1, 5, 60.0, ())
    assert py.program[:2] == ("/usr/bin/python3", "-c") and py.env == (("PYTHONMALLOC", "malloc"),)
    assert "print(acc)" in py.program[2] and not py.setup and py.threads == 1
    assert sql.program[:2] == ("sqlite3", ":memory:") and "WITH RECURSIVE" in sql.program[2] and not sql.env
    assert xz.threads == 2 and xz.takes_threads and xz.program[:2] == ("xz", "-T{threads}")
    assert xz.setup[:2] == ("/usr/bin/python3", "-c") and xz.setup[-1] == "{scratch}/input"
    assert "random.Random(107)" in xz.setup[2]
    assert gcc.program[:4] == ("gcc", "-O2", "-DHAK_MID_FREE_HEADER", "-c") and not gcc.takes_threads
    assert [a.rsplit("/", 1)[-1] for a in gcc.program[4:]] == \
        ["tiny.c", "mid.c", "large.c", "router.c", "heap.c", "segment.c", "stats.c"]
    # a server: started preloaded on a loopback port, the client and the check not preloaded
    assert redis.server[0] == "{scratch}/redis-server" and "{port}" in redis.server and "127.0.0.1" in redis.server
    assert redis.program[0] == "redis-benchmark" and "{port}" in redis.program
    assert redis.check[0] == "redis-cli" and "{port}" in redis.check and redis.to_dict()["server"] == list(redis.server)
    assert "server" not in py.to_dict()
    # the lab's stress programs: native/stress/stress.c through the {stress} token, on two threads
    assert [(w.program[:3], w.threads, w.takes_threads) for w in stress] == \
        [(("{stress}", t, "{threads}"), 2, True) for t in ("larson", "xmalloc", "larson", "xmalloc", "scratch", "mstress")]
    assert [w.program[4:] for w in stress[2:4]] == [("2048", "8192")] * 2      # the Mid pool's sizes
    # a program's to_dict holds its fields; a driver's keeps its keys (no program fields)
    assert py.to_dict()["program"][0] == "/usr/bin/python3" and py.to_dict()["env"] == {"PYTHONMALLOC": "malloc"}
    assert not {"program", "setup", "env", "timeout_s"} & set(gap.to_dict())


def project_with_workloads(tmp_path: Path, *entries: dict) -> Path:
    """A copy of the project whose workloads.yaml is the shipped one with `entries` appended."""
    root = tmp_path / "lab"
    copy_project(root)
    (root / "workloads.yaml").write_text(yaml.safe_dump({"workloads": SHIPPED["workloads"] + list(entries)},
                                                        sort_keys=False))
    return root


GAP = {"kind": "gap", "sizes": [4096], "slots": 64, "ops": 20000, "seed": 1}


@pytest.mark.parametrize("entry, says", [
    ({"name": "w", "description": "d", "driver": {**GAP, "colour": "red"}}, "colour"),
    ({"name": "w", "description": "d", "driver": GAP, "program": {"argv": ["true"]}}, "exactly one"),
    ({"name": "w", "description": "d"}, "exactly one"),
    ({"name": "w", "description": "d", "driver": {**GAP, "slots": 0}}, "slots must be at least 1"),
    ({"name": "w", "description": "d", "driver": {**GAP, "kind": "remote", "slots": 0}}, "at least 2"),
    ({"name": "w", "description": "d", "driver": {**GAP, "sizes": [0]}}, "1 byte to 1 GiB"),
    ({"name": "w", "description": "d", "driver": {**GAP, "kind": "ring"}}, "kind"),
    ({"name": "mid_only", "description": "again", "driver": GAP}, "declared twice"),
    ({"name": "../w", "description": "d", "driver": GAP}, "name"),
])
def test_a_bad_declaration_is_one_line_and_exit_2(tmp_path, capsys, entry, says):
    root = project_with_workloads(tmp_path, entry)
    assert main(["--root", str(root), "bench", "--workload", "mid_mt_gap", "--variant", "hak-6a",
                 "--rounds", "1", "--sessions", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reportgen: error: workloads.yaml: workloads[") and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_new_workload_is_measured_from_data_only(tmp_path, capsys, monkeypatch):
    """No Python change: an entry with new parameters runs through bench; a program entry is
    measured by bench (tests/test_programs.py), and the driver-only commands refuse it in one line."""
    root = project_with_workloads(tmp_path, {"name": "mid_small_set", "description": "64 live blocks of 4 KiB", "driver": GAP},
                 {"name": "py_dicts", "description": "a Python program", "program": {"argv": ["python3", "-c", "1"]}})
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(tmp_path / "results"))
    assert main(["--root", str(root), "bench", "--workload", "mid_small_set", "--variant", "hak-6a",
                 "--variant", "glibc", "--rounds", "2", "--sessions", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workload"] == "mid_small_set" and out["sizes"] == [4096] and out["ops"] == 20000
    assert all(r["samples"] and not r["failures"] for r in out["results"])
    assert out["results"][0]["counters"]["mid_allocs"] > 0         # 4 KiB: hak's Mid pool
    assert main(["--root", str(root), "route", "--workload", "py_dicts", "--variant", "hak-6a"]) == 2
    err = capsys.readouterr().err
    assert "is a program" in err and "`reportgen bench` measures programs" in err, err
    assert len(err.strip().splitlines()) == 1
