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


def _synthesis(md: str) -> str:
    """The page's opening sentences: what stands between the title and the question."""
    return md.split("\n# ", 1)[1].split("\n", 1)[1].split("**Question**", 1)[0]


def _hyp(md: str, hid: str) -> str:
    m = re.search(rf"^### {hid}: .*?\n(.*?)(?=^### |^## )", md, re.S | re.M)
    assert m, f"hypothesis {hid} missing"
    return m.group(1)


def test_numbers_land_where_they_should(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], results)
    perf = _section(md, "Measured performance")
    # the fixture's hak-6a runs (10.0, 10.2, 9.8, 10.1, 9.9 M ops/s): median 10.00, best 3 of 5 = 10.10
    # every allocator's medians are folded under the judged comparisons (4-space indented)
    row = next(l.strip() for l in perf.splitlines() if l.strip().startswith("| `hak-6a` | 10"))
    assert "10.00 M ops/s" in row and "10.10 M ops/s" in row
    assert "| `tcmalloc` | not measured |" in perf
    routing = _section(md, "Routing: predicted against measured")
    assert "| 1,024 B | tiny | tiny | 250,000 | matches |" in routing
    assert "| tiny | 25.0% | 6.7% | 20.0% |" in routing
    impact = _section(md, "Impact and ceiling")
    # Amdahl with E = 0.8 (the fixture's Mid time share of 6-A, the baseline), S = 1.17 .. 1.27
    lo, hi = 1 / (0.2 + 0.8 / 1.17) - 1, 1 / (0.2 + 0.8 / 1.27) - 1
    assert f"{lo * 100:+.1f}% .. {hi * 100:+.1f}%" in impact and "`hak-6a`'s routing" in impact
    # the reference's two Tiny shares, and what was measured
    assert "contradicts itself" in impact and "Measured: **25.0%**" in impact
    assert re.search(r"roughly 40-50% .*\| not reproduced \|", impact)
    assert "contradicted" not in md
    hc = _section(md, "Header read cost")
    assert "median 0.50 ns" in hc and "| `hak-6b` | 8,192 B | 8,208 B | 16 |" in hc
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
    assert "the claimed +17..+27% lies above that interval (an **over-claim**)" in _synthesis(md)


def test_a_rejected_hypothesis_renders_as_rejected(project, phases, results):
    bad = copy.deepcopy(results)
    for r in bad["phases"]["phase-6b"]["bench"]["mid_mt_gap"]["results"]:
        if r["variant"] == "hak-6b":
            r["counters"]["mutex_locks"] = 7
    md = render.render_phase(project, phases["phase-6b"], bad)
    h1 = _hyp(md, "H1")
    assert 'rg-rejected">REJECTED' in h1
    assert "`bench.mid_mt_gap.hak-6b.counters.mutex_locks` = 7 (expected == 0): does not hold" in h1
    # the synthesis names it among what the evidence rules out
    assert "It rules out: The benchmark never hit the mutex path (H1)" in _synthesis(md)


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
    assert "the claimed +17..+27% is **not excluded**, but neither is no change at all" in _synthesis(md)
    assert "neither supports nor rules out" in md
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
    assert rows["Reported improvement: +2.65%"].endswith("| reproduced |")
    assert rows["Measured improvement: +0.15% (nearly zero)"].endswith("| not reproduced |")


def test_a_proxy_measure_does_not_refute_the_profile(project, phases, results):
    impact = _section(render.render_phase(project, phases["phase-6b"], results), "Impact and ceiling")
    row = next(l for l in impact.splitlines() if "STILL PRESENT" in l)
    assert "mutex acquisitions by the allocator itself" in row
    assert "| not reproduced |" not in row and "does not refute it" in row
    assert "*Indirect*" in impact


def test_profile_resolution_of_the_quoted_profile(project, phases, results):
    from reportgen import stats
    noise = _section(render.render_phase(project, phases["phase-6b"], results), "Noise analysis")
    assert "### Profile resolution" in noise and "121 samples" in noise
    for sym, share in (("pthread_mutex_unlock", 0.0298), ("pthread_mutex_lock", 0.0213)):
        lo, hi = stats.share_ci(round(share * 121), 121)
        row = next(l.strip() for l in noise.splitlines() if l.strip().startswith(f"| `{sym}`"))
        assert f"{lo * 100:.1f}% .. {hi * 100:.1f}%" in row, row
    assert "cannot tell `pthread_mutex_unlock` from `pthread_mutex_lock`" in noise
    # the quoted numbers come from the spec, not from the template
    tpl = (Path(render.__file__).parent.parent / "templates" / "phase.md.j2").read_text()
    assert "121" not in tpl and "2.98" not in tpl


# --- authored conclusions against this run ------------------------------------------------

def test_conclusion_warns_when_an_assumed_hypothesis_is_not_confirmed(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], results)
    concl = _section(md, "Conclusion")
    assert "rests on what this run did not confirm" not in concl  # all it rests on confirmed on the fixture
    assumed = phases["phase-6b"].conclusion_assumes
    assert assumed[:3] == ["H1", "H2", "H3"] and f"*Rests on* {', '.join(assumed)}, confirmed on this run." in concl
    bad = copy.deepcopy(results)
    for r in bad["phases"]["phase-6b"]["bench"]["mid_mt_gap"]["results"]:
        if r["variant"] == "hak-6b":
            r["counters"]["mutex_locks"] = 7
    for r in bad["phases"]["phase-6b"]["bench"]["mt_remote"]["results"]:
        if r["variant"] == "hak-6a":
            r["counters"]["mid_remote_frees"] = None
    concl = _section(render.render_phase(project, phases["phase-6b"], bad), "Conclusion")
    warn, text = concl.split(phases["phase-6b"].conclusion.split()[0] + " ", 1)
    assert '!!! warning "This conclusion rests on what this run did not confirm"' in warn
    assert 'H1 ("The benchmark never hit the mutex path", listed by the author) is **rejected**' in warn
    assert "H2" in warn and "**inconclusive**" in warn and "H3" not in warn.split("On this run", 1)[1]
    # an implication of a hypothesis that did not hold is not stated as fact
    h1 = _hyp(render.render_phase(project, phases["phase-6b"], bad), "H1")
    assert "*Implication if it held* (it is **rejected** on this run" in h1
    assert "\n*Implication*:" not in h1


# --- the Amdahl ceiling when the time model misses the mixed run ---------------------------

def _with_time_model(results, err):
    res = copy.deepcopy(results)
    r = res["phases"]["phase-6b"]["route"]["mid_mt_gap"]["hak-6a"]       # the baseline's routing
    r["time_model"] = {"ns_per_op_modelled": 10.0 * (1 + err), "ns_per_op_measured": 10.0, "relative_error": err}
    return res


def test_no_time_share_and_no_whole_pool_ceiling_when_the_time_model_misses(project, phases, results):
    """A time model that misses the mixed run by more than its tolerance gives no time share at
    all: not in the routing table, not in a ceiling, and no guess at a mechanism for the miss."""
    md = render.render_phase(project, phases["phase-6b"], _with_time_model(results, -0.4))
    impact = _section(md, "Impact and ceiling")
    t_lo = 1 / (0.2 + 0.8 / 1.17) - 1                        # what E = 0.8 would have given
    assert f"{t_lo * 100:+.1f}%" not in md and "No share of the time is given" in impact
    assert "misses the mixed run by -40%" in impact
    routing = _section(md, "Routing: predicted against measured")
    assert "**no time share is given**" in routing and "| mid | 75.0% | 93.3% | not given |" in routing
    assert "than its parts" not in md and "overlaps" not in routing and "switching" not in routing
    for err in (0.3, -0.12):
        md = render.render_phase(project, phases["phase-6b"], _with_time_model(results, err))
        assert "No share of the time is given" in _section(md, "Impact and ceiling")


def test_amdahl_is_stated_plainly_when_the_time_model_holds(project, phases, results):
    md = render.render_phase(project, phases["phase-6b"], _with_time_model(results, -0.05))
    impact = _section(md, "Impact and ceiling")
    assert "estimate" not in impact and "No share of the time" not in impact and "80.0% of the time" in impact
    routing = _section(md, "Routing: predicted against measured")
    assert "(-5.0%): within its 10% tolerance" in routing and "than its parts" not in routing


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


# --- statements tied to checks (reportgen.statements) -------------------------------------------

def _flag(md: str, what: str) -> str:
    m = re.search(rf'!!! warning "This {what} rests on what this run did not confirm"\n(.*?)\n\n(.*?)\n\n', md, re.S)
    return m.group(0) if m else ""


def test_a_conclusion_resting_on_a_rejected_hypothesis_is_flagged(project, phases, results):
    """E2 and E3 are rejected on the fixture (6-B's free is counted cheaper than 6-A's): a conclusion
    resting on them is flagged above it, however it rests on them: listed, named or mentioned."""
    spec = phases["phase-6b"]
    outs = {o.id: o.status for o in hypotheses.assess_all(spec, results["phases"]["phase-6b"])}
    assert outs["E2"] == outs["E3"] == "rejected" and outs["H1"] == "confirmed"
    cases = [
        ({"conclusion": "The header makes every free dearer.", "conclusion_assumes": ["H1", "E2"]},
         'E2 ("6-B\'s free executes more instructions than 6-A\'s on mid_mt_gap (optimised build)", '
         'listed by the author) is **rejected**'),
        ({"conclusion": "As E3 shows, the header is a cache cost.", "conclusion_assumes": ["H1"]},
         "E3 (\"6-B's free misses the L1 data cache more often than 6-A's on mid_mt_gap (optimised build)\", "
         "named in its text) is **rejected**"),
        ({"conclusion": "The header read makes 6-B run more instructions per free.", "conclusion_assumes": []},
         "its mechanism is mentioned) is **rejected**"),
    ]
    for update, expect in cases:
        bad = spec.model_copy(update=update)
        md = render.render_phase(project, bad, results)
        concl = _section(md, "Conclusion")
        flag = _flag(concl, "conclusion")
        assert flag and expect in flag, (update, concl[:600])
        assert concl.index("rests on what this run did not confirm") < concl.index(update["conclusion"])
        assert "*Rests on*" not in concl
    # the shipped conclusion rests on confirmed hypotheses only, and says which
    concl = _section(render.render_phase(project, spec, results), "Conclusion")
    assert not _flag(concl, "conclusion") and \
        f"*Rests on* {', '.join(spec.conclusion_assumes)}, confirmed on this run." in concl


def test_a_recommendation_on_a_rejected_hypothesis_is_flagged_and_not_advised_first(project, phases, results):
    spec = phases["phase-6b"]
    recs = [r.model_copy(update={"rests_on": ["E2"]}) if i == 0 else r for i, r in enumerate(spec.recommendations)]
    md = render.render_phase(project, spec.model_copy(update={"recommendations": recs}), results)
    rec = _section(md, "Recommendations")
    first = rec.split("### 2.", 1)[0]
    assert _flag(first, "recommendation") and "E2" in first and "**rejected**" in first
    # the synthesis's next step is the first recommendation that survives its checks
    assert f"Next: {spec.recommendations[1].title}" in _synthesis(md)
    assert f"Next: {spec.recommendations[0].title}" not in _synthesis(md)


def test_no_shipped_statement_contradicts_its_page_without_saying_so(project, phases, results):
    """Every statement of every page that a rejected or open hypothesis undercuts carries its flag;
    on the fixture results none of the shipped statements of a phase they measure is undercut."""
    from reportgen import statements
    for variant in ("as is", "6-B faster"):
        res = copy.deepcopy(results)
        if variant == "6-B faster":
            _set_speedup(_cmp(res, "phase-6b", "mid_mt_gap", "hak-6b"), 0.03, 0.05, "faster")
        for spec in phases.values():
            pr = render.failed_sides(res["phases"][spec.id])
            checks = statements.check_statements(spec, hypotheses.assess_all(spec, pr))
            md = render.render_phase(project, spec, res)
            undercut = [c for f, c in checks.items() if c.undercut and not f.endswith(".implication")]
            assert md.count("rests on what this run did not confirm") == len(undercut), (spec.id, undercut)
            # a phase the fixtures do not measure (6-D: its variants are newer) has every statement
            # that rests on a hypothesis flagged, which is the point; the others have none
            if any((b or {}).get("comparisons") for b in (pr.get("bench") or {}).values()):
                assert not undercut, (spec.id, variant, [c.to_dict() for c in undercut])
            else:
                assert undercut


def test_an_unknown_hypothesis_in_rests_on_is_refused(project, phases):
    from reportgen.phases import _semantic_checks
    spec = phases["phase-6b"]
    recs = [r.model_copy(update={"rests_on": ["H99"]}) for r in spec.recommendations]
    msgs = []
    with pytest.raises(UserError):
        _semantic_checks(spec.model_copy(update={"recommendations": recs}),
                         lambda f, m: (msgs.append(f"{f}: {m}"), (_ for _ in ()).throw(UserError(m)))[1])
    assert msgs[0].startswith("recommendations[0].rests_on[0]: 'H99' is not a hypothesis of this phase")


# --- the synthesis: the answer on the first screen ------------------------------------------------

def _first_lines(md: str, n: int = 12) -> str:
    after_title = md.split("\n# ", 1)[1].split("\n", 1)[1]
    return "\n".join([l for l in after_title.splitlines() if l.strip()][:n])


@pytest.mark.parametrize("ci, verdict, said", [
    ((0.03, 0.05), "faster", "the reference's +2.65% and +0.15% were **not reproduced**"),
    ((-0.01, 0.04), "no significant change", "the reference's +2.65% and +0.15% were neither reproduced nor ruled out"),
    ((-0.02, 0.06), "underpowered", "the reference's +2.65% and +0.15% were neither reproduced nor ruled out"),
    ((0.02, 0.031), "faster", "the reference's +2.65% was **reproduced** and its +0.15% was **not reproduced**"),
])
def test_the_6b_page_answers_its_question_in_its_first_lines(project, phases, results, ci, verdict, said):
    res = copy.deepcopy(results)
    c = _cmp(res, "phase-6b", "mid_mt_gap", "hak-6b")
    _set_speedup(c, *ci, verdict)
    if verdict == "underpowered":
        c["reason"] = "underpowered: its 95% CI is wider than twice its target; more sessions would decide it"
    md = render.render_phase(project, phases["phase-6b"], res)
    top = _first_lines(md)
    # whether the reference's figures were reproduced here (the figures from the spec's quotes)
    assert said in top
    # the measured effect with its interval, and the verdict
    assert f"95% CI {ci[0] * 100:+.2f}% .. {ci[1] * 100:+.2f}%" in top and f"**{verdict}**" in top
    # which mechanism the evidence supports, and which it rules out
    assert "The evidence supports: The benchmark never hit the mutex path (H1)" in top
    assert "It rules out: 6-B's free executes more instructions than 6-A's" in top
    assert "Next: " in top
    synthesis = _synthesis(md).strip()
    assert len(re.findall(r"[.!?](?:\s|$)", synthesis)) <= 5, synthesis
    # numbers only from the results and the spec's quotes: nothing typed into the template
    tpl = (Path(render.__file__).parent.parent / "templates" / "phase.md.j2").read_text()
    assert "0.15" not in tpl and "2.65" not in tpl


def _main_body_words(md: str) -> int:
    """Words a reader meets without opening a folded section (`??? ...` and its 4-space indented body)."""
    kept, folded = [], False
    for line in md.splitlines():
        if folded and (not line.strip() or line.startswith("    ")):
            continue
        folded = line.startswith("???")
        kept.append(line)
    return sum(1 for t in "\n".join(kept).split() if re.search(r"[A-Za-z0-9]", t))


def test_the_6b_main_body_reads_in_five_minutes(project, phases, results):
    """Counts, coverage and profiles are in the fixture (make_evidence_fixtures.py), so the page has
    every section of a real one; outside its folded sections it stays within 4,000 words."""
    md = render.render_phase(project, phases["phase-6b"], results)
    assert "## Exact counts per operation" in md and "## Did the benchmarks exercise the change?" in md
    words = _main_body_words(md)
    assert words <= 4000, words
    assert _main_body_words(md) < len(md.split()) / 2  # the detail is folded, not gone


def test_each_fact_once_machine_and_verdict(project, phases, results):
    res = copy.deepcopy(results)
    _set_speedup(_cmp(res, "phase-6b", "mid_mt_gap", "hak-6b"), 0.03, 0.05, "faster")
    md = render.render_phase(project, phases["phase-6b"], res)
    label = "Fixture CPU (invented), 2 cores"
    assert md.count(label) == 1   # the machine is described once per page
    # the effect: in the synthesis, the judged comparisons and the reference's figures beside it, and
    # nowhere else outside the folded detail
    main = [l for l in md.splitlines() if not l.startswith("    ")]
    where = [l.split("|")[1].strip() if l.startswith("|") else l[:20] for l in main if "+3.00% .. +5.00%" in l]
    assert where == ["On this machine `hak", "Reported improvement: +2.65%", "Measured improvement: +0.15% (nearly zero)",
                     "`hak-6b`"], where
    assert md.count("Times come from the **timed builds**") + md.count("from the **timed builds**") == 1
    # the 6-A excerpt is folded: its code is not in the main body of the page
    assert "_hak_mid_registry_lookup(heap, p, &e)" not in "\n".join(
        l for l in md.splitlines() if not l.startswith("    "))


def test_header_cost_is_given_at_the_benchmarks_working_set(project, phases, results):
    """The kernel's median over its grid is no benchmark's cost: the page leads with the row whose
    block count is the benchmark's (mid_mt_gap keeps 256 live blocks: the 16 KiB row at 64 B apart)."""
    res = copy.deepcopy(results)
    hc = res["phases"]["phase-6b"]["header_cost"]
    hc["time"] = [{"working_set_bytes": n * 64, "blocks": n, "ns_with_header": 1.0 + d, "ns_without_header": 1.0,
                   "independent": {"with": 1.0 + d / 10, "without": 1.0}}
                  for n, d in ((64, 2.0), (256, 3.0), (1024, 6.0), (1 << 20, 100.0), (1 << 21, 120.0))]
    md = render.render_phase(project, phases["phase-6b"], res)
    hcs = _section(md, "Header read cost")
    assert "At the working set nearest `mid_mt_gap`'s (256 blocks, the 16 KiB row) the header load adds " \
           "**3.00 ns** per free in the dependent chain and **0.30 ns** with independent frees." in hcs
    assert "median 6.00 ns" in hcs and "a choice of this kernel, not of any benchmark" in hcs


def test_an_excerpt_is_quoted_once_on_the_site(project, phases, results, tmp_path):
    """The 6-A registry free is quoted on the oldest page that shows it; the later pages link to it."""
    render.render_all(project, list(phases.values()), results, out_dir=tmp_path / "phases")
    a, b, c = ((tmp_path / "phases" / f"phase-6{x}.md").read_text() for x in "abc")
    code = "_hak_mid_registry_lookup(heap, p, &e)"
    assert code in a and code not in b and code not in c
    assert "The same code is quoted on [Phase 6-A: registry-based Mid free](phase-6a.md#code-mid-free-registry)" in b
    assert "{ #code-mid-free-registry }" in b   # the coverage table's line links still land on the page
