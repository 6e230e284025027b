"""A `reportgen history` result kept as its own record, so the site can show it.

The bench rows of a history are recorded by the bench kind (one record per library), but the
series itself (which commit built which library, what was skipped and why, the steps) exists
only in the command's output: kept here as one record of kind `history` per series, keyed by
workload, variant and the commits it spans (reference, last commit, --every).  The site shows
the newest series of each workload and variant (`latest_series`): measuring another range of
the same variant replaces its page, as a newer measurement of a phase replaces its page.

A series measured again and reused whole (the same libraries, the same samples) writes no new
record: the record says what was measured, not how often it was looked at.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

KIND = "history"


def _finite(out: dict) -> dict:
    """`out` as JSON can keep it: a NaN or an infinity (a p-value of nothing) becomes null."""
    return json.loads(json.dumps(out), parse_constant=lambda _: None)


def _substance(out: dict) -> dict:
    """What a series measured, without whether this call reused it (nor the compiler's output of a
    commit that did not build, which names the build's temporary folder)."""
    m = {k: v for k, v in (out.get("measurement") or {}).items() if k != "reused"}
    commits = [{**c, "results": {k: v for k, v in (c.get("results") or {}).items() if k != "reused"}}
               for c in out.get("commits") or []]
    skipped = [{k: v for k, v in s.items() if k != "detail"} for s in out.get("skipped") or []]
    return {**out, "measurement": m, "commits": commits, "skipped": skipped}


def series_params(out: dict, order: list[str]) -> dict:
    """The record's key parameters: the commits the series spans, never the range as typed (HEAD moves)."""
    return {"reference": out["reference"], "last": order[-1], "every": out.get("every", 1)}


def save_series(project, store, out: dict, order: list[str]):
    """Record a series (`run_history`'s output; `order` every commit of it, skipped ones too, oldest
    first); None when the newest record of the same series holds the same measurement."""
    from ..machine import environment
    from ..store import Record, key_for

    out = _finite(out)
    params = series_params(out, order)
    last = store.latest(key_for(KIND, out["workload"], out["variant"], params))
    if last is not None and _substance(last.extra.get("history") or {}) == _substance(out):
        return None
    libraries = json.dumps(sorted({c["label"] for c in out.get("commits") or []}))
    rec = Record(kind=KIND, workload=out["workload"], allocator=out["variant"], params=params,
                 source_hash=hashlib.sha256(libraries.encode()).hexdigest()[:16],
                 created=datetime.now(timezone.utc), environment=environment(project),
                 extra={"history": out, "order": list(order)})
    return store.put(rec)


def latest_series(store) -> list[dict]:
    """The newest recorded series of each workload and variant of this machine, ordered by workload
    and variant: [{workload, variant, history, order, created, environment}]."""
    newest: dict[tuple, object] = {}
    records, _ = store.scan(KIND)
    for rec in records:
        if "history" not in rec.extra:
            continue
        at = (rec.workload, rec.allocator)
        if at not in newest or rec.created >= newest[at].created:
            newest[at] = rec
    return [{"workload": w, "variant": v, "history": rec.extra["history"],
             "order": rec.extra.get("order") or [c["commit"] for c in rec.extra["history"].get("commits") or []],
             "created": rec.created.isoformat(timespec="seconds"), "environment": rec.environment or {}}
            for (w, v), rec in sorted(newest.items())]
