"""`reportgen header-cost`: what the 6-B Mid header costs, in time and in space.

Time: the free-path kernel of native/bench_header.c, with and without the
header load, over working sets from 4 KiB to 64 MiB (blocks visited in
random order), in a dependent chain (latency exposed: the headline figures
ns_with_header / ns_without_header) and independent (loads may overlap).
One child per working set; the repetitions happen inside C.
Space: for each variant and request size, the block the library really
uses (hak_block_footprint), the usable size of a real block, and the header
bytes the library's config reports for that pool.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

from .errors import UserError
from .measure import (HEADER_COST_STRIDE, NullProgress, header_cost_flags, header_cost_lib,
                      resolve_allocator, run_child)
from .project import Project
from .store import in_order
from .units import f_bytes

# Requests for the space table: tiny ones, the Tiny/Mid boundary, and every Mid class.
SPACE_REQUESTS = (16, 100, 512, 1024, 2047, 2048, 3000, 4096, 8192, 16384, 32768)
MIN_WS, MAX_WS = 4 << 10, 64 << 20
# The documented order of a time row (records keep keys sorted; reused rows get it back).
_TIME_ORDER = ("working_set_bytes", "ns_with_header", "ns_without_header", "header_ns", "dependent",
               "independent", "independent_header_ns", "blocks", "ops_per_rep", "reps", "bad_magic")
_CHAIN_ORDER = ("with", "without", "min_with", "min_without")


def working_sets(quick: bool) -> list[int]:
    step = 4 if quick else 2
    out, ws = [], MIN_WS
    while ws <= MAX_WS:
        out.append(ws)
        ws *= step
    return out


def _time_point(res: dict) -> dict:
    dep, ind = res["dependent"], res["independent"]
    return {"working_set_bytes": res["working_set_bytes"],
            "ns_with_header": dep["with"], "ns_without_header": dep["without"],
            "header_ns": dep["with"] - dep["without"],
            "dependent": dep, "independent": ind,
            "independent_header_ns": ind["with"] - ind["without"],
            "blocks": res["blocks"], "ops_per_rep": res["ops_per_rep"], "reps": res["reps"],
            "bad_magic": res["bad_magic"]}


def _space_specs(project: Project, variants) -> list:
    specs = []
    for v in variants:
        spec = resolve_allocator(project, v)
        if not spec.is_project:
            raise UserError(f"header-cost space needs a project variant; {spec.name!r} is a system allocator")
        specs.append(spec)
    return specs


def _space_rows(specs, progress) -> tuple[list[dict], list[dict]]:
    rows, failures = [], []
    for spec in specs:
        res = run_child({"kind": "introspect", "hak_lib": spec.hak_lib, "sizes": list(SPACE_REQUESTS)},
                        timeout=60)
        progress.advance()
        if not res.get("ok"):
            failures.append({"variant": spec.name, "cause": res["failure"]})
            continue
        config = res["config"]
        for r in res["sizes"]:
            pool = r["route"]
            hdr = config.get(f"{pool}_header_bytes") if pool in ("tiny", "mid") else None
            block = r["footprint"] or None
            rows.append({"variant": spec.name, "request": r["size"], "pool": pool, "block": block,
                         "header_bytes": hdr, "usable": r["usable"],
                         "overhead_bytes": (block - r["size"]) if block else None,
                         "overhead_ratio": (block / r["size"] - 1) if block else None})
    return rows, failures


def run_header_cost(project: Project, variants=None, quick: bool = False, store=None, force: bool = False,
                    progress=None) -> dict:
    """the `header-cost --json` shape (docs/json.md): caches, time[], space[]."""
    from .machine import cache_sizes, environment
    from .store import Failure, Record, key_for
    from .variants import VARIANTS

    progress = progress or NullProgress()
    variants = list(variants or VARIANTS)
    specs = _space_specs(project, variants)   # bad names fail before any measuring
    lib = header_cost_lib(project)
    driver_hash = lib.parent.name.rsplit("-", 1)[-1]
    sets = working_sets(quick)
    min_ops, reps = (1 << 18, 3) if quick else (1 << 21, 5)
    params = {"quick": quick, "stride": HEADER_COST_STRIDE, "min_ops": min_ops, "reps": reps,
              "working_sets": sets}
    key = key_for("header_cost", None, None, params)
    caches = cache_sizes()

    time_rows, failures, reused = None, [], False
    if store is not None and not force:
        rec = store.current(key, driver_hash)
        if rec is not None and "time" in rec.extra:
            time_rows, reused = [_reordered(r) for r in rec.extra["time"]], True
            failures = [{"run": f.run, "cause": f.cause} for f in rec.failures]

    progress.start((0 if reused else len(sets)) + len(variants), "header cost")
    if time_rows is None:
        time_rows = []
        for i, ws in enumerate(sets):
            res = run_child({"kind": "header_cost", "lib": str(lib), "working_set_bytes": ws,
                             "stride": HEADER_COST_STRIDE, "min_ops": min_ops, "reps": reps, "seed": 0x6B},
                            timeout=600)
            progress.advance()
            if res.get("ok"):
                time_rows.append(_time_point(res))
            else:
                failures.append({"run": i, "cause": f"working set {ws}: {res['failure']}"})
        if store is not None:
            store.put(Record(kind="header_cost", params=params, source_hash=driver_hash,
                             created=datetime.now(timezone.utc),
                             environment=environment(project, header_cost_flags()),
                             samples=[r["ns_with_header"] for r in time_rows],
                             failures=[Failure(**f) for f in failures],
                             extra={"time": time_rows, "caches": caches, "unit": "ns/op",
                                    "samples_are": "ns_with_header per working set (dependent chain)"}))

    space, space_failures = _space_rows(specs, progress)
    if store is not None:
        for spec in specs:
            rows = [r for r in space if r["variant"] == spec.name]
            if not rows:
                continue
            skey = key_for("header_space", None, spec.name, {"requests": list(SPACE_REQUESTS)})
            cur = store.current(skey, spec.source_hash)
            if cur is None or cur.extra.get("space") != rows:
                store.put(Record(kind="header_space", allocator=spec.name,
                                 params={"requests": list(SPACE_REQUESTS)}, source_hash=spec.source_hash,
                                 created=datetime.now(timezone.utc),
                                 environment=environment(project, spec.build_flags),
                                 extra={"space": rows, "driver_hash": spec.driver_hash}))
    return {"caches": caches, "time": time_rows, "space": space, "stride_bytes": HEADER_COST_STRIDE,
            "quick": quick, "reps": reps, "min_ops": min_ops, "failures": failures + space_failures,
            "reused": reused,
            "method": "ns per free, median of the repetitions; ns_with_header / ns_without_header are the "
                      "dependent chain (latency exposed), `independent` lets loads overlap"}


def _reordered(row: dict) -> dict:
    row = in_order(row, _TIME_ORDER)
    for chain in ("dependent", "independent"):
        if isinstance(row.get(chain), dict):
            row[chain] = in_order(row[chain], _CHAIN_ORDER)
    return row


def cmd_header_cost(args, project: Project) -> int:
    from .cli import report_measurement
    return report_measurement(args, project, lambda **kw: run_header_cost(
        project, variants=args.variant, quick=args.quick, **kw), print_header_cost)


def print_header_cost(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
    caches = out["caches"]
    con.print("caches: " + ", ".join(f"{k} {f_bytes(v)}" for k, v in caches.items()))
    t = Table(title=f"header read, ns per free (stride {out['stride_bytes']} B, random order)")
    for col in ("working set", "level", "dep. with", "dep. without", "header", "indep. with",
                "indep. without", "header"):
        t.add_column(col, justify="right")
    for r in out["time"]:
        ws = r["working_set_bytes"]
        level = next((k for k in ("L1d", "L2", "L3") if k in caches and ws <= caches[k]), "DRAM")
        d, i = r["dependent"], r["independent"]
        t.add_row(f_bytes(ws), level, f"{d['with']:.2f}", f"{d['without']:.2f}", f"{r['header_ns']:+.2f}",
                  f"{i['with']:.2f}", f"{i['without']:.2f}", f"{r['independent_header_ns']:+.2f}")
    con.print(t)
    s = Table(title="space per block")
    for col in ("variant", "request", "pool", "block", "header bytes", "usable", "overhead"):
        s.add_column(col, justify="right")
    for r in out["space"]:
        s.add_row(r["variant"], str(r["request"]), str(r["pool"]), str(r["block"]), str(r["header_bytes"]),
                  str(r["usable"]), "-" if r["overhead_ratio"] is None else f"{r['overhead_ratio']:.1%}")
    con.print(s)
    for f in out["failures"]:
        con.print(f"[red]failure[/red] {f}")
