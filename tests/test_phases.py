"""Phase specs: the shipped ones load; a broken one is one line naming the file and the field, exit 2."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reportgen.errors import UserError
from reportgen.phases import load_phase, load_phases
from reportgen.project import Project

ROOT = Project.locate().root


def test_shipped_specs_load():
    phases = {p.id: p for p in load_phases(Project.locate())}
    assert {"phase-6a", "phase-6b"} <= set(phases)
    b = phases["phase-6b"]
    assert (b.claim.low, b.claim.high) == (0.17, 0.27)
    assert b.baseline == "hak-6a" and b.candidate == "hak-6b"
    assert [h.id for h in b.hypotheses][:4] == ["H1", "H2", "H3", "H4"]


def _write(tmp_path: Path, data, name="phase-x") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return p


def _spec() -> dict:
    return yaml.safe_load((ROOT / "phases" / "phase-6b.yaml").read_text()) | {"id": "phase-x"}


@pytest.mark.parametrize("mutate, field, expect", [
    (lambda d: d.pop("baseline"), "baseline", "required field is missing"),
    (lambda d: d.update(status="done-ish"), "status", "expected"),
    (lambda d: d.update(date="yesterday"), "date", "date"),
    (lambda d: d.update(colour="red"), "colour", "unknown field"),
    (lambda d: d["claim"].update(low=0.5), "claim", "must not exceed"),
    (lambda d: d.update(candidate="hak-9z"), "candidate", "unknown allocator 'hak-9z'"),
    (lambda d: d.update(workloads=["mid_mt_gap", "nope"]), "workloads[1]", "unknown workload 'nope'"),
    (lambda d: d["hypotheses"][0]["check"]["all"][1].update(op="=~"), "hypotheses[0].check.all[1].op", "expected"),
    (lambda d: d["hypotheses"][1]["check"]["all"][0].update(metric="speed"), "hypotheses[1].check.all[0].metric",
     "dotted names"),
    (lambda d: d["hypotheses"][2]["check"]["all"][0].update(metric="route.mid_only_typo.hak-6b.sizes.1024.predicted"),
     "hypotheses[2].check.all[0].metric", "not among the phase's workloads"),
    (lambda d: d["hypotheses"][0]["check"]["all"][0].pop("value"), "hypotheses[0].check.all[0]",
     "exactly one of `value`"),
    (lambda d: d.update(conclusion="6-B was 2.65% faster."), "conclusion", "measured-looking number '2.65%'"),
    (lambda d: d.update(id="other"), "id", "expected 'phase-x'"),
    (lambda d: d["hypotheses"][4].update(check={"metric": "bench.mid_mt_gap.comparisons.hak-6b.speedup_ci95",
                                                "op": "within", "value": 0.02}),
     "hypotheses[4].check", "interval [lo, hi]"),
    (lambda d: d["hypotheses"][4].update(check={"metric": "bench.mid_mt_gap.comparisons.hak-6b.speedup_ci95",
                                                "op": "within", "value": [0.02, -0.02]}),
     "hypotheses[4].check", "lo <= hi"),
    (lambda d: d.update(conclusion_assumes=["H1", "H99"]), "conclusion_assumes[1]", "'H99' is not a hypothesis"),
    # every statement names the hypotheses it rests on, and only hypotheses the phase has
    (lambda d: d["recommendations"][1].update(rests_on=["H3", "E7"]), "recommendations[1].rests_on[1]",
     "'E7' is not a hypothesis of this phase"),
    (lambda d: d["hypotheses"][3].update(rests_on=["H42"]), "hypotheses[3].rests_on[0]", "'H42' is not a hypothesis"),
    (lambda d: d.update(summary_rests_on=["Z1"]), "summary_rests_on[0]", "'Z1' is not a hypothesis"),
    (lambda d: d.update(conclusion="As H12 shows, the header costs nothing."), "conclusion",
     "names hypothesis 'H12', which this phase does not have"),
    (lambda d: d["recommendations"][0].update(title="Follow E9"), "recommendations[0].text", "names hypothesis 'E9'"),
    (lambda d: d["hypotheses"][0].update(implication="See H0."), "hypotheses[0].implication", "names hypothesis 'H0'"),
    (lambda d: d["reference_statements"][5].update(measured_as="3% of the mutex calls"),
     "reference_statements[5].measured_as", "measured-looking number"),
    # programs: declared program workloads, listed once, and never among the driver loops
    (lambda d: d["programs"].append("no_such_program"), "programs[7]", "unknown workload 'no_such_program'"),
    (lambda d: d["programs"].append("mid_only"), "programs[7]", "'mid_only' is a driver loop, not a program"),
    (lambda d: d["programs"].append("py_churn"), "programs[7]", "'py_churn' is listed twice"),
    (lambda d: d["workloads"].append("larson"), "workloads[3]", "'larson' is a program; list it under `programs:`"),
    # a check over a program names one of the phase's programs and allocators
    (lambda d: d["hypotheses"][0]["check"]["all"][0].update(metric="programs.larson.comparisons.hak-6b.speedup"),
     "hypotheses[0].check.all[0].metric", "names program 'larson', which is not among the phase's programs"),
    (lambda d: d["hypotheses"][0]["check"]["all"][0].update(metric="programs.py_churn.hak-9z.median"),
     "hypotheses[0].check.all[0].metric", "names allocator 'hak-9z'"),
])
def test_validation_errors_name_file_and_field(tmp_path, mutate, field, expect):
    data = _spec()
    mutate(data)
    with pytest.raises(UserError) as exc:
        load_phase(_write(tmp_path, data))
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(str(tmp_path / "phase-x.yaml")), msg
    assert f"field {field}:" in msg, msg
    assert expect in msg, msg


def test_measured_number_allowed_through_an_expression(tmp_path):
    data = _spec()
    data["conclusion"] = "It changed by {{ m('bench.mid_mt_gap.comparisons.hak-6b.speedup') | spct }}."
    assert load_phase(_write(tmp_path, data)).conclusion.startswith("It changed")


def test_bad_yaml_is_one_line_exit_2(tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("results", "site", "build", ".git", "docs", "tests"))
    (root / "phases" / "phase-6b.yaml").write_text("id: phase-6b\ntitle: [unclosed\n")
    proc = subprocess.run([sys.executable, "-m", "reportgen.cli", "--root", str(root), "render"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "phases/phase-6b.yaml" in lines[0] and "not valid YAML at line" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_phase_is_a_user_error():
    with pytest.raises(UserError, match="unknown phase 'phase-0'"):
        load_phases(Project.locate(), ["phase-0"])


def test_checks_on_measured_values_are_judged_on_their_interval():
    """Three-valued without the author asking: holds over the whole CI, fails over the whole CI,
    open when the CI straddles the bound."""
    from reportgen import hypotheses
    from reportgen.phases import Compare

    def ev(op, value, ci, point=0.0):
        view = {"bench": {"w": {"comparisons": {"x": {"speedup": point, "speedup_ci95": ci}}}}}
        return hypotheses.evaluate(Compare(metric="bench.w.comparisons.x.speedup", op=op, value=value), view)

    assert ev("within", [-0.02, 0.02], [-0.01, 0.015]) is True
    assert ev("within", [-0.02, 0.02], [-0.03, 0.015]) is None       # sticks out on one side: open
    assert ev("within", [-0.02, 0.02], [0.03, 0.05]) is False        # wholly outside: rejected
    assert ev("within", [-0.02, float("inf")], [-0.01, 0.5]) is True
    assert ev(">", 0, [0.001, 0.02]) is True
    assert ev(">", 0, [-0.3, 0.24], point=0.5) is None               # the point estimate does not decide
    assert ev(">", 0, [-0.3, -0.1], point=0.5) is False
    assert ev("<=", 0.02, [0.021, 0.03]) is False
    assert ev(">", 0, None) is None                                  # no interval measured: undecided
    # a point estimate alone never decides a check that has an interval
    view = {"bench": {"w": {"comparisons": {"x": {"speedup": 0.5}}}}}
    assert hypotheses.evaluate(Compare(metric="bench.w.comparisons.x.speedup", op=">", value=0), view) is None


@pytest.mark.parametrize("check, needle", [
    ("{metric: bench.mid_mt_gap.comparisons.hak-6b.verdict, op: '==', value: faster}", "decided by noise"),
    ("{metric: bench.mid_mt_gap.comparisons.hak-6b.p_value, op: '<', value: 0.05}", "decided by noise"),
    ("{metric: bench.mid_mt_gap.hak-6b.best3of5, op: '>', value: 1}", "decided by noise"),
    ("{metric: bench.mid_mt_gap.comparisons.hak-6b.speedup, op: '==', value: 0}", "within"),
])
def test_checks_decided_by_noise_are_refused(tmp_path, check, needle):
    text = (ROOT / "phases" / "phase-6b.yaml").read_text()
    h5 = "    check: {metric: bench.mid_mt_gap.comparisons.hak-6b.speedup, op: within"
    line = next(l for l in text.splitlines() if l.startswith(h5))
    path = tmp_path / "phase-6b.yaml"
    path.write_text(text.replace(line, f"    check: {check}"))
    with pytest.raises(UserError, match=needle):
        load_phase(path)


def test_a_statement_resting_on_an_unknown_hypothesis_is_one_line_exit_2(tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("results", "site", "build", ".git", "docs", "tests"))
    spec = root / "phases" / "phase-6b.yaml"
    text = spec.read_text()
    assumed = re.search(r"^conclusion_assumes: \[(.*)\]$", text, re.M)
    n = len(assumed.group(1).split(","))
    spec.write_text(text.replace(assumed.group(0), f"conclusion_assumes: [{assumed.group(1)}, E5]"))
    ids = ", ".join(h["id"] for h in yaml.safe_load(text)["hypotheses"])
    proc = subprocess.run([sys.executable, "-m", "reportgen.cli", "--root", str(root), "render"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"reportgen: error: phases/phase-6b.yaml: field conclusion_assumes[{n}]: 'E5' is not a hypothesis "
                     f"of this phase ({ids})"], proc.stderr


def test_statements_collect_what_they_rest_on():
    """Listed by hand, named by id, or mentioned by a hypothesis's phrase: all three count."""
    from reportgen import statements
    from reportgen.hypotheses import Outcome

    spec = {p.id: p for p in load_phases(Project.locate())}["phase-6b"]
    outs = [Outcome(h.id, h.title, h.statement, "confirmed", "") for h in spec.hypotheses]
    bad = spec.model_copy(update={"conclusion": "Per E3, the header read adds a cost of its own.",
                                  "conclusion_assumes": ["H1"]})
    got = statements.check_statements(bad, outs)["conclusion"]
    assert [(b.id, b.how) for b in got.basis] == [("H1", "listed"), ("E3", "named"), ("H4", "mentioned")]
    assert got.holds
    outs[[h.id for h in spec.hypotheses].index("H4")].status = "rejected"
    got = statements.check_statements(bad, outs)["conclusion"]
    assert [b.id for b in got.undercut] == ["H4"] and not got.holds
    # an implication always rests on its own hypothesis
    imp = statements.check_statements(spec, outs)["hypotheses[3].implication"]
    assert imp.basis[0].id == "H4" and imp.basis[0].how == "its own"


def test_a_check_over_a_program_reads_the_phase_programs_bench():
    """programs.<workload>.{<allocator>.*, comparisons.<allocator>.*}: a program's bench, addressed
    like a driver's, its speed-up judged on its interval."""
    from reportgen.hypotheses import evaluate, view
    from reportgen.phases import Compare

    spec = {p.id: p for p in load_phases(Project.locate())}["phase-6b"]
    bench = {"results": [{"variant": "hak-6a", "median": 3.0, "memory": {"peak_rss_bytes": 16 << 20}},
                         {"variant": "hak-6b", "median": 3.3}],
             "comparisons": [{"candidate": "hak-6b", "speedup": 0.1, "speedup_ci95": [0.05, 0.15]}]}
    v = view(spec, {"programs": {"sqlite_rows": bench}})
    faster = Compare(metric="programs.sqlite_rows.comparisons.hak-6b.speedup", op=">", value=0)
    assert evaluate(faster, v) is True                    # the whole interval above 0
    small = Compare(metric="programs.sqlite_rows.hak-6a.memory.peak_rss_bytes", op="<", value=32 << 20)
    assert evaluate(small, v) is True
    missing = Compare(metric="programs.redis.comparisons.hak-6b.speedup", op=">", value=0)
    assert evaluate(missing, v) is None                   # not measured: inconclusive, not false
    bench["comparisons"][0]["speedup_ci95"] = [-0.01, 0.15]
    assert evaluate(faster, view(spec, {"programs": {"sqlite_rows": bench}})) is None   # straddles 0
