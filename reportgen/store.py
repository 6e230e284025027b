"""Results store: one JSON file per measurement, the record of history.

Layout: `<root>/<machine>/<kind>/<slug of key>/<created>-<content hash>.json`.
Files are written once and never changed: `put` links a fully written
temporary file into place (atomic, and unlike os.replace it cannot clobber a
file that appeared meanwhile). The name carries a hash of the content, so a
record edited after the fact no longer matches its name and is reported.

A record written by an older reportgen (a lower schema_version) is migrated
when it is read, one version at a time (MIGRATIONS), and checked against the
name it was written under; the file itself is never rewritten.

A file that cannot be read as a record (bad JSON, a schema mismatch, a
schema_version from a newer reportgen or one with no migration, content not
matching its name) is a
*problem*: it is never dropped silently, replaced or deleted. Readers skip
it, emit a CorruptRecordWarning naming the file and the reason, and list it
in `Store.problems()` for the CLI to show; `Store(..., strict=True)` raises
CorruptRecordError instead.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SCHEMA_VERSION = 1
# MIGRATIONS[v]: a record of schema v (its JSON object) -> the same record in schema v + 1.  Bumping
# SCHEMA_VERSION (a record's fields, or a result kind's shape in reportgen/results.py, changed) adds one.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}
_TMP_PREFIX = ".tmp-"
_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


class CorruptRecordError(Exception):
    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


class RecordConflictError(Exception):
    """A different record already sits at the path a new one would take."""


class CorruptRecordWarning(UserWarning):
    pass


@dataclass(frozen=True)
class Problem:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"

    def line(self) -> str:
        """One line for a person: what the file is, why it was skipped, that it is untouched."""
        return f"unreadable record {self.path}: {' '.join(self.reason.split())} (left in place)"


def _normalise(value: Any) -> Any:
    """Integral floats become ints so that ops=1e6 and ops=1000000 give one key."""
    if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


def key_for(kind: str, workload: str | None, allocator: str | None, params: dict | None = None) -> str:
    """Canonical key: `kind/workload/allocator/<params as sorted compact JSON>`."""
    p = json.dumps(_normalise(dict(params or {})), sort_keys=True, separators=(",", ":"))
    return f"{kind}/{workload or '-'}/{allocator or '-'}/{p}"


def in_order(d: dict, order) -> dict:
    """`d` with the keys named in `order` first, in that order, then the rest.

    Records are written with sorted keys (canonical JSON); a reader that gives a
    stored result back uses this to restore the order its output documents."""
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


def migrate(raw: dict) -> dict:
    """A stored record's JSON object brought to SCHEMA_VERSION (as far as MIGRATIONS go)."""
    version = raw.get("schema_version")
    while isinstance(version, int) and not isinstance(version, bool) and version < SCHEMA_VERSION \
            and version in MIGRATIONS:
        raw = {**MIGRATIONS[version](dict(raw)), "schema_version": version + 1}
        version += 1
    return raw


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n"


def slug(key: str) -> str:
    """Directory name of a key: readable prefix + hash (distinct keys never share a directory)."""
    readable = _SAFE.sub("_", key).strip("_.")[:80]
    return f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: int
    cause: str


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Record(BaseModel):
    """One measurement. `key` is derived from kind/workload/allocator/params
    (a stored key that disagrees is a corrupt record)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    kind: str  # "bench" | "route" | "route_size" | "header_cost" | ...
    key: str = ""
    workload: str | None = None
    allocator: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    source_hash: str | None = None  # build hash of a project variant; path+size+mtime or version of a peer
    created: datetime = Field(default_factory=_utcnow)
    environment: dict[str, Any] = Field(default_factory=dict)
    samples: list[float] = Field(default_factory=list)
    counters: dict[str, Any] = Field(default_factory=dict)
    failures: list[Failure] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is newer than this reportgen understands "
                             f"({SCHEMA_VERSION}): upgrade reportgen")
        if v < SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is older than {SCHEMA_VERSION} and no migration is defined")
        return v

    @field_validator("created")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("created must carry a time zone (UTC)")
        return v.astimezone(timezone.utc)

    @field_validator("samples")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("samples must be finite (a failed run belongs in failures)")
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if not v or _SAFE.search(v):
            raise ValueError(f"kind must be a plain name (letters, digits, ._=+-), got {v!r}")
        return v

    @model_validator(mode="after")
    def _key(self) -> "Record":
        # params normalised the same way key_for does, so the stored JSON is canonical too
        object.__setattr__(self, "params", _normalise(self.params))
        expected = key_for(self.kind, self.workload, self.allocator, self.params)
        if not self.key:
            object.__setattr__(self, "key", expected)
        elif self.key != expected:
            raise ValueError(f"key {self.key!r} does not match kind/workload/allocator/params ({expected!r})")
        return self

    def canonical_json(self) -> str:
        return _canonical(self.model_dump(mode="json"))

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def filename(self) -> str:
        stamp = self.created.strftime("%Y%m%dT%H%M%S.%fZ")
        return f"{stamp}-{self.content_hash()[:12]}.json"


def _check_name(name: str, what: str) -> str:
    if not name or name in (".", "..") or _SAFE.search(name):
        raise ValueError(f"{what} must be a plain name (letters, digits, ._=+-), got {name!r}")
    return name


class Store:
    """Records of one machine under `root/<machine>/`."""

    def __init__(self, root: Path, machine: str, *, strict: bool = False):
        self.root = Path(root)
        self.machine = _check_name(machine, "machine")
        self.strict = strict
        self._problems: dict[Path, str] = {}
        # path -> (size, mtime, record): a record read and checked once is not checked again
        # while its file is unchanged (a publish reads each phase record twice)
        self._checked: dict[Path, tuple] = {}

    @classmethod
    def for_project(cls, project, machine: str, *, strict: bool = False) -> "Store":
        """The store under project.results_dir (REPORTGEN_RESULTS_DIR overrides it)."""
        return cls(project.results_dir, machine, strict=strict)

    @property
    def dir(self) -> Path:
        return self.root / self.machine

    @staticmethod
    def machines(root: Path) -> list[str]:
        root = Path(root)
        return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if root.is_dir() else []

    def key_dir(self, kind: str, key: str) -> Path:
        return self.dir / kind / slug(key)

    def path_for(self, record: Record) -> Path:
        return self.key_dir(record.kind, record.key) / record.filename()

    # -- writing ------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise OSError (with the system's reason) unless a record can be written under dir.

        Folders it had to create for the test are removed again: checking writes nothing."""
        missing = []   # deepest first
        for p in [self.dir, *self.dir.parents]:
            if p.exists() or p.is_symlink():
                break
            missing.append(p)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".writable-", dir=self.dir)
            os.close(fd)
            os.unlink(tmp)
        finally:
            for p in missing:   # only if still empty: a concurrent run may have put records there
                try:
                    p.rmdir()
                except OSError:
                    break

    def put(self, record: Record) -> Path:
        """Write a record once. Identical content already there: no-op.
        A different file at that path: RecordConflictError, nothing touched."""
        data = record.canonical_json().encode()
        final = self.path_for(record)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".json", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, final)  # atomic and refuses to overwrite
            except FileExistsError:
                if final.read_bytes() != data:
                    raise RecordConflictError(f"{final} already holds a different record; not overwritten")
        finally:
            os.unlink(tmp)
        self._fsync_dir(final.parent)
        return final

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- reading ------------------------------------------------------------------

    def _problem(self, path: Path, reason: str) -> None:
        if self.strict:
            raise CorruptRecordError(path, reason)
        if path not in self._problems:
            self._problems[path] = reason
            warnings.warn(f"unreadable result record {path}: {reason} (left in place)",
                          CorruptRecordWarning, stacklevel=3)

    def problems(self) -> list[Problem]:
        """Every unreadable file met so far (by this Store's reads), with the reason."""
        return [Problem(p, r) for p, r in sorted(self._problems.items())]

    def load(self, path: Path) -> Record:
        """Read one file; raises CorruptRecordError with the reason."""
        path = Path(path)
        try:
            st = path.stat()
            seen = self._checked.get(path)
            if seen is not None and seen[:2] == (st.st_size, st.st_mtime_ns):
                return seen[2]
        except OSError:
            st = None
        rec = self._load(path)
        if st is not None:
            self._checked[path] = (st.st_size, st.st_mtime_ns, rec)
        return rec

    def _load(self, path: Path) -> Record:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptRecordError(path, f"not valid JSON ({exc})")
        if not isinstance(raw, dict):
            raise CorruptRecordError(path, "not a JSON object")
        version = raw.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise CorruptRecordError(path, f"schema_version {version} is newer than this reportgen "
                                           f"understands ({SCHEMA_VERSION}): upgrade reportgen")
        migrated = migrate(raw)
        try:
            rec = Record.model_validate(migrated)
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'record'}: {e['msg']}"
                             for e in exc.errors()[:3])
            raise CorruptRecordError(path, f"schema mismatch ({errs})")
        # a migrated record is checked as it was written: its name and its place come from that
        if migrated is raw:
            expected, key, kind = rec.content_hash()[:12], rec.key, rec.kind
        else:
            try:
                expected = hashlib.sha256(_canonical(raw).encode()).hexdigest()[:12]
            except ValueError as exc:
                raise CorruptRecordError(path, f"not a canonical record ({exc})")
            key, kind = str(raw.get("key")), str(raw.get("kind"))
        if not path.stem.endswith("-" + expected):
            raise CorruptRecordError(path, f"content does not match its name (hash {expected}): "
                                           "changed after it was written")
        if path.parent.name != slug(key) or path.parent.parent.name != kind:
            raise CorruptRecordError(path, f"record with key {rec.key!r} is in the wrong directory")
        return rec

    def _read_dir(self, directory: Path) -> list[tuple[Path, Record]]:
        out = []
        if not directory.is_dir():
            return out
        for path in sorted(directory.iterdir()):
            if path.name.startswith(_TMP_PREFIX):
                self._problem(path, "temporary file of an interrupted write (not a record)")
                continue
            if not path.is_file() or path.suffix != ".json":
                continue
            try:
                out.append((path, self.load(path)))
            except CorruptRecordError as exc:
                self._problem(exc.path, exc.reason)
        out.sort(key=lambda pr: (pr[1].created, pr[0].name))
        return out

    def _kind_of(self, key: str) -> str:
        return key.split("/", 1)[0]

    def history(self, key: str) -> list[Record]:
        """Every readable record of the key, oldest first."""
        return [r for _, r in self._read_dir(self.key_dir(self._kind_of(key), key))]

    def latest(self, key: str) -> Record | None:
        h = self.history(key)
        return h[-1] if h else None

    def current(self, key: str, source_hash: str | None) -> Record | None:
        """Newest record measured from this source (None: missing or stale, measure it).

        A record with failed runs is never current: it stays in the history (and on the
        pages that showed it), and the next run measures again."""
        for rec in reversed(self.history(key)):
            if rec.source_hash == source_hash:
                return None if rec.failures else rec
        return None

    def scan(self, kind: str | None = None) -> tuple[list[Record], list[Problem]]:
        """Every record of this machine (ordered by kind, key, created) and every unreadable file;
        with `kind`, only that kind's folder is read."""
        records: list[Record] = []
        seen: set[Path] = set()
        if self.dir.is_dir():
            kinds = [self.dir / kind] if kind is not None else sorted(p for p in self.dir.iterdir() if p.is_dir())
            for kind_dir in (k for k in kinds if k.is_dir()):
                for key_dir in sorted(p for p in kind_dir.iterdir() if p.is_dir()):
                    records.extend(r for _, r in self._read_dir(key_dir))
                    seen.add(key_dir)
        return records, [p for p in self.problems() if p.path.parent in seen]

    def latest_by_key(self, kind: str | None = None) -> dict[str, Record]:
        records, _ = self.scan(kind)
        out: dict[str, Record] = {}
        for r in records:  # scan orders by created within a key: last wins
            if kind is None or r.kind == kind:
                out[r.key] = r
        return out
