"""`reportgen check`: the work tree's variants against a reference commit, a CI regression gate.

The history is tests/history_lab.py's (a lab of its own here): its work tree is at `mended`, the
same code as `slow` (every Mid free spins).  Phase 6-B's headline, mid_mt_gap, frees Mid blocks
(three quarters of its requests are 2-8 KiB), so both of its pairs (hak-6a, hak-6b) slow down.
The counts gate runs short loops (--ops); the time gate QUICK sampling.  No timing is asserted
but the gross slowdown's direction.
"""
from __future__ import annotations

import contextlib
import io
import json

import pytest

from reportgen.cli import main

from history_lab import QUICK, build_lab, git, lab_env

COUNTS = ["--gate", "counts", "--ops", "5000"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("check") / "lab"
    return root, build_lab(root)


@pytest.fixture(scope="module")
def env(lab):
    with lab_env(lab[0]):
        yield


def _run(root, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--root", str(root), "check", *args])
    return rc, out.getvalue(), err.getvalue()


def _json(root, *args) -> tuple[int, dict]:
    rc, out, err = _run(root, *args, "--json")
    assert out, err
    return rc, json.loads(out)


@pytest.fixture(scope="module")
def before(lab, env):
    """Everything checked with the work tree at `mended` (the slow code), before `after` moves it."""
    root, c = lab
    return {
        "counts": _json(root, "--against", c["ref"], "--phase", "phase-6b", *COUNTS),
        "time": _json(root, "--against", c["ref"], "--phase", "phase-6b", "--gate", "time", *QUICK),
        "markdown": _run(root, "--against", c["ref"], "--phase", "phase-6b", *COUNTS),
        # a threshold under the time verdicts' noise floor: auto leaves it to the counts
        "fine": _json(root, "--against", c["ref"], "--phase", "phase-6b", "--threshold", "0.4%", "--ops", "5000"),
        "head": _json(root, "--against", "HEAD"),
        "broken": _json(root, "--against", c["broken"], "--phase", "phase-6b", *COUNTS),
    }


@pytest.fixture(scope="module")
def after(lab, env, before):
    """The work tree back at the reference, with an unused function added to native/large.c
    (not committed): code the headline workloads never run; then the same, not compiling."""
    root, c = lab
    git(root, "checkout", "-q", c["ref"])
    large = root / "native" / "large.c"
    good = large.read_text()
    large.write_text(good + "\nint hak_large_unused_probe(int x) { return 3 * x + 1; }\n")
    passed = _json(root, "--against", c["ref"], *COUNTS)
    large.write_text(good + "\nthis is not C;\n")
    try:
        broken = _json(root, "--against", c["ref"], "--phase", "phase-6b", *COUNTS)
    finally:
        large.write_text(good)
    return {"pass": passed, "broken": broken}


def _pair(out, variant, phase="phase-6b"):
    (p,) = [p for p in out["pairs"] if p["variant"] == variant and p["phase"] == phase]
    return p


def test_a_mid_free_that_spins_is_a_regression_by_the_exact_counts(lab, before):
    _, c = lab
    rc, out = before["counts"]
    assert rc == 1 and out["exit"] == 1 and out["regressions"] == 2 and out["failed"] == 0
    assert out["against_commit"] == c["ref"] and out["threshold"] == 0.02 and out["gate_requested"] == "counts"
    for variant in ("hak-6a", "hak-6b"):
        p = _pair(out, variant)
        assert p["workload"] == "mid_mt_gap" and p["gate"] == "counts" and p["status"] == "regression"
        assert p["reference_lib"] != p["candidate_lib"]
        ipo = p["instructions_per_op"]
        assert ipo["candidate"] > ipo["reference"] > 0 and ipo["change"] > out["threshold"]
        assert "grown by more than" in p["reason"]


def test_the_time_gate_decides_the_same_slowdown(before):
    rc, out = before["time"]
    assert rc == 1 and out["regressions"] == 2
    p = _pair(out, "hak-6b")
    assert p["gate"] == "time" and p["status"] == "regression"
    lo, hi = p["ci95"]
    assert p["speedup"] < 0 and hi < -out["threshold"]


def test_the_summary_is_a_markdown_table_for_a_pull_request(before):
    rc, text, _ = before["markdown"]
    assert rc == 1
    lines = text.splitlines()
    assert lines[0].startswith("## reportgen check")
    assert "| phase | variant | workload | gate | change | status |" in lines
    assert any(line.startswith("| phase-6b | hak-6b | mid_mt_gap | counts |") and "**regression**" in line
               for line in lines)
    assert any(line.startswith("Gate: `counts` asked for") for line in lines)
    assert "exit 1" in text


def test_auto_leaves_a_threshold_under_the_noise_floor_to_the_counts(before):
    rc, out = before["fine"]
    assert rc == 1 and out["gate_requested"] == "auto"
    for p in out["pairs"]:
        assert p["gate"] == "counts" and "noise floor" in p["gate_reason"] and p["status"] == "regression"


def test_the_reference_library_itself_is_unchanged_and_not_measured(before):
    rc, out = before["head"]
    assert rc == 0 and out["exit"] == 0 and out["measured"] == 0
    assert len(out["pairs"]) >= 2
    assert {p["status"] for p in out["pairs"]} == {"unchanged"}
    assert all(p["reference_lib"] == p["candidate_lib"] for p in out["pairs"])


def test_a_reference_that_does_not_build_fails_the_gate(before):
    rc, out = before["broken"]
    assert rc == 1 and out["failed"] == 2 and out["regressions"] == 0
    for p in out["pairs"]:
        assert p["status"] == "failed" and "does not build" in p["reason"] and "large" in p["reason"]


def test_not_a_commit_is_one_line_and_exit_2(lab, env, capsys):
    root, _ = lab
    rc = main(["--root", str(root), "check", "--against", "nonsense"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "nonsense" in err


def test_code_the_headlines_never_run_passes(after):
    rc, out = after["pass"]
    assert rc == 0 and out["exit"] == 0 and out["regressions"] == 0 and out["failed"] == 0
    phases = {p["phase"] for p in out["pairs"]}
    assert {"phase-6a", "phase-6b", "phase-6d"} <= phases
    for p in out["pairs"]:
        # the library's hash covers every source, so it is measured; what the loops execute is not changed
        assert p["reference_lib"] != p["candidate_lib"] and p["gate"] == "counts"
        assert p["status"] in ("pass", "improvement") and abs(p["instructions_per_op"]["change"]) <= out["threshold"]
    # the same pair in several phases is measured once: 6-A's library on mid_mt_gap in 6-A and 6-B
    a, b = _pair(out, "hak-6a", "phase-6a"), _pair(out, "hak-6a", "phase-6b")
    assert a["instructions_per_op"] == b["instructions_per_op"]
    assert out["measured"] < len(out["pairs"])


def test_a_work_tree_that_does_not_build_fails_the_gate(after):
    rc, out = after["broken"]
    assert rc == 1 and out["failed"] == 2
    for p in out["pairs"]:
        assert p["status"] == "failed" and "work tree does not build" in p["reason"]


def test_no_command_moved_the_lab_but_its_own_checkout(lab, after):
    root, c = lab
    assert git(root, "rev-parse", "HEAD") == c["ref"]
    assert git(root, "status", "--porcelain", "--untracked-files=no") == ""


def test_the_time_rule_calls_only_a_whole_interval_beyond_the_threshold():
    from reportgen.history.gate import _decide_time
    c = {"p_value": 0.001}
    assert _decide_time({**c, "speedup_ci95": [-0.10, -0.05]}, 0.001, 0.02)[::2] == ("regression", True)
    assert _decide_time({**c, "speedup_ci95": [0.05, 0.10]}, 0.001, 0.02)[::2] == ("improvement", True)
    assert _decide_time({**c, "speedup_ci95": [-0.015, 0.01]}, 0.001, 0.02)[::2] == ("pass", True)
    # reaching across -threshold, or beyond it without a p below 0.05 (Holm): undecided, not a regression
    assert _decide_time({**c, "speedup_ci95": [-0.03, -0.01]}, 0.001, 0.02)[::2] == ("pass", False)
    assert _decide_time({**c, "speedup_ci95": [-0.10, -0.05]}, 0.2, 0.02)[::2] == ("pass", False)
    assert _decide_time({"p_value": None, "speedup_ci95": None}, None, 0.02)[0] == "failed"


def test_a_reason_in_the_summary_is_code_nothing_in_it_markup():
    from reportgen.history.gate import _code
    assert _code("<stdatomic.h>: *p and __x") == "`<stdatomic.h>: *p and __x`"
    assert _code("a `tick` in it") == "``a `tick` in it``"
    assert _code("`edge`") == "`` `edge` ``" and _code("") == ""
