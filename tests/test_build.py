"""The build cache: content-hashed, rebuilds only what an edit touches, clear errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from reportgen.build import allocator_sources, build_library, build_variant, include_closure, source_hash
from reportgen.errors import UserError
from reportgen.measuring.native import HakLib
from reportgen.project import Project
from reportgen.variants import VARIANTS

KINDS = ("lib", "preload")


def build_all(project: Project) -> dict[tuple[str, str], os.PathLike]:
    return {(name, kind): build_variant(project, VARIANTS[name], kind) for name in VARIANTS for kind in KINDS}


def test_second_build_is_a_cache_hit(project_copy):
    first = build_variant(project_copy, VARIANTS["hak-6b"])
    mtime = first.stat().st_mtime_ns
    objects = sorted(first.parent.glob("*.o"))
    assert objects, "objects are kept next to the library"
    time.sleep(0.01)
    again = build_variant(project_copy, VARIANTS["hak-6b"])
    assert again == first
    assert again.stat().st_mtime_ns == mtime          # not recompiled
    assert source_hash(project_copy, VARIANTS["hak-6b"]) in str(first.parent.name)


@pytest.fixture
def shared_cache(project, monkeypatch):
    """The copy builds into the suite's cache (hashes do not depend on where a checkout lives): what the
    other tests built is a hit, so only what an edit changes is compiled here."""
    monkeypatch.setenv("REPORTGEN_BUILD_DIR", str(project.build_dir))


def test_touch_without_change_rebuilds_nothing(project_copy, shared_cache):
    before = build_all(project_copy)
    for path in project_copy.native_dir.iterdir():
        os.utime(path)
    assert build_all(project_copy) == before


def test_editing_one_file_rebuilds_only_its_dependents(project_copy, shared_cache):
    native = project_copy.native_dir
    before = build_all(project_copy)

    # preload.c is only in the preload libraries
    (native / "preload.c").write_text((native / "preload.c").read_text() + "\nint _hak_edited_marker;\n")
    after = build_all(project_copy)
    for key in before:
        changed = after[key] != before[key]
        assert changed == (key[1] == "preload"), key
    for key, path in after.items():
        assert path.is_file()
    # the old libraries stay valid for whoever still uses them
    assert all(p.is_file() for p in before.values())

    # a header every allocator file includes: everything rebuilds
    again = build_all(project_copy)
    assert again == after
    (native / "hak_config.h").write_text((native / "hak_config.h").read_text() + "\ntypedef int _hak_edited_t;\n")
    final = build_all(project_copy)
    assert all(final[k] != after[k] for k in final)
    # ... and the edited library is the one loaded
    assert HakLib(final[("hak-6b", "lib")]).config()["variant"] == "hak-6b"


def test_an_edit_reaches_only_the_variants_whose_code_it_changes(project_copy):
    """Variants are flags over one code base: the hash is of what each build compiles."""
    mid = project_copy.native_dir / "mid.c"
    text = mid.read_text()
    before = {name: source_hash(project_copy, VARIANTS[name]) for name in VARIANTS}

    # code that only the header variant (6-B) compiles
    marker = "_hak_stat_inc(heap, leaked_blocks);"
    assert text.count(marker) == 1
    mid.write_text(text.replace(marker, marker + " heap->stats.leaked_blocks += 0;"))
    after = {name: source_hash(project_copy, VARIANTS[name]) for name in VARIANTS}
    assert after["hak-6a"] == before["hak-6a"]
    assert after["hak-6b"] != before["hak-6b"]

    # a comment changes what no build compiles
    mid.write_text(text.replace("/* 1. Read the header", "/* 1. (reworded) Read the header"))
    assert {name: source_hash(project_copy, VARIANTS[name]) for name in VARIANTS} == before


def test_bench_sources_do_not_affect_allocator_builds(project_copy):
    native = project_copy.native_dir
    lib = build_variant(project_copy, VARIANTS["hak-6a"])
    (native / "bench_extra.c").write_text("int _unused_bench_symbol;\n")
    assert all(not p.name.startswith("bench") for p in allocator_sources(project_copy, "preload"))
    assert build_variant(project_copy, VARIANTS["hak-6a"]) == lib


def test_include_closure_follows_headers_recursively(tmp_path):
    (tmp_path / "a.c").write_text('#include "b.h"\n#include <stdio.h>\n')
    (tmp_path / "b.h").write_text('  #  include "sub/c.h"\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.h").write_text('#include "d.h"\n#include "missing.h"\n')
    (tmp_path / "sub" / "d.h").write_text("#define D 1\n")
    names = [p.relative_to(tmp_path).as_posix() for p in include_closure(tmp_path / "a.c")]
    assert names == ["a.c", "b.h", "sub/c.h", "sub/d.h"]


def test_generic_build_library(tmp_path, monkeypatch):
    monkeypatch.delenv("REPORTGEN_BUILD_DIR", raising=False)
    project = Project(tmp_path)
    (tmp_path / "native").mkdir()
    src = tmp_path / "native" / "answer.c"
    src.write_text('__attribute__((visibility("default"))) int answer(void) { return VALUE; }\n')
    lib = build_library(project, "answer", [src], {"VALUE": "42"})
    import ctypes
    assert ctypes.CDLL(str(lib)).answer() == 42
    other = build_library(project, "answer", [src], {"VALUE": "43"})
    assert other != lib and ctypes.CDLL(str(other)).answer() == 43


def test_compile_error_is_one_line_with_compiler_output(project_copy):
    broken = project_copy.native_dir / "router.c"
    broken.write_text(broken.read_text() + "\nthis is not C;\n")
    with pytest.raises(UserError) as info:
        build_variant(project_copy, VARIANTS["hak-6a"])
    message = str(info.value)
    assert "\n" not in message
    assert "compile of hak-6a failed" in message and "router.c" in message
    assert "error:" in info.value.detail
    # nothing half-built is left where a library would be found
    assert not list(project_copy.build_dir.glob("hak-6a-*/*.so"))
    assert not list(project_copy.build_dir.glob(".hak-6a-*"))


def test_missing_compiler_is_one_line(project_copy, monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(UserError) as info:
        build_variant(project_copy, VARIANTS["hak-6a"])
    assert "\n" not in str(info.value)
    assert "/nonexistent/cc" in str(info.value) and "not found" in str(info.value)


def test_cli_reports_missing_compiler_as_unavailable(project_copy, capsys, monkeypatch):
    from reportgen.cli import main

    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert main(["--root", str(project_copy.root), "variants", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    project_rows = [r for r in rows if r["kind"] == "project"]
    assert project_rows and all(not r["available"] and "not found" in r["why"] for r in project_rows)


def test_compile_error_through_a_building_command_exits_2(project_copy, capsys):
    """Any command that needs a library turns a compile error into one line and exit 2."""
    pytest.importorskip("reportgen.measuring.kinds.route", reason="reportgen route not written yet")
    from reportgen.cli import main

    broken = project_copy.native_dir / "mid.c"
    broken.write_text(broken.read_text() + "\n#error deliberately broken\n")
    status = main(["--root", str(project_copy.root), "route", "--workload", "mid_mt_gap",
                   "--variant", "hak-6b", "--json"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.splitlines()[0].startswith("reportgen: error: compile of hak-6b failed")
    assert "Traceback" not in err


def test_concurrent_builds_never_see_half_a_library(project_copy):
    """Two processes building the same variant at once: both get the same, complete library."""
    code = textwrap.dedent(f"""
        from reportgen.build import build_variant
        from reportgen.measuring.native import HakLib
        from reportgen.project import Project
        from reportgen.variants import VARIANTS
        lib = build_variant(Project.locate({str(project_copy.root)!r}), VARIANTS["hak-6b"])
        HakLib(lib).config()
        print(lib)
    """)
    env = {k: v for k, v in os.environ.items() if k != "REPORTGEN_BUILD_DIR"}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    assert not list(project_copy.build_dir.glob(".hak-6b-*")), "temporary build directories left behind"


def test_identity_does_not_depend_on_where_the_checkout_lives(tmp_path, monkeypatch):
    """Two clones at different paths: the same variants and drivers hash the same, so records
    committed from one are current in the other."""
    from reportgen.measuring.child import resolve_allocator

    monkeypatch.delenv("REPORTGEN_BUILD_DIR", raising=False)
    specs = {}
    for where in ("a/clone", "b/deeper/clone"):
        root = tmp_path / where
        shutil.copytree(Project.locate().native_dir, root / "native", ignore=shutil.ignore_patterns("*.o", "*.so"))
        specs[where] = {n: resolve_allocator(Project(root), n) for n in ("hak-6b", "glibc")}
    a, b = specs.values()
    for name in ("hak-6b", "glibc"):
        assert a[name].bench_lib != b[name].bench_lib                     # two build caches...
        assert (a[name].source_hash, a[name].builds_hash) == (b[name].source_hash, b[name].builds_hash)
