"""Program workloads: real programs run with an allocator preloaded (reportgen.measuring.programs.runner).

Everything here runs real programs Debian ships (python3, sqlite3, gcc, sh) under real preload
builds; the bench-level tests (a program declared in workloads.yaml, measured by `reportgen bench`:
times, CIs, peak RSS, hak's counters, a differing output as a failure, one-line errors, reuse)
are further down.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from reportgen.cli import main
from reportgen.measuring.child import resolve_allocator
from reportgen.measuring.programs.runner import counted_run, difference, expand, preload_env, run_program
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
        from reportgen.measuring.programs.runner import run_program
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


STRESS = {"larson": "3", "xmalloc": "20000", "scratch": "20000", "mstress": "2"}


@pytest.mark.parametrize("test", sorted(STRESS))
def test_each_stress_program_prints_the_same_under_every_allocator_and_reaches_hak(tmp_path, test):
    """native/stress/stress.c, built from the project's sources through the {stress} token: same output
    and exit 0 under glibc, hak and a peer; the counted run sees its blocks reach hak, across threads."""
    argv = expand(["{stress}", test, "{threads}", STRESS[test]], tmp_path, PROJECT.root, 2)
    assert Path(argv[0]).is_file() and "stress-" in Path(argv[0]).parent.name     # in the build cache
    outs = set()
    for name in ("glibc", "hak-6a", "hak-6b", "mimalloc"):
        run = run_program(argv, preload_env(PROJECT, resolve_allocator(PROJECT, name)), tmp_path, 60)
        assert run.status == 0 and not run.timed_out, (name, run.stderr_tail)
        outs.add(run.stdout_sha)
        assert run.stdout_head.startswith(test), run.stdout_head
    assert len(outs) == 1
    counters, why = counted_run(PROJECT, resolve_allocator(PROJECT, "hak-6b"),
                                _W(["{stress}", test, "{threads}", STRESS[test]], threads=2), tmp_path, 60)
    assert why is None and counters["tiny_allocs"] > int(STRESS[test]), (why, counters)


def test_a_stress_program_given_bad_arguments_exits_1_with_its_reason(tmp_path):
    argv = expand(["{stress}", "larson", "65", "1"], tmp_path, PROJECT.root, 2)
    run = run_program(argv, {}, tmp_path, 60)
    assert run.status == 1 and "THREADS must be 1..64" in run.stderr_tail


def test_placeholders_are_filled_and_other_braces_kept():
    assert expand(["{scratch}/in", "-T{threads}", "{root}", "print({1: 2})"], Path("/s"), Path("/r"), 2) == \
        ["/s/in", "-T2", "/r", "print({1: 2})"]
    assert os.path.isabs(expand(["{root}"], Path("/s"), PROJECT.root, None)[0])


def test_the_peak_rss_is_the_programs_own_not_the_measuring_processs(tmp_path):
    # Linux carries the RSS high-water mark across fork and exec: spawned straight from this process
    # (pytest, numpy, scipy and this buffer), `true` would report all of it as its peak
    held = bytearray(200 << 20)
    held[::4096] = b"\1" * len(held[::4096])
    run = run_program(["true"], {}, tmp_path, 10)
    assert run.status == 0 and 0 < run.maxrss_kb < 8 * 1024, run.maxrss_kb
    py = run_program(["/usr/bin/python3", "-c", "b = bytearray(60 << 20); b[::4096] = b'1' * len(b[::4096])"],
                     {}, tmp_path, 30)
    assert 60 * 1024 < py.maxrss_kb < 120 * 1024, py.maxrss_kb
    del held


def test_the_workloads_env_reaches_the_program_and_the_allocators_preload_wins(tmp_path):
    w = _W(["sh", "-c", "echo $PYTHONMALLOC ${LD_PRELOAD##*/}"])
    w.env = (("PYTHONMALLOC", "malloc"),)
    spec = resolve_allocator(PROJECT, "hak-6b")
    from reportgen.measuring.programs.runner import program_env, program_request
    req = program_request(PROJECT, spec, w, tmp_path, 10)
    assert req["env"]["PYTHONMALLOC"] == "malloc" and req["threads"] == 1
    run = run_program(req["argv"], req["env"], tmp_path, 10)
    assert run.stdout_head.strip() == "malloc libhak-6b-preload-timed.so"
    assert program_env(PROJECT, resolve_allocator(PROJECT, "glibc"), w) == {"PYTHONMALLOC": "malloc"}


# ---- measured by `reportgen bench` ------------------------------------------------------------------

@pytest.fixture()
def results(tmp_path, monkeypatch):
    """Results in a folder of the test's; copies of the project share the suite's build cache."""
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("REPORTGEN_BUILD_DIR", str(PROJECT.build_dir))
    return tmp_path / "results"


def _bench(capsys, *args, root=None) -> dict:
    argv = [*(["--root", str(root)] if root else []), "bench", *args, "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _one_line_error(capsys, *args, root=None) -> str:
    assert main([*(["--root", str(root)] if root else []), "bench", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reportgen: error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bench_measures_a_shipped_program_with_cis_memory_and_counters_and_reuses_it(results, capsys):
    args = ["--workload", "sqlite_rows", "--variant", "glibc", "--variant", "hak-6b", "--rounds", "2", "--sessions", "3"]
    out = _bench(capsys, *args)
    assert (out["workload"], out["ops"], out["unit"], out["sessions"], out["session_rounds"]) == \
        ("sqlite_rows", 1, "runs/s", 3, 2)
    prog = out["program"]
    assert prog["path"] == "/usr/bin/sqlite3" and len(prog["sha256"]) == 64 and prog["argv"][1] == ":memory:"
    assert out["sampling"]["layouts"] == 1          # a layout build has no preload library
    rows = {r["variant"]: r for r in out["results"]}
    for name, r in rows.items():
        assert r["n"] == 6 and not r["failures"], r["failures"]
        assert r["ci95"] and r["ci95"][0] <= r["median"] <= r["ci95"][1]
        assert 0.05 < 1 / r["median"] < 5                       # seconds a run
        # the program's own peak (sqlite's rows and indexes), not the measuring process's size
        assert 5 << 20 < r["memory"]["peak_rss_bytes"] < 500 << 20, r["memory"]
    assert rows["glibc"]["counters"] is None
    hak = rows["hak-6b"]
    assert hak["counted_failure"] is None and hak["counters"]["processes"] == 1
    assert hak["counters"]["tiny_allocs"] > 10_000 and hak["counters"]["mid_allocs"] > 100
    c = out["comparisons"][0]
    assert c["candidate"] == "hak-6b" and c["speedup_ci95"] and c["sessions"] == 3
    # the same binary, the same declaration: read back from the store
    again = _bench(capsys, *args)
    assert again["reused"] and again["session"] == out["session"]
    assert not any((PROJECT.build_dir / "scratch").glob("sqlite_rows-*")), "the scratch folder was left behind"


TINY = {"name": "py_tiny", "description": "a small Python program",
        "program": {"argv": ["/usr/bin/python3", "-c", "print(sum(len(str(i)) for i in range(100000)))"],
                    "env": {"PYTHONMALLOC": "malloc"}, "session_rounds": 2}}
DIFFERS = {"name": "py_says_its_preload", "description": "output that differs under a preloaded allocator",
           "program": {"argv": ["/usr/bin/python3", "-c", "import os; print(os.environ.get('LD_PRELOAD', ''))"]}}


def _project_with(tmp_path, *entries) -> Path:
    from test_workloads_yaml import SHIPPED
    from test_publish import copy_project
    root = copy_project(tmp_path / "lab")
    (root / "workloads.yaml").write_text(yaml.safe_dump({"workloads": SHIPPED["workloads"] + list(entries)},
                                                        sort_keys=False))
    return root


def test_a_program_appended_to_workloads_yaml_is_measured_and_a_differing_output_is_a_failure(
        tmp_path, results, capsys):
    root = _project_with(tmp_path, TINY, DIFFERS)
    out = _bench(capsys, "--workload", "py_tiny", "--variant", "glibc", "--variant", "hak-6b", "--sessions", "3",
                 "--rounds", "2", root=root)
    rows = {r["variant"]: r for r in out["results"]}
    assert out["program"]["path"].startswith("/usr/bin/python3") and out["program"]["env"] == {"PYTHONMALLOC": "malloc"}
    for r in rows.values():
        assert r["n"] == 6 and not r["failures"] and r["median"] > 0
        assert r["memory"]["peak_rss_bytes"] < 60 << 20          # a small Python, not pytest's size
    assert rows["hak-6b"]["counters"]["tiny_allocs"] > 1000      # PYTHONMALLOC=malloc: objects reach hak
    # under hak-6b the program prints its preload: every run of it a recorded failure; glibc keeps its samples
    out = _bench(capsys, "--workload", "py_says_its_preload", "--variant", "glibc", "--variant", "hak-6b",
                 "--sessions", "3", "--rounds", "2", root=root)
    glibc, hak = out["results"]
    assert glibc["n"] == 6 and not glibc["failures"]
    assert hak["n"] == 0 and hak["failures"], hak
    assert all("its output differs from glibc's" in f["cause"] and "libhak-6b-preload-timed.so" in f["cause"]
               for f in hak["failures"])
    assert out["comparisons"][0]["verdict"] is None
    assert not list((PROJECT.build_dir / "scratch").glob("py_*"))


def _servers_under(folder: Path) -> list[int]:
    """The pids of live processes whose command line names a path under `folder` (the server's scratch)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "redis-server" in cmd and str(folder) in cmd and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def test_redis_serves_under_each_allocator_on_loopback_and_its_allocations_reach_hak(results, capsys):
    out = _bench(capsys, "--workload", "redis", "--variant", "glibc", "--variant", "hak-6b", "--rounds", "2",
                 "--sessions", "2")
    rows = {r["variant"]: r for r in out["results"]}
    for name, r in rows.items():
        assert r["n"] == 4 and not r["failures"], (name, r["failures"])
        # the server's own peak (redis holds its keys and buffers), not the client's or ours
        assert 2 << 20 < r["memory"]["peak_rss_bytes"] < 500 << 20, r["memory"]
    # Debian's redis links jemalloc, yet its malloc and free calls reach the preloaded allocator
    assert rows["hak-6b"]["counted_failure"] is None
    assert rows["hak-6b"]["counters"]["tiny_allocs"] > 10_000
    assert out["comparisons"][0]["speedup_ci95"]
    assert not _servers_under(PROJECT.build_dir / "scratch"), "a server was left running"


def test_no_server_survives_a_sigkill_of_the_measuring_process(tmp_path, results):
    env = {**os.environ, "PYTHONPATH": str(PROJECT.root)}
    measuring = subprocess.Popen([sys.executable, "-m", "reportgen.cli", "bench", "--workload", "redis",
                                  "--variant", "glibc", "--rounds", "20", "--sessions", "5"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scratch = PROJECT.build_dir / "scratch"
    try:
        for _ in range(600):
            servers = _servers_under(scratch)
            if servers:
                break
            time.sleep(0.05)
        assert servers, "no server started"
        measuring.send_signal(signal.SIGKILL)
        measuring.wait()
        for _ in range(100):
            if not any(_alive(pid) for pid in servers):
                break
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in servers), "the server outlived the measuring process's SIGKILL"
    finally:
        if measuring.poll() is None:
            measuring.kill()


@pytest.mark.parametrize("program, says", [
    ({"argv": ["true"], "server": ["sleep", "1"]}, "server workload's server names its port as {port}"),
    ({"argv": ["true"], "check": ["true"]}, "check: belongs to a server workload"),
    ({"argv": []}, "field program.argv"),
    ({"argv": [""]}, "not an empty string"),
    ({"argv": ["true"], "env": {"LD_PRELOAD": "/x.so"}}, "LD_PRELOAD is set by the measurement"),
    ({"argv": ["true"], "env": {"A B": "1"}}, "not a variable name"),
    ({"argv": ["true"], "timeout_s": 0}, "field program.timeout_s"),
    ({"argv": ["true"], "colour": "red"}, "unknown field"),
    ({"argv": ["true"], "threads": 0}, "field program.threads"),
])
def test_a_bad_program_entry_is_one_line_and_exit_2(tmp_path, results, capsys, program, says):
    root = _project_with(tmp_path, {"name": "w", "description": "d", "program": program})
    err = _one_line_error(capsys, "--workload", "w", "--variant", "glibc", root=root)
    assert "workloads.yaml: workloads[" in err and "(w)" in err and says in err, err


def test_options_a_program_does_not_take_and_a_missing_program_are_one_line(tmp_path, results, capsys):
    err = _one_line_error(capsys, "--workload", "sqlite_rows", "--variant", "glibc", "--ops", "10")
    assert "--ops does not apply to sqlite_rows" in err
    err = _one_line_error(capsys, "--workload", "sqlite_rows", "--variant", "glibc", "--threads", "2")
    assert "--threads applies to a program whose argv takes {threads}" in err
    root = _project_with(tmp_path, {"name": "gone", "description": "d", "program": {"argv": ["no-such-program-here"]}})
    err = _one_line_error(capsys, "--workload", "gone", "--variant", "glibc", root=root)
    assert "program 'no-such-program-here' is not found" in err
