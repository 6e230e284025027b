"""The cache-set view (reportgen.measuring.layouts.cachesets, kinds.placement): real blocks of real runs.

The expectations come from the machine's geometry and the libraries' own config (stride = class +
header + pad), never from constants of this machine."""
from __future__ import annotations

import dataclasses

import pytest

from reportgen.measuring.kinds.placement import measure_placement
from reportgen.measuring.layouts.cachesets import levels, set_view
from reportgen.machine import cache_geometry
from reportgen.measuring.child import resolve_allocator, run_child
from reportgen.store import Store

WORKLOAD = "mid_mt_gap"
WARMUP = 20_000           # small: a few thousand frees per slot is enough to mix the working set
CLASS = 4096              # a Mid class of mid_mt_gap
VARIANTS = ("hak-6a", "hak-6b", "hak-6a-pad16")


@pytest.fixture(scope="module")
def placement(project) -> dict:
    return measure_placement(project, WORKLOAD, VARIANTS, warmup_ops=WARMUP)


@pytest.fixture(scope="module")
def l1d() -> dict:
    lv = levels(cache_geometry()).get("L1d")
    if lv is None:
        pytest.skip("sysfs gives no L1d geometry on this machine")
    return lv


def _class(result: dict, level: str, size: int) -> dict:
    return next(c for c in result["levels"][level]["classes"] if c["size"] == size)


def _stride(result: dict, size: int) -> int:
    config = result["config"]
    return size + config["mid_header_bytes"] + config["mid_block_pad"]


def test_every_variant_gives_its_live_blocks(placement):
    assert placement["failures"] == []
    for name in VARIANTS:
        res = placement["allocators"][name]
        assert res["blocks"] == placement["slots"]
        assert res["routes"][placement["sizes"].index(CLASS)] == "mid"
        for level in res["levels"].values():
            # every block is on exactly one bin of every level, per class and over all of them
            assert sum(c["blocks"] for c in level["classes"]) == res["blocks"] == level["all"]["blocks"]
            assert sum(c["user"]["blocks"] for c in level["classes"]) == res["blocks"] - level["unplaced"]
            for c in level["classes"]:
                hist = c["user"]["histogram"] or [n for _, n in c["user"]["occupied"]]
                assert sum(hist) == c["user"]["blocks"]
    assert placement["allocators"]["hak-6b"]["header_bytes"][placement["sizes"].index(CLASS)] == 16
    assert placement["allocators"]["hak-6a-pad16"]["header_bytes"][placement["sizes"].index(CLASS)] == 0


def test_power_of_two_strides_put_6a_blocks_on_one_l1d_set(placement, l1d):
    """6-A's 4096-B blocks are aligned to their size; a stride that is a multiple of sets x line maps every
    one of them to the same L1d set, so all but `ways` of them cannot stay in L1d together."""
    res = placement["allocators"]["hak-6a"]
    span = l1d["sets"] * l1d["line"]
    if _stride(res, CLASS) % span:
        pytest.skip(f"the 6-A stride of {CLASS} B is no multiple of this L1d's {span} B set span")
    c = _class(res, "L1d", CLASS)
    assert res["levels"]["L1d"]["indexed_by"] == "virtual"
    assert c["user"]["distinct_sets"] == 1
    assert c["user"]["max_per_set"] == c["blocks"]
    assert c["user"]["blocks_over_capacity"] == max(0, c["blocks"] - l1d["ways"])


def test_a_16_byte_shift_spreads_the_blocks(placement, l1d):
    """class + 16: consecutive blocks move 16 B across the set span, so at most line/16 blocks of a chunk's
    first span/16 share a set; 6-A's 4096-B blocks all share one."""
    a = _class(placement["allocators"]["hak-6a"], "L1d", CLASS)["user"]
    for name in ("hak-6b", "hak-6a-pad16"):
        res = placement["allocators"][name]
        assert _stride(res, CLASS) % (l1d["sets"] * l1d["line"]) == 16
        c = _class(res, "L1d", CLASS)["user"]
        assert c["distinct_sets"] > a["distinct_sets"]
        assert c["max_per_set"] < a["max_per_set"]


def test_the_control_places_blocks_where_6b_does(placement):
    """hak-6a-pad16's point: the same allocation sequence on the same stride gives the same virtual placement
    as 6-B (only the free path differs), class by class on the L1d sets."""
    b, pad = placement["allocators"]["hak-6b"], placement["allocators"]["hak-6a-pad16"]
    for cb, cp in zip(b["levels"]["L1d"]["classes"], pad["levels"]["L1d"]["classes"]):
        assert cb["user"]["histogram"] == cp["user"]["histogram"]
    assert _class(b, "L1d", CLASS)["header"] is not None        # 6-B's header line is viewed too
    assert _class(pad, "L1d", CLASS)["header"] is None          # the pad is after the block: no header


def test_set_view_counts_sum_to_the_blocks():
    geometry = {"L1d": {"size": 32768, "assoc": 8, "line": 64}, "L1i": {"size": 32768, "assoc": 8, "line": 64},
                "L2": {"size": 1 << 20, "assoc": 8, "line": 64}}
    page = 4096
    addrs = [0x10000 + i * 4096 for i in range(20)] + [0x80000 + 16 + i * 4112 for i in range(20)]
    kidx = [0] * 20 + [1] * 20
    view = set_view(addrs, kidx, [4096, 4112], geometry, header_bytes=[0, 16], page_size=page)
    assert set(view["levels"]) == {"L1d", "L2"}                 # no instruction cache
    l1, l2 = view["levels"]["L1d"], view["levels"]["L2"]
    assert l1["indexed_by"] == "virtual" and l1["sets"] == 64
    assert sum(l1["all"]["user"]["histogram"]) == 40
    a, b = l1["classes"]
    assert a["user"]["distinct_sets"] == 1 and a["user"]["blocks_over_capacity"] == 20 - 8
    assert b["user"]["distinct_sets"] == 6 and b["user"]["max_per_set"] == 4    # 16 B a block, 4 to a line
    assert b["header"]["blocks"] == 20 and a["header"] is None
    # L2's index reaches past the page: without physical addresses only the page offset's bits are known
    assert l2["indexed_by"] == "page offset only" and l2["bins"] == page // 64 and l2["sets_per_bin"] == 2048 // 64
    assert l2["classes"][0]["user"]["distinct_sets"] is None
    assert l2["classes"][0]["user"]["distinct_bins"] == 1
    assert sum(l2["all"]["user"]["histogram"]) == 40
    # with physical addresses it is indexed by them (0: a page not present, left unplaced)
    phys = [(i + 1) * 4096 for i in range(39)] + [0]
    l2p = set_view(addrs, kidx, [4096, 4112], geometry, physical=phys, page_size=page)["levels"]["L2"]
    assert l2p["indexed_by"] == "physical" and l2p["unplaced"] == 1
    assert l2p["all"]["user"]["histogram"] is None                # 2048 sets: only the occupied ones
    assert sum(n for _, n in l2p["all"]["user"]["occupied"]) == 39


def test_a_failing_child_is_a_recorded_failure(project, tmp_path):
    from reportgen.measuring.kinds.base import measure_through_store
    from reportgen.measuring.kinds.placement import PlacementKind
    from reportgen.measuring.workloads import get_workload

    good = resolve_allocator(project, "hak-6a")
    bad = dataclasses.replace(good, name="hak-6a-broken", bench_lib=str(tmp_path / "missing.so"))
    res = measure_placement(project, WORKLOAD, [bad, good], warmup_ops=100)
    assert "missing.so" in res["allocators"]["hak-6a-broken"]["failure"]
    assert res["allocators"]["hak-6a"]["blocks"] > 0
    assert [f["allocator"] for f in res["failures"]] == ["hak-6a-broken"]

    # through the store: recorded with its failure, so never current (measured again next time)
    store = Store(tmp_path / "results", "m")
    kind = PlacementKind(project, get_workload(WORKLOAD), [bad], 100)
    out = measure_through_store(kind, store)
    assert out["reused"] is False and out["failures"]
    (rec,) = store.history(kind.key)
    assert rec.kind == "placement" and rec.failures and "hak-6a-broken" in rec.failures[0].cause
    assert kind.current(store) is None


def test_the_child_itself_reports_a_bad_library(tmp_path):
    res = run_child({"kind": "addresses", "bench_lib": str(tmp_path / "nope.so"), "hak_lib": None,
                     "sizes": [4096], "slots": 4, "seed": 1, "warmup_ops": 0}, timeout=60)
    assert res["ok"] is False and "nope.so" in res["failure"]


def test_placement_is_kept_and_reused(project, tmp_path):
    from reportgen.measuring.kinds.placement import run_placement

    store = Store(tmp_path / "results", "m")
    first = run_placement(project, WORKLOAD, ["hak-6a", "glibc"], store=store, warmup_ops=100)
    assert first["reused"] is False and first["failures"] == []
    assert first["allocators"]["glibc"]["header_bytes"] == [None] * len(first["sizes"])
    again = run_placement(project, WORKLOAD, ["hak-6a", "glibc"], store=store, warmup_ops=100)
    assert again["reused"] is True
    assert again["allocators"] == first["allocators"]
