"""The model tests again, on the AddressSanitizer + UBSan build (HAK_DEBUG on).

A child pytest loads the asan libraries (conftest's REPORTGEN_SANITIZE=1)
with libasan preloaded, as a sanitized library loaded into Python needs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.build import build_variant
from reportgen.variants import VARIANTS

TESTS = Path(__file__).resolve().parent


def libasan() -> str:
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        pytest.skip("libasan is not installed (it comes with gcc on Debian)")
    return path


def test_model_under_asan_and_ubsan(project):
    asan = libasan()
    for name in VARIANTS:   # build first, so a compile error is reported as such, not as a test failure
        build_variant(project, VARIANTS[name], "asan")
    env = dict(os.environ)
    env.update({
        "REPORTGEN_SANITIZE": "1",
        "LD_PRELOAD": asan,
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "PYTHONMALLOC": "malloc",   # let ASan see Python's own allocations too
    })
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         str(TESTS / "test_allocator_model.py")],
        capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=600)
    tail = (proc.stdout[-4000:] + proc.stderr[-4000:])
    assert proc.returncode == 0, f"sanitized model tests failed (exit {proc.returncode}):\n{tail}"
    assert "passed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1]
