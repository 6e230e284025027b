"""The plan stage on real (quick) measurements: what a second run writes, and what a claim costs.

Asserts behaviour (which records exist), never timings.
"""
from __future__ import annotations

import pytest

from reportgen.phases import Phase
from reportgen.plan import plan_and_measure, substance
from reportgen.store import Store


def make_phase(low: float = 0.17, high: float = 0.27) -> Phase:
    # the smallest phase that still has a bench, a route and a claim: one variant, one workload
    return Phase.model_validate({
        "id": "phase-test", "title": "test phase", "date": "2025-01-01", "status": "investigating",
        "question": "Where do the requests go?", "baseline": "hak-6b", "workloads": ["mid_mt_gap"],
        "claim": {"text": "a claim", "workload": "mid_mt_gap", "low": low, "high": high},
        "conclusion": "none yet"})


def files(store: Store, kind: str = "*") -> list:
    return sorted(store.dir.glob(f"{kind}/*/*.json"))


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "results", "test-machine")


def test_a_second_run_with_nothing_changed_writes_nothing(project, store):
    first = plan_and_measure(project, [make_phase()], quick=True, store=store)
    assert not first["phases"]["phase-test"]["failures"]
    written = files(store)
    assert len(files(store, "phase")) == 1 and files(store, "bench") and files(store, "route")

    second = plan_and_measure(project, [make_phase()], quick=True, store=store)
    res = second["phases"]["phase-test"]
    assert res["bench"]["mid_mt_gap"]["reused"] and res["route"]["mid_mt_gap"]["hak-6b"]["reused"]
    assert files(store) == written   # not even a phase record: only bookkeeping differed
    assert substance(res) == substance(first["phases"]["phase-test"])


def test_editing_a_claim_measures_nothing_again(project, store):
    plan_and_measure(project, [make_phase(0.17, 0.27)], quick=True, store=store)
    measured = files(store, "bench") + files(store, "route")
    again = plan_and_measure(project, [make_phase(0.30, 0.40)], quick=True, store=store)
    assert files(store, "bench") + files(store, "route") == measured
    route = again["phases"]["phase-test"]["route"]["mid_mt_gap"]["hak-6b"]
    assert route["reused"] and route["amdahl"]["claim"] == [0.30, 0.40]
    assert len(files(store, "phase")) == 2   # the phase's conclusions did change: a new phase record


def test_phases_sharing_a_route_each_get_their_own_claim(project, store):
    other = make_phase(0.30, 0.40).model_copy(update={"id": "phase-other"})
    res = plan_and_measure(project, [make_phase(0.17, 0.27), other], quick=True, store=store)["phases"]
    claims = {pid: r["route"]["mid_mt_gap"]["hak-6b"]["amdahl"]["claim"] for pid, r in res.items()}
    assert claims == {"phase-test": [0.17, 0.27], "phase-other": [0.30, 0.40]}
    assert len(files(store, "route")) == 1   # one measurement of the routing serves both


def test_substance_leaves_out_per_run_bookkeeping():
    a = {"bench": {"x": {"reused": True, "measured_now": [], "median": 1.0, "results": [{"reused": True}]}},
         "provenance": {"assembled": "now"}}
    b = {"bench": {"x": {"reused": False, "measured_now": ["glibc"], "median": 1.0, "results": [{}]}},
         "provenance": {"assembled": "later"}}
    assert substance(a) == substance(b)
    assert substance(a) != substance({**b, "bench": {"x": {"median": 2.0, "results": [{}]}}})
