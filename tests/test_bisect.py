"""`reportgen bisect`: the first commit whose figure moved beyond a threshold, by binary search.

The history is tests/history_lab.py's.  No timing is asserted but its gross slowdown's sign.
"""
from __future__ import annotations

import json

import pytest

from reportgen.cli import main
from reportgen.history.bisect import neighbours, search

from history_lab import QUICK, build_lab, commit as _commit, git as _git, lab_env, run_json


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """history_lab's history, and one more commit: a third library (a spin a little longer, about as
    slow as slow's), so a probe between good and it has a library of its own and is measured."""
    root = tmp_path_factory.mktemp("bisect") / "lab"
    c = build_lab(root)
    config = root / "native" / "hak_config.h"
    config.write_text(config.read_text().replace("#define HAK_MID_FREE_SPIN 4000\n", "#define HAK_MID_FREE_SPIN 4100\n"))
    c["longer"] = _commit(root, "spin a little longer")
    # a commit that builds and crashes on every Mid free (its subject holds rich markup), then one
    # that stops crashing and spinning: back to the reference's speed
    mid = root / "native" / "mid.c"
    text = mid.read_text()
    head = "static inline void _hak_mid_free_spin(void) {\n"
    assert text.count(head) == 1
    mid.write_text(text.replace(head, head + "  __builtin_trap();\n"))
    c["crash"] = _commit(root, "trap [/x] on every Mid free")
    mid.write_text(text)
    config.write_text(config.read_text().replace("#define HAK_MID_FREE_SPIN 4100\n", "#define HAK_MID_FREE_SPIN 0\n"))
    c["fast"] = _commit(root, "no trap, no spin")
    return root, c


@pytest.fixture(scope="module")
def env(lab):
    with lab_env(lab[0]):
        yield


def _bisect(root, capsys, *extra):
    rc = main(["--root", str(root), "bisect", "--workload", "mid_only", "--variant", "hak-6b", *extra])
    return rc, capsys.readouterr()


@pytest.fixture(scope="module")
def found(lab, env):
    root, c = lab
    return run_json(root, "bisect", "--workload", "mid_only", "--variant", "hak-6b",
                    "--good", c["ref"], "--bad", c["mended"], *QUICK)


def test_the_culprit_is_the_slow_commit_found_measuring_less_than_the_range(lab, found):
    _, c = lab
    out = found
    assert out["culprit"] == c["slow"] and out["subject"] == "spin on every Mid free"
    assert out["good"] == c["ref"] and out["bad"] == c["mended"]
    # the series after ref: comment, slow, broken, mended (docs is outside native/)
    series = [c["ref"], c["comment"], c["slow"], c["broken"], c["mended"]]
    assert out["range_commits"] == len(series)
    assert set(out["measured"]) < set(series) and len(out["measured"]) < len(series)
    assert out["measured"][:2] == [c["ref"], c["mended"]]
    assert set(out["skipped"]) <= {c["broken"]}
    # confirmed against its parent (comment: the reference's library), a gross slowdown
    assert out["parent"] == c["comment"] and out["confirmed"] is True and out["verdict"] == "slower"
    assert out["size"] < 0 and out["ci95"][1] < 0
    assert {"culprit", "subject", "size", "ci95", "measured", "skipped", "probes"} <= set(out)


def test_the_probes_with_a_known_library_are_classified_without_a_measurement(lab, found):
    _, c = lab
    by = {p["commit"]: p for p in found["probes"]}
    assert by[c["slow"]]["classified"] == "bad" and by[c["slow"]]["same_library_as"] == c["mended"]
    assert by[c["comment"]]["classified"] == "good" and by[c["comment"]]["same_library_as"] == c["ref"]
    assert [r["purpose"] for r in found["runs"]] == ["good against bad", "culprit against its parent"]


@pytest.fixture(scope="module")
def probed(lab, env):
    root, c = lab
    return run_json(root, "bisect", "--workload", "mid_only", "--variant", "hak-6b",
                    "--good", c["ref"], "--bad", c["longer"], *QUICK)


def test_a_probe_with_a_library_of_its_own_is_measured_against_good_and_bad_in_one_run(lab, probed):
    _, c = lab
    out = probed
    assert out["culprit"] == c["slow"] and out["parent"] == c["comment"] and out["confirmed"] is True
    assert out["size"] < 0 and out["ci95"][1] < 0
    (p,) = [p for p in out["probes"] if p["how"] == "measured"]
    assert p["commit"] == c["slow"] and p["classified"] == "bad"
    assert p["against_good"]["verdict"] == "slower" and p["against_bad"] is not None
    assert [r["purpose"] for r in out["runs"]] == ["good against bad", "probe", "culprit against its parent"]
    assert out["runs"][1]["commits"] == [c["ref"], c["slow"], c["longer"]]
    series = [c[k] for k in ("ref", "comment", "slow", "broken", "mended", "longer")]
    assert out["range_commits"] == len(series) and out["measured"] == [c["ref"], c["longer"], c["slow"]]


def test_a_probe_that_does_not_build_is_skipped_for_its_neighbour(lab, probed, capsys):
    root, c = lab
    # after comment: slow, broken, mended, longer; the midpoint is broken: mended is probed instead
    rc, cap = _bisect(root, capsys, "--good", c["comment"], "--bad", c["longer"], "--json", *QUICK)
    assert rc == 0
    out = json.loads(cap.out)
    assert out["skipped"] == [c["broken"]] and "large" in out["skipped_reasons"][0]["reason"]
    assert [p["commit"] for p in out["probes"]] == [c["mended"], c["slow"]]
    assert out["culprit"] == c["slow"] and out["parent"] == c["comment"] and out["parent_skipped"] == []
    assert c["broken"] not in out["measured"]


def test_no_command_moves_head_or_touches_the_work_tree(lab, found):
    root, c = lab
    assert _git(root, "rev-parse", "HEAD") == c["fast"]
    assert _git(root, "status", "--porcelain", "--untracked-files=no") == ""


def test_the_human_output_names_the_culprit_and_reuses_the_records(lab, found, capsys):
    root, c = lab
    # bad outside native/ (docs): its library is slow's, the same comparison, found in the store
    rc, cap = _bisect(root, capsys, "--good", c["ref"], "--bad", c["docs"], *QUICK)
    assert rc == 0 and cap.err == ""
    assert f"culprit {c['slow'][:10]}" in cap.out and "slower" in cap.out and "reused" in cap.out


def test_a_range_that_does_not_change_the_library_has_no_culprit(lab, env, capsys):
    root, c = lab
    rc, cap = _bisect(root, capsys, "--good", c["ref"], "--bad", c["comment"], "--json", *QUICK)
    assert rc == 0
    out = json.loads(cap.out)
    assert out["culprit"] is None and "same library" in out["reason"] and out["measured"] == []


@pytest.mark.parametrize("good, bad, said", [
    ("no-such-rev", "{mended}", "--good 'no-such-rev' is not a commit"),
    ("{ref}", "no-such-rev", "--bad 'no-such-rev' is not a commit"),
    ("{slow}", "{slow}", "the same commit"),
    ("{mended}", "{ref}", "is not an ancestor"),
    ("{ref}", "{broken}", "does not build"),
])
def test_bad_revisions_are_one_line_and_exit_2(lab, env, capsys, good, bad, said):
    root, c = lab
    rc, cap = _bisect(root, capsys, "--good", good.format(**c), "--bad", bad.format(**c), "--json")
    assert rc == 2 and cap.out == "" and "Traceback" not in cap.err
    first = cap.err.strip().splitlines()[0]
    assert said in first
    if said != "does not build":        # that one is followed by the compiler's output
        assert len(cap.err.strip().splitlines()) == 1


def test_neighbours_alternate_sides_of_the_midpoint():
    assert list(neighbours(5, 1, 9)) == [5, 6, 4, 7, 3, 8, 2]
    assert list(neighbours(2, 1, 4)) == [2, 3]


@pytest.mark.parametrize("n, first_bad, broken", [
    (10, 4, set()), (10, 4, {4}), (10, 5, {4, 5, 6}), (33, 20, {16, 17}), (16, 0, {7, 8}),
    (8, 7, {3, 4, 5, 6}), (2, 1, set()), (1, 0, set()),
])
def test_the_search_skips_to_a_buildable_neighbour_and_stays_binary(n, first_bad, broken):
    asked = []

    def probe(i):
        asked.append(i)
        return None if i in broken else ("bad" if i >= first_bad else "good")

    lo, hi, skipped = search(n, probe)
    assert len(asked) == len(set(asked))       # no commit probed twice
    built = [i for i in range(n) if i not in broken]
    # hi: the first buildable commit like bad; lo the buildable one before it; between them the broken
    assert hi == min(i for i in built if i >= first_bad or i == n - 1)
    assert lo == max([i for i in built if i < hi] or [-1])
    assert skipped == [i for i in range(lo + 1, hi) if i in broken]
    measured = [i for i in asked if i not in broken]
    assert len(measured) <= max(1, (n - 1).bit_length()) + 1
    # a failed build does not turn the search linear: probes beyond the failures' neighbours stay few
    assert len(asked) <= (n - 1).bit_length() + 2 * len(broken) + 1


def test_a_probe_that_builds_and_crashes_is_skipped_like_one_that_does_not_build(lab, env, capsys):
    root, c = lab
    rc, cap = _bisect(root, capsys, "--good", c["longer"], "--bad", c["fast"], "--json", *QUICK)
    assert rc == 0, cap.err
    out = json.loads(cap.out)
    # the only commit between is the crash: skipped with the run's failure, never classified "like good"
    assert out["skipped"] == [c["crash"]] and "runs but fails" in out["skipped_reasons"][0]["reason"]
    assert c["crash"] not in [p["commit"] for p in out["probes"]]
    assert out["culprit"] == c["fast"] and out["parent"] == c["longer"] and out["parent_skipped"] == [c["crash"]]
    assert out["verdict"] == "faster" and out["ci95"][0] > 0
    # the human output prints the subject as text (rich markup in it is not read as markup)
    rc, cap = _bisect(root, capsys, "--good", c["longer"], "--bad", c["fast"], *QUICK)
    assert rc == 0 and "Traceback" not in cap.err and "trap [/x] on every Mid free" in " ".join(cap.out.split())


def test_a_bad_end_that_crashes_is_one_line_and_exit_2(lab, env, capsys):
    root, c = lab
    rc, cap = _bisect(root, capsys, "--good", c["longer"], "--bad", c["crash"], "--json", *QUICK)
    assert rc == 2 and cap.out == "" and "Traceback" not in cap.err
    (line,) = cap.err.strip().splitlines()
    assert "--bad" in line and "does not run" in line
