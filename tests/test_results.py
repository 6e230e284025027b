"""The result kinds are defined once (reportgen/results.py): docs, fixtures, engine output and stored
records agree with those definitions, and older records are migrated, not refused."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reportgen import results, store
from reportgen.store import CorruptRecordError, Record, Store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def test_docs_list_the_fields_of_every_result_model():
    text = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")
    block = text.split("<!-- fields:start -->\n", 1)[1].split("<!-- fields:end -->", 1)[0]
    assert block.strip() == results.field_lists().strip(), "run `python -m reportgen.results` into docs/json.md"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_fixtures_have_the_shape_of_their_kind(path):
    kind = {"bench": results.BenchResult, "route": results.RouteResult, "header": results.HeaderCostResult}.get(
        path.name.split("-")[0])
    if kind is None:
        return
    data = json.loads(path.read_text())
    # validated without loss: same keys and values (the shape only orders them)
    assert json.dumps(kind.shape(data), sort_keys=True) == json.dumps(data, sort_keys=True)


def test_shape_keeps_values_exactly_and_orders_keys():
    row = {"size": 4096, "count": 3, "measured": "mid", "predicted": "mid", "extra_detail": 1.0}
    out = results.RouteSize.shape(row)
    assert list(out) == ["size", "predicted", "measured", "count", "extra_detail"]
    assert isinstance(out["count"], int) and isinstance(out["extra_detail"], float)
    chain = results.Chain.shape({"without": 1.0, "with": 2.0})
    assert list(chain) == ["with", "without"]


def test_empty_phase_results_has_every_field():
    assert list(results.PhaseResults(phase="p").dump()) == results.PhaseResults.field_names()


def _one_record(tmp_path) -> tuple[Store, Path]:
    s = Store(tmp_path, "m1")
    path = s.put(Record(kind="route", workload="w", allocator="a", params={"ops": 1}, source_hash="h",
                        created=datetime(2026, 1, 1, tzinfo=timezone.utc), extra={"route": {"workload": "w"}}))
    return s, path


def test_an_older_record_is_migrated_when_read(tmp_path, monkeypatch):
    s, path = _one_record(tmp_path)
    monkeypatch.setattr(store, "SCHEMA_VERSION", store.SCHEMA_VERSION + 1)
    monkeypatch.setitem(store.MIGRATIONS, store.SCHEMA_VERSION - 1,
                        lambda d: {**d, "extra": {**d["extra"], "migrated": True}})
    rec = s.load(path)
    assert rec.schema_version == store.SCHEMA_VERSION and rec.extra["migrated"] is True
    assert json.loads(path.read_text())["schema_version"] == store.SCHEMA_VERSION - 1   # the file is untouched


def test_an_older_record_with_no_migration_is_refused_in_one_line(tmp_path, monkeypatch):
    s, path = _one_record(tmp_path)
    monkeypatch.setattr(store, "SCHEMA_VERSION", store.SCHEMA_VERSION + 1)
    with pytest.raises(CorruptRecordError, match="no migration"):
        s.load(path)
