"""Sweeps: one parameter of a workload over several values, each a full comparison (reportgen.measuring.kinds.sweep).

Measured for real, with few ops and a fixed design; the page side is in test_publish (6-B's slots sweep).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml

from reportgen.cli import main
from reportgen.errors import UserError
from reportgen.phases import load_phase
from reportgen.project import Project

ROOT = Project.locate().root
FIXED = ["--rounds", "3", "--sessions", "3", "--ops", "20000"]


@pytest.fixture(scope="module")
def slots_sweep(tmp_path_factory):
    """`reportgen sweep` of mid_mt_gap's slots at 256 and 16,384, 6-A against 6-B: its JSON."""
    results = tmp_path_factory.mktemp("results")
    old = os.environ.get("REPORTGEN_RESULTS_DIR")
    os.environ["REPORTGEN_RESULTS_DIR"] = str(results)
    try:
        out = _json(["sweep", "--workload", "mid_mt_gap", "--param", "slots", "--values", "16384,256",
                     "--variant", "hak-6a", "--variant", "hak-6b", *FIXED])
    finally:
        if old is None:
            os.environ.pop("REPORTGEN_RESULTS_DIR", None)
        else:
            os.environ["REPORTGEN_RESULTS_DIR"] = old
    return out, results


def _json(args: list[str]) -> dict:
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*args, "--json"]) == 0
    return json.loads(buf.getvalue())


def test_each_value_is_a_comparison_and_past_one_chunk_6a_takes_the_registry_on_local_frees(slots_sweep):
    out, _ = slots_sweep
    assert (out["workload"], out["param"], out["values"]) == ("mid_mt_gap", "slots", [256, 16384])
    assert [p["value"] for p in out["points"]] == [256, 16384]
    by = {p["value"]: {r["variant"]: r for r in p["results"]} for p in out["points"]}
    small, large = by[256]["hak-6a"]["counters"], by[16384]["hak-6a"]["counters"]
    # 256 blocks of at most 8 KiB stay within one 4 MiB chunk per class: every free is on the fast path
    assert small["registry_lookups"] == 0 and small["mutex_locks"] == 0
    # 16,384 fill several chunks per class: single-threaded (no remote free), yet the registry is taken
    assert large["registry_lookups"] > 0 and large["mid_remote_frees"] == 0
    assert large["mutex_locks"] == large["registry_lookups"]
    assert by[16384]["hak-6b"]["counters"]["registry_lookups"] == 0       # 6-B has no registry
    for p in out["points"]:
        (c,) = p["comparisons"]
        assert c["candidate"] == "hak-6b" and c["baseline"] == "hak-6a"
        assert len(c["speedup_ci95"]) == 2 and math.isfinite(c["speedup"])
        assert c["family_size"] == 2 and c["p_adjusted"] >= c["p_value"]     # Holm over the sweep's two
        assert (p["results"][0].get("memory") or {}).get("peak_rss_bytes") is not None
        assert p["threads_over_cores"] is False
    assert out["family"]["size"] == 2 and out["cores"] == os.cpu_count()


def test_a_sweep_is_reused_from_the_store_like_a_bench(slots_sweep):
    out, results = slots_sweep
    old = os.environ.get("REPORTGEN_RESULTS_DIR")
    os.environ["REPORTGEN_RESULTS_DIR"] = str(results)
    try:
        again = _json(["sweep", "--workload", "mid_mt_gap", "--param", "slots", "--values", "256,16384",
                       "--variant", "hak-6a", "--variant", "hak-6b", *FIXED])
        # one of the points alone is the same comparison group: the bench reuses it too
        bench = _json(["bench", "--workload", "mid_mt_gap", "--variant", "hak-6a", "--variant", "hak-6b", *FIXED])
    finally:
        if old is None:
            os.environ.pop("REPORTGEN_RESULTS_DIR", None)
        else:
            os.environ["REPORTGEN_RESULTS_DIR"] = old
    assert all(p["reused"] for p in again["points"])
    assert [p["session"] for p in again["points"]] == [p["session"] for p in out["points"]]
    assert bench["reused"] and bench["session"] == out["points"][0]["session"]


def test_threads_sweep_says_where_threads_outnumber_cores(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(tmp_path))
    cores = os.cpu_count()
    out = _json(["sweep", "--workload", "mt_remote", "--param", "threads", "--values", f"2,{cores + 1}",
                 "--variant", "hak-6a", "--variant", "hak-6c", "--rounds", "2", "--sessions", "3", "--ops", "6000"])
    assert [p["value"] for p in out["points"]] == sorted({2, cores + 1})
    assert [p["threads_over_cores"] for p in out["points"]] == [2 > cores, True]
    for p in out["points"]:
        a6 = next(r for r in p["results"] if r["variant"] == "hak-6a")
        assert a6["counters"]["mid_remote_frees"] > 0      # every free crosses threads, at each count


@pytest.mark.parametrize("args, says", [
    (["--workload", "mid_mt_gap", "--param", "threads", "--values", "2,4"], "cannot sweep 'threads'; it sweeps slots, ops"),
    (["--workload", "mid_mt_gap", "--param", "slots", "--values", "64,lots"], "whole numbers, got 'lots'"),
    (["--workload", "mid_mt_gap", "--param", "slots", "--values", "64,64"], "64 is given twice"),
    (["--workload", "mid_mt_gap", "--param", "slots", "--values", "0,64"], "slots = 0 is outside 1.."),
    (["--workload", "mt_remote", "--param", "threads", "--values", "1,2"], "threads = 1 is outside 2.."),
    (["--workload", "mt_remote", "--param", "threads", "--values", "2,3", "--threads", "2"], "--threads is what"),
    (["--workload", "no_such", "--param", "slots", "--values", "1,2"], "unknown workload 'no_such'"),
    (["--workload", "mid_mt_gap", "--param", "slots", "--values", ","], "1 to 32 values"),
])
def test_a_bad_sweep_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, says):
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(tmp_path))
    assert main(["sweep", *args, "--variant", "hak-6a", "--variant", "hak-6b", "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reportgen: error: ") and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list(Path(tmp_path).rglob("*.json"))           # nothing was measured


# ---- a phase's sweeps ------------------------------------------------------------------------------

def _spec() -> dict:
    """The shipped 6-B spec, which sweeps slots on mid_mt_gap and mid_only and checks W1 over them."""
    d = yaml.safe_load((ROOT / "phases" / "phase-6b.yaml").read_text()) | {"id": "phase-x"}
    assert [sw["workload"] for sw in d["sweeps"]] == ["mid_mt_gap", "mid_only"]
    assert any(h["id"] == "W1" for h in d["hypotheses"])
    return d


def test_a_phase_with_sweeps_and_checks_over_them_loads(tmp_path):
    p = tmp_path / "phase-x.yaml"
    p.write_text(yaml.safe_dump(_spec(), sort_keys=False))
    spec = load_phase(p, ROOT)
    assert [(s.workload, s.values) for s in spec.sweeps] == [("mid_mt_gap", [256, 4096, 16384]),
                                                            ("mid_only", [256, 1024, 4096])]
    from reportgen import plan
    points = [(n.workload, n.param, n.value) for n in plan.needs(spec, []) if n.kind == "sweep"]
    # the workload's own 256 slots come from the phase's bench, not measured twice
    assert points == [("mid_mt_gap", "slots", 4096), ("mid_mt_gap", "slots", 16384),
                      ("mid_only", "slots", 1024), ("mid_only", "slots", 4096)]


def _w1(metric: str):
    return lambda d: d["hypotheses"][next(i for i, h in enumerate(d["hypotheses"]) if h["id"] == "W1")][
        "check"]["all"][0].update(metric=metric)


@pytest.mark.parametrize("mutate, field, expect", [
    (lambda d: d["sweeps"].append({"workload": "no_such", "param": "slots", "values": [1, 2]}), "sweeps[2].workload",
     "'no_such' is not one of the phase's workloads"),
    (lambda d: d["sweeps"].append({"workload": "mt_remote", "param": "slots", "values": [1, 2]}), "sweeps[2]",
     "cannot sweep 'slots'; it sweeps threads, ops"),
    (lambda d: d["sweeps"].append({"workload": "mid_mt_gap", "param": "slots", "values": [8, 9]}), "sweeps[2]",
     "mid_mt_gap is swept over slots twice"),
    (lambda d: d["sweeps"][0].update(values=[256]), "sweeps[0].values", "at least 2"),
    (_w1("sweep.mid_mt_gap.slots.999.hak-6a.counters.registry_lookups"), "metric",
     "'999' is not one of the sweep's values (256, 4096, 16384)"),
    (_w1("sweep.mid_mt_gap.ops.256.hak-6a.counters.registry_lookups"), "metric",
     "the phase does not sweep 'ops' on 'mid_mt_gap'"),
    (_w1("sweep.mid_mt_gap.slots.256.glibc.counters.registry_lookups"), "metric",
     "names allocator 'glibc'; a sweep runs hak-6a, hak-6b"),
    (_w1("sweep.mid_mt_gap.slots.256.hak-6a.counters.registry_lokups"), "metric",
     "names counter 'registry_lokups'"),
])
def test_a_bad_phase_sweep_is_one_line_naming_the_field(tmp_path, mutate, field, expect):
    data = _spec()
    mutate(data)
    p = tmp_path / "phase-x.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(UserError) as exc:
        load_phase(p, ROOT)
    msg = str(exc.value)
    assert "\n" not in msg and field in msg and expect in msg, msg
