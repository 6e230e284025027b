"""The renderer on fixture results (FAKE values, tests/fixtures/): numbers and statuses land where they should."""
from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.loader import fixture_results  # noqa: E402
from reportgen import hypotheses, render  # noqa: E402
from reportgen.phases import Excerpt, load_phases  # noqa: E402
from reportgen.project import Project  # noqa: E402


@pytest.fixture(scope="module")
def project():
    return Project.locate()


@pytest.fixture(scope="module")
def phases(project):
    return {p.id: p for p in load_phases(project)}


@pytest.fixture()
def results(phases):
    return fixture_results(list(phases.values()))


def _section(md: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", md, re.S | re.M)
    assert m, f"section {title!r} missing"
    return m.group(1)


def _hyp(md: str, hid: str) -> str:
    m = re.search(rf"^### {hid}: .*?\n(.*?)(?=^### |^## )", md, re.S | re.M)
    assert m, f"hypothesis {hid} missing"
    return m.group(1)


def test_numbers_land_where_they_should(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], results)
    perf = _section(md, "Measured performance")
    # the fixture's hak-6a runs (10.0, 10.2, 9.8, 10.1, 9.9 M ops/s): median 10.00, best 3 of 5 = 10.10
    row = next(l for l in perf.splitlines() if l.startswith("| `hak-6a`"))
    assert "10.00 M ops/s" in row and "10.10 M ops/s" in row
    assert "10.000, 10.200, 9.800, 10.100, 9.900" in row  # every run, in run order
    assert "| `tcmalloc` | not measured |" in perf
    routing = _section(md, "Routing: predicted against measured")
    assert "| 1,024 B | tiny | tiny | 250,000 | matches |" in routing
    assert "| tiny | 25.0% | 6.7% | 20.0% |" in routing
    impact = _section(md, "Impact and ceiling")
    # Amdahl with E = 0.8 (the fixture's Mid time share), S = 1.17 .. 1.27
    lo, hi = 1 / (0.2 + 0.8 / 1.17) - 1, 1 / (0.2 + 0.8 / 1.27) - 1
    assert f"{lo * 100:+.2f}% .. {hi * 100:+.2f}%" in impact
    # the reference's two Tiny shares, and what was measured
    assert "contradicts itself" in impact and "Measured: **25.0%**" in impact
    assert re.search(r"roughly 40-50% .*\| contradicted \|", impact)
    hc = _section(md, "Header read cost")
    assert "**0.50 ns**" in hc and "| `hak-6b` | 8,192 B | 8,208 B | 16 |" in hc
    # authored text gets measured values only through expressions
    rec = _section(md, "Recommendations")
    assert "50,000 blocks on mt_remote" in rec
    assert "{{" not in md


def test_statuses_confirmed_and_overclaim_flagged(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], results)
    for hid in ("H1", "H2", "H3", "H4", "H5"):
        assert 'class="rg-status rg-confirmed">CONFIRMED' in _hyp(md, hid), hid
    assert "rg-rejected\">REJECTED" in _hyp(md, "H6")
    h1 = _hyp(md, "H1")
    assert "`bench.mid_mt_gap.hak-6b.counters.mutex_locks` = 0 (expected == 0): holds" in h1
    over = _section(md, "Over-claim check")
    assert '!!! danger "Over-claim"' in over and "**+17..+27%**" in over
    assert "Claim check: **over-claim**" in md


def test_a_rejected_hypothesis_renders_as_rejected(project, phases, results):
    bad = copy.deepcopy(results)
    for r in bad["phases"]["phase-6b"]["bench"]["mid_mt_gap"]["results"]:
        if r["variant"] == "hak-6b":
            r["counters"]["mutex_locks"] = 7
    md = render.render_phase(project, phases["phase-6b"], bad)
    h1 = _hyp(md, "H1")
    assert 'rg-rejected">REJECTED' in h1
    assert "`bench.mid_mt_gap.hak-6b.counters.mutex_locks` = 7 (expected == 0): does not hold" in h1
    assert "**H1 REJECTED**" in _section(md, "Verdict and executive summary")


def test_missing_measurement_is_inconclusive_not_confirmed(project, phases, results):
    partial = copy.deepcopy(results)
    del partial["phases"]["phase-6b"]["bench"]["mt_remote"]
    outs = {o.id: o for o in hypotheses.assess_all(phases["phase-6b"], partial["phases"]["phase-6b"])}
    assert outs["H2"].status == "inconclusive"
    assert "bench.mt_remote.hak-6a.counters.mid_remote_frees" in outs["H2"].reason
    assert outs["H1"].status == "confirmed"


def test_consistent_claim_is_not_flagged(project, phases, results):
    fast = copy.deepcopy(results)
    b = fast["phases"]["phase-6b"]["bench"]["mid_mt_gap"]
    c = next(c for c in b["comparisons"] if c["candidate"] == "hak-6b")
    c.update(ratio=1.2, speedup=0.2, speedup_ci95=[0.15, 0.3], ci95=[1.15, 1.3], verdict="faster")
    md = render.render_phase(project, phases["phase-6b"], fast)
    assert "Over-claim\"" not in _section(md, "Over-claim check")
    assert 'rg-confirmed">CONFIRMED' in _hyp(md, "H6")
    assert 'rg-rejected">REJECTED' in _hyp(md, "H5")


def test_quick_run_is_said_on_every_page(project, phases, tmp_path):
    res = fixture_results(list(phases.values()), quick=True)
    pages = render.render_all(project, list(phases.values()), res, out_dir=tmp_path / "phases")
    for page in pages:
        assert "quick run" in page.read_text().lower(), page.name
    full = fixture_results(list(phases.values()), quick=False)
    md = render.render_phase(project, phases["phase-6b"], full)
    assert "Quick run" not in md


def test_charts_written_next_to_the_page_with_download_links(project, phases, results, tmp_path):
    pages = render.render_all(project, list(phases.values()), results, out_dir=tmp_path / "phases")
    md = (tmp_path / "phases" / "phase-6b.md").read_text()
    srcs = re.findall(r'<div class="rg-chart" data-src="([^"]+)"></div>', md)
    assert {"throughput-mid_mt_gap.json", "routing-mid_mt_gap-hak-6b.json", "header-cost.json",
            "history.json"} <= set(srcs)
    for src in srcs:
        spec = json.loads((tmp_path / "phases" / "phase-6b" / src).read_text())
        assert spec["data"] and "layout" in spec
        assert f"(phase-6b/{src})" in md  # the download link
    thr = json.loads((tmp_path / "phases" / "phase-6b" / "throughput-mid_mt_gap.json").read_text())
    runs = next(t for t in thr["data"] if t["name"] == "every run")
    assert len(runs["y"]) == 25  # 5 runs of each of the 5 measured allocators
    hc = json.loads((tmp_path / "phases" / "phase-6b" / "header-cost.json").read_text())
    assert len([s for s in hc["layout"]["shapes"] if s["type"] == "line"]) == 3  # L1d, L2, L3
    index = (tmp_path / "phases" / "index.md").read_text()
    assert index.index("Phase 6-B") < index.index("Phase 6-A")  # newest first
    assert (tmp_path / "phases" / "machine.md").read_text().count("Fixture CPU (invented)") == 1


def test_what_changed_since_the_previous_revision(project, phases, results):
    prev = copy.deepcopy(results["phases"]["phase-6b"])
    for r in prev["bench"]["mid_mt_gap"]["results"]:
        if r["variant"] == "hak-6b":
            r["median"] = 8_000_000.0
            r["counters"]["mutex_locks"] = 3
    prev["provenance"]["source_hashes"]["hak-6b"] = "c" * 64
    md = render.render_phase(project, phases["phase-6b"], results,
                             previous={"results": prev, "created": "2025-11-28T10:00:00+00:00"})
    ch = _section(md, "What changed since the previous revision")
    assert "| `hak-6b` | `cccccccccc` | `bbbbbbbbbb` |" in ch
    assert "| mid_mt_gap · hak-6b median | 8.00 M ops/s | 10.00 M ops/s | +25.00% |" in ch
    assert re.search(r"\| H1 .*\| rejected \| confirmed \| \*\*changed\*\* \|", ch)
    assert "What changed" not in render.render_phase(project, phases["phase-6b"], results)


def test_excerpts_follow_the_code(tmp_path):
    (tmp_path / "native").mkdir()
    (tmp_path / "native" / "x.c").write_text(
        "int a;\n// excerpt: fast-free\nvoid f(void) {\n  a++;\n}\n// end-excerpt\n"
        "/* hak:excerpt other */\nint g;\n/* hak:end */\n"
        "static int helper(int x)\n{\n  if (x) { return 1; }\n  return 0;\n}\n")
    proj = Project(tmp_path)
    ex = render.extract_excerpt(proj, Excerpt(title="t", file="native/x.c", marker="fast-free"))
    assert ex["code"] == "void f(void) {\n  a++;\n}" and ex["first_line"] == 3
    assert render.extract_excerpt(proj, Excerpt(title="t", file="native/x.c", marker="other"))["code"] == "int g;"
    fn = render.extract_excerpt(proj, Excerpt(title="t", file="native/x.c", marker="gone", function="helper"))
    assert fn["how"] == "function" and fn["code"].endswith("return 0;\n}")
    missing = render.extract_excerpt(proj, Excerpt(title="t", file="native/x.c", marker="gone"))
    assert "not found" in missing["error"]


def test_real_excerpts_come_from_native_mid_c(project, phases):
    for ex in phases["phase-6b"].excerpts:
        got = render.extract_excerpt(project, ex)
        assert "error" not in got, got
        assert "_hak_mid_free" in got["code"]
