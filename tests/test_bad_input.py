"""Bad input, one line: every value a user or a spec can give is checked at the edge, with one
line on stderr naming what is wrong and exit status 2, never a traceback."""
from __future__ import annotations

import errno
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from reportgen.errors import UserError  # noqa: E402
from reportgen.phases import counter_names, load_phase  # noqa: E402
from reportgen.project import Project  # noqa: E402

ROOT = Project.locate().root
CLI = "import sys; from reportgen.cli import main; sys.exit(main(sys.argv[1:]))"


def run_cli(*args, env=None, cwd=ROOT):
    import os
    proc = subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)
    return proc.returncode, proc.stderr


def one_line_exit_2(rc, err, expect):
    assert rc == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reportgen: error: "), err
    assert expect in lines[0], lines[0]


@pytest.mark.parametrize("args, expect", [
    (["bench", "--workload", "mid_mt_gap", "--variant", "glibc", "--ops", str(2**64)], "--ops: ops must be from 1"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--ops", str(2**63)], "--ops: ops must be from 1"),
    (["bench", "--workload", "mt_remote", "--variant", "glibc", "--threads", "100000"], "threads must be from 1"),
    (["serve", "--port", "70000"], "--port: port must be from 1 to 65,535"),
    (["serve", "--port", "0"], "--port: port must be from 1 to 65,535"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--claim", "1e308"], "claimed speed-up must lie in"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--claim=-1e308..0.2"], "claimed speed-up must lie in"),
    (["route", "--workload", "mid_mt_gap", "--variant", "hak-6b", "--claim", "nan"], "expected LO..HI"),
])
def test_out_of_range_numbers_on_the_command_line(args, expect):
    one_line_exit_2(*run_cli(*args), expect)


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_unwritable_results_directory_stops_before_measuring(tmp_path, where):
    if where == "file":
        target = tmp_path / "results"
        target.write_text("not a directory")
    else:
        target = Path("/proc/reportgen-results")
    rc, err = run_cli("bench", "--workload", "mid_mt_gap", "--variant", "glibc", "--rounds", "2",
                      env={"REPORTGEN_RESULTS_DIR": str(target)})
    one_line_exit_2(rc, err, f"cannot write results into {target}")
    if where == "file":
        assert target.read_text() == "not a directory"


def test_a_full_disk_is_one_line(monkeypatch, capsys, tmp_path):
    import shutil

    from reportgen import plan, render
    from reportgen.cli import main

    root = tmp_path / "lab"
    for part in ("phases", "templates"):
        shutil.copytree(ROOT / part, root / part)
    monkeypatch.setattr(plan, "collect", lambda project, phases, quick=None: {"phases": {}})

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(root / "docs" / "phases" / "phase-6b.md"))

    monkeypatch.setattr(render, "render_all", full)
    assert main(["--root", str(root), "render"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"reportgen: error: No space left on device: {root / 'docs' / 'phases' / 'phase-6b.md'}"


# ---- the phase spec ------------------------------------------------------------------------

def _spec() -> dict:
    return yaml.safe_load((ROOT / "phases" / "phase-6b.yaml").read_text()) | {"id": "phase-x"}


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "phase-x.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return p


def _counter_check(metric):
    return lambda d: d["hypotheses"][0]["check"]["all"][1].update(metric=metric)


@pytest.mark.parametrize("mutate, field, expect", [
    (lambda d: d.update(date="2025-13-45"), "date", "not a calendar date"),
    (lambda d: d.update(date="2025-02-30"), "date", "not a calendar date"),
    (lambda d: d.update(date=20251129), "date", "YYYY-MM-DD"),
    (lambda d: d["claim"].update(high=math.inf), "claim.high", "finite"),
    (lambda d: d["claim"].update(high=math.nan), "claim.high", "finite"),
    (lambda d: d["claim"].update(low=-1e308, high=1e308), "claim.low", "must lie in"),
    (lambda d: d["claim"].update(high=1e308), "claim.high", "must lie in"),
    (lambda d: d["reference_statements"][0].update(low=math.nan), "reference_statements[0]", "NaN"),
    (lambda d: d["reference_statements"][0].update(high=math.nan), "reference_statements[0]", "NaN"),
    (lambda d: d["hypotheses"][0]["check"]["all"][1].update(value=math.nan), "hypotheses[0].check.all[1]", "NaN"),
    (_counter_check("bench.mid_mt_gap.hak-6a.counters.mutex_lokcs"), "hypotheses[0].check.all[1].metric",
     "names counter 'mutex_lokcs', which the allocator does not count"),
    (_counter_check("route.mid_mt_gap.hak-6b.counters.mid_fres"), "hypotheses[0].check.all[1].metric",
     "names counter 'mid_fres'"),
    (_counter_check("bench.mid_mt_gap.glibc.counters.mutex_locks"), "hypotheses[0].check.all[1].metric",
     "glibc is a system allocator"),
    (lambda d: d["hypotheses"][2]["check"]["all"][0].update(metric="route.mid_mt_gap.hak-6b.sizes.1000.predicted"),
     "hypotheses[2].check.all[0].metric", "names size '1000', which mid_mt_gap does not request"),
    (lambda d: d["hypotheses"][2]["check"]["all"][3].update(metric="route.mid_mt_gap.hak-6b.pools.tiyn.count_share"),
     "hypotheses[2].check.all[3].metric", "names pool 'tiyn'"),
    (lambda d: d.update(conclusion="It is {{ m('x') }}."), "conclusion", "in m('x')"),
    (lambda d: d.update(conclusion="It is {{ m('bench.mid_mt_gap.hak-6b.counters.leaked_blokcs') | num }}."),
     "conclusion", "names counter 'leaked_blokcs'"),
    (lambda d: d.update(conclusion="It is {{ m('bench.no_such_workload.hak-6b.median') }}."), "conclusion",
     "not among the phase's workloads"),
    (lambda d: d.update(summary="It is {{ mm('bench.mid_mt_gap.hak-6b.median') }}."), "summary", "unknown name 'mm'"),
    (lambda d: d.update(summary="It is {{ m(path) }}."), "summary", "unknown name 'path'"),
    (lambda d: d.update(summary="It is {{ m('bench.' ~ claim_range) }}."), "summary", "m() takes one metric path"),
    (lambda d: d.update(summary="It is {{ m('bench.mid_mt_gap.hak-6b.median' }}."), "summary", "bad expression"),
    (lambda d: d["excerpts"][0].update(file="/etc/passwd"), "excerpts[0].file", "a path under native/"),
    (lambda d: d["excerpts"][0].update(file="native/../../etc/passwd"), "excerpts[0].file", "a path under native/"),
])
def test_bad_specs_are_one_line_naming_the_field(tmp_path, mutate, field, expect):
    data = _spec()
    mutate(data)
    with pytest.raises(UserError) as exc:
        load_phase(_write(tmp_path, data), ROOT)
    msg = str(exc.value)
    assert "\n" not in msg and f"field {field}:" in msg and expect in msg, msg


def test_a_repeated_key_is_refused(tmp_path):
    text = (ROOT / "phases" / "phase-6b.yaml").read_text().replace("id: phase-6b\n", "id: phase-x\n")
    text = text.replace('title: "Phase 6-B: header-based Mid free"\n',
                        'title: "Phase 6-B: header-based Mid free"\ntitle: "Another title"\n', 1)
    with pytest.raises(UserError) as exc:
        load_phase(_write(tmp_path, text), ROOT)
    msg = str(exc.value)
    assert "not valid YAML at line 7" in msg and "key 'title' appears twice" in msg and "\n" not in msg


def test_a_bad_date_through_the_cli_is_one_line(tmp_path):
    import shutil
    root = tmp_path / "lab"
    for part in ("phases", "templates"):
        shutil.copytree(ROOT / part, root / part)
    spec = root / "phases" / "phase-6b.yaml"
    spec.write_text(spec.read_text().replace("date: 2025-11-29", "date: 2025-13-45"))
    one_line_exit_2(*run_cli("--root", str(root), "render"), "phases/phase-6b.yaml: field date: '2025-13-45' is not a "
                                                             "calendar date")


def test_counter_names_come_from_the_library(hak6b):
    """The names the spec check accepts are the keys the built library reports (derived, not retyped)."""
    names = counter_names(Project.locate().native_dir)
    assert names == set(hak6b.stats())
