"""Machines compared honestly (issue 15.4): `machines.per_machine` on real records.

The first machine is a real publish under results/; the second is a copy of its phase results
with fields edited the way another machine's run would have them.  The machines disagree only where
two of them decide opposite outcomes (or measure non-overlapping speed-up intervals); decided on one
and open on the other is a note; a failed run is "not measured", never a disagreement.
"""
from __future__ import annotations

import copy

import pytest

from reportgen.measuring.kinds.bench import layout_robustness
from reportgen.machines import per_machine
from reportgen.phases import load_phases
from reportgen.plan import collect
from reportgen.project import Project
from reportgen.render import _env, _md_cell
from reportgen.store import Store

HERE, THERE = "machine-here", "machine-there"


@pytest.fixture(scope="module")
def real():
    """(project, phases, the phase results of the machine under results/ with the newest phase records)."""
    project = Project.locate()
    phases = load_phases(project)

    def newest(mid):          # the machine whose phase records are the newest (their names start with the time)
        return max((p.name for p in (project.results_dir / mid / "phase").rglob("*.json")), default="")

    for mid in sorted(Store.machines(project.results_dir), key=newest, reverse=True):
        try:
            return project, phases, collect(project, phases, store=Store(project.results_dir, mid))["phases"]
        except Exception:          # that machine holds raw measurements only
            continue
    pytest.skip(f"no phase records under {project.results_dir}: run `reportgen publish` first")


def _spec(phases, pid):
    return next(s for s in phases if s.id == pid)


def _cmp(phase_res: dict, workload: str, candidate: str, baseline: str = "hak-6a") -> dict:
    return next(c for c in phase_res["bench"][workload]["comparisons"]
                if c["candidate"] == candidate and c["baseline"] == baseline)


def _set(c: dict, verdict: str, speedup: float, ci: list[float]) -> None:
    """The comparison's outcome set explicitly, measured in two layouts that agree with it."""
    c.update(verdict=verdict, speedup=speedup, speedup_ci95=ci, ratio=1 + speedup,
             ci95=[1 + ci[0], 1 + ci[1]], layout_sd=None, layout_heterogeneity_p=None,
             per_layout=[{"layout": j, "sessions": 1, "speedup": speedup, "ci95": None} for j in range(2)])
    c["layout_robust"], c["layout_reason"] = layout_robustness(c)


def _two(phases_here: dict, edit) -> dict:
    there = copy.deepcopy(phases_here)
    edit(there)
    return {"machines": {
        HERE: {"label": "here", "machine": {"cpu_model": "Here CPU"}, "quick": True, "phases": phases_here,
               "local": True},
        THERE: {"label": "there", "machine": {"cpu_model": "There CPU"}, "quick": True, "phases": there,
                "local": False}}}


def _page(project, spec, pm) -> str:
    return _env(project).get_template("per_machine.md.j2").render(
        per_machine=pm, spec=spec, machine_label="here", cell=_md_cell)


def _items(lst) -> list[str]:
    return [it["item"] for it in lst]


def test_machines_that_agree_show_no_warning_and_no_note(real):
    project, phases, here = real
    for spec in phases:
        pm = per_machine(spec, _two(here, lambda there: None))
        assert pm["disagree"] == [] and pm["open_there"] == [] and pm["not_measured"] == [], spec.id
        assert "The machines disagree" not in _page(project, spec, pm)


def test_machines_one_decided_the_other_open_is_a_note_not_a_disagreement(real):
    """Here the headline is decided (set so: the test does not hang on what this machine measured);
    on the second machine it is underpowered (its interval across 0 and too wide) and 6-B against 6-A
    on mid_only is no significant change: whatever that leaves open there is a note, never a
    disagreement."""
    project, phases, here = real
    here = copy.deepcopy(here)
    spec = _spec(phases, "phase-6b")
    _set(_cmp(here["phase-6b"], "mid_mt_gap", "hak-6b"), "faster", 0.05, [0.04, 0.06])
    _set(_cmp(here["phase-6b"], "mid_only", "hak-6b"), "faster", 0.09, [0.07, 0.11])

    def edit(there):
        p = there["phase-6b"]
        _set(_cmp(p, "mid_mt_gap", "hak-6b"), "underpowered", 0.05, [-0.01, 0.12])
        _set(_cmp(p, "mid_only", "hak-6b"), "no significant change", 0.04, [-0.004, 0.09])

    pm = per_machine(spec, _two(here, edit))
    assert pm["disagree"] == []
    opened = {it["item"]: it for it in pm["open_there"]}
    assert {"the headline verdict", "hak-6b against hak-6a on mid_only"} <= set(opened)
    for it in opened.values():
        assert it["decided_on"] == [HERE] and it["open_on"] == [THERE] and it["pairs"] == []
    assert opened["the headline verdict"]["values"][THERE]["text"].startswith("underpowered +5.00%")
    assert pm["not_measured"] == []
    page = _page(project, spec, pm)
    assert "The machines disagree" not in page
    assert '!!! note "Decided on one machine, open on another"' in page
    assert (f"**the headline verdict**: decided on `{HERE}` (faster +5.00% (95% CI +4.00% .. +6.00%)), "
            f"open on `{THERE}` (underpowered +5.00% (95% CI -1.00% .. +12.00%))") in page


@pytest.mark.parametrize("verdict, speedup, ci", [
    ("no significant change", -0.011, [-0.03, 0.004]),   # the case: -1.1% there, a clear gain here
    ("faster", 0.02, [0.01, 0.03]),                      # both faster, by amounts that exclude each other
])
def test_machines_a_non_headline_comparison_with_non_overlapping_intervals_disagrees(real, verdict, speedup, ci):
    project, phases, here = real
    here = copy.deepcopy(here)
    spec = _spec(phases, "phase-6b")
    mine = _cmp(here["phase-6b"], "mid_only", "hak-6a-pad16")
    _set(mine, "faster", 0.05, [0.035, 0.065])     # here: a clear gain (whatever this machine measured)
    assert mine["role"] == "primary" and mine["speedup_ci95"][0] > ci[1]

    pm = per_machine(spec, _two(here, lambda there: _set(_cmp(there["phase-6b"], "mid_only", "hak-6a-pad16"),
                                                        verdict, speedup, ci)))
    item = "hak-6a-pad16 against hak-6a on mid_only"
    assert _items(pm["disagree"]) == [item]           # the headline is the same on both machines
    (d,) = pm["disagree"]
    assert d["pairs"] == [[HERE, THERE]] and d["kind"] == "comparison"
    page = _page(project, spec, pm)
    assert '!!! warning "The machines disagree"' in page
    line = next(l for l in page.splitlines() if l.strip().startswith(f"- **{item}**"))
    assert f"`{HERE}` faster {mine['speedup'] * 100:+.2f}% (95% CI " in line
    assert f"`{THERE}` {verdict} {speedup * 100:+.2f}% (95% CI {ci[0] * 100:+.2f}% .. {ci[1] * 100:+.2f}%)" in line
    assert line.endswith("— the 95% intervals of the speed-up do not overlap")
    assert "the headline verdict" not in page.split('!!! warning "The machines disagree"', 1)[1].split("\n\n|", 1)[0]


def test_machines_opposite_decided_verdicts_disagree_on_the_headline(real):
    project, phases, here = real
    spec = _spec(phases, "phase-6b")

    def edit(there):
        c = _cmp(there["phase-6b"], "mid_mt_gap", "hak-6b")
        c["verdict"] = "slower" if c["verdict"] != "slower" else "faster"

    pm = per_machine(spec, _two(here, edit))
    head = next(it for it in pm["disagree"] if it["item"] == "the headline verdict")
    assert head["why"] == "opposite decided outcomes"          # the same interval, the opposite verdict
    assert "The machines disagree" in _page(project, spec, pm)


def test_machines_a_failed_candidate_is_not_measured_never_a_disagreement(real):
    """6-B crashed on every workload of the second machine: its headline, the claim check and every
    hypothesis that reads 6-B's bench numbers are not measured there; nothing disagrees."""
    project, phases, here = real
    spec = _spec(phases, "phase-6b")

    def edit(there):
        for b in [*there["phase-6b"]["bench"].values(), *there["phase-6b"].get("offsets", {}).values()]:
            for r in b["results"]:
                if r["variant"] == "hak-6b":
                    r.update(failures=[{"run": 0, "cause": "killed by SIGSEGV"}], samples=[], median=None,
                             ci95=None, counters=None)

    pm = per_machine(spec, _two(here, edit))
    assert pm["disagree"] == [] and pm["open_there"] == []
    (nm,) = pm["not_measured"]
    assert nm["id"] == THERE and "SIGSEGV" in nm["failed"]
    missing = _items(nm["items"])
    # every hypothesis reading 6-B's numbers that this machine's records measure (results/ may hold
    # records older than a hypothesis: H8's contrast, say) is not measured there
    here = next(r for r in pm["rows"] if r["id"] != THERE)
    readers = {h for h in ("H1", "H5", "H6", "H7", "H8") if here["hyp"][h]["state"] != "not measured"}
    assert {"H1", "H5", "H6"} <= readers
    assert {"the headline verdict", "the claim check", *readers,
            "hak-6b against hak-6a on mid_only", "hak-6b against hak-6a on mt_remote"} <= set(missing)
    assert "hak-6a-pad16 against hak-6a on mid_only" not in missing       # 6-A and the control ran
    row = next(r for r in pm["rows"] if r["id"] == THERE)
    assert row["hyp"]["H5"]["state"] == "not measured" and row["statuses"]["H5"] == "inconclusive"
    page = _page(project, spec, pm)
    assert "The machines disagree" not in page and "Decided on one machine" not in page
    assert f"Not measured on `{THERE}` (its run failed: hak-6b: 1 run failed: killed by SIGSEGV): " \
           f"the headline verdict, the claim check" in page


def test_machines_a_machine_without_a_record_is_not_measured(real):
    project, phases, here = real
    spec = _spec(phases, "phase-6c")
    pm = per_machine(spec, _two(here, lambda there: there.pop("phase-6c")))
    assert pm["disagree"] == [] and pm["open_there"] == [] and pm["unmeasured"] == [THERE]
    (nm,) = pm["not_measured"]
    assert nm["id"] == THERE and not nm["measured"]
    assert f"Not measured on `{THERE}` (no record of this phase there)" in _page(project, spec, pm)
