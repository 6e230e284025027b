"""`reportgen variants`: the --json contract, the table, and one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reportgen.cli import main
from reportgen.errors import UserError
from reportgen.variants import PEERS, VARIANTS, Peer, get_variant, peer_status, variant_with

PROJECT_KEYS = {"name", "kind", "available", "library", "preload", "flags", "description", "built",
                "compiled_now"}
SYSTEM_KEYS = {"name", "kind", "available", "library", "why"}


def check_shape(rows: list[dict]) -> None:
    assert [r["name"] for r in rows] == list(VARIANTS) + list(PEERS)
    for row in rows:
        if row["kind"] == "project":
            assert PROJECT_KEYS <= row.keys()
            assert row["available"] is True, row.get("why")
            assert os.path.isfile(row["library"]) and os.path.isfile(row["preload"])
            assert row["library"] != row["preload"]
            assert row["flags"] == VARIANTS[row["name"]].flags
            # available project variant: both libraries are in the build cache, however they got there
            assert row["built"] is True and isinstance(row["compiled_now"], bool)
        else:
            assert row["kind"] == "system"
            assert SYSTEM_KEYS <= row.keys()
            if row["available"]:
                assert os.path.exists(row["library"]) and row["why"] is None
            else:
                assert row["library"] is None and row["why"]


def test_json_shape_in_process(capsys):
    assert main(["variants", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    check_shape(rows)
    glibc = next(r for r in rows if r["name"] == "glibc")
    assert glibc["available"]
    # a second call finds everything in the cache: still built, nothing compiled now
    assert main(["variants", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert all(r["built"] and not r["compiled_now"] for r in again if r["kind"] == "project")
    assert [r["library"] for r in again] == [r["library"] for r in rows]


def test_json_shape_via_subprocess():
    proc = subprocess.run([sys.executable, "-m", "reportgen.cli", "variants", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    check_shape(json.loads(proc.stdout))


def test_table(capsys):
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    for name in list(VARIANTS) + list(PEERS):
        assert name in out


def test_peer_availability_matches_the_disk():
    for name in PEERS:
        available, library, why = peer_status(name)
        assert available == (library is not None) and (why is None) == available
    assert peer_status("glibc")[0]


def test_missing_peer_says_which_package(monkeypatch):
    fake = Peer("fakemalloc", "libfakemalloc.so.9", "libfakemalloc9", "no such thing")
    monkeypatch.setitem(PEERS, "fakemalloc", fake)
    assert peer_status("fakemalloc") == (
        False, None, "libfakemalloc.so.9 not found: apt-get install libfakemalloc9")


def test_broken_build_lists_the_variant_as_unavailable(project_copy, capsys):
    broken = project_copy.native_dir / "tiny.c"
    broken.write_text(broken.read_text() + "\nint broken(void) { return }\n")
    assert main(["--root", str(project_copy.root), "variants", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in VARIANTS:
        assert rows[name]["available"] is False
        assert rows[name]["built"] is False and rows[name]["compiled_now"] is False
        assert "compile of" in rows[name]["why"] and "tiny.c" in rows[name]["why"]
        assert rows[name]["library"] is None
    assert rows["glibc"]["available"] is True


@pytest.mark.parametrize("argv", [["variants", "--bogus"], ["nosuchcommand"], ["variants", "--json", "extra"]])
def test_bad_usage_is_one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("reportgen: error:")
    assert "Traceback" not in err


def test_bad_usage_via_subprocess():
    proc = subprocess.run([sys.executable, "-m", "reportgen.cli", "variants", "--frobnicate"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--frobnicate" in proc.stderr


def test_unknown_variant_is_one_line():
    with pytest.raises(UserError) as info:
        get_variant("hak-9z")
    assert "\n" not in str(info.value) and "hak-9z" in str(info.value) and "hak-6a" in str(info.value)


def test_variant_with_adds_flags_and_keeps_the_base():
    derived = variant_with("hak-6b", "hak-6b-t", {"HAK_TINY_MAX": 1023})
    assert derived.flags == {"HAK_MID_FREE_HEADER": "1", "HAK_TINY_MAX": "1023"}
    assert VARIANTS["hak-6b"].flags == {"HAK_MID_FREE_HEADER": "1"}


def test_built_means_in_the_cache_and_compiled_now_means_by_this_call(project_copy, capsys):
    argv = ["--root", str(project_copy.root), "variants", "--json"]
    assert main(argv) == 0   # a fresh cache: this call compiles every variant
    first = [r for r in json.loads(capsys.readouterr().out) if r["kind"] == "project"]
    assert all(r["built"] and r["compiled_now"] for r in first), first
    assert main(argv) == 0   # the same sources: everything comes from the cache
    second = [r for r in json.loads(capsys.readouterr().out) if r["kind"] == "project"]
    assert all(r["built"] and not r["compiled_now"] for r in second), second
    assert [r["library"] for r in second] == [r["library"] for r in first]
