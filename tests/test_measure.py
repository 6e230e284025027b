"""The measurement engine: drivers, the child-process runner, route/bench/header-cost.

Behaviour only, never timings; small op counts so the file stays fast.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reportgen import build
from reportgen.measuring import child as measure
from reportgen.measuring.kinds.bench import Sampling, run_bench
from reportgen.build import build_library
from reportgen.cli import main
from reportgen.measuring.kinds.header_cost import run_header_cost
from reportgen.measuring.kinds.route import checked_time_shares, run_route
from reportgen.stats import VERDICTS
from reportgen.store import Store
from reportgen.variants import peer_status, variant_with
from reportgen.measuring.workloads import WORKLOADS, get_workload

OPS = 20_000


@pytest.fixture(scope="module")
def specs(project):
    names = ["glibc", "hak-6a", "hak-6b"] + [p for p in ("tcmalloc", "mimalloc", "jemalloc")
                                             if peer_status(p)[0]]
    return {n: measure.resolve_allocator(project, n) for n in names}


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ---- drivers ------------------------------------------------------------------

@pytest.mark.parametrize("workload", ["mid_mt_gap", "mid_only"])
def test_gap_driver_counts_every_allocation_per_size(specs, workload):
    w = get_workload(workload)
    for name, spec in specs.items():
        res = measure.run_child(measure.workload_request(spec, w, ops=OPS))
        assert res["ok"], (name, res)
        assert sum(res["counts"]) == OPS
        assert len(res["counts"]) == len(w.sizes)
        # uniform sizes: each near OPS / n (a wide band: this checks the draw, not a timing)
        for c in res["counts"]:
            assert abs(c - OPS / len(w.sizes)) < 0.1 * OPS / len(w.sizes)


def test_every_measurement_runs_on_the_same_pinned_cpus(specs, monkeypatch):
    """A and B on one core each time: left to the scheduler they alternated between cores."""
    w = get_workload("mid_mt_gap")
    cpus = {name: tuple(measure.run_child(measure.workload_request(spec, w, ops=OPS))["cpus"])
            for name, spec in specs.items()}
    assert len(set(cpus.values())) == 1 and len(next(iter(cpus.values()))) == 1
    remote = measure.run_child(measure.workload_request(specs["glibc"], get_workload("mt_remote"), ops=1000,
                                                        threads=2))
    assert len(remote["cpus"]) == min(2, len(os.sched_getaffinity(0)))
    monkeypatch.setenv("REPORTGEN_CPUS", "0")
    assert measure.run_child(measure.workload_request(specs["glibc"], w, ops=OPS))["cpus"] == [0]


def test_same_seed_gives_every_allocator_the_same_sequence(specs):
    w = get_workload("mid_mt_gap")
    seen = {}
    for name, spec in specs.items():
        res = measure.run_child(measure.workload_request(spec, w, ops=OPS))
        assert res["ok"], (name, res)
        seen[name] = (tuple(res["counts"]), res["rng_state"])
    assert len(set(seen.values())) == 1, seen
    other = measure.gap_request(specs["glibc"], w.sizes, w.slots, OPS, 0, w.seed + 1)
    res = measure.run_child(other)
    assert (tuple(res["counts"]), res["rng_state"]) != seen["glibc"]


def test_remote_driver_hands_blocks_across_threads(specs):
    w = get_workload("mt_remote")
    res = measure.run_child(measure.workload_request(specs["hak-6a"], w, ops=OPS, threads=3))
    assert res["ok"], res
    assert res["ops"] == OPS // 3 * 3 and sum(res["counts"]) == res["ops"]
    assert res["counters"]["mid_remote_frees"] == res["ops"]


# ---- the runner: a crash is a recorded failure --------------------------------

@pytest.mark.parametrize("how, cause", [("segv", "killed by SIGSEGV"), ("abort", "killed by SIGABRT"),
                                        ("garbage", "not a JSON result"), ("exit", "status 3")])
def test_crashing_child_is_a_failure_with_its_cause(how, cause):
    res = measure.run_child({"kind": "_test_crash", "how": how})
    assert res["ok"] is False and cause in res["failure"]


def test_hanging_child_times_out():
    res = measure.run_child({"kind": "_test_crash", "how": "hang"}, timeout=1.5)
    assert res["ok"] is False and "timed out" in res["failure"]


def test_bogus_library_is_a_failure(tmp_path, specs):
    bogus = tmp_path / "libbogus.so"
    bogus.write_text("not an ELF file")
    req = measure.workload_request(specs["glibc"], get_workload("mid_mt_gap"), ops=OPS)
    req["bench_lib"] = str(bogus)
    res = measure.run_child(req)
    assert res["ok"] is False and "OSError" in res["failure"]


def test_a_crashing_allocator_does_not_stop_the_others(project, tmp_path, monkeypatch, specs):
    src = tmp_path / "crashlib.c"
    src.write_text('#include <signal.h>\n__attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }\n')
    crash = build_library(project, "test-crash", [src])
    real = measure.resolve_allocator

    def resolve(project_, name):
        if name == "mimalloc":   # stands in for an allocator whose library kills the process
            return measure.AllocatorSpec("mimalloc", "system", str(crash), None, "crash", "crash")
        return real(project_, name)

    monkeypatch.setattr("reportgen.measuring.kinds.bench.resolve_allocator", resolve)
    out = run_bench(project, "mid_mt_gap", ["glibc", "mimalloc"], sampling=Sampling.fixed(2, sessions=3), ops=OPS)
    glibc, broken = out["results"]
    assert len(glibc["samples"]) == 6 and not glibc["failures"]
    # its process dies in each session it is started in, until it is dropped (after two)
    assert broken["samples"] == [] and len(broken["failures"]) == 2
    assert all(f["cause"].startswith(f"session {i}: killed by SIGSEGV") for i, f in enumerate(broken["failures"]))
    # a side with no successful run gets no verdict, and says why
    assert out["comparisons"][0]["verdict"] is None
    assert "no successful run" in out["comparisons"][0]["reason"]


# ---- route ------------------------------------------------------------------------

def test_route_json_predicts_and_measures_tiny_and_mid(capsys, results_dir):
    status, out, err = run_cli(capsys, "route", "--workload", "mid_mt_gap", "--variant", "hak-6b",
                               "--ops", str(OPS), "--claim", "0.17..0.27", "--json")
    assert status == 0, err
    r = json.loads(out)
    assert r["workload"] == "mid_mt_gap" and r["variant"] == "hak-6b"
    assert set(r["thresholds"]) == {"tiny_max", "mid_min", "mid_max"}
    assert {s["size"]: (s["predicted"], s["measured"]) for s in r["sizes"]} == {
        1024: ("tiny", "tiny"), 2048: ("mid", "mid"), 4096: ("mid", "mid"), 8192: ("mid", "mid")}
    assert sum(s["count"] for s in r["sizes"]) == OPS
    assert set(r["pools"]) == {"tiny", "mid", "large"}
    assert r["pools"]["tiny"]["count_share"] == pytest.approx(0.25, abs=0.02)
    assert r["pools"]["mid"]["count_share"] == pytest.approx(0.75, abs=0.02)
    for what in ("count_share", "byte_share"):
        assert sum(p[what] for p in r["pools"].values()) == pytest.approx(1.0)
    # 1 KiB of 1+2+4+8 KiB requested: the byte share follows the sizes, not the counts
    assert r["pools"]["tiny"]["byte_share"] < r["pools"]["tiny"]["count_share"]
    assert r["counters"]["tiny_allocs"] + r["counters"]["mid_allocs"] == OPS
    assert list(r)[:7] == ["workload", "variant", "ops", "thresholds", "sizes", "pools", "counters"]
    a = r["amdahl"]
    assert a["pool"] == "mid" and a["claim"] == [0.17, 0.27] and a["count_share"] == r["pools"]["mid"]["count_share"]
    assert a["time_share"] == r["pools"]["mid"]["time_share"]
    # a time share, and a ceiling on it, only where the time model explains the mixed run
    tm = r["time_model"]
    assert tm["tolerance"] == 0.10 and tm["holds"] == (abs(tm["relative_error"]) <= 0.10)
    if tm["holds"]:
        assert sum(p["time_share"] for p in r["pools"].values()) == pytest.approx(1.0)
        assert 1 < a["ceiling"][0] <= a["ceiling"][1] and "time_share_withheld" not in r
    else:
        assert all(p["time_share"] is None for p in r["pools"].values()) and a["ceiling"] is None
        assert f"{tm['relative_error']:+.1%}" in r["time_share_withheld"]
    assert r["failures"] == []
    # the stored measurement keeps the shares of its single-size runs; whether they are given is decided
    # on the way out, from the model's error: the same record within the tolerance gives them, summing to 1
    (path,) = results_dir.glob("*/route/*/*.json")
    stored = json.loads(path.read_text())["extra"]["route"]
    held = checked_time_shares({**stored, "time_model": {**stored["time_model"], "relative_error": 0.05}})
    assert sum(p["time_share"] for p in held["pools"].values()) == pytest.approx(1.0)
    missed = checked_time_shares({**stored, "time_model": {**stored["time_model"], "relative_error": -0.2}})
    assert all(p["time_share"] is None for p in missed["pools"].values())
    assert checked_time_shares(missed) == missed                               # idempotent


def test_route_claim_is_computed_from_the_stored_shares_never_measured(capsys, results_dir):
    """No claim, no Amdahl block; another claim is the same measurement read back, in the same order."""
    base = ["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--ops", str(OPS), "--json"]
    status, out, err = run_cli(capsys, *base)
    assert status == 0, err
    first = json.loads(out)
    assert "amdahl" not in first and not first["reused"]
    status, out, err = run_cli(capsys, *base, "--claim", "0.05..0.10", "--claim-pool", "tiny")
    assert status == 0, err
    second = json.loads(out)
    assert second["reused"] and second["pools"] == first["pools"]
    assert list(second) == list(first)[:7] + ["amdahl"] + list(first)[7:]   # documented order kept
    assert list(second["pools"]) == ["tiny", "mid", "large"]
    assert list(second["sizes"][0])[:4] == ["size", "predicted", "measured", "count"]
    a = second["amdahl"]
    assert a["pool"] == "tiny" and a["claim"] == [0.05, 0.10]
    assert a["time_share"] == first["pools"]["tiny"]["time_share"]
    assert a["reference_estimate"] == [1 + a["count_share"] * 0.05, 1 + a["count_share"] * 0.10]
    assert len(list(results_dir.glob("*/route/*/*.json"))) == 1   # one measurement, whatever the claim
    status, out, err = run_cli(capsys, *base[:-1])   # the text output says nothing of a claim
    assert status == 0 and "Amdahl" not in out


def test_route_claim_of_a_phase_is_its_own(project, tmp_path):
    store = Store(tmp_path / "results", "test-machine")
    a = run_route(project, "mid_mt_gap", "hak-6b", ops=OPS, store=store, claim=(0.17, 0.27))
    b = run_route(project, "mid_mt_gap", "hak-6b", ops=OPS, store=store, claim=(0.30, 0.40), claim_pool="mid")
    assert b["reused"] and b["amdahl"]["claim"] == [0.30, 0.40]
    # a bigger claim, a higher estimate (and a higher ceiling where the time model holds)
    assert b["amdahl"]["reference_estimate"][0] > a["amdahl"]["reference_estimate"][1]
    if a["amdahl"]["ceiling"] is not None:
        assert b["amdahl"]["ceiling"][0] > a["amdahl"]["ceiling"][1]
    assert "amdahl" not in run_route(project, "mid_mt_gap", "hak-6b", ops=OPS, store=store)


def test_route_reads_thresholds_from_the_library(project):
    """A build with HAK_TINY_MAX=1023 sends 1024 to Mid: nothing in Python knows the threshold."""
    v = variant_with("hak-6b", "hak-6b-tiny1023", {"HAK_TINY_MAX": "1023"})
    r = run_route(project, "mid_mt_gap", v, ops=OPS)
    assert r["thresholds"]["tiny_max"] == 1023
    assert [(s["predicted"], s["measured"]) for s in r["sizes"]][0] == ("mid", "mid")
    assert r["pools"]["mid"]["count_share"] == pytest.approx(1.0)


# ---- bench ---------------------------------------------------------------------------

def test_bench_json_shape_and_h1_as_a_measured_fact(capsys, results_dir):
    status, out, err = run_cli(capsys, "bench", "--workload", "mid_mt_gap", "--variant", "hak-6a",
                               "--variant", "hak-6b", "--rounds", "3", "--ops", str(OPS), "--json")
    assert status == 0, err
    b = json.loads(out)
    assert b["workload"] == "mid_mt_gap" and b["ops"] == OPS and b["rounds"] == 3
    assert b["stop_reason"] == "rounds"
    assert [r["variant"] for r in b["results"]] == ["hak-6a", "hak-6b"]
    assert {r["session"] for r in b["results"]} == {b["session"]}   # one session, every row says so
    for r in b["results"]:
        assert len(r["samples"]) == 3 and all(s > 0 for s in r["samples"])
        assert r["rounds"] == [1, 2, 3] and r["build"].startswith("timed")
        assert r["median"] > 0 and r["best3of5"] is not None and len(r["ci95"]) == 2
        c = r["counters"]
        # H1 of the reference: a single-threaded benchmark never takes the remote/mutex path
        assert c["mid_remote_frees"] == c["registry_lookups"] == c["mutex_locks"] == 0, c
        assert c["mid_allocs"] > 0
    assert b["results"][1]["counters"]["header_reads"] > 0
    (cmp,) = b["comparisons"]
    assert cmp["baseline"] == "hak-6a" and cmp["candidate"] == "hak-6b"
    assert cmp["verdict"] in VERDICTS and cmp["ratio"] > 0 and len(cmp["ci95"]) == 2
    assert 0 <= cmp["p_value"] <= 1 and cmp["paired"] and cmp["pairs"] == 3
    assert cmp["role"] == "primary" and cmp["session"] == b["session"]


def test_sessions_are_fresh_processes_and_the_interval_is_taken_over_them(project, tmp_path):
    """Three sessions of four rounds: every sample knows its session, each session ran in processes
    of its own, and the comparison's interval is over the sessions (t with 2 degrees of freedom)."""
    store = Store(tmp_path / "results", "test-machine")
    out = run_bench(project, "mid_mt_gap", ["hak-6a", "hak-6b"], sampling=Sampling.fixed(4, sessions=3), ops=OPS,
                    store=store)
    assert out["sessions"] == 3 and out["session_rounds"] == 4 and out["rounds"] == 12
    (cmp,) = out["comparisons"]
    assert cmp["interval_level"] == "sessions" and cmp["sessions"] == 3 and cmp["pairs"] == 12
    assert cmp["session_sd"] is not None and cmp["round_sd"] is not None and cmp["mde"] is not None
    recs = {r.allocator: r for r in store.scan()[0] if r.kind == "bench"}
    for rec in recs.values():
        assert rec.extra["session_of_samples"] == [0] * 4 + [1] * 4 + [2] * 4
        assert len(rec.extra["warmup_samples"]) == 3         # each session's discarded first loop
    noise = {n["variant"]: n for n in out["noise"]["allocators"]}
    assert noise["hak-6a"]["loops"] == 12 and noise["hak-6a"]["sessions"] == 3
    assert noise["hak-6b"]["cv"] is not None and noise["hak-6b"]["first_loop_slowdown"] > 0


def test_a_rerun_of_the_same_builds_widens_by_the_spread_between_measurements(project, tmp_path):
    """The second measurement of a group (same builds, same machine) is judged with the first beside
    it: the spread between them beyond their sessions (random effects over measurements) widens its
    interval, never narrows it; the first, alone, is judged on its own sessions."""
    store = Store(tmp_path / "results", "test-machine")
    names = ["hak-6a", "hak-6b"]
    first = run_bench(project, "mid_mt_gap", names, sampling=Sampling.fixed(3, sessions=3), ops=OPS, store=store)
    second = run_bench(project, "mid_mt_gap", names, sampling=Sampling.fixed(3, sessions=3), ops=OPS, store=store,
                       force=True)
    (c1,), (c2,) = first["comparisons"], second["comparisons"]
    assert c1["measurements"] == 1 and c1["between_measurements_sd"] is None
    assert c2["measurements"] == 2 and c2["between_measurements_sd"] is not None
    lo, hi = c2["speedup_ci95"]
    assert lo <= c2["session_ci95"][0] and hi >= c2["session_ci95"][1]
    # reused later, the first measurement still reads as it did: only earlier measurements count
    again = run_bench(project, "mid_mt_gap", names, sampling=Sampling.fixed(3, sessions=3), ops=OPS, store=store)
    assert again["session"] == second["session"] and again["comparisons"][0]["speedup_ci95"] == [lo, hi]


def test_a_session_process_that_crashes_is_a_recorded_failure_of_its_allocator(project, monkeypatch):
    from reportgen.measuring import child as measure

    class Crashing(measure.LoopServer):
        def __init__(self, request, **kw):
            if "hak-6b" in str(request.get("bench_lib")):
                request = {"kind": "_test_crash", "how": "abort"}
            super().__init__(request, **kw)

    monkeypatch.setattr(measure, "LoopServer", Crashing)
    out = run_bench(project, "mid_mt_gap", ["hak-6a", "hak-6b"], sampling=Sampling.fixed(3, sessions=3), ops=OPS)
    by = {r["variant"]: r for r in out["results"]}
    assert len(by["hak-6a"]["samples"]) == 9 and by["hak-6b"]["samples"] == []
    assert any("SIGABRT" in f["cause"] for f in by["hak-6b"]["failures"])
    assert out["comparisons"][0]["verdict"] is None


def test_memory_comes_from_the_timed_processes_and_shows_6b_leaking_on_mt_remote(project):
    """RSS and page faults of the same processes and loops as the times: 6-B, which leaks every
    remote Mid block, grows by far more than 6-A and 6-C (by more than a third of what its own
    counters say it leaked: the drivers touch one byte a block), its RSS rises loop after loop where
    theirs stays flat, and it faults on most operations."""
    out = run_bench(project, "mt_remote", ["hak-6a", "hak-6b", "hak-6c"], sampling=Sampling.fixed(3, sessions=3),
                    ops=OPS)
    a, b, c = (r["memory"] for r in out["results"])
    for m in (a, b, c):
        assert m["baseline_rss_bytes"] > 0 and m["peak_rss_bytes"] >= m["end_rss_bytes"] is not None
        assert m["sessions"] == 3 and len(m["rss_by_round"]) == 3 and m["os_reserved_bytes"] > 0
        lo, hi = m["peak_rss_ci95_bytes"]
        assert lo <= m["peak_rss_bytes"] <= hi
    assert b["leaked_bytes"] > 0 and a["leaked_bytes"] == c["leaked_bytes"] == 0
    assert b["peak_rss_bytes"] - c["peak_rss_bytes"] > 0.3 * b["leaked_bytes"]
    assert b["rss_by_round"][-1] > b["rss_by_round"][0] + 0.3 * b["leaked_bytes"]          # rising
    assert abs(c["rss_by_round"][-1] - c["rss_by_round"][0]) < 0.1 * b["leaked_bytes"]     # flat
    assert b["minor_faults_per_op"] > 10 * max(a["minor_faults_per_op"], 1e-6)
    # judged like time: over the sessions, 6-B's peak RSS against 6-A's, with its interval and a verdict
    mem = out["comparisons"][0]["memory"]["peak_rss"]
    assert mem["sessions"] == 3 and mem["verdict"] == "more" and mem["ci95"][0] > 1 + mem["floor"]
    assert mem["ci95"][0] <= mem["ratio"] <= mem["ci95"][1] and "p_adjusted" in mem


def test_mt_remote_shows_registry_mutex_and_leaks(project):
    b = run_bench(project, "mt_remote", ["hak-6a", "hak-6b"], sampling=Sampling.fixed(1), ops=OPS)
    a6, b6 = (r["counters"] for r in b["results"])
    assert a6["registry_lookups"] > 0 and a6["mutex_locks"] > 0 and a6["leaked_blocks"] == 0
    assert b6["leaked_blocks"] > 0 and b6["registry_lookups"] == 0


def test_bench_reuses_current_records(project, tmp_path):
    store = Store(tmp_path / "results", "test-machine")
    first = run_bench(project, "mid_mt_gap", ["glibc"], sampling=Sampling.fixed(2), ops=OPS, store=store)
    second = run_bench(project, "mid_mt_gap", ["glibc"], sampling=Sampling.fixed(2), ops=OPS, store=store)
    assert not first["reused"] and second["reused"]
    assert second["results"][0]["samples"] == first["results"][0]["samples"]
    third = run_bench(project, "mid_mt_gap", ["glibc"], sampling=Sampling.fixed(2), ops=OPS, store=store, force=True)
    assert not third["reused"]
    (key,) = {r.key for r in store.scan()[0]}
    assert len(store.history(key)) == 2
    rec = store.latest(key)
    assert rec.environment["caches"] and rec.environment["git_commit"] is not None
    assert rec.extra["driver_hash"] and rec.samples == third["results"][0]["samples"]


def test_after_an_edit_to_the_baseline_the_whole_group_is_measured(project_copy, tmp_path):
    """Every comparison is with the baseline: a new baseline is measured beside all of them."""
    store = Store(tmp_path / "results", "test-machine")
    names = ["hak-6a", "hak-6b", "glibc"]
    first = run_bench(project_copy, "mid_mt_gap", names, sampling=Sampling.fixed(2), ops=OPS, store=store)
    assert first["measured_now"] == names

    mid = project_copy.native_dir / "mid.c"  # code only the registry variant (the baseline) compiles
    anchor = "void _hak_mid_registry_reinit(void) {"
    assert mid.read_text().index("#if defined(HAK_MID_FREE_REGISTRY)") < mid.read_text().index(anchor)
    mid.write_text(mid.read_text().replace(anchor, "int _hak_mid_registry_edited;\n" + anchor, 1))
    after = run_bench(project_copy, "mid_mt_gap", names, sampling=Sampling.fixed(2), ops=OPS, store=store)
    assert after["measured_now"] == names
    rows = {r["variant"]: r for r in after["results"]}
    assert rows["hak-6a"]["source_hash"] != first["results"][0]["source_hash"]
    assert rows["hak-6b"]["source_hash"] == first["results"][1]["source_hash"]   # unchanged, measured anyway
    assert not any(r["reused"] for r in after["results"])
    assert len({r["session"] for r in after["results"]}) == 1
    assert not any("different sessions" in w for c in after["comparisons"] for w in c.get("warnings", []))


def test_an_edit_measures_the_group_again_and_a_revert_reuses_the_old_session(project_copy, tmp_path):
    """A comparison only ever uses one session's runs: an edited variant is measured again with its
    whole group; once the edit is reverted, the earlier session (every allocator current) is reused."""
    store = Store(tmp_path / "results", "test-machine")
    names = ["hak-6a", "hak-6b", "glibc"]
    first = run_bench(project_copy, "mid_mt_gap", names, sampling=Sampling.fixed(2), ops=OPS, store=store)
    assert first["measured_now"] == names
    assert run_bench(project_copy, "mid_mt_gap", names, sampling=Sampling.fixed(2), ops=OPS, store=store)["measured_now"] == []

    mid = project_copy.native_dir / "mid.c"  # code only the header variants compile
    original = mid.read_text()
    anchor = "_hak_stat_inc(heap, leaked_blocks);"
    assert anchor in original
    mid.write_text(original.replace(anchor, anchor + " _hak_stat_add(heap, leaked_blocks, 0);"))
    after = run_bench(project_copy, "mid_mt_gap", names, sampling=Sampling.fixed(2), ops=OPS, store=store)
    assert after["measured_now"] == names       # the whole group, in one new session
    assert len({r["session"] for r in after["results"]}) == 1 and after["session"] != first["session"]
    rows = {r["variant"]: r for r in after["results"]}
    assert rows["hak-6b"]["source_hash"] != first["results"][1]["source_hash"]
    assert rows["hak-6a"]["source_hash"] == first["results"][0]["source_hash"]

    mid.write_text(original)                    # revert: the first session is current again
    back = run_bench(project_copy, "mid_mt_gap", names, sampling=Sampling.fixed(2), ops=OPS, store=store)
    assert back["measured_now"] == [] and back["session"] == first["session"]
    assert [r["samples"] for r in back["results"]] == [r["samples"] for r in first["results"]]
    assert all(c["session"] == first["session"] for c in back["comparisons"])


def test_an_interrupted_session_keeps_its_rounds_and_resumes(project, tmp_path, monkeypatch):
    store = Store(tmp_path / "results", "test-machine")
    from reportgen.measuring import child as measure
    real = measure.LoopServer.loop
    calls = {"n": 0}

    def interrupting(self):
        calls["n"] += 1
        if calls["n"] == 9:        # warm-up round (2 loops) + three rounds (6): the fourth round is cut
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(measure.LoopServer, "loop", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run_bench(project, "mid_mt_gap", ["glibc", "hak-6a"], sampling=Sampling.fixed(5, sessions=2), ops=OPS,
                  store=store)
    kept = [r for r in store.scan()[0] if r.kind == "bench"]
    assert len(kept) == 2 and all(r.extra["stop_reason"] == "interrupted" for r in kept)
    assert all(len(r.samples) == 3 for r in kept)
    monkeypatch.setattr(measure.LoopServer, "loop", real)
    out = run_bench(project, "mid_mt_gap", ["glibc", "hak-6a"], sampling=Sampling.fixed(5, sessions=2), ops=OPS,
                    store=store)
    # the same measurement, resumed with a new session: the interrupted one's rounds kept as they were
    assert out["session"] == kept[0].extra["session"] and out["stop_reason"] == "rounds"
    assert all(r["rounds"] == [1, 2, 3, 4, 5, 6, 7, 8] for r in out["results"])
    assert out["sessions"] == 2


# ---- header cost ------------------------------------------------------------------------

def test_header_cost_json_shape(project, tmp_path):
    store = Store(tmp_path / "results", "test-machine")
    h = run_header_cost(project, quick=True, store=store)
    assert "L1d" in h["caches"] and "L2" in h["caches"]
    sets = [t["working_set_bytes"] for t in h["time"]]
    assert sets[0] == 4096 and sets[-1] == 64 << 20 and sets == sorted(sets)
    for t in h["time"]:
        assert t["ns_with_header"] > 0 and t["ns_without_header"] > 0 and t["bad_magic"] == 0
        assert set(t["dependent"]) >= {"with", "without"} and set(t["independent"]) >= {"with", "without"}
    space = {(s["variant"], s["request"]): s for s in h["space"]}
    assert space[("hak-6b", 8192)]["pool"] == "mid" and space[("hak-6b", 8192)]["header_bytes"] == 16
    assert space[("hak-6b", 8192)]["block"] == 8192 + 16
    assert space[("hak-6a", 8192)]["header_bytes"] == 0
    assert space[("hak-6b", 1024)]["pool"] == "tiny"

    # read back from the store: the same rows in the documented order, not the store's sorted one
    again = run_header_cost(project, quick=True, store=store)
    assert again["reused"] and again["time"] == h["time"]
    assert [list(t) for t in again["time"]] == [list(t) for t in h["time"]]
    assert list(again["time"][0])[:3] == ["working_set_bytes", "ns_with_header", "ns_without_header"]
    # the record says which flags the kernel was really compiled with
    (rec,) = [r for r in store.scan()[0] if r.kind == "header_cost"]
    flags = rec.environment["build_flags"]
    assert flags == measure.header_cost_flags() and flags["compile"] == list(build.BASE_FLAGS)


# ---- command line: bad input -------------------------------------------------------------

@pytest.mark.parametrize("argv, word", [
    (["bench", "--workload", "nope", "--variant", "hak-6a"], "nope"),
    (["bench", "--workload", "mid_mt_gap", "--variant", "hak-9z"], "hak-9z"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-9z"], "hak-9z"),
    (["route", "--workload", "nope", "--variant", "hak-6b"], "nope"),
    (["route", "--workload", "mid_mt_gap", "--variant", "glibc"], "glibc"),
    (["bench", "--workload", "mid_mt_gap", "--variant", "glibc", "--ops", "0"], "0"),
    (["bench", "--workload", "mid_mt_gap", "--variant", "glibc", "--rounds", "x"], "x"),
    (["bench", "--workload", "mid_mt_gap", "--variant", "glibc", "--threads", "4"], "threads"),
    (["bench", "--workload", "mid_mt_gap", "--variant", "glibc", "--variant", "glibc"], "twice"),
    (["header-cost", "--variant", "hak-9z"], "hak-9z"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--claim", "abc"], "abc"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--claim", "0.3..0.1"], "0.3..0.1"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--claim-pool", "mid"], "--claim"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--claim", "0.1..0.2", "--claim-pool", "x"],
     "claim-pool"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, results_dir, argv, word):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in err


def test_unreadable_record_is_one_warning_line_and_left_in_place(project, tmp_path):
    """A garbage file among a key's records: each command that reads it says so in one line on
    stderr (no Python warning with its source line) and leaves the file as it is."""
    env = {**os.environ, "REPORTGEN_RESULTS_DIR": str(tmp_path / "results")}
    argv = [sys.executable, "-m", "reportgen.cli", "--root", str(project.root), "bench", "--workload",
            "mid_mt_gap", "--variant", "glibc", "--rounds", "1", "--ops", "1000", "--json"]
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    (record,) = (tmp_path / "results").glob("*/bench/*/*.json")
    garbage = record.parent / "20250101T000000.000000Z-000000000000.json"
    garbage.write_bytes(b"{not json")
    second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["reused"]          # the good record is still read
    (line,) = second.stderr.splitlines()
    assert line.startswith(f"reportgen: warning: unreadable record {garbage}: not valid JSON")
    assert line.endswith("(left in place)")
    assert garbage.read_bytes() == b"{not json" and record.exists()


def test_workloads_are_defined_once():
    assert set(WORKLOADS) == {"mid_mt_gap", "mid_only", "mt_remote", "retention",
                              "py_churn", "sqlite_rows", "xz_t2", "gcc_hak", "redis",
                              "larson", "xmalloc", "larson_mid", "xmalloc_mid", "cache_scratch", "mstress"}
    assert WORKLOADS["mid_mt_gap"].sizes == (1024, 2048, 4096, 8192) and WORKLOADS["mid_mt_gap"].slots == 256


def test_sigterm_during_a_bench_keeps_the_completed_rounds(project, tmp_path):
    """SIGTERM (a CI runner cancelling, a shutdown) ends the rounds the way Ctrl-C does: the
    completed rounds are recorded as an interrupted session, one line on stderr, no traceback."""
    import signal
    import time

    env = {**os.environ, "REPORTGEN_RESULTS_DIR": str(tmp_path / "results")}
    argv = [sys.executable, "-m", "reportgen.cli", "--root", str(project.root), "bench", "--workload",
            "mid_mt_gap", "--variant", "glibc", "--variant", "hak-6a", "--rounds", "5000", "--sessions", "50",
            "--ops", "20000"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)                      # a few rounds first (50 sessions of 5000 take far longer)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    recs = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*/bench/*/*.json")]
    assert len(recs) == 2 and all(r["extra"]["stop_reason"] == "interrupted" for r in recs)
    assert all(len(r["samples"]) >= 1 for r in recs)


def test_the_group_stops_on_its_judged_comparisons_not_its_context_peers(project):
    """A context peer that has not reached its (here impossible) target does not hold the group:
    it stops once the judged comparison is as precise as asked, and says so."""
    loose = Sampling(precision=0.5, context_precision=1e-9, budget_s=600, min_sessions=3, max_sessions=40,
                     session_rounds=3)
    out = run_bench(project, "mid_mt_gap", ["hak-6a", "hak-6b", "glibc"], sampling=loose, primary=["hak-6b"],
                    ops=OPS)
    assert out["stop_reason"] == "precision" and out["sessions"] == 3 and out["rounds"] == 9
    roles = {c["candidate"]: c for c in out["comparisons"]}
    assert roles["hak-6b"]["role"] == "primary" and roles["hak-6b"]["precision_reached"]
    assert roles["glibc"]["role"] == "context" and not roles["glibc"]["precision_reached"]
    assert roles["glibc"]["verdict"] is None
