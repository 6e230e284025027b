"""The retention workload (issue 19, item 5): a working set grown, thinned to every keep-th block, regrown
from other sizes and released, with the resident set read after each phase (native/bench.c,
bench_retention_*).  Real runs, small working sets: the driver on hak and glibc, the phase readings
through the session protocol and the bench CLI, the chart and the page's table, and one-line errors
for a bad declaration."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reportgen import charts
from reportgen.cli import main
from reportgen.measuring.child import RETENTION_PHASES, LoopServer, resolve_allocator, retention_request
from reportgen.project import Project
from reportgen.measuring.workloads import project_workloads

from test_workloads_yaml import SHIPPED, project_with_workloads as _with

SIZES, AFTER, SLOTS, KEEP = [12288, 24576], [3000, 6000], 512, 16     # about 9 MiB grown, 2.2 MiB regrown
KIB, MIB = 1024, 1 << 20


def _mean(xs) -> float:
    return sum(xs) / len(xs)


# Every page a block spans holds a written byte, and blocks do not overlap, so the pages written cover
# every byte of the blocks: RSS grows by at least their bytes (0.9: the sizes are drawn at random).
GROWN_KB = 0.9 * SLOTS * _mean(SIZES) / KIB
REGROWN_KB = 0.9 * SLOTS * _mean(AFTER) / KIB


def _first_loops(project, name: str, loops: int = 3) -> tuple[dict, list[dict]]:
    """A session's process of `name` on the small retention set: its ready reply and `loops` loop replies
    (the first is a fresh process's first cycle)."""
    spec = resolve_allocator(project, name)
    srv = LoopServer(retention_request(spec, SIZES, AFTER, SLOTS, KEEP, 2 * SLOTS, 0, 5, timed=True), timeout=60)
    try:
        assert srv.ready(), srv.failure
        replies = [srv.loop() for _ in range(loops)]
        assert all(replies), srv.failure
        return srv.ready_info, replies
    finally:
        srv.close()


@pytest.mark.parametrize("name", ["hak-6a", "glibc"])
def test_each_phase_reads_the_resident_set_and_grow_holds_the_working_set(project, name):
    ready, replies = _first_loops(project, name)
    for r in replies:
        assert r["ops"] == 2 * SLOTS and r["ns"] > 0
        phases = r["rss_phases_kb"]
        assert len(phases) == len(RETENTION_PHASES) == 4 and all(isinstance(v, int) and v > 0 for v in phases)
        # the release reading and the one taken in Python after the loop see the same process
        assert abs(phases[3] - r["rss_kb"]) < 1024
    grow, thin, regrow, release = replies[0]["rss_phases_kb"]
    assert grow - ready["rss_ready_kb"] >= GROWN_KB, (grow, ready)
    # a thinning frees blocks, it maps none
    assert thin <= grow


def test_segregated_classes_hold_the_regrowth_and_glibc_reuses_the_thinned_memory(project):
    """hak's Mid pool keeps freed blocks in their class: the regrowth's classes (4 and 8 KiB) are new
    memory.  glibc coalesces the thinned chunks and cuts the regrowth from them."""
    _, hak = _first_loops(project, "hak-6a", loops=1)
    _, gl = _first_loops(project, "glibc", loops=1)
    _, h_thin, h_regrow, _ = hak[0]["rss_phases_kb"]
    _, g_thin, g_regrow, _ = gl[0]["rss_phases_kb"]
    assert h_regrow - h_thin >= REGROWN_KB, hak[0]
    assert g_regrow - g_thin < 0.25 * SLOTS * _mean(AFTER) / KIB, gl[0]


@pytest.fixture(autouse=True)
def _shared_build_cache(monkeypatch):
    """The copies share the suite's build cache (content-addressed): nothing is compiled again."""
    monkeypatch.setenv("REPORTGEN_BUILD_DIR", str(Project.locate().build_dir))



SMALL = {"name": "retention_small", "description": "a small retention set",
         "driver": {"kind": "retention", "sizes": SIZES, "sizes_after": AFTER, "slots": SLOTS, "keep": KEEP,
                    "seed": 5, "values": 1, "session_rounds": 3}}


def test_bench_gives_rss_by_phase_and_the_page_shows_it(tmp_path, capsys, monkeypatch):
    root = _with(tmp_path, SMALL)
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(tmp_path / "results"))
    assert main(["--root", str(root), "bench", "--workload", "retention_small", "--variant", "hak-6a",
                 "--variant", "glibc", "--rounds", "3", "--sessions", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ops"] == 2 * SLOTS and out["sessions"] == 3
    rows = {r["variant"]: r for r in out["results"]}
    for name, r in rows.items():
        assert r["samples"] and not r["failures"], r["failures"]
        m = r["memory"]
        ph = m["rss_by_phase"]
        # loop 0 (the discarded warm-up loop, a fresh process's first cycle), then the 3 timed loops
        assert [(p["loop"], p["phase"]) for p in ph] == [(j, n) for j in range(4) for n in RETENTION_PHASES]
        assert [p["warmup"] for p in ph] == [True] * 4 + [False] * 12
        assert ph[0]["rss_bytes"] >= GROWN_KB * KIB
        assert max(p["rss_bytes"] for p in ph if not p["warmup"]) <= m["peak_rss_bytes"] + MIB
        assert abs(ph[-1]["rss_bytes"] - m["end_rss_bytes"]) < MIB        # release, and after the last loop
        assert len(m["rss_by_round"]) == 3
    # the counted run's counts are per size, both size sets, one cycle: 2 x slots allocations
    hak = rows["hak-6a"]
    assert sum(hak["counts"]) == 2 * SLOTS and hak["counters"]["mid_allocs"] == 2 * SLOTS
    # hak holds the regrowth's classes besides the grown ones; glibc cuts it from the thinned memory
    assert hak["memory"]["end_rss_bytes"] > rows["glibc"]["memory"]["end_rss_bytes"] + REGROWN_KB * KIB / 2

    fig = charts.rss_over_phases(out, "RSS over the phases")
    assert [t.name for t in fig.data] == ["hak-6a", "glibc"]
    assert list(fig.data[0].x[:4]) == [f"warm-up {n}" for n in RETENTION_PHASES]
    assert fig.data[0].x[-1] == "loop 3 release" and len(fig.data[0].y) == 16
    assert charts.rss_over_phases({"results": [{"variant": "x", "memory": {"rss_by_round": [1, 2]}}]}, "t") is None

    from reportgen.phases import load_phases
    from reportgen.render import render_phase
    project = Project(root)
    spec = next(s for s in load_phases(project) if s.id == "phase-6d")
    spec = spec.model_copy(update={"workloads": [*spec.workloads, "retention_small"]})
    md = render_phase(project, spec, {"bench": {"retention_small": out}})
    table = md.split("RSS after each phase on `retention_small`", 1)[1].split("??? ", 1)[0]
    assert "| allocator | loop | grow | thin | regrow | release |" in table
    assert "| `hak-6a` | warm-up |" in table and "| `glibc` | 3 |" in table


def test_the_other_workloads_keep_their_record_keys():
    """sizes_after and keep are left out of to_dict at their defaults: the gap and remote workloads'
    stored results stay current."""
    declared = project_workloads(Project.locate())
    for name in ("mid_mt_gap", "mid_only", "mt_remote"):
        d = declared[name].to_dict()
        assert "sizes_after" not in d and "keep" not in d and "program" not in d
    r = declared["retention"]
    assert (r.driver, r.sizes, r.sizes_after, r.slots, r.keep, r.ops, r.values) == \
        ("retention", (12288, 24576), (3000, 6000), 2048, 16, 4096, 1)
    assert r.to_dict()["sizes_after"] == [3000, 6000] and r.to_dict()["keep"] == 16
    assert r.all_sizes == (12288, 24576, 3000, 6000) and declared["mid_mt_gap"].all_sizes == declared["mid_mt_gap"].sizes


RET = {"kind": "retention", "sizes": SIZES, "sizes_after": AFTER, "slots": 64, "keep": 4, "seed": 1}
GAP = {"kind": "gap", "sizes": [4096], "slots": 64, "ops": 20000, "seed": 1}


@pytest.mark.parametrize("driver, says", [
    ({**RET, "keep": 1}, "keep must be at least 2"),
    ({k: v for k, v in RET.items() if k != "keep"}, "keep must be at least 2"),
    ({k: v for k, v in RET.items() if k != "sizes_after"}, "give sizes_after"),
    ({**RET, "slots": 0}, "slots must be at least 1"),
    ({**RET, "threads": 2}, "one thread"),
    ({**RET, "sizes_after": [0]}, "1 byte to 1 GiB"),
    ({**GAP, "sizes_after": AFTER}, "sizes_after belongs to a retention driver, not to a gap one"),
    ({**GAP, "keep": 4}, "keep belongs to a retention driver"),
    ({k: v for k, v in GAP.items() if k != "ops"}, "a gap driver needs ops"),
])
def test_a_bad_retention_entry_is_one_line_and_exit_2(tmp_path, capsys, driver, says):
    root = _with(tmp_path, {"name": "w", "description": "d", "driver": driver})
    assert main(["--root", str(root), "bench", "--workload", "mid_mt_gap", "--variant", "hak-6a",
                 "--rounds", "1", "--sessions", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"reportgen: error: workloads.yaml: workloads[{len(SHIPPED['workloads'])}] (w)") and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
