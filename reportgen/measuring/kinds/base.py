"""One way to measure through the store: a MeasurementKind, and measure_through_store.

A kind declares what identifies its records (keys), what makes them stale
(source and build hashes), how to run it and what to keep of a run;
`measure_through_store` does the rest the same way for every kind: reuse a
current result unless forced, otherwise measure, record, and give the result
back.  A run that is interrupted raises Interrupted with what it completed:
that is recorded too, and the interruption goes on as a KeyboardInterrupt.

A kind's unit of reuse may be one record (route, header cost: SingleRecordKind)
or a group of records (bench: one record per allocator, reused only as a whole
session).  Failed runs are recorded with the rest and make a record not
current (Store.current), so the next run measures again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from ..child import NullProgress
from ...store import Failure, Record, key_for


class Interrupted(KeyboardInterrupt):
    """A measurement stopped early (Ctrl-C, SIGTERM); `measured` is what it completed."""

    def __init__(self, measured: Any):
        super().__init__()
        self.measured = measured


class MeasurementKind(Protocol):
    def current(self, store) -> Any | None:
        """What the store holds that is current for this measurement (None: measure it)."""

    def measure(self, progress, store, force: bool) -> Any:
        """Run it (`store`, maybe None, for a kind that resumes interrupted work)."""

    def records(self, measured) -> list[Record]:
        """What to keep of a run (or of the part an Interrupted carries)."""

    def result(self, found, reused: bool) -> dict:
        """The kind's result (its `--json` shape), from a run or from what `current` found."""


def measure_through_store(kind: MeasurementKind, store=None, *, force: bool = False, progress=None) -> dict:
    """Reuse, or measure and record: the one store path of every measurement kind."""
    progress = progress or NullProgress()
    if store is not None and not force:
        found = kind.current(store)
        if found is not None:
            return kind.result(found, reused=True)
    try:
        measured = kind.measure(progress, store, force)
    except Interrupted as stop:
        if store is not None:
            for rec in kind.records(stop.measured):
                store.put(rec)
        raise KeyboardInterrupt from None
    if store is not None:
        for rec in kind.records(measured):
            store.put(rec)
    return kind.result(measured, reused=False)


@dataclass
class SingleRecordKind:
    """A kind kept as one record per key: current when measured from `source_hash` and, when
    given, with `driver_hash` (the build that ran it), with no failed run, holding `payload`."""
    kind: str
    workload: str | None
    allocator: str | None
    params: dict
    source_hash: str | None
    driver_hash: str | None = None
    payload: str = ""              # the key of `extra` the result is kept under
    build_flags: Any = field(default=None)

    @property
    def key(self) -> str:
        return key_for(self.kind, self.workload, self.allocator, self.params)

    def current_record(self, store) -> Record | None:
        rec = store.current(self.key, self.source_hash)
        if rec is None or self.payload not in rec.extra:
            return None
        if self.driver_hash is not None and rec.extra.get("driver_hash") != self.driver_hash:
            return None
        return rec

    def record(self, project, *, samples=(), counters=None, failures=(), extra: dict) -> Record:
        from ...machine import environment
        if self.driver_hash is not None:
            extra = {"driver_hash": self.driver_hash, **extra}
        return Record(kind=self.kind, workload=self.workload, allocator=self.allocator, params=self.params,
                      source_hash=self.source_hash, created=datetime.now(timezone.utc),
                      environment=environment(project, self.build_flags), samples=list(samples),
                      counters=counters or {}, failures=[Failure(**f) for f in failures], extra=extra)
