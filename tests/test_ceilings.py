"""Ceilings per mechanism (reportgen.ceilings) over real exact counts, and the C source map
(reportgen.csource) they read lines against."""
from __future__ import annotations

import shutil

import pytest

from reportgen import csource
from reportgen.ceilings import code_cost, mechanism_ceiling
from reportgen.hypotheses import _counts_view
from reportgen.measuring.kinds.counts import run_counts

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
OPS = 3000


@pytest.fixture(scope="module")
def counted(project):
    return run_counts(project, "mid_mt_gap", ["hak-6a", "hak-6b"], ops=OPS)


def test_the_source_map_finds_every_function_of_the_project_once_per_definition(project):
    text = (project.native_dir / "mid.c").read_text()
    spans = csource.functions(text)
    names = [n for n, _a, _b in spans]
    assert {"_hak_mid_free", "_hak_mid_registry_lookup", "_hak_mid_alloc", "_hak_mid_push_local"} <= set(names)
    assert names.count("_hak_mid_free") == 3                  # one per free path (#if branches)
    lines = text.splitlines()
    for name, first, last in spans:
        assert name in lines[first - 1] and lines[last - 1].rstrip().endswith("}"), name
    start, end = csource.function_span(lines, "_hak_mid_registry_lookup")
    assert csource.enclosing(spans, start + 1) == "_hak_mid_registry_lookup"
    # a declaration and a variable are no definitions
    assert csource.functions("static int f(void);\nstatic _Atomic(int) x = 0;  /* c */\nint g(void) {\n}\n") == \
        [("g", 3, 4)]


def test_a_path_that_ran_zero_times_has_a_ceiling_of_zero(phases, counted):
    spec = phases["phase-6b"]
    bench = {"mid_mt_gap": {"comparisons": {"hak-6b": {"speedup": 0.05, "speedup_ci95": [0.03, 0.07]}}}}
    m = mechanism_ceiling(spec, _counts_view({"mid_mt_gap": counted}), bench)
    assert m["measured"] and m["ran"] is False and m["instructions"] == 0
    assert m["share_low"] == m["share_high"] == 0 and m["ceiling"] == 0
    assert m["required_share"] == pytest.approx(1 - 1 / 1.17) and m["claim_possible"] is False
    assert m["model"]["relative_error"] >= 0


def test_a_path_that_runs_has_a_share_an_interval_and_a_ceiling(phases, counted):
    spec = phases["phase-6b"].model_copy(deep=True)
    spec.claim.mechanism.functions = ["_hak_mid_free"]
    view = _counts_view({"mid_mt_gap": counted})
    bench = {"mid_mt_gap": {"comparisons": {"hak-6b": {"speedup": 0.05, "speedup_ci95": [0.03, 0.07]}}}}
    m = mechanism_ceiling(spec, view, bench)
    assert m["ran"] and 0 < m["share_instructions"] < 1
    assert m["share_low"] <= min(m["share_instructions"], m["share_cycles_estimate"])
    assert m["share_high"] >= max(m["share_instructions"], m["share_cycles_estimate"])
    assert m["ceiling"] == pytest.approx(1 / (1 - m["share_high"]) - 1)
    # the function's own lines and what it calls, once: the sum over one function equals its cost
    cost = code_cost(view["mid_mt_gap"]["hak-6a"], ["_hak_mid_free"])
    assert cost["instructions"] == m["instructions"] > 0
    # no bench comparison: no model error, the interval is the two models' shares
    m2 = mechanism_ceiling(spec, view, {})
    assert m2["model"] is None and m2["share_low"] == min(m2["share_instructions"], m2["share_cycles_estimate"])


def test_no_counts_no_ceiling_and_the_reason(phases):
    m = mechanism_ceiling(phases["phase-6b"], {}, {})
    assert m["measured"] is False and "hak-6a" in m["reason"]
