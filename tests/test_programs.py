"""Program workloads: real programs run with an allocator preloaded (reportgen.programs.runner).

Everything here runs real programs Debian ships (python3, sqlite3, gcc, sh) under real preload
builds; the bench-level tests (a program declared in workloads.yaml, measured by `reportgen bench`)
are further down.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reportgen.measure import resolve_allocator
from reportgen.programs.runner import counted_run, difference, expand, preload_env, run_program
from reportgen.project import Project

PROJECT = Project.locate()
PY_CHURN = ["/usr/bin/python3", "-S", "-c",
            "d = [{i: str(i) * 3 for i in range(40)} for _ in range(3000)]; print(sum(len(x) for x in d))"]


class _W:
    """The fields of a program Workload the runner reads."""
    def __init__(self, argv, threads=1, setup=()):
        self.program, self.threads, self.setup, self.name = tuple(argv), threads, tuple(setup), "w"


def test_a_program_runs_under_each_preload_with_the_same_output(tmp_path):
    outs = {}
    for name in ("glibc", "hak-6a", "hak-6b", "mimalloc"):
        spec = resolve_allocator(PROJECT, name)
        env = {**preload_env(PROJECT, spec), "PYTHONMALLOC": "malloc"}
        run = run_program(PY_CHURN, env, tmp_path, 60)
        assert run.status == 0 and not run.timed_out, (name, run.stderr_tail)
        assert run.ns > 0 and run.cpu_ns > 0 and run.maxrss_kb > 1000 and run.minflt > 0
        outs[name] = run.stdout_sha
        assert run.stdout_head.strip() == str(3000 * 40)
    assert len(set(outs.values())) == 1, outs
    # the timed runs load the build without hot-path counters
    assert preload_env(PROJECT, resolve_allocator(PROJECT, "hak-6b"))["LD_PRELOAD"].endswith(
        "libhak-6b-preload-timed.so")
    assert preload_env(PROJECT, resolve_allocator(PROJECT, "glibc")) == {}


def test_the_counted_run_shows_the_allocations_reach_hak(tmp_path):
    spec = resolve_allocator(PROJECT, "hak-6b")
    counters, why = counted_run(PROJECT, spec, _W(PY_CHURN), tmp_path, 60)
    assert why is None, why
    # without PYTHONMALLOC=malloc, Python's small objects come from its own arenas: few mallocs reach hak
    assert counters["processes"] == 1 and counters["tiny_allocs"] > 1000
    # gcc runs a driver and its compiler proper: each process preloaded, their counters summed
    gcc = ["gcc", "-O2", "-DHAK_MID_FREE_HEADER", "-c", "{root}/native/mid.c", "-I{root}/native", "-o",
           "{scratch}/mid.o"]
    counters, why = counted_run(PROJECT, spec, _W(expand(gcc, tmp_path, PROJECT.root, 1)), tmp_path, 120)
    assert why is None and counters["processes"] >= 2 and counters["mid_allocs"] > 0, (why, counters)
    assert counters["exit_status"] == 0
    assert (tmp_path / "mid.o").stat().st_size > 0


def test_a_static_program_that_ignores_ld_preload_is_said_to(tmp_path):
    # busybox-style: a program linked statically allocates nothing through the preloaded library
    src = tmp_path / "static.c"
    src.write_text("#include <stdlib.h>\n#include <stdio.h>\nint main(void){void*p=malloc(5000);"
                   "printf(\"%d\\n\", p != 0); free(p); return 0;}\n")
    exe = tmp_path / "static"
    if subprocess.run(["gcc", "-static", "-O2", str(src), "-o", str(exe)], capture_output=True).returncode != 0:
        pytest.skip("no static libc here")
    counters, why = counted_run(PROJECT, resolve_allocator(PROJECT, "hak-6a"), _W([str(exe)]), tmp_path, 30)
    assert counters is None and "may not load LD_PRELOAD" in why


def test_an_output_that_differs_is_a_failure_with_both_outputs_shown(tmp_path):
    ref = run_program(["sh", "-c", "echo same"], {}, tmp_path, 10)
    reference = {"status": ref.status, "stdout_sha": ref.stdout_sha, "stdout_head": ref.stdout_head}
    assert difference(run_program(["sh", "-c", "echo same"], {}, tmp_path, 10), reference, "glibc") is None
    other = difference(run_program(["sh", "-c", "echo other"], {}, tmp_path, 10), reference, "glibc")
    assert "its output differs from glibc's" in other and "'other\\n'" in other and "'same\\n'" in other
    crash = difference(run_program(["sh", "-c", "echo boom >&2; kill -SEGV $$"], {}, tmp_path, 10), reference, "glibc")
    assert crash.startswith("killed by signal 11, where glibc exited with 0")


def test_a_program_past_its_timeout_is_killed_with_its_children(tmp_path):
    marker = tmp_path / "child.pid"
    run = run_program(["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], {}, tmp_path, 0.5)
    assert run.timed_out and run.status == -signal.SIGKILL
    pid = int(marker.read_text())
    time.sleep(0.2)
    assert not _alive(pid), "the program's child outlived its timeout"


def test_a_program_dies_with_the_measuring_process_even_on_sigkill(tmp_path):
    marker = tmp_path / "program.pid"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(PROJECT.root)!r})
        from pathlib import Path
        from reportgen.programs.runner import run_program
        run_program(["sh", "-c", "echo $$ > {marker}; exec sleep 60"], {{}}, Path({str(tmp_path)!r}), 120)
    """)
    measuring = subprocess.Popen([sys.executable, "-c", script])
    for _ in range(100):
        if marker.exists() and marker.read_text().strip():
            break
        time.sleep(0.05)
    program = int(marker.read_text())
    assert _alive(program)
    measuring.send_signal(signal.SIGKILL)
    measuring.wait()
    for _ in range(40):
        if not _alive(program):
            break
        time.sleep(0.05)
    assert not _alive(program), "the program outlived the measuring process's SIGKILL"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_placeholders_are_filled_and_other_braces_kept():
    assert expand(["{scratch}/in", "-T{threads}", "{root}", "print({1: 2})"], Path("/s"), Path("/r"), 2) == \
        ["/s/in", "-T2", "/r", "print({1: 2})"]
    assert os.path.isabs(expand(["{root}"], Path("/s"), PROJECT.root, None)[0])
