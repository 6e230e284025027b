"""Exact counts with valgrind's callgrind: run one measurement child under it, read its output.

The C driver (native/bench.c) starts callgrind's instrumentation at the start of the
timed loop and stops it at the end (valgrind/callgrind.h; no-ops outside valgrind), and
the child runs with --instr-atstart=no, so the counts are those of the timed loop only.
The cache simulator is told this machine's geometry (machine.cache_geometry): L1d as
D1, the last level as LL.  Counts are deterministic for a single-threaded workload: the
same build, request and valgrind give the same numbers.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .tools import tool_path

# callgrind's event names (with --cache-sim=yes) and what the reports call them.
EVENTS = {"Ir": "instructions", "Dr": "data_reads", "Dw": "data_writes",
          "D1mr": "d1_read_misses", "D1mw": "d1_write_misses", "DLmr": "ll_read_misses", "DLmw": "ll_write_misses"}

# The allocator's functions by role, from their names (native/*.c: hak_malloc, _hak_mid_free, ...;
# a system allocator's own names fall in the same groups: mi_free, je_malloc, ...).  First match wins.
GROUPS = (
    ("refill", re.compile(r"_slow\b|segment_new|_os_(alloc|free|map)|registry_add|heap_(new|init)|refill|"
                          r"mmap|madvise")),
    ("router", re.compile(r"_route\b|pool_of|block_start|_map_set")),
    ("free", re.compile(r"free|dalloc|registry_lookup|push_local")),
    ("malloc", re.compile(r"malloc|alloc")),
    ("locks", re.compile(r"pthread_mutex|__lll_lock|__lll_unlock")),
    ("driver", re.compile(r"^bench_")),
)


def valgrind_path() -> str:
    """valgrind's executable (REPORTGEN_VALGRIND names another), or a UserError naming the package."""
    return tool_path("valgrind", "REPORTGEN_VALGRIND",
                     "valgrind is not installed (apt-get install valgrind): exact counts need callgrind")


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def cache_options(geometry: dict) -> tuple[list[str], dict]:
    """callgrind's --I1/--D1/--LL from the machine's cache geometry, and the geometry used.

    valgrind wants a power-of-two number of sets.  A level whose sets are not (a 480 MiB, 16-way
    L3 of a virtual machine) keeps its size and line and takes the associativity nearest its own
    that makes them so (15-way here), as valgrind's own detection does; `used` says so
    (`assoc_reported`).  A level with no such associativity is left to valgrind's default."""
    opts, used = [], {}
    last = max((k for k in geometry if k[1:].rstrip("di").isdigit() and k not in ("L1i", "L1d")),
               key=lambda k: int(k[1:]), default=None)
    for flag, name in (("I1", "L1i"), ("D1", "L1d"), ("LL", last)):
        g = geometry.get(name) if name else None
        if not g:
            continue
        g = dict(g)
        if not _pow2(g["size"] // (g["assoc"] * g["line"])):
            lines = g["size"] // g["line"]
            fits = [lines // (1 << k) for k in range(lines.bit_length())
                    if lines % (1 << k) == 0 and lines // (1 << k) >= 1]
            if not fits or g["size"] % g["line"]:
                continue
            g["assoc_reported"], g["assoc"] = g["assoc"], min(fits, key=lambda a: (abs(a - g["assoc"]), a))
        opts.append(f"--{flag}={g['size']},{g['assoc']},{g['line']}")
        used[flag] = {"level": name, **g}
    return opts, used


def wrapper(out_file: Path, geometry: dict) -> tuple[list[str], dict]:
    opts, used = cache_options(geometry)
    return [valgrind_path(), "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes",
            f"--callgrind-out-file={out_file}", *opts], used


def parse(text: str, line_files: str | None = None) -> dict:
    """The events, their totals and each function's own (exclusive) cost from a callgrind output file.

    With `line_files` (a path fragment, e.g. "/native/"), also the cost of each source line of the
    files whose path contains it (`lines`: "file:line" -> {"self": events, "calls": {callee: events}}):
    callgrind gives positions by source line, with the file switched for inlined code (fi=/fe=), so a
    static function inlined into its caller still has its own lines; a call's inclusive cost is kept
    by callee, beside the line's own, so a caller's cost can be summed without counting a callee twice.
    """
    events: list[str] = []
    totals: list[int] | None = None
    names: dict[str, str] = {}       # compressed function names
    files: dict[str, str] = {}       # compressed file names
    funcs: dict[str, list[int]] = {}
    lines: dict[str, dict] = {}
    current = None
    fl = fi = None                   # the function's file; the inlined file it is in now
    line_no = 0                      # positions are relative to the last one, across fi/fe switches
    callee = None
    after_call = False

    def position(tok: str) -> int:
        if tok == "*":
            return line_no
        if tok[0] in "+-":
            return line_no + int(tok)
        return int(tok)

    for line in text.splitlines():
        if not line:
            continue
        c = line[0]
        if c.isdigit() or c in "+-*":
            parts = line.split()
            line_no = position(parts[0])
            costs = [int(x) for x in parts[1:len(events) + 1]]
            where = fi or fl
            keep = line_files is not None and where is not None and line_files in where
            if keep:
                at = lines.setdefault(f"{where}:{line_no}", {"self": {}, "calls": {}})
                acc = at["calls"].setdefault(callee, {}) if after_call else at["self"]
                for e, x in zip(events, costs):
                    acc[e] = acc.get(e, 0) + x
            if after_call:          # the inclusive cost of a call: not the caller's own
                after_call = False
                continue
            if current is None:
                continue
            acc = funcs.setdefault(current, [0] * len(events))
            for i, x in enumerate(costs):
                acc[i] += x
            continue
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            totals = [int(x) for x in line.split()[1:]]
        elif line.startswith("fn="):
            current = _name(line[3:], names)
            fi = None
        elif line.startswith("fl="):
            fl, fi = _name(line[3:], files), None
        elif line.startswith(("fi=", "fe=")):
            fi = _name(line[3:], files)
            fi = None if fi == fl else fi
        elif line.startswith("calls="):
            after_call = True
        elif line.startswith(("cfn=", "cfi=", "cfl=", "cob=")):
            if line.startswith("cfn="):
                callee = _name(line[4:], names)
            elif line.startswith(("cfi=", "cfl=")):
                _name(line[4:], files)
    if totals is None:
        totals = [sum(v[i] for v in funcs.values()) for i in range(len(events))]
    out = {"events": events, "totals": dict(zip(events, totals)),
           "functions": {f: dict(zip(events, v)) for f, v in funcs.items()}}
    if line_files is not None:
        out["lines"] = lines
    return out


def _name(spec: str, names: dict) -> str:
    """Name compression: "(12) name" defines id 12, "(12)" refers to it."""
    m = re.match(r"\((\d+)\)\s*(.*)", spec)
    if not m:
        return spec.strip()
    if m.group(2):
        names[m.group(1)] = m.group(2).strip()
    return names.get(m.group(1), spec)


def group_of(function: str) -> str:
    for name, rx in GROUPS:
        if rx.search(function):
            return name
    return "other"


def _named(costs: dict) -> dict:
    out = {EVENTS[e]: int(costs.get(e, 0)) for e in EVENTS}
    out["d1_misses"] = out["d1_read_misses"] + out["d1_write_misses"]
    out["ll_misses"] = out["ll_read_misses"] + out["ll_write_misses"]
    return out


def attribute(lines: dict, sources: list[Path]) -> list[dict]:
    """Per-line costs (parse's `lines`) summed by the source function that holds each line, inlined
    or not: [{function, file, self: counts, calls: {callee: counts}}], read against `sources`, the
    copies of the files the build compiled (build.sources_of); a line of a file not there is left out."""
    from .. import csource
    spans: dict[str, list | None] = {}
    out: dict[tuple[str, str], dict] = {}
    for key, costs in lines.items():
        path, _, line = key.rpartition(":")
        name = Path(path).name
        if name not in spans:
            found = next((d / name for d in sources if (d / name).is_file()), None)
            spans[name] = csource.functions(found.read_text(errors="replace")) if found else None
        fn = csource.enclosing(spans[name], int(line)) if spans[name] else None
        if fn is None:
            continue
        acc = out.setdefault((name, fn), {"function": fn, "file": name, "self": {}, "calls": {}})
        for e, x in costs["self"].items():
            acc["self"][e] = acc["self"].get(e, 0) + x
        for callee, c in costs["calls"].items():
            into = acc["calls"].setdefault(callee, {})
            for e, x in c.items():
                into[e] = into.get(e, 0) + x
    return [{**v, "self": _named(v["self"]), "calls": {k: _named(c) for k, c in v["calls"].items()}}
            for v in sorted(out.values(), key=lambda v: -v["self"].get("Ir", 0))]


def summarise(parsed: dict, ops: int) -> dict:
    """Totals, per-group and per-function counts, and the same divided by the timed ops."""
    total = _named(parsed["totals"])
    groups: dict[str, dict] = {}
    for fn, costs in parsed["functions"].items():
        g = groups.setdefault(group_of(fn), {k: 0 for k in total})
        for k, v in _named(costs).items():
            g[k] += v
    top = sorted(parsed["functions"].items(), key=lambda kv: -kv[1].get("Ir", 0))[:12]
    per = (lambda d: {k: v / ops for k, v in d.items()}) if ops else (lambda d: {k: None for k in d})
    return {"ops": ops, "total": total, "per_op": per(total),
            "groups": {g: {"total": c, "per_op": per(c)} for g, c in sorted(groups.items())},
            "functions": [{"function": fn, "group": group_of(fn), **_named(c)} for fn, c in top]}


def run(request: dict, geometry: dict, *, timeout: float = 900, line_files: str | None = None) -> dict:
    """Run one measurement child under callgrind; the child's result plus the parsed counts
    (`callgrind`; with `line_files`, per source line too: parse), or {"ok": False, "failure": ...}."""
    from .child import run_child

    with tempfile.TemporaryDirectory(prefix="reportgen-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        argv, used = wrapper(out, geometry)
        res = run_child(request, timeout=timeout, wrapper=tuple(argv))
        if not res.get("ok"):
            return res
        try:
            parsed = parse(out.read_text(errors="replace"), line_files)
        except OSError as exc:
            return {"ok": False, "failure": f"callgrind wrote no output: {exc}"}
    return {**res, "callgrind": parsed, "cache_sim": used}
