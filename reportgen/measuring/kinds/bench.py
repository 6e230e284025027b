"""`reportgen bench`: allocators on one workload, in sessions of interleaved rounds until the question is answered.

Method (after pyperf/asv, with a stopping rule on precision, and sessions as the unit of inference):

- A **session** is one fresh process per allocator, all pinned to the same CPUs, alive side by side
  (measure.LoopServer): each sets the workload up and warms it, then runs one timed loop (C) each
  time it is asked.  Timed runs load the allocator's *timed* build (hak built with HAK_STATS=0: no
  counter on any hot path); the counters come from one extra run of the counting build, after the
  sessions, whose time is not used.
- A session runs one discarded warm-up round, then `session_rounds` rounds: every allocator still
  sampling runs one loop per round, in an order shuffled per round (seeded by the session), so the
  loops of a round run a few ms apart and whatever slows the machine for a while hits them alike.
- The first allocator is the baseline; every other is compared with it by round inside a session
  (the trimmed mean of the per-round log-ratios: the session's estimate), and across sessions by
  Student's t on the session estimates (stats.compare_sessions).  Sessions differ by more than
  their rounds say (new processes: new addresses and pages; the machine's state), so the interval
  is taken over sessions: it covers what a rerun would meet.
- Sessions run in turn in `layouts` layouts (reportgen.measuring.layouts): session k in layout k mod layouts,
  each allocator's timed build relinked behind its own drawn code and data pads, link order and
  environment size.  With layouts >= stats.MIN_SESSIONS the interval is over the layouts' means
  (sessions nested in layouts); each comparison says whether its outcome holds in every layout.
  `layout_heap` also draws hak's Mid chunk and heap offsets (the placement experiment).
- After `min_sessions`, sessions are added until every primary comparison's 95% CI of the speed-up
  has a half-width within its target (`precision`), or the time budget (`budget_s`, the whole
  group's, over all its sessions) or `max_sessions` is spent.  Context peers stop sampling once they
  reach `context_precision`.  The rule looks at the CI's width only, never at a p-value.
- Primary comparisons get a verdict whose family-wise error is held at 5% (Holm over their
  p-values); one whose interval misses its target by more than stats.UNDERPOWERED_FACTOR and
  decides nothing is "underpowered"; context peers get a ratio and a CI, no verdict.

A program workload (workloads.yaml `program:`, reportgen.measuring.programs.runner) is measured the same way with
one run of the program as a loop: a session's "process" per allocator is a ProgramServer that runs
the program afresh, its allocator preloaded, each time it is asked (wall time fork to reap, peak RSS
and faults from wait4's rusage).  Before the sessions the workload's `setup` runs once in a scratch
folder and the baseline's reference run fixes the exit status and output every other run must give
(a run that differs is that allocator's failure); one layout only (layout builds have no preload
library); the counters come from one run under the counting preload; the record's key holds the
program's path and sha256, so a changed binary is measured anew.

With a Store, each allocator's record (samples by round, with the session of each, counters,
environment, source hash, measurement id) is saved; a comparison only ever uses the sessions of
one measurement.  A group is reused only when every allocator of it has a current record of the
same, completed measurement; otherwise the whole group is measured again.  An interrupted
measurement (Ctrl-C, SIGTERM) keeps its completed rounds, and the next run resumes it with new
sessions.
"""
from __future__ import annotations

import math
import signal
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from ... import noise, stats
from ...errors import UserError
from ...machine import environment
from ..child import AllocatorSpec, NullProgress, resolve_allocator, run_child, workload_request
from ...project import Project
from ...results import BenchResult
from ...store import Failure, Record, key_for
from ..layouts.builds import layout_of, layout_spec
from ..workloads import Workload, get_workload
from .base import Interrupted, measure_through_store

BEST3OF5_LABEL = "mean of the 3 best of the first 5 runs (the reference's figure; biased upwards)"

# The stopping rule's defaults.  A phase spec (`sampling:`) and the command line override them.
PRECISION = 0.01          # primary comparisons: 95% CI of the speed-up within +-1%
CONTEXT_PRECISION = 0.03  # context peers: shown for scale, never judged
BUDGET_S = 60.0           # wall-clock seconds a comparison group may spend sampling, all sessions together
MIN_SESSIONS = 8          # a t interval over 8 sessions (2.36 standard errors each side); fewer lets a lucky
#                           small spread stop the group early
MAX_SESSIONS = 400
LAYOUTS = 8               # layouts per group (reportgen.measuring.layouts): session k runs in layout k mod LAYOUTS; with
#                           MIN_SESSIONS sessions, one session each, so the minimum design costs nothing more
# An allocator whose first sessions all fail stops being run (it is a recorded failure).
_FAILED_SESSIONS_TO_DROP = 2

STOP_REASONS = {"precision": "precision reached", "budget": "time budget spent",
                "rounds": "session limit reached", "interrupted": "interrupted",
                "failed": "every run failed"}


@dataclass(frozen=True)
class Sampling:
    """When a comparison group stops sampling (see the module doc).

    session_rounds=None: the workload's own (Workload.session_rounds)."""
    precision: float = PRECISION
    context_precision: float = CONTEXT_PRECISION
    budget_s: float = BUDGET_S
    min_sessions: int = MIN_SESSIONS
    max_sessions: int = MAX_SESSIONS
    session_rounds: int | None = None
    layouts: int = LAYOUTS      # 1: every session in the default build's layout (no layout factor)
    layout_heap: bool = False   # the layouts also draw hak's Mid chunk and heap offsets (placement experiment)

    @classmethod
    def fixed(cls, rounds: int, sessions: int = 1, layouts: int = 1, layout_heap: bool = False) -> "Sampling":
        """Exactly `sessions` sessions of `rounds` rounds (tests, the A/A script): no stopping rule."""
        return cls(precision=0.0, context_precision=0.0, budget_s=1e9, min_sessions=sessions,
                   max_sessions=sessions, session_rounds=rounds, layouts=layouts, layout_heap=layout_heap)

    def check(self) -> "Sampling":
        for name in ("precision", "context_precision", "budget_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise UserError(f"sampling {name} must be a finite number >= 0, got {v!r}")
        if not 1 <= self.min_sessions <= self.max_sessions <= 10_000:
            raise UserError(f"sampling needs 1 <= min_sessions ({self.min_sessions}) <= max_sessions "
                            f"({self.max_sessions}) <= 10000")
        if self.session_rounds is not None and not 1 <= self.session_rounds <= 10_000:
            raise UserError(f"sampling session_rounds must be within 1..10000, got {self.session_rounds}")
        if not (isinstance(self.layouts, int) and 1 <= self.layouts <= 64):
            raise UserError(f"sampling layouts must be a whole number within 1..64, got {self.layouts!r}")
        return self

    def rounds_for(self, workload: Workload) -> int:
        return self.session_rounds or workload.session_rounds


def bench_params(workload: Workload, ops: int, threads: int | None, sampling: Sampling,
                 targets: dict[str, float], project: Project | None = None) -> dict:
    sampled = {"design": "sessions", "sampling": {**asdict(sampling), "session_rounds": sampling.rounds_for(workload)},
               "targets": dict(sorted(targets.items()))}
    if workload.is_program:
        return {"ops": 1, **sampled, "program": program_identity(workload, threads, project)}
    params = {"ops": ops, "sizes": list(workload.sizes), "seed": workload.seed, **sampled}
    if workload.driver == "gap":
        params["slots"] = workload.slots
    elif workload.driver == "retention":
        params.update(slots=workload.slots, sizes_after=list(workload.sizes_after), keep=workload.keep)
    else:
        params["threads"] = threads
    return params


_PROGRAM_SHA: dict[tuple, str] = {}      # (path, mtime_ns, size) -> sha256 of the file


def program_identity(w: Workload, threads: int | None, project: Project | None = None) -> dict:
    """What a program measurement is of: its argv, setup, environment and threads as declared, and the
    program itself, argv[0] resolved on PATH (`path`, symlinks followed) with the sha256 of that file
    (hashed once per path, mtime and size): a changed binary is a new measurement, the same one is
    reused from the store."""
    import hashlib
    import os
    import shutil

    from ..programs.runner import LAB_PROGRAMS, lab_program

    first = w.program[0]
    ident = {"argv": list(w.program), "setup": list(w.setup), "env": dict(w.env), "threads": threads or w.threads}
    if project is not None:
        first = first.replace("{root}", str(project.root))
        if first in LAB_PROGRAMS:
            # the lab's own program: its build, named by the content hash of its sources and flags, is
            # its identity; not its path or its bytes, which name the checkout (debug info), so a copy
            # of the project finds the measurements of the same code
            return {**ident, "path": first, "build": lab_program(project, first).parent.name}
    if "{scratch}" in first:           # made by the setup: known only once it has run
        return {**ident, "path": first, "sha256": None}
    found = shutil.which(first)
    if found is None:
        raise UserError(f"workload {w.name!r}: program {first!r} is not found (not a file, or not on PATH)")
    path = os.path.realpath(found)
    st = os.stat(path)
    stamp = (path, st.st_mtime_ns, st.st_size)
    if stamp not in _PROGRAM_SHA:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _PROGRAM_SHA[stamp] = h.hexdigest()
    return {**ident, "path": path, "sha256": _PROGRAM_SHA[stamp]}


def _check_args(workload, variants, ops, threads) -> tuple[Workload, int, int | None]:
    # a Workload passes as it is: a sweep's point is its workload with one parameter set (kinds.sweep)
    w = workload if isinstance(workload, Workload) else get_workload(workload)
    if not variants:
        raise UserError("no allocator given: name at least one with --variant")
    names = [v if isinstance(v, str) else v.name for v in variants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"allocator {dup[0]!r} given twice; to compare a variant with itself (A/A) "
                        f"use benchmarks/aa_rate.py")
    for what, value in (("ops", ops), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise UserError(f"--{what} must be a positive whole number, got {value!r}")
    if ops is not None and ops >= 2 ** 63:
        raise UserError(f"--ops must be below 2^63, got {ops}")
    if w.is_program:        # one run of the program is one sample
        if ops is not None:
            raise UserError(f"--ops does not apply to {w.name} (a program: one run of it is one sample)")
        if threads is not None and not w.takes_threads:
            raise UserError(f"--threads applies to a program whose argv takes {{threads}}; {w.name}'s does not")
        w = replace(w, threads=threads or w.threads)
        return w, 1, w.threads
    if threads is not None and w.driver != "remote":
        raise UserError(f"--threads applies to mt_remote only ({workload} is single-threaded)")
    if w.driver == "remote":
        threads = threads or w.threads
        if threads < 2:
            raise UserError("mt_remote needs at least 2 threads (blocks go to another thread)")
    ops = ops or w.ops
    if w.driver == "remote" and ops < threads:
        raise UserError(f"--ops must be at least the number of threads ({threads})")
    return w, ops, threads


# ---- the group's targets ---------------------------------------------------------------

def targets_for(names: list[str], sampling: Sampling, primary: list[str] | None = None,
                tighter: dict[str, float] | None = None) -> dict[str, float]:
    """Half-width target of each comparison with the baseline (names[0]).

    primary=None: every comparison is primary (what a user asks for on the command line).
    `tighter`: targets a hypothesis's margin demands (never loosened by them)."""
    out = {}
    for n in names[1:]:
        is_primary = primary is None or n in primary
        t = sampling.precision if is_primary else sampling.context_precision
        if tighter and n in tighter:
            t = min(t, tighter[n])
        out[n] = t
    return out


# ---- rounds ------------------------------------------------------------------------------

@dataclass
class _Series:
    """What one allocator gave in one measurement: a sample per successful round, and its session."""
    samples: list[float]
    rounds: list[int]
    ns_per_op: list[float]
    failures: list[dict]
    stopped: str | None = None      # round-sampling ended early for this allocator (reached / failed)
    sessions: list[int] = field(default_factory=list)     # the session of each sample
    warmup: list[float] = field(default_factory=list)     # each session's discarded first loop (ops/s)
    # memory, from the same processes: per sample [rss_kb, maxrss_kb, minor faults, major faults, ops]
    # of its loop (and, from the retention driver, its RSS after each phase: [kB per phase]), and per
    # session the process's RSS before the allocator was loaded and after set-up (retention: and after
    # each phase of the discarded warm-up loop, `warmup_phases_kb`)
    memory: list[list] = field(default_factory=list)
    session_memory: list[dict] = field(default_factory=list)
    layout_of_session: dict[int, int] = field(default_factory=dict)   # session -> its layout's index
    layouts: dict = field(default_factory=dict)     # {"count", "seed", "draws": [this allocator's Layout dicts]}

    def by_round(self) -> dict[int, float]:
        return dict(zip(self.rounds, self.samples))

    def session_of(self) -> dict[int, int]:
        return dict(zip(self.rounds, self.sessions or [0] * len(self.rounds)))


def paired(base: _Series, cand: _Series) -> tuple[list[float], list[float], list[int]]:
    """The rounds both sides completed, in round order."""
    b, c = base.by_round(), cand.by_round()
    common = sorted(set(b) & set(c))
    return [b[r] for r in common], [c[r] for r in common], common


def by_session(base: _Series, cand: _Series) -> tuple[list[list[float]], list[list[float]]]:
    """The paired rounds, grouped by session (sessions in order)."""
    bs, cs, _ = _grouped(base, cand)
    return bs, cs


def _grouped(base: _Series, cand: _Series) -> tuple[list[list[float]], list[list[float]], list[int] | None]:
    """by_session, and the layout of each of those sessions (None: the group has no layout factor)."""
    b, c, rounds = paired(base, cand)
    sess = base.session_of()
    groups: dict[int, tuple[list[float], list[float]]] = {}
    for x, y, r in zip(b, c, rounds):
        gb, gc = groups.setdefault(sess.get(r, 0), ([], []))
        gb.append(x)
        gc.append(y)
    keys = sorted(groups)
    where = base.layout_of_session
    laid = [where[k] for k in keys] if where and all(k in where for k in keys) else None
    return [groups[k][0] for k in keys], [groups[k][1] for k in keys], laid


def _half_width(base: _Series, cand: _Series) -> float | None:
    """Half-width of the very CI the comparison reports (over layouts, or sessions)."""
    bs, cs, laid = _grouped(base, cand)
    if len(bs) < stats.MIN_SESSIONS:
        return None
    est = stats.session_estimates([np.log(np.asarray(c)) - np.log(np.asarray(b)) for b, c in zip(bs, cs)])
    _, ci, _, _ = stats.nested_interval(est, laid)
    lo, hi = stats.speedup_interval(ci)
    return (hi - lo) / 2


def _own_half_width(series: _Series) -> float | None:
    """A group of one: the relative half-width of the t interval of its session means (log)."""
    groups: dict[int, list[float]] = {}
    for x, k in zip(series.samples, series.sessions or [0] * len(series.samples)):
        groups.setdefault(k, []).append(math.log(x))
    if len(groups) < stats.MIN_SESSIONS:
        return None
    mean, ci, _ = stats.session_interval([float(np.mean(v)) for v in groups.values()])
    return (math.exp(ci[1] - mean) - math.exp(ci[0] - mean)) / 2     # relative to the level itself


class _Interrupted(Exception):
    pass


def _sigterm_as_interrupt():
    """SIGTERM ends the rounds the way Ctrl-C does (records kept); returns the restorer."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        raise _Interrupted()
    signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, old)


def _run_session(requests, names, series: list[_Series], active: list[int], rounds: int, first_round: int,
                 index: int, rng, timeout: float, progress) -> int:
    """One session: a fresh process per active allocator, a discarded warm-up round (but for a
    program), then `rounds` rounds (one loop of each, in a shuffled order).  Returns the next round
    number."""
    from ..child import LoopServer
    from ..programs.runner import ProgramServer

    servers = {}
    try:
        for i in rng.permutation(active):
            req = requests[int(i)]
            server = ProgramServer if req.get("kind") == "program" else LoopServer
            servers[int(i)] = server(req, timeout=timeout)
        for i, srv in servers.items():
            if not srv.ready():
                series[i].failures.append({"run": first_round, "cause": f"session {index}: {srv.failure}"})
            else:
                series[i].session_memory.append({"session": index, "base_kb": srv.ready_info.get("rss_base_kb"),
                                                 "ready_kb": srv.ready_info.get("rss_ready_kb")})
        live = [i for i in servers if not servers[i].failure]
        # the warm-up round: timed, kept apart, not used.  Not for a program: each of its runs is a
        # fresh process with nothing in it to warm (its reference run warmed the OS's caches)
        warm = [i for i in live if not isinstance(servers[int(i)], ProgramServer)]
        for i in rng.permutation(warm):
            srv = servers[int(i)]
            res = srv.loop()
            if res is not None:
                series[int(i)].warmup.append(res["ops"] / (res["ns"] / 1e9))
                mem = series[int(i)].session_memory
                if res.get("rss_phases_kb") is not None and mem and mem[-1]["session"] == index:
                    mem[-1]["warmup_phases_kb"] = res["rss_phases_kb"]    # retention: a fresh process's first cycle
            else:
                series[int(i)].failures.append({"run": first_round, "cause": f"session {index}: {srv.failure}"})
        rnd = first_round
        for _ in range(rounds):
            for i in rng.permutation(live):
                i = int(i)
                srv = servers[i]
                if srv.failure:
                    continue
                res = srv.loop()
                if res is None:
                    series[i].failures.append({"run": rnd, "cause": f"session {index}: {srv.failure}"})
                    continue
                series[i].samples.append(res["ops"] / (res["ns"] / 1e9))
                series[i].rounds.append(rnd)
                series[i].ns_per_op.append(res["ns"] / res["ops"])
                series[i].sessions.append(index)
                series[i].memory.append([res.get("rss_kb"), res.get("maxrss_kb"), res.get("minflt"),
                                         res.get("majflt"), res["ops"],
                                         *([res["rss_phases_kb"]] if res.get("rss_phases_kb") is not None else [])])
            progress.advance()
            rnd += 1
        return rnd
    finally:
        for srv in servers.values():
            srv.close()


class _Sampler:
    """A group's sessions, one `step()` at a time, until the stopping rule says so.

    `judged`: the indices of the primary comparisons.  The group stops when they have all reached
    their targets; a context peer stops running once it reaches its own, and otherwise stops with
    the group (it is shown for scale).  A group with no judged comparison waits for its peers.

    `elapsed` counts the group's own sampling time (its sessions' seconds), which is what its budget
    bounds: a group whose sessions are spread in time among other groups' (kinds.bench.run_interleaved)
    is charged for its own sessions only."""

    def __init__(self, w: Workload, specs, ops: int, threads, sampling: Sampling, targets: dict[str, float],
                 series: list[_Series], start_round: int, session: str, progress,
                 judged: set[int] | None = None, start_session: int = 0, project: Project | None = None,
                 layout_seed: int | None = None):
        self.w, self.specs, self.sampling, self.targets, self.series = w, specs, sampling, targets, series
        # Layouts: drawn from `layout_seed` (the groups a publish measures together share one, so an
        # allocator's layout builds serve all its groups), by default from the measurement's id; a
        # resumed measurement keeps the seed its records hold.  Built before any session of any group
        # runs (kinds.bench.run_interleaved starts every group first).  An allocator given with a
        # layout of its own (the layout A/A) keeps it in every session.
        recorded = next((s.layouts.get("seed") for s in series if s.layouts and not s.layouts.get("fixed")), None)
        self.layout_seed = int(recorded if recorded is not None else
                               layout_seed if layout_seed is not None else int(session, 16) % (2 ** 32))
        # A program: one layout (a layout build has no preload library), its setup and reference run
        # in a scratch folder of its own (removed by close()), one run a loop.
        self.scratch = None
        slots = sampling.layouts if project is not None and not w.is_program else 1
        self.slot_requests, draws = [], [[] for _ in specs]
        if w.is_program:
            from ..programs import runner
            if project is None:
                raise ValueError("a program workload is measured in a project")
            self.scratch = runner.scratch_dir(project, w)
            try:
                runner.prepare(project, w, specs, self.scratch, w.timeout_s)
                self.slot_requests.append([runner.program_request(project, s, w, self.scratch, w.timeout_s)
                                           for s in specs])
            except BaseException:
                self.close()
                raise
            slots = 0
        for j in range(slots):
            laid = [s if (slots == 1 or s.layout is not None) else
                    layout_spec(project, s, layout_of(s, self.layout_seed, j, heap=sampling.layout_heap))
                    for s in specs]
            self.slot_requests.append([workload_request(s, w, ops=ops, threads=threads, timed=True, values=1)
                                       for s in laid])
            for i, s in enumerate(laid):
                draws[i].append(s.layout)
        for i, s in enumerate(specs):
            if s.layout is not None:
                series[i].layouts = {"count": 1, "seed": s.layout["seed"], "draws": [s.layout], "fixed": True}
            elif slots > 1:
                series[i].layouts = {"count": slots, "seed": self.layout_seed, "draws": draws[i], "fixed": False}
        self.requests = self.slot_requests[0]
        self.timeout = w.timeout_s if w.is_program else max(60.0, ops * 2e-6 * (threads or 1) * 20)
        self.rng = np.random.default_rng([int(session, 16) % (2 ** 32), start_session])
        self.names = [s.name for s in specs]
        self.rounds = sampling.rounds_for(w)
        self.progress, self.judged = progress, judged
        self.rnd, self.k = max(start_round, 1), start_session
        self.elapsed = 0.0
        progress.start(sampling.max_sessions * self.rounds, f"{w.name}: {', '.join(self.names)}")

    def close(self) -> None:
        """A program's scratch folder removed (the group finished, failed or was interrupted)."""
        if self.scratch is not None:
            from ..programs.runner import remove_scratch
            remove_scratch(self.scratch)
            self.scratch = None

    def step(self) -> str | None:
        """One session; the stop reason once the group is done, else None."""
        specs, series, sampling = self.specs, self.series, self.sampling
        t0 = time.monotonic()
        active = [i for i in range(len(specs)) if i == 0 or series[i].stopped is None]
        slot = self.k % len(self.slot_requests)
        try:
            self.rnd = _run_session(self.slot_requests[slot], self.names, series, active, self.rounds, self.rnd,
                                    self.k, self.rng, self.timeout, self.progress)
        finally:
            self.elapsed += time.monotonic() - t0
        if len(self.slot_requests) > 1:
            for s in series:
                s.layout_of_session[self.k] = slot
        self.k += 1
        for i in range(len(specs)):        # a side that never ran stops being run
            s = series[i]
            if s.stopped is None and not s.samples and len(s.failures) >= _FAILED_SESSIONS_TO_DROP:
                s.stopped = "failed"
        if not series[0].samples and series[0].stopped == "failed":
            return "failed"
        if self.k < sampling.min_sessions:      # the minimum is a verdict's, and outranks the budget
            return None
        pending = []
        for i in range(1, len(specs)):
            if series[i].stopped is not None:
                continue
            hw = _half_width(series[0], series[i])
            if hw is not None and hw <= self.targets[self.names[i]]:
                series[i].stopped = "reached"
            else:
                pending.append(i)
        if len(specs) == 1:
            hw = _own_half_width(series[0])
            if hw is not None and hw <= sampling.context_precision:
                return "precision"
        elif not (set(pending) & self.judged if self.judged else pending):
            return "precision"
        if self.k >= sampling.max_sessions:
            return "rounds"
        if self.elapsed >= sampling.budget_s:
            return "budget"
        return None


def _counted_runs(w: Workload, specs, ops: int, threads, project: Project | None = None,
                  scratch=None) -> list[tuple[dict | None, list, str | None]]:
    """One run of each project variant's counting build: its counters and per-size counts.  A program:
    one run of it under the variant's counting preload (HAK_STATS=1) in the measurement's scratch
    folder, its processes' counters summed, or the reason none reached hak (`counted_failure`)."""
    out = []
    for spec in specs:
        if not spec.is_project:
            out.append((None, [], None))
            continue
        if w.is_program:
            from ..programs.runner import counted_run
            try:
                counters, why = counted_run(project, spec, w, scratch, w.timeout_s)
            except UserError as exc:
                counters, why = None, str(exc)
            out.append((counters, [], why))
            continue
        res = run_child(workload_request(spec, w, ops=ops, threads=threads, timed=False, values=1),
                        timeout=max(120.0, ops * 2e-6 * (threads or 1) * 20))
        if res.get("ok"):
            out.append((res.get("counters"), res.get("counts") or [], None))
        else:
            out.append((None, [], res["failure"]))
    return out


# ---- reuse: one session per comparison ------------------------------------------------------

def _current(rec, spec) -> bool:
    """Measured from the current sources and builds, in a session."""
    return (rec.source_hash == spec.source_hash and rec.extra.get("driver_hash") == spec.builds_hash
            and bool(rec.extra.get("session")))


def find_session(store, keys, specs) -> tuple[list | None, list | None]:
    """(records of the session to reuse, records of an interrupted session to resume).

    Among the sessions measured from the current sources and builds that every allocator of
    the group has, only the newest counts: reused when it completed cleanly, resumed when it
    was interrupted, and measured again when any of its runs failed (a crash is shown on the
    page it made and never hidden behind an older clean session).  A comparison is never
    assembled from two sessions."""
    sessions: dict[str, dict[int, object]] = {}
    for i, (key, spec) in enumerate(zip(keys, specs)):
        for rec in store.history(key):
            if _current(rec, spec):
                sessions.setdefault(rec.extra["session"], {})[i] = rec   # newest last: the latest wins
    whole = [[recs[i] for i in range(len(specs))] for recs in sessions.values() if len(recs) == len(specs)]
    if not whole:
        return None, None
    newest = max(whole, key=lambda group: max(r.created for r in group))
    if any(r.failures for r in newest):
        return None, None
    if any(r.extra.get("stop_reason") == "interrupted" for r in newest):
        return None, newest
    return newest, None


def earlier_measurements(store, keys, specs, before: datetime, exclude: str) -> list[list]:
    """The completed, failure-free measurements of this group from the same builds made before
    `before` (the one measured now, or reused, is `exclude`): each a record per allocator."""
    if store is None:
        return []
    groups: dict[str, dict[int, object]] = {}
    for i, (key, spec) in enumerate(zip(keys, specs)):
        for rec in store.history(key):
            if _current(rec, spec) and rec.extra["session"] != exclude:
                groups.setdefault(rec.extra["session"], {})[i] = rec
    out = []
    for recs in groups.values():
        if len(recs) != len(specs):
            continue
        group = [recs[i] for i in range(len(specs))]
        if any(r.failures or r.extra.get("stop_reason") == "interrupted" for r in group):
            continue
        if max(r.created for r in group) < before:
            out.append(group)
    return sorted(out, key=lambda grp: grp[0].created)


def _session_summary(base: _Series, cand: _Series) -> tuple[float, float, int] | None:
    """(mean log-ratio, its standard error, units) of one measurement: over its layouts' means when
    it ran in enough layouts to be judged over them (as its interval is), else over its sessions."""
    bs, cs, laid = _grouped(base, cand)
    if len(bs) < stats.MIN_SESSIONS:
        return None
    est = stats.session_estimates([np.log(np.asarray(c)) - np.log(np.asarray(b)) for b, c in zip(bs, cs)])
    if laid is not None and len(set(laid)) >= stats.MIN_SESSIONS:
        est = np.asarray(stats.layout_means(est, laid))
    return float(np.mean(est)), float(np.std(est, ddof=1) / math.sqrt(len(est))), len(est)


def between_measurements(now: tuple[float, float, int], earlier: list[tuple[float, float, int]]) -> float | None:
    """The spread of the true effect from one measurement to the next on this machine (tau, log),
    by a random-effects meta-analysis of this and the earlier measurements of the same builds
    (statsmodels' combine_effects, Paule-Mandel): what the sessions of one run cannot see when the
    machine's state moves over minutes.  None with no earlier measurement."""
    if not earlier:
        return None
    from statsmodels.stats.meta_analysis import combine_effects
    rows = [now, *earlier]
    eff = np.asarray([r[0] for r in rows])
    var = np.asarray([max(r[1], 1e-6) ** 2 for r in rows])
    res = combine_effects(eff, var, method_re="pm")
    tau2 = float(res.tau2)
    return math.sqrt(tau2) if math.isfinite(tau2) and tau2 > 0 else 0.0


def _series_of(rec) -> _Series:
    return _Series(list(rec.samples), list(rec.extra.get("rounds") or range(1, len(rec.samples) + 1)),
                   list(rec.extra.get("ns_per_op_runs") or []), [f.model_dump() for f in rec.failures],
                   rec.extra.get("sampling_stopped"), list(rec.extra.get("session_of_samples") or []),
                   list(rec.extra.get("warmup_samples") or []), list(rec.extra.get("memory_runs") or []),
                   list(rec.extra.get("session_memory") or []),
                   {int(k): int(j) for k, j in rec.extra.get("layout_of_sessions") or []},
                   dict(rec.extra.get("layouts") or {}))


# ---- the public function ------------------------------------------------------------------

def run_bench(project: Project, workload: str, variants, *, sampling: Sampling | None = None,
              primary: list[str] | None = None, tighter: dict[str, float] | None = None,
              ops: int | None = None, threads: int | None = None, store=None, force: bool = False,
              progress=None, contrasts=()) -> dict:
    """Measure (or reuse) `variants` on `workload`; the `bench --json` shape (docs/methodology.md).

    primary: the allocators whose comparison with the baseline is judged (default: all);
    the others are context.  tighter: per-allocator targets a hypothesis needs.  contrasts: pairs
    (a, b) compared a against b as well, from the same rounds (no verdict: an interval to read)."""
    kind = bench_kind(project, workload, variants, sampling=sampling, primary=primary, tighter=tighter, ops=ops,
                      threads=threads, contrasts=contrasts)
    return measure_through_store(kind, store, force=force, progress=progress or NullProgress())


def bench_kind(project: Project, workload: str, variants, *, sampling: Sampling | None = None,
               primary: list[str] | None = None, tighter: dict[str, float] | None = None,
               ops: int | None = None, threads: int | None = None, contrasts=()) -> "BenchKind":
    """The comparison group `run_bench` measures (bad arguments: a UserError).  `contrasts`: pairs
    (a, b) of its allocators whose comparison a against b is given too (`contrasts` of the result)."""
    sampling = (sampling or Sampling()).check()
    w, ops, threads = _check_args(workload, variants, ops, threads)
    # An AllocatorSpec passes as it is (benchmarks/aa_rate.py runs one library under two names).
    specs = [v if isinstance(v, AllocatorSpec) else resolve_allocator(project, v) for v in variants]
    names = [s.name for s in specs]
    targets = targets_for(names, sampling, primary, tighter)
    # The group is part of each record's key: a record is reused only for the comparison it was
    # measured in (phases that share a baseline keep their own, each measured beside its candidate).
    if w.is_program:      # one layout: a layout build has no preload library
        sampling = replace(sampling, layouts=1, layout_heap=False)
    params = {**bench_params(w, ops, threads, sampling, targets, project), "group": names}
    return BenchKind(project, w, specs, params, ops, threads, sampling, targets, primary, contrasts)


def run_interleaved(kinds: list["BenchKind"], store, *, force=False, progress=None,
                    on_group=None) -> list[dict | Exception]:
    """Several comparison groups measured with their sessions spread in time among each other.

    A session of every group still sampling, in turn, then the next: each group's sessions span the
    whole time all of them take, so the machine's state over that time (a neighbour busy for a
    minute, then quiet) reaches each group's spread of sessions, and so its interval, instead of
    one group meeting one state.  Each group keeps its own stopping rule and budget (its own
    sessions' seconds).  A group the store holds current is reused as `run_bench` would.  Returns
    each group's `bench --json` shape, or the exception that ended it (recorded as that group's
    failure by the caller).  Ctrl-C or SIGTERM records every group's completed rounds, interrupted.
    `on_group(i, result)` is called as each group ends."""
    progress = progress or NullProgress()
    out: list[dict | Exception | None] = [None] * len(kinds)
    running: dict[int, _Running] = {}
    layout_seed = uuid.uuid4().int % (2 ** 32)      # one draw of layouts for all the groups started here
    for i, kind in enumerate(kinds):
        try:
            forced = force[i] if isinstance(force, (list, tuple)) else force     # per group, or all
            found = kind.current(store) if store is not None and not forced else None
            if found is not None:
                out[i] = kind.result(found, reused=True)
            else:
                running[i] = kind.start(NullProgress(), store, forced, layout_seed)
        except Exception as exc:       # a group that cannot start is that group's failure
            out[i] = exc
        if out[i] is not None and on_group:
            on_group(i, out[i])
    restore = _sigterm_as_interrupt()
    if running:
        progress.start(sum(r.sampler.sampling.max_sessions for r in running.values()),
                       f"sessions of {len(running)} comparison group{'s' if len(running) != 1 else ''}, "
                       f"spread in time among each other")
    try:
        while running:
            for i in list(running):
                kind, run = kinds[i], running[i]
                try:
                    stop = run.sampler.step()
                    progress.advance()
                    if stop is None:
                        continue
                    group = kind.finish(run, stop)
                    if store is not None:
                        for rec in kind.records(group):
                            store.put(rec)
                    out[i] = kind.result(group, reused=False)
                except (KeyboardInterrupt, _Interrupted):
                    raise
                except Exception as exc:     # that group's failure; what it measured is kept (resumable)
                    out[i] = exc
                    if store is not None:
                        try:
                            for rec in kind.records(kind.interrupted(run)):
                                store.put(rec)
                        except Exception:
                            pass
                del running[i]
                if on_group:
                    on_group(i, out[i])
    except (KeyboardInterrupt, _Interrupted):
        if store is not None:
            for i, run in running.items():
                for rec in kinds[i].records(kinds[i].interrupted(run)):
                    store.put(rec)
        raise KeyboardInterrupt from None
    finally:
        restore()
    return out


@dataclass
class _Running:
    """A measurement under way: its sampler and what it has gathered."""
    sampler: _Sampler
    series: list[_Series]
    session: str
    prior: float


@dataclass
class _Group:
    """A comparison group's session: measured now, or read back from its records."""
    series: list[_Series]
    session: str
    stop: str | None
    elapsed: float | None
    counted: list[tuple[dict | None, list, str | None]]
    created: list[datetime]


class BenchKind:
    """One record per allocator of a comparison group; the unit of reuse is the group's session."""

    def __init__(self, project: Project, w: Workload, specs, params: dict, ops: int, threads, sampling: Sampling,
                 targets: dict[str, float], primary: list[str] | None, contrasts=()):
        self.project, self.w, self.specs, self.params = project, w, specs, params
        self.ops, self.threads, self.sampling, self.targets, self.primary = ops, threads, sampling, targets, primary
        self.names = [s.name for s in specs]
        # pairs (a, b) of the group's allocators, a against b: computed from the same rounds, never measured
        self.contrasts = [(a, b) for a, b in contrasts if a in self.names and b in self.names and a != b]
        self.keys = [key_for("bench", w.name, n, params) for n in self.names]
        self.unit = "runs/s" if w.is_program else "ops/s"     # a program: one run of it a sample
        self._found: tuple | None = None
        self._store = None

    def _sessions(self, store):
        self._store = store
        if self._found is None:
            self._found = find_session(store, self.keys, self.specs)
        return self._found

    def current(self, store) -> _Group | None:
        reused = self._sessions(store)[0]
        if reused is None:
            return None
        meta = reused[0].extra
        return _Group([_series_of(r) for r in reused], meta["session"], meta.get("stop_reason"), meta.get("elapsed_s"),
                      [(r.counters or None, r.extra.get("counts") or [], r.extra.get("counted_failure"))
                       for r in reused],
                      [r.created for r in reused])

    def start(self, progress, store, force: bool, layout_seed: int | None = None) -> "_Running":
        """A measurement begun (or an interrupted one resumed): its sampler, not yet stepped."""
        self._store = store
        resume = self._sessions(store)[1] if store is not None and not force else None
        if resume is not None:
            series = [_series_of(r) for r in resume]
            session = resume[0].extra["session"]
            start = max((max(s.rounds) for s in series if s.rounds), default=0) + 1
            start_session = max((max(s.sessions) for s in series if s.sessions), default=-1) + 1
            prior = float(resume[0].extra.get("elapsed_s") or 0.0)
        else:
            series = [_Series([], [], [], []) for _ in self.specs]
            session, start, start_session, prior = uuid.uuid4().hex[:12], 1, 0, 0.0
        left = replace(self.sampling, budget_s=max(0.0, self.sampling.budget_s - prior))
        judged = {i for i, spec in enumerate(self.specs)
                  if i > 0 and (self.primary is None or spec.name in self.primary)}
        sampler = _Sampler(self.w, self.specs, self.ops, self.threads, left, self.targets, series, start, session,
                           progress, judged, start_session, self.project, layout_seed)
        return _Running(sampler, series, session, prior)

    def interrupted(self, run: "_Running") -> _Group:
        run.sampler.close()
        n = len(self.specs)
        return _Group(run.series, run.session, "interrupted", run.prior + run.sampler.elapsed,
                      [(None, [], None)] * n, [datetime.now(timezone.utc)] * n)

    def finish(self, run: "_Running", stop: str) -> _Group:
        try:
            counted = _counted_runs(self.w, self.specs, self.ops, self.threads, self.project, run.sampler.scratch)
        finally:
            run.sampler.close()
        n = len(self.specs)
        return _Group(run.series, run.session, stop, run.sampler.elapsed + run.prior, counted,
                      [datetime.now(timezone.utc)] * n)

    def measure(self, progress, store, force: bool) -> _Group:
        run = self.start(progress, store, force)
        restore = _sigterm_as_interrupt()
        try:
            while (stop := run.sampler.step()) is None:
                pass
            return self.finish(run, stop)
        except (KeyboardInterrupt, _Interrupted):
            raise Interrupted(self.interrupted(run)) from None
        except BaseException:
            run.sampler.close()
            raise
        finally:
            restore()

    def records(self, g: _Group) -> list[Record]:
        """One record per allocator, all with one creation time."""
        w, specs = self.w, self.specs
        out = []
        for i, (spec, s) in enumerate(zip(specs, g.series)):
            counters, counts, counted_failure = g.counted[i]
            extra = {"driver_hash": spec.builds_hash, "session": g.session, "stop_reason": g.stop,
                     "elapsed_s": g.elapsed, "rounds": s.rounds, "sampling_stopped": s.stopped,
                     "interleaved_with": [x.name for x in specs], "position": i, "ns_per_op_runs": s.ns_per_op,
                     "counts": counts, "counted_failure": counted_failure, "unit": self.unit,
                     "session_of_samples": s.sessions, "warmup_samples": s.warmup,
                     "memory_runs": s.memory, "session_memory": s.session_memory,
                     "layouts": s.layouts, "layout_of_sessions": sorted(s.layout_of_session.items()),
                     "session_rounds": self.sampling.rounds_for(w), "values_per_run": 1}
            out.append(Record(kind="bench", workload=w.name, allocator=spec.name, params=self.params,
                              source_hash=spec.source_hash, created=g.created[0],
                              environment=environment(self.project, spec.build_flags), samples=s.samples,
                              counters=counters or {}, failures=[Failure(**f) for f in s.failures], extra=extra))
        return out

    def result(self, g: _Group, reused: bool) -> dict:
        """The `bench --json` shape (docs/json.md)."""
        w, specs, names, series, primary = self.w, self.specs, self.names, g.series, self.primary
        rows = [_result_row(spec, s, c, g.session, reused, cr.isoformat(), w.is_program)
                for spec, s, c, cr in zip(specs, series, g.counted, g.created)]
        n_sessions = len({k for s in series for k in (s.sessions or [])})
        pace = {"per_session_s": (g.elapsed / n_sessions) if g.elapsed and n_sessions else None,
                "budget_s": self.sampling.budget_s, "sessions": n_sessions}
        group_noise = noise.describe(w, specs, series)
        earlier = [[_series_of(r) for r in grp] for grp in
                   earlier_measurements(self._store, self.keys, specs, min(g.created), g.session)]
        comparisons = [_comparison(names[0], spec.name, series[0], s, self.targets[spec.name],
                                   primary is None or spec.name in primary, g.session, pace,
                                   [m for m in group_noise["by_mode"] if m["candidate"] == spec.name],
                                   [_session_summary(e[0], e[i]) for e in earlier])
                       for i, (spec, s) in enumerate(zip(specs[1:], series[1:]), start=1)]
        adjust_family(comparisons)
        contrasts = []
        for a, b in self.contrasts:
            ia, ib = names.index(a), names.index(b)
            c = _comparison(b, a, series[ib], series[ia], self.targets.get(a, self.sampling.precision), False,
                            g.session, pace, [], [_session_summary(e[ib], e[ia]) for e in earlier])
            c.update(role="contrast", verdict=None, underpowered=False, needed_sessions=None,
                     reason=f"contrast of {a} against {b} (no verdict: a hypothesis reads its interval)")
            if "per_layout" in c:
                c["layout_robust"], c["layout_reason"] = layout_robustness(c)
            contrasts.append(c)
        return BenchResult.shape({"workload": w.name, "ops": self.ops, "values_per_run": 1,
                "sessions": n_sessions, "session_rounds": self.sampling.rounds_for(w),
                "noise": group_noise,
                "threads": self.threads if w.driver in ("remote", "program") else 1, "sizes": list(w.sizes),
                **({"program": self.params["program"]} if w.is_program else {}), "unit": self.unit,
                "session": g.session, "stop_reason": g.stop, "stop": STOP_REASONS.get(g.stop, g.stop),
                "rounds": max((max(s.rounds) for s in series if s.rounds), default=0),
                "elapsed_s": g.elapsed, "sampling": asdict(self.sampling), "results": rows,
                "comparisons": comparisons, "contrasts": contrasts, "reused": reused,
                "measured_now": [] if reused else names,
                "builds": {"timed": "project variants: the timed build (HAK_STATS=0, no counters); "
                                    "system allocators as installed",
                           "counters": "one extra run of the counting build (HAK_STATS=1), not timed"}})


def _result_row(spec, s: _Series, counted, session: str, reused: bool, created: str, program: bool = False) -> dict:
    counters, counts, counted_failure = counted
    summ = stats.summarize(s.samples, higher_is_better=True)
    ns = s.ns_per_op
    return {"variant": spec.name, "kind": spec.kind, "samples": list(s.samples), "rounds": list(s.rounds),
            "median": summ.median, "best3of5": summ.best3of5, "best3of5_label": BEST3OF5_LABEL,
            "ci95": list(summ.ci95) if summ.ci95 else None, "q1": summ.q1, "q3": summ.q3, "iqr": summ.iqr,
            "cv": summ.cv, "n": summ.n, "warnings": list(summ.warnings),
            "ns_per_op": float(np.median(ns)) if ns else None, "counters": counters, "counts": counts,
            "counted_failure": counted_failure, "failures": s.failures, "source_hash": spec.source_hash,
            "session": session, "created": created, "reused": reused, "memory": memory_of(s, counters, program),
            "build": ("preloaded, timed (HAK_STATS=0)" if program else "timed (HAK_STATS=0)") if spec.is_project
            else "as installed", "layouts": s.layouts or None}


KIB = 1024


def _base_by_session(s: _Series) -> dict[int, float]:
    return {m["session"]: m.get("base_kb") for m in s.session_memory}


def _growth_by_session(s: _Series) -> dict[int, float]:
    """Per session: the RSS (kB) the allocator and its workload added by the end of its last loop."""
    base = _base_by_session(s)
    last: dict[int, list] = {}
    for k, m in zip(s.sessions, s.memory):
        last[k] = m
    return {k: float(m[0] - base[k]) for k, m in last.items() if base.get(k) is not None and m[0] is not None}


def _peak_by_session(s: _Series) -> dict[int, float]:
    """Per session: the highest RSS (kB) above the process's own seen after any of its loops.  (getrusage's
    ru_maxrss would carry the parent's peak across fork and exec: a child of a large parent reads its size.)"""
    base = _base_by_session(s)
    high: dict[int, int] = {}
    for k, m in zip(s.sessions, s.memory):
        if m[0] is not None:
            high[k] = max(high.get(k, 0), m[0])
    return {k: float(high[k] - base[k]) for k in high if base.get(k) is not None}


def _rss_by_round(s: _Series) -> list[float]:
    """RSS growth (bytes) after the j-th loop of a session, the median over sessions: the curve a leak
    or a retention draws (the first point is after the first timed loop)."""
    base = _base_by_session(s)
    by: dict[int, list[float]] = {}
    for k, m in zip(s.sessions, s.memory):
        if m[0] is not None and base.get(k) is not None:
            by.setdefault(k, []).append((m[0] - base[k]) * KIB)
    curves = list(by.values())
    n = min((len(c) for c in curves), default=0)
    return [float(np.median([c[j] for c in curves])) for j in range(n)]


def _rss_by_phase(s: _Series) -> list[dict] | None:
    """The retention driver's RSS growth (bytes over the process's own) after each phase of each loop, the
    median over sessions: loop 0 is the session's discarded warm-up loop (a fresh process's first cycle),
    then its timed loops.  None for a driver that reads no phases."""
    from ..child import RETENTION_PHASES

    base = _base_by_session(s)
    by: dict[int, list[list]] = {}
    for k, m in zip(s.sessions, s.memory):
        if len(m) > 5 and m[5] is not None and base.get(k) is not None:
            by.setdefault(k, []).append(m[5])
    if not by:
        return None
    warm = {m["session"]: m.get("warmup_phases_kb") for m in s.session_memory}
    first = 0 if all(warm.get(k) for k in by) else 1          # loop 0 only when every session has it
    curves = {k: ([warm[k]] if first == 0 else []) + loops for k, loops in by.items()}
    out = []
    for j in range(min(len(c) for c in curves.values())):
        for p, name in enumerate(RETENTION_PHASES):
            vals = [(c[j][p] - base[k]) * KIB for k, c in curves.items() if c[j][p] is not None]
            out.append({"loop": j + first, "phase": name, "warmup": j + first == 0,
                        "rss_bytes": float(np.median(vals)) if vals else None})
    return out


# A memory ratio is called only beyond this share, and beyond this many bytes of the baseline's growth:
# a resident set moves by pages and arenas.
MEMORY_FLOOR = 0.05
MEMORY_FLOOR_BYTES = 64 * KIB


def _memory_ratio(base: dict[int, float], cand: dict[int, float]) -> dict | None:
    """One memory measure of the candidate against the baseline, judged like time: per session the
    log-ratio of the two (the same session's processes, side by side), Student's t over sessions;
    "more" or "less" when the whole 95% CI lies beyond the floor (MEMORY_FLOOR, and MEMORY_FLOOR_BYTES
    of the baseline's growth), else "no significant change".  When every session gives the same
    ratio (RSS comes in pages) it is exact and judged against the floor alone."""
    common = sorted(k for k in set(base) & set(cand) if base[k] > 0 and cand[k] > 0)
    if len(common) < stats.MIN_SESSIONS:
        return None
    logs = np.log([cand[k] / base[k] for k in common])
    base_med = float(np.median([base[k] for k in common])) * KIB
    floor = max(MEMORY_FLOOR, MEMORY_FLOOR_BYTES / base_med if base_med > 0 else MEMORY_FLOOR)
    if np.ptp(logs) == 0:
        mean, lo, hi = float(logs[0]), float(logs[0]), float(logs[0])
        p = 0.0 if mean != 0 else 1.0
    else:
        mean, (lo, hi), p = stats.session_interval(logs)
    ci = [math.exp(lo), math.exp(hi)]
    verdict = ("more" if ci[0] > 1 + floor and p < 0.05 else "less" if ci[1] < 1 - floor and p < 0.05
               else "no significant change")
    return {"ratio": math.exp(mean), "ci95": ci, "p_value": p, "verdict": verdict, "sessions": len(common),
            "floor": floor, "baseline_bytes": base_med,
            "candidate_bytes": float(np.median([cand[k] for k in common])) * KIB}


def memory_comparison(base: _Series, cand: _Series) -> dict | None:
    """The candidate's memory against the baseline's, from the same sessions: `peak_rss` (the highest
    RSS growth after any loop) and `end_rss` (after the last), each a ratio with its 95% CI and a
    verdict (_memory_ratio); None when fewer than stats.MIN_SESSIONS sessions have both."""
    peak = _memory_ratio(_peak_by_session(base), _peak_by_session(cand))
    end = _memory_ratio(_growth_by_session(base), _growth_by_session(cand))
    if peak is None and end is None:
        return None
    return {"peak_rss": peak, "end_rss": end,
            "method": "per session, the candidate's RSS growth over its process's own divided by the baseline's "
                      "(the same session's processes); Student's t over the sessions' log-ratios"}


def memory_of(s: _Series, counters: dict | None = None, program: bool = False) -> dict | None:
    """The allocator's memory in its timed processes (medians over sessions, in bytes): the resident set
    the process held before the allocator was loaded (`baseline_rss_bytes`, the measuring process's
    own, subtracted from the others), what the allocator and its workload added at the highest after
    any loop (`peak_rss_bytes`) and by the end of the session's last loop (`end_rss_bytes`), the curve
    of that growth loop by loop (`rss_by_round`), and page faults over the timed loops (getrusage
    around each, outside its timed region).  The retention driver adds `rss_by_phase` (_rss_by_phase):
    the growth after each of its phases, read inside each loop with the clock stopped.  For hak, from
    its counters (the counting build's run): the bytes it reserved from the OS and the bytes it leaked.  The same processes and loops as the
    times: memory costs the timed loops nothing."""
    if not s.memory or not s.session_memory:
        return None
    faults: dict[int, list[int]] = {}
    ops = 0
    for k, m in zip(s.sessions, s.memory):
        if m[2] is not None:
            f = faults.setdefault(k, [0, 0])
            f[0] += m[2]
            f[1] += m[3] or 0
            ops += m[4] if len(m) > 4 else 0
    base = [b for b in _base_by_session(s).values() if b is not None]
    growth, peak = list(_growth_by_session(s).values()), list(_peak_by_session(s).values())
    med = (lambda xs: float(np.median(xs)) * KIB if xs else None)   # noqa: E731
    total = [sum(f[0] for f in faults.values()), sum(f[1] for f in faults.values())]
    out = {"baseline_rss_bytes": med(base), "peak_rss_bytes": med(peak), "end_rss_bytes": med(growth),
           "minor_faults": float(np.median([f[0] for f in faults.values()])) if faults else None,
           "major_faults": float(np.median([f[1] for f in faults.values()])) if faults else None,
           "minor_faults_per_op": total[0] / ops if ops else None,
           "major_faults_per_op": total[1] / ops if ops else None,
           "peak_rss_ci95_bytes": ([c * KIB for c in ci] if (ci := stats.median_ci(peak)) else None),
           "sessions": len(peak), "rss_by_round": _rss_by_round(s),
           "method": "RSS from /proc/self/statm after each timed loop, less the process's own RSS before the "
                     "allocator was loaded (the peak: the highest of these; the end: after the last loop); page "
                     "faults from getrusage around each loop, per session (medians over sessions)"}
    if program:       # each loop a process of its own: nothing of the measuring process's to subtract
        out["method"] = ("the program's peak RSS (ru_maxrss of wait4, its waited-for children included) in each "
                         "run, the highest per session (the peak) and the last run's (the end); page faults from "
                         "the same rusage (medians over sessions)")
    if (phases := _rss_by_phase(s)) is not None:
        out["rss_by_phase"] = phases
    for key in ("os_reserved_bytes", "leaked_bytes"):          # hak's own, from the counting build
        if (counters or {}).get(key) is not None:
            out[key] = float(counters[key])
    return out


def _comparison(base_name: str, name: str, base: _Series, cand: _Series, target: float, primary: bool,
                session: str, pace: dict | None = None, by_mode: list[dict] | None = None,
                earlier: list | None = None) -> dict:
    """One comparison over the sessions both sides completed.  `pace`: the group's seconds per
    session and budget (what an underpowered result would need is said in those terms).

    `by_mode`: the effect in each of the machine's modes (noise.describe).  When the loops ran in
    two modes and the effect differs between them, the effect depends on the machine's state (how
    busy its neighbours were), and a rerun in another mix of states lands anywhere between the two:
    the interval is widened to hold both modes' effects (`state_dependent`), and the sessions' own
    interval is kept as `session_ci95`.

    `earlier`: (mean, se, sessions) of this machine's earlier measurements of the same builds.  The
    spread between measurements beyond what their sessions explain (`between_measurements_sd`) is
    the machine's state moving over minutes; the interval is widened by it, as a random-effects
    interval over measurements would be."""
    bs, cs, laid = _grouped(base, cand)
    out = {"baseline": base_name, "candidate": name, "role": "primary" if primary else "context",
           "session": session, "target": target, "pairs": sum(len(b) for b in bs), "pace": pace or {},
           "layouts": {"count": len(set(laid)) if laid else 1, "seed": (base.layouts or {}).get("seed"),
                       "drawn": (base.layouts or {}).get("count", 1)}}
    try:
        cmp = stats.compare_sessions(bs, cs, higher_is_better=True, layouts=laid).to_dict()
    except ValueError as exc:
        cmp = {"ratio": None, "ci95": None, "speedup": None, "speedup_ci95": None, "p_value": None,
               "verdict": "no significant change", "reason": f"cannot test: {exc}",
               "warnings": [f"cannot compare: {exc}"]}
    if not bs:
        failed = base_name if not base.samples else name
        cmp["verdict"] = None
        cmp["reason"] = f"no verdict: {failed} has no successful run"
    ci = cmp.get("speedup_ci95")
    half = (ci[1] - ci[0]) / 2 if ci else None
    out.update(cmp)
    out.update(half_width=half, precision_reached=half is not None and half <= target, session_ci95=ci,
               state_dependent=False, mode_effects=list(by_mode or []))
    out["memory"] = memory_comparison(base, cand)
    earlier = [e for e in earlier or [] if e is not None]
    now = _session_summary(base, cand) if ci and out.get("interval_level") == "sessions" else None
    tau = between_measurements(now, earlier) if now else None
    out.update(measurements=1 + len(earlier) if now else 1, between_measurements_sd=tau)
    widened, why = list(ci) if ci else None, []
    if tau:
        from scipy import stats as _st
        mean, se, k = now
        half = float(_st.t.ppf(0.975, k - 1)) * math.sqrt(se ** 2 + tau ** 2)
        widened = [min(widened[0], math.expm1(mean - half)), max(widened[1], math.expm1(mean + half))]
        why.append(f"widened by the spread between this machine's {1 + len(earlier)} measurements of these "
                   f"builds (tau {tau:.2%})")
    effects = [m["speedup"] for m in by_mode or []]
    if ci and len(effects) == 2 and not all(ci[0] <= e <= ci[1] for e in effects):
        widened = [min(widened[0], *effects), max(widened[1], *effects)]
        why.append("it holds the effect in both of the machine's modes: "
                   + ", ".join(f"{m['speedup']:+.2%} in the {m['mode']}" for m in by_mode))
        out["state_dependent"] = True
    out["session_half_width"] = out["half_width"]     # what the stopping rule reads (precision_reached)
    if why:
        p = out.get("p_value")
        verdict, reason = stats.decide(widened, p, alpha=out.get("alpha", 0.05),
                                       noise_floor=out.get("noise_floor", stats.NOISE_FLOOR))
        out.update(speedup_ci95=widened, verdict=verdict, ci95=[1 + widened[0], 1 + widened[1]],
                   half_width=(widened[1] - widened[0]) / 2,
                   reason=f"{verdict}: {reason} (the interval: " + "; ".join(why) + "; p is the sessions' t-test)")
    _mark_underpowered(out)
    out["layout_robust"], out["layout_reason"] = layout_robustness(out)
    return out


def layout_robustness(c: dict) -> tuple[bool | None, str]:
    """Whether the comparison's outcome holds in every layout it was measured in, and why.

    The outcome is the verdict, or when it decides nothing (a context peer; an interval short of
    the noise floor or of Holm) the side of zero its interval lies on, if it lies on one.  A decided outcome holds when every layout's own estimate lies on its side of zero, or when
    those on the other side are within the sessions' noise (the layouts do not differ beyond
    their sessions); it does not when they differ and some layout lands on the other side.
    "No change" holds when the layouts differ no more than their sessions do: one test over all
    layouts (a one-way ANOVA), not one per layout, which with eight layouts would find a "change"
    in one of them a third of the time on identical code.  None: one layout only, an underpowered
    comparison (too imprecise to say), or layouts with too few sessions each to be told apart."""
    per = c.get("per_layout") or []
    if len(per) < 2:
        return None, "measured in one layout: nothing to hold across layouts"
    verdict, ci = c.get("verdict"), c.get("speedup_ci95")
    if verdict not in ("faster", "slower") and ci and (ci[0] > 0 or ci[1] < 0):
        # no verdict (a context peer; or short of the noise floor or of Holm) but an interval on one
        # side of zero, which is what a hypothesis reads: whether that side holds in every layout
        verdict = "above zero" if ci[0] > 0 else "below zero"
    het = c.get("layout_heterogeneity_p")
    spread = []
    if c.get("layout_sd") is not None:
        spread.append(f"layout sd {c['layout_sd']:.2%} beyond the sessions'")
    if het is not None:
        spread.append(f"layouts differ beyond their sessions: ANOVA p = {het:.3g}")
    tail = f" ({'; '.join(spread)})" if spread else ""
    lo, hi = min(x["speedup"] for x in per), max(x["speedup"] for x in per)
    if verdict in ("faster", "slower", "above zero", "below zero"):
        sign = 1 if verdict in ("faster", "above zero") else -1
        against = [x for x in per if x["speedup"] * sign <= 0]
        if not against:
            return True, f"{verdict} in each of the {len(per)} layouts ({lo:+.2%} to {hi:+.2%}){tail}"
        named = ", ".join(f"layout {x['layout']} {x['speedup']:+.2%}" for x in against[:4])
        # a layout of one or two sessions lands on the other side by its sessions' noise alone: it
        # reverses the outcome only when the layouts differ beyond their sessions (one test, ANOVA)
        if het is None:
            return None, (f"{verdict} overall; {len(against)} of the {len(per)} layouts measure the other way or "
                          f"none ({named}), and with one session a layout they cannot be told from its sessions' "
                          f"noise{tail}")
        if het >= 0.05:
            return True, (f"{verdict} overall, and the layouts differ no more than their sessions do: the "
                          f"{len(against)} of {len(per)} on the other side ({named}) are within that noise{tail}")
        return False, (f"{verdict} overall, but the layouts differ beyond their sessions and {len(against)} of the "
                       f"{len(per)} measure the other way or none ({named}){tail}")
    if c.get("underpowered"):
        return None, f"too imprecise to say whether anything holds across its {len(per)} layouts ({lo:+.2%} to {hi:+.2%})"
    if het is not None and het < 0.05:
        return False, (f"no change decided overall, but the effect depends on the layout: from {lo:+.2%} to "
                       f"{hi:+.2%}{tail}")
    if het is None:
        return None, (f"no change decided; its {len(per)} layouts ({lo:+.2%} to {hi:+.2%}) have too few sessions "
                      f"each to be judged apart{tail}")
    return True, f"no layout decides a change on its own ({lo:+.2%} to {hi:+.2%}){tail}"


def _mark_underpowered(c: dict) -> None:
    """"underpowered" instead of "no significant change" when the interval is more than
    UNDERPOWERED_FACTOR times as wide as its target: the run could not tell, and the reason says
    what would (sessions, time at this group's pace, or a quieter machine)."""
    half, target = c.get("half_width"), c.get("target")
    if c.get("verdict") != "no significant change" or half is None or not target:
        c["underpowered"] = False
        return
    if half <= stats.UNDERPOWERED_FACTOR * target:
        c["underpowered"] = False
        return
    c["underpowered"] = True
    c["verdict"] = "underpowered"
    need, pace = None, c.get("pace") or {}
    sd = c.get("session_sd")
    if sd:
        need = stats.sessions_needed(sd, target)
    what = [f"its 95% CI is ±{half:.2%} wide, more than {stats.UNDERPOWERED_FACTOR:g}x its target ±{target:.1%}: "
            f"this run cannot tell a change of that size from none"]
    if need and pace.get("per_session_s"):
        what.append(f"about {need} sessions would reach the target here (≈ {need * pace['per_session_s']:.0f} s "
                    f"of sampling; this group's budget is {pace.get('budget_s', 0):.0f} s)")
    if sd and c.get("sessions"):
        k = max(int(c["sessions"]), stats.MIN_SESSIONS)
        from scipy.stats import t as _t
        quiet = math.log1p(target) * math.sqrt(k) / float(_t.ppf(0.975, k - 1))
        what.append(f"or a machine on which session estimates spread by at most {quiet:.2%} "
                    f"(here {sd:.2%}) with as many sessions")
    c["reason"] = "underpowered: " + "; ".join(what)
    c["needed_sessions"] = need


def adjust_family(comparisons: list[dict]) -> None:
    """Holm over the primary comparisons' p-values; their verdicts re-decided on the adjusted p
    (on the interval as reported: widened over the machine's modes when they differ).

    Context comparisons keep their numbers and get no verdict."""
    prim = [c for c in comparisons if c.get("role") == "primary" and c.get("p_value") is not None]
    for c, p_adj in zip(prim, stats.holm([c["p_value"] for c in prim])):
        verdict, reason = stats.decide(c.get("speedup_ci95"), p_adj, alpha=c.get("alpha", 0.05),
                                       noise_floor=c.get("noise_floor", stats.NOISE_FLOOR))
        c.update(p_adjusted=p_adj, family_size=len(prim), verdict=verdict,
                 reason=f"{verdict}: {reason}" + (f" (Holm-adjusted over {len(prim)} primary comparisons)"
                                                  if len(prim) > 1 else ""))
        _mark_underpowered(c)
    # memory verdicts: a family of their own per measure (peak, end), held to 5% the same way
    for measure in ("peak_rss", "end_rss"):
        mems = [m for c in prim if (m := (c.get("memory") or {}).get(measure)) and m.get("p_value") is not None]
        for m, p_adj in zip(mems, stats.holm([m["p_value"] for m in mems])):
            lo, hi = m["ci95"]
            m.update(p_adjusted=p_adj, verdict="more" if lo > 1 + m["floor"] and p_adj < 0.05 else
                     "less" if hi < 1 - m["floor"] and p_adj < 0.05 else "no significant change")
    for c in comparisons:
        if c.get("role") == "context":
            for m in ((c.get("memory") or {}).get(k) for k in ("peak_rss", "end_rss")):
                if m:
                    m["verdict"] = None
            c.update(verdict=None, underpowered=False, needed_sessions=None,
                     reason="context peer: shown for scale, not judged")
        if "per_layout" in c:          # the verdicts may have moved: what holds across layouts with them
            c["layout_robust"], c["layout_reason"] = layout_robustness(c)
