"""Shared fixtures: the project, and each allocator variant built once per session.

REPORTGEN_SANITIZE=1 makes the `hak` fixtures load the AddressSanitizer +
UBSan build instead (tests/test_sanitizers.py runs the model tests that way,
in a child process with libasan preloaded).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reportgen.build import build_variant
from reportgen.measuring.native import HakLib
from reportgen.project import Project
from reportgen.variants import VARIANTS

SANITIZE = os.environ.get("REPORTGEN_SANITIZE") == "1"
LIB_KIND = "asan" if SANITIZE else "lib"
PROJECT_VARIANTS = list(VARIANTS)


@pytest.fixture(scope="session")
def project() -> Project:
    return Project.locate()


@pytest.fixture(scope="session")
def phases(project) -> dict:
    """The shipped phase specs by id."""
    from reportgen.phases import load_phases
    return {p.id: p for p in load_phases(project)}


@pytest.fixture(scope="session")
def lib_kind() -> str:
    """The build kind the hak fixtures load: "asan" under REPORTGEN_SANITIZE=1, else "lib"."""
    return LIB_KIND


@pytest.fixture(scope="session")
def hak_libs(project) -> dict[str, HakLib]:
    """name -> HakLib of every project variant (the asan build under REPORTGEN_SANITIZE=1)."""
    return {name: HakLib(build_variant(project, VARIANTS[name], LIB_KIND)) for name in PROJECT_VARIANTS}


@pytest.fixture(scope="session", params=PROJECT_VARIANTS)
def hak(request, hak_libs) -> HakLib:
    """Each project variant in turn."""
    return hak_libs[request.param]


@pytest.fixture(scope="session")
def hak6a(hak_libs) -> HakLib:
    return hak_libs["hak-6a"]


@pytest.fixture(scope="session")
def hak6b(hak_libs) -> HakLib:
    return hak_libs["hak-6b"]


@pytest.fixture(scope="session")
def preload_libs(project) -> dict[str, Path]:
    """name -> LD_PRELOAD library of every project variant."""
    return {name: build_variant(project, VARIANTS[name], "preload") for name in PROJECT_VARIANTS}


@pytest.fixture
def project_copy(tmp_path, monkeypatch) -> Project:
    """A private copy of the project's native/ with its own build cache, free to edit."""
    monkeypatch.delenv("REPORTGEN_BUILD_DIR", raising=False)
    root = tmp_path / "proj"
    shutil.copytree(Project.locate().native_dir, root / "native",
                    ignore=shutil.ignore_patterns("*.o", "*.so"))
    return Project(root)
