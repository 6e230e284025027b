"""CPU profiles (reportgen profile): perf over the timed loops, each share with its interval.

Small runs; no test asserts a timing.  Skipped where perf is missing or refused."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from reportgen.measuring import profile
from reportgen.errors import UserError
from reportgen.measuring.kinds.profile import run_profile
from reportgen.store import Store


def _perf_works() -> bool:
    try:
        profile.check_allowed()
        return True
    except UserError:
        return False


pytestmark = pytest.mark.skipif(not _perf_works(), reason="perf is missing or refused here")
CLI = "import sys; from reportgen.cli import main; sys.exit(main(sys.argv[1:]))"


def test_profile_of_the_timed_loop_with_intervals(project, tmp_path):
    store = Store(tmp_path, "m")
    out = run_profile(project, "mid_mt_gap", ["hak-6b"], ops=300_000, store=store)
    (row,) = out["results"]
    assert row["samples"] > 0 and row["symbols"]
    assert sum(s["samples"] for s in row["symbols"]) <= row["samples"]
    for s in row["symbols"]:
        lo, hi = s["share_ci95"]
        assert 0 <= lo <= s["share"] <= hi <= 1
    # sampling is on for the timed loop only: the allocator and the driver hold most samples
    ours = sum(s["samples"] for s in row["symbols"] if "hak" in s["dso"])
    assert ours > row["samples"] / 2
    assert run_profile(project, "mid_mt_gap", ["hak-6b"], ops=300_000, store=store)["reused"]


# One real recording of more than 1,000 samples, through run_profile, shared by the tests
# below: two threads in mt_remote give a few thousand samples at 10 kHz in a fraction of a second.
BIG_OPS = 4_000_000


@pytest.fixture(scope="module")
def recorded(project, tmp_path_factory):
    """run_profile's result, perf report's text of that recording and perf script's count of its samples."""
    seen = {}
    real_report = profile.report

    def report(perf, data):
        proc = real_report(perf, data)
        seen["text"] = proc.stdout
        # an independent exact count: perf script prints one line per sample
        script = subprocess.run([perf, "script", "-i", data, "-F", "ip"], capture_output=True, text=True,
                                check=True)
        seen["script_samples"] = len(script.stdout.splitlines())
        return proc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(profile, "report", report)
        out = run_profile(project, "mt_remote", ["hak-6a"], ops=BIG_OPS,
                          store=Store(tmp_path_factory.mktemp("profile-store"), "m"))
    return {"out": out, **seen}


def test_profile_of_over_a_thousand_samples_is_exact(recorded):
    (row,) = recorded["out"]["results"]
    assert not row["failures"] and not recorded["out"]["failures"]
    assert row["samples"] > 1000                      # perf's header abbreviates this count
    assert row["samples"] == recorded["script_samples"]
    every = profile.parse_report(recorded["text"])["symbols"]
    assert row["samples"] == sum(s["samples"] for s in every)
    assert len(every) > len(row["symbols"]) > 0       # the top symbols, of a total over all of them
    for s, full in zip(row["symbols"], every):
        assert {k: s[k] for k in full} == full
        assert s["share"] == s["samples"] / row["samples"]
        lo, hi = s["share_ci95"]
        assert 0 <= lo <= s["share"] <= hi <= 1
    assert sum(s["share"] for s in row["symbols"]) <= 1


def test_parse_real_report_with_an_abbreviated_header(recorded):
    text = recorded["text"]
    header = re.search(r"^# Samples: (\d+)K of event 'cpu-clock'", text, re.M)
    assert header, text[:500]                          # e.g. "# Samples: 3K of event 'cpu-clock'"
    got = profile.parse_report(text)
    assert got["samples"] == recorded["script_samples"] > int(header.group(1))
    lo, hi = profile.header_range(text)
    assert lo == int(header.group(1)) * 1000 and lo <= got["samples"] <= hi
    # every row of the report is counted, none twice
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(got["symbols"]) == len(rows)
    # a report whose rows do not add up to its header is refused, not turned into wrong shares
    wrong = text.replace(header.group(0), f"# Samples: {int(header.group(1)) + 5}K of event 'cpu-clock'")
    with pytest.raises(ValueError, match="add up to"):
        profile.parse_report(wrong)


def test_parse_report_counts_rows_with_spaces_and_brackets():
    # perf 6.1's tab-separated rows (REPORT_ARGS), as it prints them for JIT code, unresolved
    # addresses and C++ symbols
    head = ("# Total Lost Samples: 0\n#\n# Samples: 1K of event 'cpu-clock'\n# Event count (approx.): 120000000\n"
            "#\n# Overhead\t     Samples\tShared Object     \tSymbol              \n")
    rows = [(" 50.00% ", " 600        ", "[JIT] tid 20282   ", "[.] 0x00007fdf5b64a003"),
            (" 25.00% ", " 300        ", "libhak.so         ", "[.] hak_free         "),
            (" 16.67% ", " 200        ", "[unknown]         ", "[k] 0xffffffffa1e00b35"),
            (" 8.25%  ", " 99         ", "libstdc++.so.6    ", "[.] std::vector<int, std::allocator<int> >::operator[](unsigned long)"),
            (" 0.08%  ", " 1          ", "[unknown]         ", "[.] [unknown]        ")]
    text = head + "".join("\t".join(r) + "\n" for r in rows) + "\n\n#\n# (Tip: a tip)\n#\n"
    got = profile.parse_report(text)
    assert got["samples"] == 1200
    assert [s["samples"] for s in got["symbols"]] == [600, 300, 200, 99, 1]
    assert got["symbols"][0] == {"symbol": "0x00007fdf5b64a003", "dso": "[JIT] tid 20282", "samples": 600,
                                 "kernel": False}
    assert got["symbols"][1] == {"symbol": "hak_free", "dso": "libhak.so", "samples": 300, "kernel": False}
    assert got["symbols"][2]["kernel"] and got["symbols"][2]["dso"] == "[unknown]"
    assert got["symbols"][3]["symbol"] == "std::vector<int, std::allocator<int> >::operator[](unsigned long)"
    assert got["symbols"][4]["symbol"] == "[unknown]"
    with pytest.raises(ValueError, match="cannot read"):
        profile.parse_report(text.replace("\t 300 ", "\t three hundred "))


def test_parse_report_without_samples():
    assert profile.parse_report("# To display the perf.data header info, please use --header.\n#\n") == \
        {"samples": 0, "symbols": []}


def _failing_perf(tmp_path):
    """A perf whose `perf report` fails (exit 3); everything else runs the real perf.  Each call is logged."""
    log = tmp_path / "perf.log"
    script = tmp_path / "perf"
    script.write_text("#!/bin/sh\n"
                      f"echo \"$*\" >> '{log}'\n"
                      'if [ "$1" = report ]; then echo "perf report: simulated failure" >&2; exit 3; fi\n'
                      f"exec '{profile.perf_path()}' \"$@\"\n")
    script.chmod(0o755)
    return script, log


def test_failed_profile_is_reused_until_its_inputs_change_or_forced(project, tmp_path, monkeypatch):
    script, log = _failing_perf(tmp_path)
    monkeypatch.setenv("REPORTGEN_PERF", str(script))
    # perf is allowed here (the module's skip checked it); leaving out run_profile's probe (a
    # `perf record` of `true`, a second each) keeps the test short and the log to the workload's runs
    monkeypatch.setattr(profile, "check_allowed", lambda: None)
    store = Store(tmp_path / "results", "m")

    def calls():
        lines = log.read_text().splitlines() if log.exists() else []
        assert all(ln.startswith(("record", "report")) for ln in lines), lines
        return (sum(1 for ln in lines if ln.startswith("record")), sum(1 for ln in lines if ln.startswith("report")))

    first = run_profile(project, "mid_mt_gap", ["hak-6b"], ops=20_000, store=store)
    (row,) = first["results"]
    assert not first["reused"] and not row.get("symbols") and not row.get("samples")
    assert row["failures"] == [{"run": 0, "cause": "perf report exited with status 3: perf report: simulated failure"}]
    assert first["failures"] == [{"run": "hak-6b", "cause": row["failures"][0]["cause"]}]
    assert calls() == (1, 1)

    again = run_profile(project, "mid_mt_gap", ["hak-6b"], ops=20_000, store=store)
    assert again["reused"] and again["results"][0]["reused"]
    assert calls() == (1, 1)                               # nothing measured again
    # the reused failure is the same failure: the page shows it as one
    assert {**again["results"][0], "reused": False} == row
    assert again["failures"] == first["failures"]

    other = run_profile(project, "mid_mt_gap", ["hak-6b"], ops=30_000, store=store)   # other params
    assert not other["reused"] and calls() == (2, 2)

    forced = run_profile(project, "mid_mt_gap", ["hak-6b"], ops=20_000, store=store, force=True)
    assert not forced["reused"] and forced["results"][0]["failures"] and calls() == (3, 3)
    recs = [r for r in store.scan()[0] if r.kind == "profile" and r.params["ops"] == 20_000]
    assert len(recs) == 2 and all(r.failures for r in recs)


def test_missing_perf_is_one_line(project, tmp_path):
    proc = subprocess.run([sys.executable, "-c", CLI, "profile", "--workload", "mid_mt_gap", "--variant", "hak-6b",
                           "--quick", "--json"], capture_output=True, text=True, cwd=project.root, timeout=300,
                          env={**os.environ, "REPORTGEN_RESULTS_DIR": str(tmp_path),
                               "REPORTGEN_PERF": "/nonexistent/perf"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "perf is not installed" in lines[0]
    assert not list(tmp_path.rglob("*.json"))
    assert not json.loads("[]")
