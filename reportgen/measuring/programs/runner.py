"""One program workload run with an allocator preloaded: its time, its memory, its output checked.

A run is a fresh process of the program (`argv` of its workloads.yaml entry, with `{scratch}`,
`{root}` and `{threads}` filled in) in the measurement's scratch folder, LD_PRELOAD set to the
allocator's library.  Its wall time is taken from the fork to the reap (os.wait4, no polling), its
CPU time, peak RSS and page faults from the rusage wait4 returns (the program's waited-for children
included; taken by a small spawner process, spawn.c, so the peak is the program's own).  Its exit
status and a hash of its standard output are compared with the reference run
(the baseline's, made once before the rounds): a variant under which the program says something
else has failed, whatever its speed.  Every child gets PR_SET_PDEATHSIG: it dies with the
measuring process, even one killed with SIGKILL.

A server workload (`server:` beside `argv:`) starts the server with the allocator preloaded on a
free port of 127.0.0.1 (`{port}`), refuses one that listens beyond loopback, and runs `argv` (the
client, not preloaded) against it; then `check:` (also not preloaded), whose output is what is
compared.  The sample is the client's wall time; the memory and CPU are the server's.  The server
is stopped with SIGTERM (SIGKILL after a grace period), and it too dies with the measuring process.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError

OUTPUT_HEAD = 400           # characters of a differing output shown with the failure


# ---- the allocator's preload ---------------------------------------------------------------------

def preload_env(project, spec, counted: bool = False) -> dict:
    """The environment that preloads `spec`'s allocator into a program: a project variant's
    `preload-timed` build (no hot-path counters) for timed runs, its `preload` build with HAK_STATS=1
    (its counters on stderr at exit) for the counted run; a system peer's installed library; nothing
    for glibc."""
    from ... import build, variants
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


def program_env(project, spec, w, counted: bool = False) -> dict:
    """The environment a run of `w` on `spec` adds: the workload's own `env` (e.g. PYTHONMALLOC=malloc),
    then the allocator's preload over it (the allocator's LD_PRELOAD always wins)."""
    return {**dict(getattr(w, "env", None) or {}), **preload_env(project, spec, counted)}


# The lab's own programs (native/stress/), each a token of a workload's argv: built from the project's
# sources on first use, cached by content like every build, so an edit is a new program.
LAB_PROGRAMS = {"{stress}": ("stress", ("stress/stress.c",))}


def lab_program(project, token: str) -> Path:
    """The executable a LAB_PROGRAMS token names, built for `project`."""
    from ...build import build_program
    name, sources = LAB_PROGRAMS[token]
    return build_program(project, name, [project.native_dir / src for src in sources])


def expand(argv, scratch: Path, root: Path, threads: int | None) -> list[str]:
    """The argv with the literal tokens {scratch}, {root}, {threads} and the lab's programs ({stress})
    replaced (other braces, as in a program's own code, are left alone)."""
    from ...project import Project
    values = {"{scratch}": str(scratch), "{root}": str(root), "{threads}": str(threads or 1)}
    out = []
    for a in argv:
        a = str(a)
        for token in LAB_PROGRAMS:
            if token in a:
                a = a.replace(token, str(lab_program(Project(Path(root)), token)))
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
    stderr: str = ""        # the last MiB of it (the counted run's counters are read from it)
    server_status: int = 0  # a server workload: the server's exit status once stopped (0: a clean stop)


SPAWN_SOURCE = Path(__file__).with_name("spawn.c")
KEEP_STDERR_SOURCE = Path(__file__).with_name("keepstderr.c")


@functools.lru_cache(maxsize=8)
def _compiled(source: Path, build_dir: Path, shared: bool = False) -> str:
    """A helper of this module (spawn.c: an executable; keepstderr.c: a preload library), compiled once
    into the build cache under the hash of its source and compiler."""
    text = source.read_bytes()
    cc = os.environ.get("CC") or "cc"
    name = f"lib{source.stem}.so" if shared else source.stem
    digest = hashlib.sha256(text + f"\0{cc}\0{name}".encode()).hexdigest()[:12]
    out = build_dir / f"prog{source.stem}-{digest}" / name
    if out.is_file():
        return str(out)
    build_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".prog{source.stem}.", dir=build_dir))
    try:
        os.chmod(tmp, 0o755)
        cmd = [cc, "-O2", "-Wall", *(["-shared", "-fPIC"] if shared else []), "-o", str(tmp / out.name),
               str(source), *(["-ldl"] if shared else [])]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            raise UserError(f"cannot compile the program runner's {source.name} with {cc!r}: "
                            f"{exc.strerror or exc}") from None
        if done.returncode != 0:
            first = next((l for l in done.stderr.splitlines() if "error" in l), done.stderr.strip()[:200])
            raise UserError(f"compile of the program runner's {source.name} failed: {first}")
        try:
            os.rename(tmp, out.parent)        # atomic: complete or not at all
        except OSError:
            if not out.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(out)


def _spawner(build_dir: Path) -> str:
    return _compiled(SPAWN_SOURCE, build_dir)


def _build_dir(build_dir: Path | None) -> Path:
    if build_dir is not None:
        return Path(build_dir)
    from ...project import Project
    return Project.locate().build_dir


def run_program(argv: list[str], env: dict, cwd: Path, timeout: float, cpus=None,
                build_dir: Path | None = None) -> ProgramRun:
    """Run `argv` once with `env` added to a clean copy of this environment, through the spawner
    (spawn.c: the program's peak RSS is then its own, not this process's size carried over fork);
    stdout and stderr go to files (a program that writes much never blocks on a pipe)."""
    # the spawner runs with this environment less the allocator's; `env` is set in the program's alone
    base_env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HAK_STATS")}
    settings = [f"{k}={v}" for k, v in env.items()]
    spawner = _spawner(_build_dir(build_dir))
    with tempfile.TemporaryFile(dir=cwd) as out, tempfile.TemporaryFile(dir=cwd) as err, \
            tempfile.TemporaryFile(dir=cwd) as result:
        where = ",".join(str(c) for c in cpus) if cpus else "-"
        try:
            proc = subprocess.Popen([spawner, str(result.fileno()), where, str(len(settings)), *settings, *argv],
                                    cwd=cwd, env=base_env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(result.fileno(),),
                                    process_group=0)   # its own group: a timeout kills it and its children
        except OSError as exc:
            raise UserError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        result.seek(0)
        line = result.read().decode(errors="replace").strip()
        out.seek(0)
        body = out.read()
        size = err.seek(0, os.SEEK_END)     # the last MiB: hak's counters are printed at exit
        err.seek(max(0, size - (1 << 20)))
        errors = err.read().decode(errors="replace")
        tail = errors[-4000:]
    if line:
        r = json.loads(line)
        if r["exec_errno"]:
            raise UserError(f"cannot run {argv[0]!r}: {os.strerror(r['exec_errno'])}")
        status = os.waitstatus_to_exitcode(r["wait_status"])
    elif proc.returncode < 0:            # the spawner killed (the timeout): the program with it
        r, status = {"ns": int(timeout * 1e9), "cpu_us": 0, "maxrss_kb": 0, "minflt": 0, "majflt": 0}, proc.returncode
    else:
        raise UserError(f"the program runner's spawner failed on {argv[0]!r} (exit status {proc.returncode})")
    return ProgramRun(ns=int(r["ns"]), cpu_ns=int(r["cpu_us"]) * 1000, maxrss_kb=int(r["maxrss_kb"]),
                      minflt=int(r["minflt"]), majflt=int(r["majflt"]), status=status,
                      stdout_sha=hashlib.sha256(body).hexdigest(),
                      stdout_head=body[:OUTPUT_HEAD].decode(errors="replace"), stderr_tail=tail,
                      timed_out=timed_out, stderr=errors)


# ---- a server under load ---------------------------------------------------------------------------

SERVER_READY_S = 20.0       # seconds a server may take to listen
SERVER_STOP_S = 10.0        # seconds a stopped server may take to exit before it is killed
_LOOPBACK = {"0100007F", "00000000000000000000000001000000"}   # 127.0.0.1 and ::1 as /proc/net/tcp{,6} spell them


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice; the server is started on it at once)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listeners(port: int) -> list[str]:
    """The local addresses listening on `port` (hex, as /proc/net/tcp and tcp6 spell them)."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, _, hexport = f[1].partition(":")
            if f[3] == "0A" and int(hexport, 16) == port:      # 0A: LISTEN
                out.append(addr)
    return out


def _wait_listening(port: int, proc, seconds: float) -> list[str]:
    """The addresses the server listens on once it does, or [] when it exited or took longer."""
    import socket
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return _listeners(port) or ["0100007F"]
        except OSError:
            time.sleep(0.02)
    return []


def run_served(server: list[str], server_env: dict, client: list[str], check: list[str], client_env: dict,
               cwd: Path, timeout: float, cpus=None, build_dir: Path | None = None) -> ProgramRun:
    """A server workload's run: the server started (allocator preloaded) on a free port of 127.0.0.1
    ({port} in its argv), its client timed against it, its `check` (a command whose output is the
    server's state, compared with the reference run's: a load generator's own output varies from run to
    run) run after it, the server stopped with SIGTERM.  The time is the client's wall time; CPU time,
    peak RSS and faults are the server's (its rusage once it exits).  A server listening beyond
    loopback is refused.  The server dies with the measuring process (PDEATHSIG through the spawner)."""
    port = free_port()
    fill = lambda argv: [a.replace("{port}", str(port)) for a in argv]     # noqa: E731
    base_env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HAK_STATS")}
    settings = [f"{k}={v}" for k, v in server_env.items()]
    spawner = _spawner(_build_dir(build_dir))
    where = ",".join(str(c) for c in cpus) if cpus else "-"
    with tempfile.TemporaryFile(dir=cwd) as out, tempfile.TemporaryFile(dir=cwd) as err, \
            tempfile.TemporaryFile(dir=cwd) as result:
        try:
            proc = subprocess.Popen([spawner, str(result.fileno()), where, str(len(settings)), *settings,
                                     *fill(server)], cwd=cwd, env=base_env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, pass_fds=(result.fileno(),), process_group=0)
        except OSError as exc:
            raise UserError(f"cannot run {server[0]!r}: {exc.strerror or exc}") from None
        failure = None
        ran = checked = None
        try:
            listening = _wait_listening(port, proc, min(timeout, SERVER_READY_S))
            if not listening:
                failure = (f"the server {Path(server[0]).name} did not listen on 127.0.0.1:{port} within "
                           f"{min(timeout, SERVER_READY_S):g} s")
            elif set(listening) - _LOOPBACK:
                failure = (f"the server {Path(server[0]).name} listens beyond loopback on port {port}: bind it "
                           f"to 127.0.0.1 in its argv")
            else:
                ran = run_program(fill(client), client_env, cwd, timeout, build_dir=build_dir)
                if check and ran.status == 0 and not ran.timed_out:
                    checked = run_program(fill(check), client_env, cwd, timeout, build_dir=build_dir)
        finally:
            try:
                proc.send_signal(signal.SIGTERM)        # the spawner passes it on to the server
                proc.wait(SERVER_STOP_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        result.seek(0)
        line = result.read().decode(errors="replace").strip()
        size = err.seek(0, os.SEEK_END)
        err.seek(max(0, size - (1 << 20)))
        errors = err.read().decode(errors="replace")
    if failure:
        last = errors.strip().splitlines()[-1:] or [""]
        raise UserError(failure + (f": {last[0][:200]}" if last[0] else ""))
    r = json.loads(line) if line else {"exec_errno": 0, "wait_status": 9, "cpu_us": 0, "maxrss_kb": 0,
                                       "minflt": 0, "majflt": 0}
    if r["exec_errno"]:
        raise UserError(f"cannot run {server[0]!r}: {os.strerror(r['exec_errno'])}")
    shown = checked if checked is not None else ran
    return ProgramRun(ns=ran.ns, cpu_ns=int(r["cpu_us"]) * 1000, maxrss_kb=int(r["maxrss_kb"]),
                      minflt=int(r["minflt"]), majflt=int(r["majflt"]),
                      status=ran.status if ran.status or checked is None else checked.status,
                      stdout_sha=shown.stdout_sha if checked is not None else "",
                      stdout_head=shown.stdout_head if checked is not None else "",
                      stderr_tail=(ran.stderr_tail if ran.status else errors[-4000:]),
                      timed_out=ran.timed_out or bool(checked and checked.timed_out), stderr=errors,
                      server_status=os.waitstatus_to_exitcode(r["wait_status"]))


def difference(run: ProgramRun, reference: dict, who: str) -> str | None:
    """Why `run` is not the reference run (None: the same exit status and output)."""
    if run.timed_out:
        return "timed out"
    if run.status != reference["status"]:
        why = f"killed by signal {-run.status}" if run.status < 0 else f"exit status {run.status}"
        last = run.stderr_tail.strip().splitlines()[-1:] or [""]
        return f"{why}, where {who} exited with {reference['status']}" + (f": {last[0][:200]}" if last[0] else "")
    if run.server_status:
        why = f"killed by signal {-run.server_status}" if run.server_status < 0 else f"exit status {run.server_status}"
        last = run.stderr_tail.strip().splitlines()[-1:] or [""]
        return f"the server stopped with {why}" + (f": {last[0][:200]}" if last[0] else "")
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
        run = run_program(expand(setup, scratch, project.root, w.threads), dict(getattr(w, "env", None) or {}),
                          scratch, timeout, build_dir=project.build_dir)
        if run.status != 0 or run.timed_out:
            raise UserError(f"workload {w.name!r}: its setup {' '.join(setup)} failed "
                            f"({'timed out' if run.timed_out else f'exit status {run.status}'}): "
                            f"{run.stderr_tail.strip()[-300:]}")
    run = run_request(program_request(project, specs[0], w, scratch, timeout), timeout)
    if run.timed_out:
        raise UserError(f"workload {w.name!r}: the program timed out under {specs[0].name} "
                        f"(after {timeout:g} s)")
    if run.status != 0:     # a reference that fails would make the same failure under a variant a pass
        last = run.stderr_tail.strip().splitlines()[-1:] or [""]
        raise UserError(f"workload {w.name!r}: the program failed under {specs[0].name}, the reference "
                        f"(exit status {run.status}){': ' + last[0][:200] if last[0] else ''}")
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

def program_request(project, spec, w, scratch: Path, timeout: float, counted: bool = False) -> dict:
    """What a ProgramServer needs to run `w` on `spec` (plain data, as a driver's request is)."""
    req = {"kind": "program", "name": spec.name, "argv": expand(w.program, scratch, project.root, w.threads),
           "env": program_env(project, spec, w, counted), "cwd": str(scratch), "timeout": timeout,
           "threads": w.threads or 1, "reference": str(scratch / "reference.json"),
           "build_dir": str(project.build_dir)}
    if getattr(w, "server", ()):
        # the server runs with the allocator preloaded; the client and the check without it
        req.update(server=expand(w.server, scratch, project.root, w.threads),
                   check=expand(w.check, scratch, project.root, w.threads) if w.check else [],
                   client_env=dict(w.env))
    return req


def run_request(req: dict, timeout: float, cpus=None) -> ProgramRun:
    """One run of what a program_request describes: the program, or a server with its client."""
    if req.get("server"):
        return run_served(req["server"], req["env"], req["argv"], req.get("check") or [], req.get("client_env") or {},
                          Path(req["cwd"]), timeout, cpus, build_dir=req.get("build_dir"))
    return run_program(req["argv"], req["env"], Path(req["cwd"]), timeout, cpus, build_dir=req.get("build_dir"))


class ProgramServer:
    """A program workload's stand-in for measure.LoopServer: `loop()` runs the program once (one timed
    loop) and gives its time and memory, or None with `.failure` set when it failed or said something
    other than the reference run."""

    def __init__(self, request: dict, *, timeout: float | None = None):
        from ..child import measurement_cpus
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
            run = run_request(req, self.timeout, self.cpus)
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
    req = program_request(project, spec, w, scratch, timeout, counted=True)
    env = req["env"]
    # after the allocator: a program that closes its stderr at exit (xz) keeps fd 2 for the counters' line
    env["LD_PRELOAD"] = ":".join(filter(None, [env.get("LD_PRELOAD"),
                                              _compiled(KEEP_STDERR_SOURCE, project.build_dir, shared=True)]))
    run = run_request(req, timeout)
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

