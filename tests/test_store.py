"""The results store: write-once files, history, staleness, and problems reported, never hidden."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from reportgen.store import (SCHEMA_VERSION, CorruptRecordError, CorruptRecordWarning, Problem, Record,
                             RecordConflictError, Store, in_order, key_for, slug)

T0 = datetime(2025, 11, 29, 12, 0, 0, tzinfo=timezone.utc)


def rec(i: int = 0, source_hash: str | None = "src1", **kw) -> Record:
    base = dict(kind="bench", workload="mid_mt_gap", allocator="hak-6b", params={"ops": 1000000, "runs": 5},
                source_hash=source_hash, created=T0 + timedelta(minutes=i), samples=[40e6 + i, 40.1e6],
                environment={"cpu": "test cpu"}, failures=[{"run": 3, "cause": "SIGSEGV"}])
    base.update(kw)
    return Record(**base)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "results", "test-machine")


def all_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_key_is_canonical():
    a = key_for("bench", "mid_mt_gap", "hak-6b", {"runs": 5, "ops": 1000000})
    b = key_for("bench", "mid_mt_gap", "hak-6b", {"ops": 1e6, "runs": 5})
    assert a == b == 'bench/mid_mt_gap/hak-6b/{"ops":1000000,"runs":5}'
    assert key_for("bench", "mid_mt_gap", "hak-6a", {}) != key_for("bench", "mid_mt_gap", "hak-6b", {})
    assert rec().key == a
    assert slug(a) != slug(key_for("bench", "mid_mt_gap", "hak-6b", {"ops": 1000001, "runs": 5}))


def test_put_is_atomic_and_leaves_no_temp_files(store):
    path = store.put(rec())
    assert path.parent.parent == store.dir / "bench" and path.parent.name == slug(rec().key)
    assert all_files(store.root) == [path]
    assert not any(p.name.startswith(".tmp") for p in all_files(store.root))
    assert store.load(path) == rec()


def test_put_is_idempotent(store):
    p1 = store.put(rec())
    before = p1.read_bytes()
    assert store.put(rec()) == p1
    assert all_files(store.root) == [p1] and p1.read_bytes() == before


def test_never_overwrites_a_different_record(store):
    path = store.put(rec())
    path.write_text(path.read_text().replace("SIGSEGV", "SIGBUS"))  # someone else's content at that path
    tampered = path.read_bytes()
    with pytest.raises(RecordConflictError):
        store.put(rec())
    assert path.read_bytes() == tampered
    assert not any(p.name.startswith(".tmp") for p in all_files(store.root))


def test_history_and_latest_ordering(store):
    for i in (2, 0, 1):
        store.put(rec(i))
    h = store.history(rec().key)
    assert [r.created for r in h] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert store.latest(rec().key) == rec(2)
    assert store.latest(key_for("bench", "mid_only", "hak-6b", {})) is None
    assert store.history(key_for("bench", "nothing", "x", {})) == []


def test_staleness_by_source_hash(store):
    store.put(rec(0, source_hash="old", failures=[]))
    store.put(rec(1, source_hash="new", failures=[]))
    store.put(rec(2, source_hash="old", failures=[]))  # e.g. the edit was reverted
    key = rec().key
    assert store.current(key, "new") == rec(1, source_hash="new", failures=[])
    assert store.current(key, "old") == rec(2, source_hash="old", failures=[])
    assert store.current(key, "edited-again") is None  # stale: measure it
    store.put(rec(3, source_hash="new"))  # measured again, and a run crashed
    assert store.current(key, "new") is None  # a record with a failed run is never current


def test_corrupt_record_reported_by_name_and_left_alone(store):
    good = store.put(rec(0))
    garbage = good.parent / "20251129T130000.000000Z-deadbeefdead.json"
    garbage.write_bytes(b"{not json")
    with pytest.warns(CorruptRecordWarning, match=garbage.name):
        records, problems = store.scan()
    assert records == [rec(0)]
    assert [p.path for p in problems] == [garbage] and "not valid JSON" in problems[0].reason
    assert garbage.read_bytes() == b"{not json"  # not repaired, not deleted
    # readers skip it but it stays on the problem list
    assert store.latest(rec().key) == rec(0)
    assert store.problems()[0].path == garbage
    # a new measurement does not touch it
    store.put(rec(5))
    assert garbage.read_bytes() == b"{not json"


def test_a_problem_is_one_line_for_a_person(tmp_path):
    p = Problem(tmp_path / "x.json", "schema mismatch (samples: bad;\n  created: missing)")
    line = p.line()
    assert "\n" not in line and str(p.path) in line and line.endswith("(left in place)")
    assert "samples: bad; created: missing" in line


def test_in_order_restores_a_documented_order():
    stored = json.loads(json.dumps({"workload": "w", "variant": "v", "extra": 1, "pools": {}}, sort_keys=True))
    assert list(in_order(stored, ("workload", "variant", "pools", "absent"))) == ["workload", "variant", "pools",
                                                                              "extra"]


def test_strict_store_raises(store):
    good = store.put(rec(0))
    bad = good.parent / "20251129T130000.000000Z-000000000000.json"
    bad.write_text("[]")
    strict = Store(store.root, store.machine, strict=True)
    with pytest.raises(CorruptRecordError) as exc:
        strict.latest(rec().key)
    assert exc.value.path == bad and "not a JSON object" in exc.value.reason


def _rewrite(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_future_schema_version_reported(store):
    path = store.put(rec(0))
    _rewrite(path, lambda d: d.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.warns(CorruptRecordWarning):
        records, problems = store.scan()
    assert records == []
    assert "newer than this reportgen understands" in problems[0].reason and problems[0].path == path


def test_schema_mismatch_reported(store):
    path = store.put(rec(0))
    _rewrite(path, lambda d: d.update(samples="fast"))
    with pytest.warns(CorruptRecordWarning):
        _, problems = store.scan()
    assert problems[0].path == path and "schema mismatch" in problems[0].reason and "samples" in problems[0].reason


def test_edited_record_no_longer_matches_its_name(store):
    path = store.put(rec(0))
    _rewrite(path, lambda d: d.update(samples=[99e6, 99e6]))  # a "better" result typed in by hand
    with pytest.warns(CorruptRecordWarning):
        records, problems = store.scan()
    assert records == [] and "does not match its name" in problems[0].reason


def test_leftover_temp_file_is_reported_not_read(store):
    path = store.put(rec(0))
    tmp = path.parent / ".tmp-crashed.json"
    tmp.write_text("{")
    with pytest.warns(CorruptRecordWarning):
        records, problems = store.scan()
    assert records == [rec(0)] and problems[0].path == tmp and tmp.exists()


def test_invalid_records_rejected_before_writing(store):
    with pytest.raises(ValueError):
        rec(samples=[float("nan")])
    with pytest.raises(ValueError):
        rec(key="bench/other/hak-6b/{}")
    with pytest.raises(ValueError):
        rec(created=datetime(2025, 1, 1))  # naive time
    with pytest.raises(ValueError):
        Store(store.root, "../elsewhere")
    assert not store.root.exists()


def test_for_project_uses_results_dir(tmp_path, monkeypatch):
    from reportgen.project import Project
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(tmp_path / "elsewhere"))
    s = Store.for_project(Project(tmp_path), "m")
    assert s.dir == tmp_path / "elsewhere" / "m"


def test_machines_are_separate(tmp_path):
    a, b = Store(tmp_path, "m-a"), Store(tmp_path, "m-b")
    a.put(rec(0))
    assert b.latest(rec().key) is None
    assert Store.machines(tmp_path) == ["m-a"]
    assert list(a.latest_by_key("bench")) == [rec().key]


def test_roundtrip_keeps_every_field(store):
    r = rec(0, counters={"mid_frees": 750000, "tiny_class_allocs": [1, 2]}, extra={"quick": True})
    path = store.put(r)
    back = store.load(path)
    assert back == r and back.model_dump() == r.model_dump()
    assert os.path.basename(path).startswith("20251129T120000.000000Z-")
