"""The workloads, declared as data in the project's `workloads.yaml` and read here (one-line errors).

An entry is a C driver loop of native/bench.c with its parameters (`driver:`: gap, remote or
retention), or a real program (`program:`, an argv run with the allocator preloaded, one run a sample:
reportgen.measuring.programs.runner, measured by kinds.bench as any workload is).
The drivers take these numbers as arguments; the report's "benchmark characterisation" and the
routing prediction read them from here.  A project without a workloads.yaml uses the tool's own.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import UserError
from ..yamlfile import Declared

WORKLOADS_FILE = "workloads.yaml"
_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_OPS = 10**9


@dataclass(frozen=True)
class Workload:
    name: str
    driver: str                 # "gap" (bench_gap_*), "remote" (bench_remote), "retention" (bench_retention_*)
                                # or "program"
    sizes: tuple[int, ...]      # request sizes, drawn uniformly
    slots: int                  # live blocks in the working set (gap), blocks grown a cycle (retention)
    ops: int                    # default timed operations (one free + one malloc each; retention: mallocs)
    threads: int                # threads (remote driver; gap runs on one thread)
    runs: int                   # default runs per allocator
    warmup_ops: int             # untimed ops before the timed loop, in the same child
    seed: int                   # every allocator sees the same sequence
    description: str
    # Timed loops per process (one sample: their total ops over their total time).  Several
    # when a loop is short, so one process's sample is not one scheduler tick's luck; one for
    # mt_remote, where hak-6b leaks every block of every loop.
    values: int = 3
    # Rounds of one session (kinds.bench): each round runs one timed loop of every allocator, in the
    # session's processes.  Fewer on mt_remote, where hak-6b's process leaks every loop's blocks.
    session_rounds: int = 20
    program: tuple[str, ...] = ()   # a program workload's argv (driver "program")
    # A program workload's setup argv (run once before a measurement), the environment it is run with
    # (name, value) pairs, and the seconds one run may take.  Left out of to_dict when empty, as
    # `program` is, so the records of the driver workloads keep their keys.
    setup: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 0.0
    # The retention driver: the sizes its regrowth draws from (other sizes than `sizes`), and every
    # `keep`-th grown block survives the thinning.  Left out of to_dict at their defaults, so the
    # records of the other workloads keep their keys.
    sizes_after: tuple[int, ...] = ()
    keep: int = 0
    # A server workload: the server's argv (run with the allocator preloaded, on the free port that
    # `{port}` names), the client being `program`, and the check whose output is compared with the
    # reference run's.  Left out of to_dict when empty.
    server: tuple[str, ...] = ()
    check: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        if self.program:
            d.update(program=list(self.program), setup=list(self.setup), env=dict(self.env))
        else:
            for key in ("program", "setup", "env", "timeout_s"):
                d.pop(key)
        if self.sizes_after:
            d["sizes_after"] = list(self.sizes_after)
        else:
            d.pop("sizes_after")
        if not self.keep:
            d.pop("keep")
        if self.server:
            d.update(server=list(self.server), check=list(self.check))
        else:
            d.pop("server"), d.pop("check")
        return d

    @property
    def all_sizes(self) -> tuple[int, ...]:
        """Every request size the driver makes: `sizes`, then (retention) the sizes of `sizes_after` not
        among them, each size once; a driver without `sizes_after` counts per index of `sizes` as given."""
        if not self.sizes_after:
            return self.sizes
        return tuple(dict.fromkeys((*self.sizes, *self.sizes_after)))

    @property
    def is_program(self) -> bool:
        return self.driver == "program"

    @property
    def takes_threads(self) -> bool:
        """A program whose argv (or setup) takes the `{threads}` token: `--threads` sets it."""
        return any("{threads}" in a for a in (*self.program, *self.setup))


# ---- the schema ---------------------------------------------------------------------------------

class _Driver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["gap", "remote", "retention"]
    sizes: list[int] = Field(min_length=1, max_length=16)
    sizes_after: Optional[list[int]] = Field(default=None, min_length=1, max_length=16)
    slots: int = Field(default=0, ge=0, le=1 << 24)
    keep: Optional[int] = Field(default=None, ge=0, le=1 << 24)
    threads: int = Field(default=1, ge=1, le=1024)
    # retention: left out, one cycle (2 x slots allocations) a timed loop
    ops: Optional[int] = Field(default=None, ge=1, le=MAX_OPS)
    warmup_ops: int = Field(default=0, ge=0, le=MAX_OPS)
    seed: int = Field(ge=0, lt=1 << 64)
    runs: int = Field(default=5, ge=1, le=1000)
    values: int = Field(default=3, ge=1, le=100)
    session_rounds: int = Field(default=20, ge=1, le=1000)

    @model_validator(mode="after")
    def _shape(self):
        if any(s < 1 or s > 1 << 30 for s in [*self.sizes, *(self.sizes_after or [])]):
            raise ValueError("a request size is 1 byte to 1 GiB")
        if self.kind != "retention":
            for field in ("sizes_after", "keep"):
                if getattr(self, field) is not None:
                    raise ValueError(f"{field} belongs to a retention driver, not to a {self.kind} one")
            if self.ops is None:
                raise ValueError(f"a {self.kind} driver needs ops (timed operations of one loop)")
        else:
            if self.slots < 1:
                raise ValueError("a retention driver grows a working set: slots must be at least 1")
            if self.threads != 1:
                raise ValueError("a retention driver runs on one thread (threads: 1)")
            if self.sizes_after is None:
                raise ValueError("a retention driver regrows from other sizes: give sizes_after")
            if self.keep is None or self.keep < 2:
                raise ValueError("a retention driver keeps every keep-th block: keep must be at least 2")
            if self.ops is None:
                self.ops = 2 * self.slots
        if self.kind == "gap" and self.slots < 1:
            raise ValueError("a gap driver keeps a working set: slots must be at least 1")
        if self.kind == "gap" and self.threads != 1:
            raise ValueError("a gap driver runs on one thread (threads: 1)")
        if self.kind == "remote" and self.threads < 2:
            raise ValueError("a remote driver hands blocks between threads: threads must be at least 2")
        return self


_ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
# what the measurement sets itself: the allocator's preload and the counting build's switch
_RESERVED_ENV = ("LD_PRELOAD", "HAK_STATS")


class _Program(BaseModel):
    model_config = ConfigDict(extra="forbid")
    argv: list[str] = Field(min_length=1)
    setup: Optional[list[str]] = Field(default=None, min_length=1)
    threads: Optional[int] = Field(default=None, ge=1, le=1024)
    env: Optional[dict[str, str]] = None
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    runs: int = Field(default=5, ge=1, le=1000)
    session_rounds: int = Field(default=5, ge=1, le=1000)
    # a server workload: `server` runs with the allocator preloaded, `argv` is its client, `check` reads
    # the server's state after the client (its output is what is compared between allocators)
    server: Optional[list[str]] = Field(default=None, min_length=1)
    check: Optional[list[str]] = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _shape(self):
        for what, argv in (("argv", self.argv), ("setup", self.setup or ["-"]), ("server", self.server or ["-"]),
                           ("check", self.check or ["-"])):
            if not argv[0].strip():
                raise ValueError(f"a program's {what} starts with the program to run, not an empty string")
        if self.check and not self.server:
            raise ValueError("check: belongs to a server workload (give its server: argv)")
        if self.server:
            for what, argv in (("server", self.server), ("argv", self.argv)):
                if not any("{port}" in a for a in argv):
                    raise ValueError(f"a server workload's {what} names its port as {{port}} (a free port of "
                                     f"127.0.0.1, chosen at each run)")
        for name in self.env or {}:
            if not re.match(_ENV_NAME_RE, name):
                raise ValueError(f"env: {name!r} is not a variable name (letters, digits and _)")
            if name in _RESERVED_ENV:
                raise ValueError(f"env: {name} is set by the measurement (the allocator's preload), not by "
                                 f"the workload")
        return self


class _WorkloadEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME_RE)
    description: str = Field(min_length=1)
    driver: Optional[_Driver] = None
    program: Optional[_Program] = None

    @model_validator(mode="after")
    def _one(self):
        if (self.driver is None) == (self.program is None):
            raise ValueError("an entry has exactly one of `driver:` (a C loop) or `program:` (an argv)")
        return self


class _WorkloadsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workloads: list[_WorkloadEntry] = Field(min_length=1)


# ---- reading it ---------------------------------------------------------------------------------

def workloads_file(project) -> Path:
    """The project's workloads.yaml, or the tool's own when the project has none."""
    from ..yamlfile import declaration_file
    return declaration_file(project, WORKLOADS_FILE)


@functools.lru_cache(maxsize=16)
def _load(path: Path, _stamp: tuple) -> dict[str, Workload]:
    from pydantic import ValidationError

    from ..yamlfile import entry_error, read_yaml

    shown = path.name
    data = read_yaml(path, shown, "the workload declarations")
    if not isinstance(data, dict):
        raise UserError(f"{shown}: expected a mapping with a `workloads:` list at the top level")
    try:
        parsed = _WorkloadsFile.model_validate(data)
    except ValidationError as exc:
        raise entry_error(shown, data, exc, "workloads") from None
    out: dict[str, Workload] = {}
    for i, e in enumerate(parsed.workloads):
        if e.name in out:
            raise UserError(f"{shown}: workloads[{i}] ({e.name}): name {e.name!r} is declared twice")
        text = " ".join(e.description.split())
        if e.driver is not None:
            d = e.driver
            out[e.name] = Workload(name=e.name, driver=d.kind, sizes=tuple(d.sizes), slots=d.slots, ops=d.ops,
                                   threads=d.threads, runs=d.runs, warmup_ops=d.warmup_ops, seed=d.seed,
                                   description=text, values=d.values, session_rounds=d.session_rounds,
                                   sizes_after=tuple(d.sizes_after or ()), keep=d.keep or 0)
        else:
            p = e.program
            out[e.name] = Workload(name=e.name, driver="program", sizes=(), slots=0, ops=1,
                                   threads=p.threads or 1, runs=p.runs, warmup_ops=0, seed=0, description=text,
                                   values=1, session_rounds=p.session_rounds, program=tuple(p.argv),
                                   setup=tuple(p.setup or ()), env=tuple(sorted((p.env or {}).items())),
                                   timeout_s=float(p.timeout_s), server=tuple(p.server or ()),
                                   check=tuple(p.check or ()))
    return out


def project_workloads(project=None) -> dict[str, Workload]:
    """name -> Workload of every workload the project declares (workloads.yaml)."""
    from ..variants import _current_project
    from ..yamlfile import file_stamp

    path = workloads_file(project or _current_project())
    return _load(path, file_stamp(path))


WORKLOADS: Mapping[str, Workload] = Declared("WORKLOADS", lambda: project_workloads())


def get_workload(name: str, drivers_only: str | None = None) -> Workload:
    """The workload `name`; a UserError naming the known ones.  `drivers_only`: the command asking,
    which measures driver loops only (route, counts, profile, coverage): a program is a UserError."""
    known = project_workloads()
    if name not in known:
        raise UserError(f"unknown workload {name!r}; known workloads: {', '.join(known)} "
                        f"(declared in {WORKLOADS_FILE})")
    w = known[name]
    if drivers_only and w.is_program:
        raise UserError(f"workload {name!r} is a program ({w.program[0]}): {drivers_only} measures a driver "
                        f"loop of native/bench.c; `reportgen bench` measures programs")
    return w
