"""reportgen.watch's own reading of a publish: what it says was re-measured, and its banner.

The edit loop itself (an edit, the open page reloading, a build error on the page) is tested end to
end in tests/test_publish.py, on a real publish with the 6-B page open in Chromium."""
from __future__ import annotations

from reportgen.project import Project
from reportgen.watch import Outcome, Watch, _measured


def test_every_kind_measured_now_is_named_and_reused_ones_are_not():
    results = {"phases": {
        "phase-6b": {"bench": {"mid_mt_gap": {"reused": False}, "mid_only": {"reused": True}},
                     "programs": {"redis": {"reused": False}, "xz_t2": {"reused": True}},
                     "sweep": {"mid_only": {"slots": {"points": [{"reused": True}, {"reused": False}]}}},
                     "coverage": {"reused": False, "runs": []}, "counts": {}, "failures": [{"reused": False}]},
        "phase-6a": {"bench": {"mid_mt_gap": {"reused": False}}}}}
    assert _measured(results, {"phase-6b"}) == [
        "phase-6b: mid_mt_gap", "phase-6b: programs redis", "phase-6b: sweep mid_only", "phase-6b: coverage"]
    assert _measured(results, set()) == []


def test_the_banner_escapes_the_error_and_the_compilers_output():
    w = Watch(Project.locate(), quick=True, say=lambda line: None)
    ok = w.banner(Outcome(True, "12:00:00", 3.0, "published", measured=["phase-6b: <b>x</b>"]))
    assert "rebuilt at 12:00:00" in ok and "&lt;b&gt;x&lt;/b&gt;" in ok and "<code>--full</code>" in ok
    bad = w.banner(Outcome(False, "12:01:00", 1.0, "compile of hak-6b failed: <stdatomic.h>",
                           "native/mid.c:3: error: expected ';' <script>\n" * 100))
    assert "did not rebuild" in bad and "&lt;stdatomic.h&gt;" in bad and "<script>" not in bad
    assert "more lines" in bad          # the compiler's output cut to its first lines
