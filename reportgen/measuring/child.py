"""Measure stage: each measurement runs in a child process that calls a C driver.

The parent builds the libraries, sends the child one JSON request on stdin
(`python -m reportgen.measuring.child`) and reads one JSON result from its stdout.
The child loads the driver library (and, for a hak variant, the variant's
library for its counters), runs the driver once and prints the result; the
timed loop is C from start to end.  Whatever goes wrong in the child -- a
signal, an abort, a hang, output that is not JSON -- comes back to the
parent as a failure with its cause, so one crashing allocator never stops
the others' measurements.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..project import Project

# jemalloc's initial-exec TLS cannot be dlopen()ed without more static TLS
# surplus than glibc reserves by default (hak is built with the same TLS
# model).  Every child gets the same setting so that the environments of the
# allocators compared stay identical.
CHILD_TUNABLES = "glibc.rtld.optional_static_tls=16384"
DEFAULT_TIMEOUT = 300.0
# The child: this interpreter without `site` (-S): it needs only the standard library and this
# package (on its PYTHONPATH), and site's start-up (.pth files, site-packages) was a third of
# a child's 0.24 s, paid once per run.
CHILD_ARGV = (sys.executable, "-S", "-m", "reportgen.measuring.child")
HEADER_COST_STRIDE = 64   # one cache line per block: each header read touches its own line


# ---- the allocators: one driver build per allocator -------------------------

@dataclass(frozen=True)
class AllocatorSpec:
    """What a child needs to drive one allocator, and what a record needs to say about it."""
    name: str
    kind: str                     # "project" | "system"
    bench_lib: str                # driver library (native/bench.c built for this allocator)
    hak_lib: str | None           # the variant's library (counters), project variants only
    source_hash: str              # the variant's build hash, or the peer library's identity
    driver_hash: str              # the driver build's hash (bench.c, headers, flags, linked library)
    build_flags: dict = field(default_factory=dict)
    # What timed runs load: for a project variant the driver linked against its timed build
    # (HAK_STATS=0: no counter on any hot path), for a system peer the same driver as above.
    timed_bench_lib: str = ""
    timed_driver_hash: str = ""
    # A layout build (reportgen.measuring.layouts.builds): the layout it was drawn as, and what the child's
    # environment gets with it.  None: the default build.
    layout: dict | None = None
    child_env: dict = field(default_factory=dict)
    # What the timed driver links against: the variant's timed library, or the peer's (none: glibc).
    timed_links: tuple[str, ...] = ()

    @property
    def builds_hash(self) -> str:
        """Identity of both builds a bench uses (timed runs and the counted run)."""
        return f"{self.driver_hash}+{self.timed_driver_hash}" if self.is_project else self.driver_hash

    @property
    def is_project(self) -> bool:
        return self.kind == "project"


def resolve_allocator(project: Project, allocator) -> AllocatorSpec:
    """Build (or find cached) the driver for a project variant (name or Variant) or a system peer.

    Unknown names and unavailable peers are UserErrors (one line, exit 2).
    """
    from .. import build, variants

    bench_c = project.native_dir / "bench.c"    # the harness is the working tree's, for every variant
    declared = variants.project_variants(project)
    if not isinstance(allocator, str):           # a Variant object (e.g. variant_with(...))
        variant = allocator
    elif allocator in declared:
        variant = declared[allocator]
    elif allocator in variants.PEERS:
        variant = None
    else:
        raise UserError(f"unknown variant {allocator!r}; project variants: {', '.join(declared)}; "
                        f"system allocators: {', '.join(variants.PEERS)}")
    if variant is not None:
        hak_lib = build.build_variant(project, variant, "lib")
        lib = build.build_library(project, f"bench-{variant.name}", [bench_c],
                                  {"BENCH_ALLOC_HAK": "1"}, extra_link=[str(hak_lib)])
        timed_hak = build.build_variant(project, variant, "timed")
        timed = build.build_library(project, f"bench-{variant.name}-timed", [bench_c],
                                    {"BENCH_ALLOC_HAK": "1"}, extra_link=[str(timed_hak)])
        return AllocatorSpec(variant.name, "project", str(lib), str(hak_lib),
                             build.source_hash(project, variant), build.lib_hash(lib),
                             {"variant_flags": dict(variant.flags), "compile": list(build.BASE_FLAGS),
                              "timed": {"HAK_STATS": "0"},
                              **({"revision": variant.revision} if getattr(variant, "revision", None) else {})},
                             str(timed), build.lib_hash(timed), timed_links=(str(timed_hak),))
    available, path, why = variants.peer_status(allocator)
    if not available:
        raise UserError(f"system allocator {allocator!r} is not available: {why}")
    macro = f"BENCH_ALLOC_{allocator.upper()}"
    link = [] if allocator == "glibc" else [path]
    lib = build.build_library(project, f"bench-{allocator}", [bench_c], {macro: "1"}, extra_link=link)
    real = Path(path).resolve() if path else None
    ident = f"{allocator}:{real.name if real else 'libc'}:{real.stat().st_size if real else 0}"
    return AllocatorSpec(allocator, "system", str(lib), None, ident, build.lib_hash(lib),
                         {"library": str(real) if real else None, "compile": list(build.BASE_FLAGS)},
                         str(lib), build.lib_hash(lib), timed_links=tuple(link))


def header_cost_flags() -> dict:
    """The flags the header-cost kernel is compiled with (what its records say it was built with)."""
    from .. import build
    return {"compile": list(build.BASE_FLAGS), "defines": {"NDEBUG": None}}


def header_cost_lib(project: Project) -> Path:
    """The allocator-independent header-cost kernel, built once."""
    from .. import build
    flags = header_cost_flags()
    return build.build_library(project, "bench-header", [project.native_dir / "bench_header.c"],
                               flags["defines"], compile_args=flags["compile"])


# ---- parent side: run one child -----------------------------------------------

def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _last_line(stderr: str) -> str:
    """The child's last word on stderr: a fatal error's own line when there is one (faulthandler's
    "Fatal Python error: Segmentation fault" before its stack), else the last line."""
    lines = [l.strip() for l in (stderr or "").splitlines() if l.strip()]
    fatal = [l for l in lines if l.startswith("Fatal Python error")]
    return (fatal or lines or [""])[-1][:200]


def _with_last_line(failure: str, stderr: str) -> str:
    last = _last_line(stderr)
    return f"{failure} (last line: {last})" if last and last not in failure else failure


def measurement_cpus(threads: int = 1) -> list[int]:
    """The CPUs a measurement runs on: always the same ones, whichever allocator it measures.

    Left to the scheduler, consecutive children alternated between the two
    cores of this machine, which differ, so in an A B A B sequence A kept one
    core and B the other: A/A pairs came out "different" 15% of the time.
    REPORTGEN_CPUS (e.g. "1" or "0,1") chooses them; by default the last
    `threads` CPUs this process may use.
    """
    chosen = os.environ.get("REPORTGEN_CPUS")
    if chosen:
        try:
            return sorted({int(c) for c in chosen.split(",") if c.strip()})
        except ValueError:
            raise UserError(f"REPORTGEN_CPUS must be CPU numbers separated by commas, got {chosen!r}")
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[-max(1, min(threads, len(allowed))):]


def run_child(request: dict, *, timeout: float = DEFAULT_TIMEOUT, env: dict | None = None,
              wrapper: tuple[str, ...] = ()) -> dict:
    """Run one measurement in a fresh interpreter; never raises for what happens in the child.

    The child is pinned to measurement_cpus().  Returns the child's JSON
    result (with "ok": True and the "cpus" it ran on) or
    {"ok": False, "failure": "<cause>", "stderr": "<tail>"}.  `wrapper`: a command the child
    runs under (e.g. valgrind and its options).
    """
    if "cpus" not in request:
        request = {**request, "cpus": measurement_cpus(int(request.get("threads") or 1))}
    request = dict(request)
    child_env = _child_env({**(request.pop("env", None) or {}), **(env or {})})
    try:
        proc = subprocess.run([*wrapper, *CHILD_ARGV], input=json.dumps(request),
                              capture_output=True, text=True, timeout=timeout, env=child_env)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {"ok": False, "failure": _with_last_line(f"timed out after {timeout:g} s", err), "stderr": _tail(err)}
    except OSError as exc:
        return {"ok": False, "failure": f"could not start the child: {exc}", "stderr": ""}
    stderr = _tail(proc.stderr)
    if proc.returncode < 0:
        return {"ok": False, "failure": _with_last_line(f"killed by {_signal_name(-proc.returncode)}", stderr),
                "stderr": stderr}
    lines = [l for l in proc.stdout.strip().splitlines() if l.strip()]
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = None
    if not isinstance(result, dict):
        cause = (f"exited with status {proc.returncode}" if proc.returncode else "exited normally")
        what = "printed output that is not a JSON result" if lines else "printed no result"
        last = stderr.splitlines()[-1] if stderr else ""
        return {"ok": False, "failure": f"{cause} but {what}" + (f": {last}" if last else ""),
                "stderr": stderr}
    if proc.returncode != 0 or not result.get("ok"):
        failure = result.get("failure") or _with_last_line(f"exited with status {proc.returncode}", stderr)
        return {"ok": False, "failure": failure, "stderr": stderr}
    return result


# ---- parent side: a session's processes, one timed loop at a time ------------------

class LoopServer:
    """One allocator's process of a session: set up once, then one timed loop per `loop()`.

    The child (`python -m reportgen.measuring.child`, request with "serve": true) sets up the workload
    and its warm-up, prints a "ready" line, then runs one timed loop (C from start to end) each
    time the parent asks and prints its time.  The processes of a session are alive side by side
    and take turns on the same CPUs, so the loops of one round run back to back, a few ms apart:
    what slows the machine for a while slows every allocator of the round alike.  A child that
    dies or hangs is a failure of that allocator, never of the session.
    """

    def __init__(self, request: dict, *, timeout: float = DEFAULT_TIMEOUT):
        if "cpus" not in request:
            request = {**request, "cpus": measurement_cpus(int(request.get("threads") or 1))}
        self.timeout = timeout
        self.failure: str | None = None
        self.ready_info: dict = {}
        # a layout's environment pad (reportgen.measuring.layouts) goes to the child's environment, not its request
        request = dict(request)
        child_env = _child_env(request.pop("env", None))
        try:
            self.proc = subprocess.Popen(CHILD_ARGV, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env)
        except OSError as exc:
            self.proc, self.failure = None, f"could not start the child: {exc}"
            return
        self._errbuf: list[bytes] = []
        # stderr is drained as it comes (a child that writes much there must never block on it)
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        self._send(json.dumps({**request, "serve": True}))

    def _drain_stderr(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self._errbuf.append(chunk)
            del self._errbuf[:-8]

    def _stderr(self) -> str:
        """The child's last words on stderr (once it has exited: everything it wrote)."""
        if self.proc.poll() is not None:
            self._drain.join(timeout=2)
        return _tail(b"".join(self._errbuf).decode(errors="replace"))

    def _send(self, line: str) -> None:
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass     # the child is gone: _reply says why

    def _reply(self) -> dict | None:
        """The child's next line as a dict, or None with self.failure set."""
        import select
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.failure = _with_last_line(f"timed out after {self.timeout:g} s", self._stderr())
            return None
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait()
            err = self._stderr()
            self.failure = (_with_last_line(f"killed by {_signal_name(-rc)}", err) if rc < 0 else
                            _with_last_line(f"exited with status {rc} before its result", err))
            return None
        try:
            out = json.loads(line)
        except json.JSONDecodeError:
            self.failure = "printed output that is not a JSON result"
            return None
        if not out.get("ok"):
            self.failure = out.get("failure") or "the child reported a failure"
            return None
        return out

    def ready(self) -> bool:
        """Wait for the set-up and warm-up; False (with .failure) when the child failed.  The reply
        (`.ready_info`) holds the process's RSS before the allocator was loaded and after set-up."""
        if self.failure:
            return False
        loop_timeout, self.timeout = self.timeout, self.timeout * 3    # set-up and warm-up: longer than a loop
        try:
            out = self._reply()
        finally:
            self.timeout = loop_timeout
        self.ready_info = out or {}
        return out is not None

    def loop(self) -> dict | None:
        """One timed loop: {"ns": ..., "ops": ...}, or None (see .failure) once the child has failed."""
        if self.failure:
            return None
        self._send("loop")
        return self._reply()

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._send("end")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def _child_env(env: dict | None) -> dict:
    child_env = dict(os.environ)
    child_env["GLIBC_TUNABLES"] = CHILD_TUNABLES
    # The child must import this very package, wherever the parent found it.
    pkg_root = str(Path(__file__).resolve().parents[2])   # reportgen/measuring/child.py -> the folder holding reportgen/
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, child_env.get("PYTHONPATH")]))
    if env:
        child_env.update(env)
    return child_env


# ---- requests -------------------------------------------------------------------

def _libs(spec: AllocatorSpec, timed: bool) -> dict:
    """A timed run loads the timed driver and no counters; a counted run the counting build."""
    if timed:
        return {"bench_lib": spec.timed_bench_lib or spec.bench_lib, "hak_lib": None,
                **({"env": dict(spec.child_env)} if spec.child_env else {})}
    return {"bench_lib": spec.bench_lib, "hak_lib": spec.hak_lib}


def gap_request(spec: AllocatorSpec, sizes, slots: int, ops: int, warmup_ops: int, seed: int,
                timed: bool = False, values: int = 1) -> dict:
    return {"kind": "gap", **_libs(spec, timed), "sizes": [int(s) for s in sizes], "slots": int(slots),
            "ops": int(ops), "warmup_ops": int(warmup_ops), "seed": int(seed), "values": int(values)}


def remote_request(spec: AllocatorSpec, sizes, threads: int, ops: int, warmup_ops: int, seed: int,
                   timed: bool = False, values: int = 1) -> dict:
    return {"kind": "remote", **_libs(spec, timed), "sizes": [int(s) for s in sizes], "threads": int(threads),
            "ops": int(ops), "warmup_ops": int(warmup_ops), "seed": int(seed), "values": int(values)}


def retention_request(spec: AllocatorSpec, sizes, sizes_after, slots: int, keep: int, ops: int, warmup_ops: int,
                      seed: int, timed: bool = False, values: int = 1) -> dict:
    """A timed loop of the retention driver is whole cycles (2 x slots allocations each): `ops` asks for
    ops // (2 slots) of them, at least one; the warm-up for enough cycles to make `warmup_ops`."""
    per_cycle = 2 * int(slots)
    return {"kind": "retention", **_libs(spec, timed), "sizes": [int(s) for s in sizes],
            "sizes_after": [int(s) for s in sizes_after], "slots": int(slots), "keep": int(keep),
            "cycles": max(1, int(ops) // per_cycle), "warmup_cycles": -(-int(warmup_ops) // per_cycle),
            "ops": int(ops), "warmup_ops": int(warmup_ops), "seed": int(seed), "values": int(values)}


def workload_request(spec: AllocatorSpec, workload, ops: int | None = None, threads: int | None = None,
                     sizes=None, *, timed: bool = False, values: int = 1) -> dict:
    """The request that runs `workload` (a workloads.Workload) on one allocator.

    timed=True: the allocator's timed build (no counters); `values` timed loops
    in the one process (the child reports each, and their total).  `sizes`: these sizes alone (a
    retention workload then regrows from them too, so each size can be run by itself)."""
    ops = int(ops or workload.ops)
    warm = min(workload.warmup_ops, max(ops // 10, 1))
    if workload.driver == "retention":
        after = list(sizes or workload.sizes_after)
        return retention_request(spec, list(sizes or workload.sizes), after, workload.slots, workload.keep, ops,
                                 warm, workload.seed, timed, values)
    sizes = list(sizes or workload.sizes)
    if workload.driver == "gap":
        return gap_request(spec, sizes, workload.slots, ops, warm, workload.seed, timed, values)
    if workload.driver == "remote":
        return remote_request(spec, sizes, threads or workload.threads, ops, warm, workload.seed, timed, values)
    raise ValueError(f"workload {workload.name}: unknown driver {workload.driver!r}")


# ---- progress: the protocol (bars that show it live in reportgen.commands) ------

class NullProgress:
    """The progress protocol the run_* functions use: start(total, description), advance(n)."""

    def start(self, total: int, description: str) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---- child side ------------------------------------------------------------------

class _Loops:
    """A workload set up in this child (warm-up done, counters reset): `one()` runs one timed loop
    in C and gives (ns, ops); `finish()` gives what the result adds after the loops.  A driver that
    reads the resident set inside its loop (retention) leaves the last loop's readings (kB, one per
    phase) in `rss_phases_kb`."""

    rss_phases_kb: list | None = None

    def one(self) -> tuple[int, int]:
        raise NotImplementedError

    def finish(self) -> dict:
        raise NotImplementedError


class _GapLoops(_Loops):
    def __init__(self, req: dict):
        import ctypes
        from ctypes import POINTER, c_uint32, c_uint64, c_void_p

        self.req, self.hak = req, _load_hak(req)
        lib = self.lib = ctypes.CDLL(req["bench_lib"])
        lib.bench_gap_open.restype = c_void_p
        lib.bench_gap_open.argtypes = [POINTER(c_uint64), c_uint32, c_uint32, c_uint64]
        lib.bench_gap_step.restype = c_uint64
        lib.bench_gap_step.argtypes = [c_void_p, c_uint64, POINTER(c_uint64)]
        lib.bench_gap_rng_state.restype = c_uint64
        lib.bench_gap_rng_state.argtypes = [c_void_p]
        lib.bench_gap_close.restype = None
        lib.bench_gap_close.argtypes = [c_void_p]
        n = len(req["sizes"])
        arr = (c_uint64 * n)(*req["sizes"])
        self.g = lib.bench_gap_open(arr, n, req["slots"], req["seed"] & (2**64 - 1))
        if not self.g:
            raise _ChildFailure("bench_gap_open failed (bad parameters or out of memory)")
        if req["warmup_ops"]:
            lib.bench_gap_step(self.g, req["warmup_ops"], None)
        if self.hak is not None:
            self.hak.reset_stats()   # counters cover the timed loops only
        self.counts = (c_uint64 * n)()

    def one(self) -> tuple[int, int]:
        return int(self.lib.bench_gap_step(self.g, self.req["ops"], self.counts)), int(self.req["ops"])

    def finish(self) -> dict:
        counters = self.hak.stats() if self.hak is not None else None
        rng_state = self.lib.bench_gap_rng_state(self.g)
        self.lib.bench_gap_close(self.g)
        return {"ops_per_value": self.req["ops"], "counts": list(self.counts), "sizes": self.req["sizes"],
                "rng_state": rng_state, "counters": counters}


class _RemoteLoops(_Loops):
    def __init__(self, req: dict):
        import ctypes
        from ctypes import POINTER, Structure, c_int, c_uint32, c_uint64

        self.req, self.hak = req, _load_hak(req)
        lib = self.lib = ctypes.CDLL(req["bench_lib"])
        lib.bench_max_sizes.restype = c_uint32

        class Result(Structure):   # bench_remote_result_t, its array sized by the driver itself
            _fields_ = [("elapsed_ns", c_uint64), ("ops", c_uint64), ("counts", c_uint64 * lib.bench_max_sizes()),
                        ("alloc_failures", c_uint64)]

        lib.bench_remote.restype = c_int
        lib.bench_remote.argtypes = [POINTER(c_uint64), c_uint32, c_uint32, c_uint64, c_uint64, POINTER(Result)]
        n = self.n = len(req["sizes"])
        self.arr = (c_uint64 * n)(*req["sizes"])
        self.out = Result()
        self.byref = ctypes.byref
        if req["warmup_ops"]:
            rc = lib.bench_remote(self.arr, n, req["threads"], req["warmup_ops"], req["seed"] ^ 0x5A5A,
                                  ctypes.byref(self.out))
            if rc != 0:
                raise _ChildFailure(f"bench_remote (warm-up) returned {rc}")
        if self.hak is not None:
            self.hak.reset_stats()
        self.failures = 0

    def one(self) -> tuple[int, int]:
        req = self.req
        rc = self.lib.bench_remote(self.arr, self.n, req["threads"], req["ops"], req["seed"], self.byref(self.out))
        if rc != 0:
            raise _ChildFailure(f"bench_remote returned {rc} (bad parameters or no threads)")
        self.failures += self.out.alloc_failures
        return int(self.out.elapsed_ns), int(self.out.ops)

    def finish(self) -> dict:
        counters = self.hak.stats() if self.hak is not None else None
        return {"ops_per_value": self.out.ops, "counts": list(self.out.counts)[:self.n], "sizes": self.req["sizes"],
                "threads": self.req["threads"], "alloc_failures": self.failures, "counters": counters}


RETENTION_PHASES = ("grow", "thin", "regrow", "release")   # bench_retention_step's phases, in order


class _RetentionLoops(_Loops):
    def __init__(self, req: dict):
        import ctypes
        from ctypes import POINTER, Structure, c_int, c_uint32, c_uint64, c_void_p

        self.req, self.hak = req, _load_hak(req)
        lib = self.lib = ctypes.CDLL(req["bench_lib"])
        lib.bench_max_sizes.restype = c_uint32
        lib.bench_retention_phases.restype = c_uint32
        m, phases = lib.bench_max_sizes(), lib.bench_retention_phases()
        if phases != len(RETENTION_PHASES):
            raise _ChildFailure(f"the driver has {phases} retention phases, reportgen knows {len(RETENTION_PHASES)}")

        class Result(Structure):   # bench_retention_result_t, its arrays sized by the driver itself
            _fields_ = [("elapsed_ns", c_uint64), ("ops", c_uint64), ("phase_ns", c_uint64 * phases),
                        ("rss_kb", c_uint64 * phases), ("counts", c_uint64 * m), ("counts_after", c_uint64 * m),
                        ("alloc_failures", c_uint64)]

        lib.bench_retention_open.restype = c_void_p
        lib.bench_retention_open.argtypes = [POINTER(c_uint64), c_uint32, POINTER(c_uint64), c_uint32, c_uint32,
                                             c_uint32, c_uint64]
        lib.bench_retention_step.restype = c_int
        lib.bench_retention_step.argtypes = [c_void_p, c_uint64, POINTER(Result)]
        lib.bench_retention_close.restype = None
        lib.bench_retention_close.argtypes = [c_void_p]
        n, na = self.n, self.na = len(req["sizes"]), len(req["sizes_after"])
        self.r = lib.bench_retention_open((c_uint64 * n)(*req["sizes"]), n, (c_uint64 * na)(*req["sizes_after"]), na,
                                          req["slots"], req["keep"], req["seed"] & (2**64 - 1))
        if not self.r:
            raise _ChildFailure("bench_retention_open failed (bad parameters or out of memory)")
        self.out = Result()
        self.byref = ctypes.byref
        if req.get("warmup_cycles"):
            self._step(req["warmup_cycles"])
        if self.hak is not None:
            self.hak.reset_stats()   # counters cover the timed loops only
        self.counts, self.counts_after = [0] * n, [0] * na
        self.failures = 0
        self.phase_ns = [0] * phases

    def _step(self, cycles: int) -> None:
        rc = self.lib.bench_retention_step(self.r, cycles, self.byref(self.out))
        if rc != 0:
            raise _ChildFailure(f"bench_retention_step returned {rc}")

    def one(self) -> tuple[int, int]:
        self._step(self.req["cycles"])
        out = self.out
        self.counts = [a + b for a, b in zip(self.counts, out.counts)]
        self.counts_after = [a + b for a, b in zip(self.counts_after, out.counts_after)]
        self.failures += out.alloc_failures
        self.phase_ns = [a + b for a, b in zip(self.phase_ns, out.phase_ns)]
        self.rss_phases_kb = [int(v) or None for v in out.rss_kb]     # 0: statm could not be read
        return int(out.elapsed_ns), int(out.ops)

    def finish(self) -> dict:
        counters = self.hak.stats() if self.hak is not None else None
        self.lib.bench_retention_close(self.r)
        req = self.req
        # counts per distinct size (sizes, then sizes_after's others), as the other drivers give them per size
        by_size: dict[int, int] = {}
        for size, c in [*zip(req["sizes"], self.counts), *zip(req["sizes_after"], self.counts_after)]:
            by_size[size] = by_size.get(size, 0) + c
        return {"ops_per_value": 2 * req["slots"] * req["cycles"], "counts": list(by_size.values()),
                "sizes": list(by_size), "counts_grow": self.counts, "counts_regrow": self.counts_after,
                "sizes_after": req["sizes_after"], "slots": req["slots"], "keep": req["keep"],
                "cycles_per_value": req["cycles"], "alloc_failures": self.failures,
                "phases": list(RETENTION_PHASES), "phase_ns": self.phase_ns, "rss_phases_kb": self.rss_phases_kb,
                "counters": counters}


class _ChildFailure(Exception):
    """A driver call refused its work: reported as the child's failure."""


_LOOPS = {"gap": _GapLoops, "remote": _RemoteLoops, "retention": _RetentionLoops}


def _child_loops(req: dict) -> dict:
    """One-shot: set up, `values` timed loops (perf sampling on around them), then the result."""
    try:
        loops = _LOOPS[req["kind"]](req)
        values_ns, ops = [], 0
        _perf_control(req, "enable")
        for _ in range(max(1, req.get("values", 1))):
            ns, n = loops.one()
            values_ns.append(ns)
            ops += n
        _perf_control(req, "disable")
    except _ChildFailure as exc:
        return {"ok": False, "failure": str(exc)}
    return {"ok": True, "elapsed_ns": sum(values_ns), "ops": ops, "values_ns": values_ns, **loops.finish()}


def _serve_loops(req: dict) -> int:
    """A session's process (LoopServer): "ready", then one timed loop per "loop" line until "end"."""
    def say(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    import resource

    if req["kind"] not in _LOOPS:           # the test kinds: a session's process that dies its own way
        say(_CHILD_KINDS[req["kind"]](req))
        return 1
    base_kb = _rss_kb()        # what this process holds before the allocator and its workload
    try:
        loops = _LOOPS[req["kind"]](req)
    except _ChildFailure as exc:
        say({"ok": False, "failure": str(exc)})
        return 1
    say({"ok": True, "ready": True, "rss_base_kb": base_kb, "rss_ready_kb": _rss_kb()})
    for line in sys.stdin:
        if line.strip() != "loop":
            break
        before = resource.getrusage(resource.RUSAGE_SELF)     # outside the timed loop, as is all below
        try:
            ns, ops = loops.one()
        except _ChildFailure as exc:
            say({"ok": False, "failure": str(exc)})
            return 1
        after = resource.getrusage(resource.RUSAGE_SELF)
        reply = {"ok": True, "ns": ns, "ops": ops, "rss_kb": _rss_kb(), "maxrss_kb": after.ru_maxrss,
                 "minflt": after.ru_minflt - before.ru_minflt, "majflt": after.ru_majflt - before.ru_majflt}
        if loops.rss_phases_kb is not None:      # read inside the loop, each with the clock stopped
            reply["rss_phases_kb"] = loops.rss_phases_kb
        say(reply)
    return 0


def _rss_kb() -> int | None:
    """This process's resident set now (kB), from /proc/self/statm."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return None


def _child_header_cost(req: dict) -> dict:
    import ctypes
    from ctypes import POINTER, Structure, c_double, c_int, c_uint32, c_uint64

    class Result(Structure):
        _fields_ = [("dep_ns", c_double * 2), ("ind_ns", c_double * 2), ("dep_min_ns", c_double * 2),
                    ("ind_min_ns", c_double * 2), ("blocks", c_uint64), ("ops_per_rep", c_uint64),
                    ("bad_magic", c_uint64), ("checksum", c_uint64)]

    lib = ctypes.CDLL(req["lib"])
    lib.bench_header_cost.restype = c_int
    lib.bench_header_cost.argtypes = [c_uint64, c_uint32, c_uint64, c_uint32, c_uint64, POINTER(Result)]
    lib.bench_header_bytes.restype = c_uint32
    out = Result()
    rc = lib.bench_header_cost(req["working_set_bytes"], req["stride"], req["min_ops"], req["reps"],
                               req["seed"], ctypes.byref(out))
    if rc != 0:
        return {"ok": False, "failure": f"bench_header_cost returned {rc}"}
    return {"ok": True, "working_set_bytes": req["working_set_bytes"], "stride": req["stride"],
            "header_bytes": lib.bench_header_bytes(),
            "dependent": {"with": out.dep_ns[0], "without": out.dep_ns[1],
                          "min_with": out.dep_min_ns[0], "min_without": out.dep_min_ns[1]},
            "independent": {"with": out.ind_ns[0], "without": out.ind_ns[1],
                            "min_with": out.ind_min_ns[0], "min_without": out.ind_min_ns[1]},
            "blocks": out.blocks, "ops_per_rep": out.ops_per_rep, "reps": req["reps"],
            "bad_magic": out.bad_magic}


def _child_introspect(req: dict) -> dict:
    """What the built library says about itself: config, route, footprint and a real block per size."""
    hak = _load_hak(req)
    config = hak.config()
    rows = []
    for size in req.get("sizes", []):
        p = hak.malloc(size)
        rows.append({"size": size, "route": hak.route_name(size), "footprint": hak.block_footprint(size),
                     "usable": hak.usable_size(p) if p else None,
                     "pool_of": hak.pool_name(p) if p else None})
        if p:
            hak.free(p)
    return {"ok": True, "config": config, "sizes": rows}


def _child_test_crash(req: dict) -> dict:
    """Test-only: a child that dies the ways a broken allocator can."""
    how = req.get("how")
    if how == "segv":
        import ctypes
        ctypes.string_at(0, 1)                 # a real invalid read
        os.kill(os.getpid(), signal.SIGSEGV)   # in case that one was caught
    elif how == "abort":
        os.abort()
    elif how == "hang":
        import time
        time.sleep(3600)
    elif how == "garbage":
        print("this is not JSON")
        sys.exit(0)
    elif how == "exit":
        sys.exit(3)
    return {"ok": True}


def _perf_control(req: dict, command: str) -> None:
    """Under `perf record --control` (reportgen.measuring.profile): switch sampling on or off around the timed
    loops and wait for perf's acknowledgement; nothing otherwise."""
    ctl = req.get("perf_control")
    if not ctl:
        return
    with open(ctl[0], "w") as f:
        f.write(command + "\n")
    with open(ctl[1]) as f:
        f.readline()


def _load_hak(req: dict):
    if not req.get("hak_lib"):
        return None
    from .native import HakLib
    return HakLib(req["hak_lib"])


def _child_addresses(req: dict) -> dict:
    """Where a gap workload's live blocks are (reportgen.measuring.layouts.cachesets, imported only when asked)."""
    from .layouts.cachesets import child_addresses
    return child_addresses(req)


_CHILD_KINDS = {"gap": _child_loops, "remote": _child_loops, "retention": _child_loops,
                "header_cost": _child_header_cost,
                "introspect": _child_introspect, "_test_crash": _child_test_crash,
                "addresses": _child_addresses}


def child_main() -> int:
    import faulthandler
    faulthandler.enable()    # a crash leaves a Python traceback on stderr; the signal still kills us
    try:
        req = json.loads(sys.stdin.readline())
        if req.get("cpus"):
            os.sched_setaffinity(0, req["cpus"])  # before any thread exists: they all inherit it
        if req.get("serve"):
            return _serve_loops(req)
        fn = _CHILD_KINDS[req["kind"]]
        result = fn(req)
        if isinstance(result, dict) and result.get("ok"):
            result.setdefault("cpus", req.get("cpus"))
    except Exception as exc:  # reported to the parent as a failure, with its cause
        result = {"ok": False, "failure": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(child_main())
