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
from reportgen.errors import UserError  # noqa: E402
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
    results = copy.deepcopy(results)
    _set_speedup(_cmp(results, "phase-6b", "mid_mt_gap", "hak-6b"), -0.03, 0.03, "no significant change")
    md = render.render_phase(project, phases["phase-6b"], results)
    for hid in ("H1", "H2", "H3", "H4"):
        assert 'class="rg-status rg-confirmed">CONFIRMED' in _hyp(md, hid), hid
    # the fixture's 6-B/6-A CI (about -3% .. +3%) is wider than the ±2% equivalence margin:
    # "no significant change" does not make them equivalent
    assert 'rg-inconclusive">INCONCLUSIVE' in _hyp(md, "H5")
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
    c.update(ratio=1.2, speedup=0.2, speedup_ci95=[0.18, 0.3], ci95=[1.18, 1.3], verdict="faster")
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
    render.render_all(project, list(phases.values()), results, out_dir=tmp_path / "phases")
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
    assert "Fixture CPU (invented)" in (tmp_path / "phases" / "machine.md").read_text()


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
    assert re.search(r"\| mid_mt_gap · hak-6b speed-up over hak-6a \(within its session\) \|.*\| intervals overlap \|", ch)
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
        assert ex.function in got["code"]   # _hak_mid_free, and the registry functions of 6-A


# --- no significant change is not "no difference" ------------------------------------

def _cmp(res: dict, phase: str, workload: str, candidate: str) -> dict:
    b = res["phases"][phase]["bench"][workload]
    return next(c for c in b["comparisons"] if c["candidate"] == candidate)


def _set_speedup(c: dict, lo: float, hi: float, verdict: str) -> None:
    mid = (lo + hi) / 2
    c.update(speedup=mid, speedup_ci95=[lo, hi], ratio=1 + mid, ci95=[1 + lo, 1 + hi], verdict=verdict)


def _status(spec, res, hid):
    outs = {o.id: o for o in hypotheses.assess_all(spec, res["phases"][spec.id])}
    return outs[hid].status


@pytest.mark.parametrize("ci, verdict, status", [
    ((-0.01, 0.015), "no significant change", "confirmed"),   # CI inside ±2%: equivalent
    ((-0.03, 0.03), "no significant change", "inconclusive"),  # wider than the margin: open
    ((0.03, 0.08), "faster", "rejected"),
    ((-0.09, -0.04), "slower", "rejected"),
])
def test_6b_h5_is_an_equivalence_test(phases, results, ci, verdict, status):
    res = copy.deepcopy(results)
    _set_speedup(_cmp(res, "phase-6b", "mid_mt_gap", "hak-6b"), *ci, verdict)
    assert _status(phases["phase-6b"], res, "H5") == status


@pytest.mark.parametrize("ci, verdict, status", [
    ((-0.01, 0.05), "no significant change", "confirmed"),
    ((-0.015, -0.011), "slower", "confirmed"),  # slower, but by less than 2%
    ((-0.04, 0.03), "no significant change", "inconclusive"),  # "costs nothing" is not shown
    ((-0.08, -0.03), "slower", "rejected"),
])
def test_6c_h4_is_a_non_inferiority_test(phases, results, ci, verdict, status):
    res = copy.deepcopy(results)
    _set_speedup(_cmp(res, "phase-6c", "mid_mt_gap", "hak-6c"), *ci, verdict)
    assert _status(phases["phase-6c"], res, "H4") == status


@pytest.mark.parametrize("ci, verdict, status", [((-0.7, -0.6), "slower", "confirmed"),
                                                 ((-0.05, 0.03), "no significant change", "inconclusive"),
                                                 ((0.01, 0.05), "faster", "rejected")])
def test_6a_h3_needs_glibc_measured_slower(phases, results, ci, verdict, status):
    res = copy.deepcopy(results)
    _set_speedup(_cmp(res, "phase-6a", "mid_mt_gap", "glibc"), *ci, verdict)
    assert _status(phases["phase-6a"], res, "H3") == status


@pytest.mark.parametrize("ci, verdict, status", [
    ((0.03, 0.12), "faster", "rejected"),
    ((-0.03, 0.04), "no significant change", "inconclusive"),
    ((-0.02, 0.015), "no significant change", "confirmed"),
])
def test_6b_h7_pure_mid(phases, results, ci, verdict, status):
    res = copy.deepcopy(results)
    _set_speedup(_cmp(res, "phase-6b", "mid_only", "hak-6b"), *ci, verdict)
    assert _status(phases["phase-6b"], res, "H7") == status


def test_a_wide_ci_reaching_the_claim_is_not_excluded_not_consistent(project, phases, results):
    res = copy.deepcopy(results)
    _set_speedup(_cmp(res, "phase-6b", "mid_mt_gap", "hak-6b"), -0.06, 0.20, "no significant change")
    spec = phases["phase-6b"]
    assert hypotheses.view(spec, res["phases"]["phase-6b"])["claim"]["status"] == "not excluded"
    assert _status(spec, res, "H6") == "inconclusive"
    md = render.render_phase(project, spec, res)
    assert "Claim check: **not excluded**" in md and "neither supports nor rules out" in md
    over = _section(md, "Over-claim check")
    assert '!!! warning "Not excluded"' in over and "Consistent" not in over
    impact = _section(md, "Impact and ceiling")
    # the reference's "+2.65%" and "+0.15%" fall inside that CI, but so does zero
    for said in ("Reported improvement: +2.65%", "Measured improvement: +0.15%"):
        row = next(l for l in impact.splitlines() if l.startswith(f"| {said}"))
        assert row.rstrip().endswith("| not excluded |"), row
    noise = _section(md, "Noise analysis")
    assert "cannot be told apart from zero with these runs; anything from -6.00% to +20.00% is not excluded" in noise
    assert "within the noise" not in md


def test_reference_figures_against_a_ci_that_excludes_zero(project, phases, results):
    res = copy.deepcopy(results)
    _set_speedup(_cmp(res, "phase-6b", "mid_mt_gap", "hak-6b"), 0.02, 0.04, "faster")
    impact = _section(render.render_phase(project, phases["phase-6b"], res), "Impact and ceiling")
    rows = {l.split(" | ")[0][2:]: l.rstrip() for l in impact.splitlines() if l.startswith("| ")}
    assert rows["Reported improvement: +2.65%"].endswith("| consistent |")
    assert rows["Measured improvement: +0.15% (nearly zero)"].endswith("| contradicted |")


def test_a_proxy_measure_does_not_refute_the_profile(project, phases, results):
    impact = _section(render.render_phase(project, phases["phase-6b"], results), "Impact and ceiling")
    row = next(l for l in impact.splitlines() if "STILL PRESENT" in l)
    assert "mutex acquisitions by the allocator itself" in row
    assert "| contradicted |" not in row and "does not refute it" in row
    assert "*Indirect*" in impact


def test_profile_resolution_of_the_quoted_profile(project, phases, results):
    from reportgen import stats
    noise = _section(render.render_phase(project, phases["phase-6b"], results), "Noise analysis")
    assert "### Profile resolution" in noise and "121 samples" in noise
    for sym, share in (("pthread_mutex_unlock", 0.0298), ("pthread_mutex_lock", 0.0213)):
        lo, hi = stats.share_ci(round(share * 121), 121)
        row = next(l for l in noise.splitlines() if l.startswith(f"| `{sym}`"))
        assert f"{lo * 100:.1f}% .. {hi * 100:.1f}%" in row, row
    assert "cannot tell `pthread_mutex_unlock` from `pthread_mutex_lock`" in noise
    # the quoted numbers come from the spec, not from the template
    tpl = (Path(render.__file__).parent.parent / "templates" / "phase.md.j2").read_text()
    assert "121" not in tpl and "2.98" not in tpl


# --- authored conclusions against this run ------------------------------------------------

def test_conclusion_warns_when_an_assumed_hypothesis_is_not_confirmed(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], results)
    assert "This conclusion assumes" not in _section(md, "Conclusion")  # H1..H4 confirmed on the fixture
    bad = copy.deepcopy(results)
    for r in bad["phases"]["phase-6b"]["bench"]["mid_mt_gap"]["results"]:
        if r["variant"] == "hak-6b":
            r["counters"]["mutex_locks"] = 7
    del bad["phases"]["phase-6b"]["header_cost"]
    concl = _section(render.render_phase(project, phases["phase-6b"], bad), "Conclusion")
    warn, text = concl.split("Phase 6-B is a correct implementation", 1)
    assert '!!! warning "This conclusion assumes what this run did not confirm"' in warn
    assert 'H1 ("The benchmark never hit the mutex path") is **rejected**' in warn
    assert "H4" in warn and "**inconclusive**" in warn and "H2" not in warn.split("On this run", 1)[1]
    # an implication of a hypothesis that did not hold is not stated as fact
    h1 = _hyp(render.render_phase(project, phases["phase-6b"], bad), "H1")
    assert "*Implication if it held* (it is **rejected** on this run" in h1
    assert "\n*Implication*:" not in h1


# --- the Amdahl ceiling when the time model misses the mixed run ---------------------------

def _with_time_model(results, err):
    res = copy.deepcopy(results)
    r = res["phases"]["phase-6b"]["route"]["mid_mt_gap"]["hak-6b"]
    r["time_model"] = {"ns_per_op_modelled": 10.0 * (1 + err), "ns_per_op_measured": 10.0, "relative_error": err}
    return res


def test_amdahl_is_an_estimate_when_the_time_model_is_off(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], _with_time_model(results, -0.4))
    t_lo, t_hi = (1 / (0.2 + 0.8 / f) - 1 for f in (1.17, 1.27))    # fixture: Mid time share 0.8
    c_lo, c_hi = (1 / (0.25 + 0.75 / f) - 1 for f in (1.17, 1.27))  # Mid count share 0.75
    both = (f"{t_lo * 100:+.2f}% .. {t_hi * 100:+.2f}%", f"{c_lo * 100:+.2f}% .. {c_hi * 100:+.2f}%")
    summary = _section(md, "Verdict and executive summary")
    bullet = next(l for l in summary.splitlines() if l.startswith("- Amdahl ceiling"))
    assert "**estimate**" in bullet and all(x in bullet for x in both), bullet
    impact = _section(md, "Impact and ceiling")
    assert "**estimate**" in impact and all(x in impact for x in both)
    routing = _section(md, "Routing: predicted against measured")
    assert "**the mix costs more than its parts**" in routing
    # the other sign: the model over-estimates the mix
    routing = _section(render.render_phase(project, phases["phase-6b"], _with_time_model(results, 0.3)),
                       "Routing: predicted against measured")
    assert "**the mix costs less than its parts**" in routing and "costs more" not in routing


def test_amdahl_is_stated_plainly_when_the_time_model_holds(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], _with_time_model(results, -0.05))
    summary = _section(md, "Verdict and executive summary")
    bullet = next(l for l in summary.splitlines() if l.startswith("- Amdahl ceiling"))
    assert "estimate" not in bullet
    assert "estimate" not in _section(md, "Impact and ceiling")
    routing = _section(md, "Routing: predicted against measured")
    assert "(-5.00%)." in routing and "than its parts" not in routing


# --- robustness -----------------------------------------------------------------------------

def test_a_phase_without_results_renders_as_not_measured(project, phases, results, tmp_path):
    res = copy.deepcopy(results)
    del res["phases"]["phase-6c"]
    pages = render.render_all(project, list(phases.values()), res, out_dir=tmp_path / "phases")
    md = (tmp_path / "phases" / "phase-6c.md").read_text()
    assert '!!! warning "Not measured yet"' in md
    assert "No benchmark was measured for this phase yet." in md
    assert 'rg-inconclusive">INCONCLUSIVE' in _hyp(md, "H1")
    assert "Not measured yet" not in (tmp_path / "phases" / "phase-6b.md").read_text()
    assert {p.name for p in pages} >= {"phase-6a.md", "phase-6b.md", "phase-6c.md", "index.md"}


def test_a_bad_filter_in_authored_text_is_a_user_error(project, phases, results):
    spec = phases["phase-6b"].model_copy(update={
        "conclusion": "It moved {{ m('bench.mid_mt_gap.comparisons.hak-6b.speedup') | pct(1, 2, 3) }}."})
    spec.path = "phases/phase-6b.yaml"
    with pytest.raises(UserError) as exc:
        render.render_phase(project, spec, results)
    msg = str(exc.value)
    assert msg.startswith("phases/phase-6b.yaml: field conclusion: bad expression in authored text")
    assert "TypeError" in msg and "\n" not in msg


def test_a_failed_render_leaves_the_previous_pages(project, phases, results, tmp_path):
    out = tmp_path / "phases"
    render.render_all(project, list(phases.values()), results, out_dir=out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    bad = phases["phase-6b"].model_copy(update={"conclusion": "{{ m('bench.mid_mt_gap.comparisons.hak-6b.speedup') | pct(1, 2, 3) }}"})
    with pytest.raises(UserError):
        render.render_all(project, [phases["phase-6a"], bad, phases["phase-6c"]], results, out_dir=out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["phases"]  # no half-written folder left beside it


def test_render_command_with_a_bad_filter_exits_2(project, phases, results, tmp_path, monkeypatch, capsys):
    import shutil

    from reportgen import plan
    from reportgen.cli import main

    root = tmp_path / "lab"
    for part in ("phases", "templates", "native"):
        shutil.copytree(project.root / part, root / part, ignore=shutil.ignore_patterns("*.o", "*.so"))
    spec = root / "phases" / "phase-6b.yaml"
    spec.write_text(spec.read_text().replace(
        "conclusion: >\n", "conclusion: >\n  {{ m('bench.mid_mt_gap.comparisons.hak-6b.speedup') | pct(1, 2, 3) }}\n", 1))
    monkeypatch.setattr(plan, "collect", lambda project, phases, quick=None: results)
    assert main(["--root", str(root), "render"]) == 2
    err = capsys.readouterr().err
    assert "phases/phase-6b.yaml: field conclusion: bad expression" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (root / "docs" / "phases").exists()
