"""One program workload run with an allocator preloaded: its time, its memory, its output checked.

A run is a fresh process of the program (`argv` of its workloads.yaml entry, with `{scratch}`,
`{root}` and `{threads}` filled in) in the measurement's scratch folder, LD_PRELOAD set to the
allocator's library.  Its wall time is taken from the fork to the reap (os.wait4, no polling), its
CPU time, peak RSS and page faults from the rusage wait4 returns (the program's waited-for children
included).  Its exit status and a hash of its standard output are compared with the reference run
(the baseline's, made once before the rounds): a variant under which the program says something
else has failed, whatever its speed.  Every child gets PR_SET_PDEATHSIG: it dies with the
measuring process, even one killed with SIGKILL.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

PR_SET_PDEATHSIG = 1
OUTPUT_HEAD = 400           # characters of a differing output shown with the failure


# ---- the allocator's preload ---------------------------------------------------------------------

def preload_env(project, spec, counted: bool = False) -> dict:
    """The environment that preloads `spec`'s allocator into a program: a project variant's
    `preload-timed` build (no hot-path counters) for timed runs, its `preload` build with HAK_STATS=1
    (its counters on stderr at exit) for the counted run; a system peer's installed library; nothing
    for glibc."""
    from .. import build, variants
    if spec.is_project:
        declared = variants.project_variants(project)
        if spec.name not in declared:
            raise UserError(f"program workloads run the declared variants; {spec.name!r} is not one "
                            f"(a layout or A/A build has no preload library)")
        lib = build.build_variant(project, declared[spec.name], "preload" if counted else "preload-timed")
        return {"LD_PRELOAD": str(lib), **({"HAK_STATS": "1"} if counted else {})}
    if spec.name == "glibc":
        return {}
    available, path, why = variants.peer_status(spec.name)
    if not available:
        raise UserError(f"system allocator {spec.name!r} is not available: {why}")
    return {"LD_PRELOAD": str(path)}


def expand(argv, scratch: Path, root: Path, threads: int | None) -> list[str]:
    """The argv with the literal tokens {scratch}, {root} and {threads} replaced (other braces, as in a
    program's own code, are left alone)."""
    values = {"{scratch}": str(scratch), "{root}": str(root), "{threads}": str(threads or 1)}
    out = []
    for a in argv:
        a = str(a)
        for token, value in values.items():
            a = a.replace(token, value)
        out.append(a)
    return out


# ---- one run -------------------------------------------------------------------------------------

@dataclass
class ProgramRun:
    ns: int                 # wall time, fork to reap
    cpu_ns: int             # user + system time (rusage)
    maxrss_kb: int
    minflt: int
    majflt: int
    status: int             # exit status; a negative number: killed by that signal
    stdout_sha: str
    stdout_head: str
    stderr_tail: str
    timed_out: bool = False
    stderr: str = ""        # the first MiB of it (the counted run's counters are read from it)


def _child_setup(cpus):
    def setup():
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if cpus:
            os.sched_setaffinity(0, cpus)
        os.setpgrp()          # its own group: a timeout kills the program and its children
    return setup


def run_program(argv: list[str], env: dict, cwd: Path, timeout: float, cpus=None) -> ProgramRun:
    """Run `argv` once with `env` added to a clean copy of this environment; stdout and stderr go to
    files (a program that writes much never blocks on a pipe)."""
    child_env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HAK_STATS")}
    child_env.update(env)
    with tempfile.TemporaryFile(dir=cwd) as out, tempfile.TemporaryFile(dir=cwd) as err:
        t0 = time.perf_counter_ns()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, preexec_fn=_child_setup(cpus))
        except OSError as exc:
            raise UserError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _pid, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        ns = time.perf_counter_ns() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        body = out.read()
        err.seek(0)
        errors = err.read(1 << 20).decode(errors="replace")
        tail = errors[-4000:]
    return ProgramRun(ns=ns, cpu_ns=int((ru.ru_utime + ru.ru_stime) * 1e9), maxrss_kb=int(ru.ru_maxrss),
                      minflt=int(ru.ru_minflt), majflt=int(ru.ru_majflt), status=proc.returncode,
                      stdout_sha=hashlib.sha256(body).hexdigest(),
                      stdout_head=body[:OUTPUT_HEAD].decode(errors="replace"), stderr_tail=tail,
                      timed_out=timed_out.is_set(), stderr=errors)


def difference(run: ProgramRun, reference: dict, who: str) -> str | None:
    """Why `run` is not the reference run (None: the same exit status and output)."""
    if run.timed_out:
        return "timed out"
    if run.status != reference["status"]:
        why = f"killed by signal {-run.status}" if run.status < 0 else f"exit status {run.status}"
        last = run.stderr_tail.strip().splitlines()[-1:] or [""]
        return f"{why}, where {who} exited with {reference['status']}" + (f": {last[0][:200]}" if last[0] else "")
    if run.stdout_sha != reference["stdout_sha"]:
        return (f"its output differs from {who}'s (first {OUTPUT_HEAD} characters: "
                f"{run.stdout_head[:200]!r} against {reference['stdout_head'][:200]!r})")
    return None


# ---- a measurement's scratch folder and reference run ----------------------------------------------

def prepare(project, w, specs, scratch: Path, timeout: float) -> dict:
    """Before the rounds: the scratch folder, the workload's `setup` (run once, with no allocator
    preloaded), and the reference run under the first allocator; returns the reference (also
    written into the folder for the session processes)."""
    scratch.mkdir(parents=True, exist_ok=True)
    setup = getattr(w, "setup", ())
    if setup:
        run = run_program(expand(setup, scratch, project.root, w.threads), {}, scratch, timeout)
        if run.status != 0 or run.timed_out:
            raise UserError(f"workload {w.name!r}: its setup {' '.join(setup)} failed "
                            f"({'timed out' if run.timed_out else f'exit status {run.status}'}): "
                            f"{run.stderr_tail.strip()[-300:]}")
    argv = expand(w.program, scratch, project.root, w.threads)
    run = run_program(argv, preload_env(project, specs[0]), scratch, timeout)
    if run.timed_out:
        raise UserError(f"workload {w.name!r}: the program timed out under {specs[0].name} "
                        f"(after {timeout:g} s)")
    ref = {"status": run.status, "stdout_sha": run.stdout_sha, "stdout_head": run.stdout_head,
           "who": specs[0].name}
    (scratch / "reference.json").write_text(json.dumps(ref))
    return ref


def scratch_dir(project, w) -> Path:
    """A fresh scratch folder for one measurement of `w` (under the build folder)."""
    base = Path(project.build_dir) / "scratch"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{w.name}-", dir=base))


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)


# ---- the session process's stand-in ---------------------------------------------------------------

def program_request(project, spec, w, scratch: Path, timeout: float) -> dict:
    """What a ProgramServer needs to run `w` on `spec` (plain data, as a driver's request is)."""
    return {"kind": "program", "name": spec.name, "argv": expand(w.program, scratch, project.root, w.threads),
            "env": preload_env(project, spec), "cwd": str(scratch), "timeout": timeout,
            "reference": str(scratch / "reference.json")}


class ProgramServer:
    """A program workload's stand-in for measure.LoopServer: `loop()` runs the program once (one timed
    loop) and gives its time and memory, or None with `.failure` set when it failed or said something
    other than the reference run."""

    def __init__(self, request: dict, *, timeout: float | None = None):
        from ..measure import measurement_cpus
        self.request = request
        self.timeout = float(timeout or request.get("timeout") or 120.0)
        self.cpus = request.get("cpus") or measurement_cpus(int(request.get("threads") or 1))
        self.failure: str | None = None
        self.ready_info: dict = {}
        self.reference = json.loads(Path(request["reference"]).read_text())

    def ready(self) -> bool:
        # a program's process is the program: nothing of the measuring process's own to subtract
        self.ready_info = {"rss_base_kb": 0, "rss_ready_kb": 0}
        return self.failure is None

    def loop(self) -> dict | None:
        if self.failure:
            return None
        req = self.request
        try:
            run = run_program(req["argv"], req["env"], Path(req["cwd"]), self.timeout, self.cpus)
        except UserError as exc:
            self.failure = str(exc)
            return None
        why = difference(run, self.reference, self.reference["who"])
        if why:
            self.failure = why
            return None
        return {"ok": True, "ns": run.ns, "ops": 1, "rss_kb": run.maxrss_kb, "maxrss_kb": run.maxrss_kb,
                "minflt": run.minflt, "majflt": run.majflt, "cpu_ns": run.cpu_ns}

    def close(self) -> None:
        pass


# ---- the counted run (hak's counters: did the allocations reach it?) -----------------------------------

COUNTER_KEYS = ("tiny_allocs", "mid_allocs", "large_allocs")


def counted_run(project, spec, w, scratch: Path, timeout: float) -> tuple[dict | None, str | None]:
    """One run under the counting preload build with HAK_STATS=1: the counters every process of the
    program printed at exit, summed, or the reason there are none (a program that ignores
    LD_PRELOAD allocates nothing through hak)."""
    argv = expand(w.program, scratch, project.root, w.threads)
    run = run_program(argv, preload_env(project, spec, counted=True), scratch, timeout)
    lines = []
    for line in run.stderr.splitlines():
        line = line.strip()
        if line.startswith("{") and '"tiny_allocs"' in line:
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if not lines:
        return None, f"no counters at exit (exit status {run.status}): the program may not load LD_PRELOAD"
    total: dict = {}
    for d in lines:
        for k, v in d.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
    total["processes"] = len(lines)
    total["exit_status"] = run.status
    if sum(total.get(k, 0) for k in COUNTER_KEYS) == 0:
        return total, "the program's allocations did not reach the preloaded allocator (it ignores LD_PRELOAD)"
    return total, None

