"""CPU profiles with their resolution: `perf record` with a software clock event, over the timed loops only.

The measurement child runs under `perf record -e cpu-clock -F <freq> -D -1 --control fifo:...`:
sampling starts disabled and the child switches it on right before its timed loops and off
right after (measure._perf_control), so the samples are those of the timed loop.  `perf
report` gives each symbol's exact sample count; a symbol's share comes with its 95% Wilson
interval (stats.share_ci), which says what a profile of that many samples can resolve.

The total is the sum of every row's exact count, not the report's header: perf abbreviates
that one (`# Samples: 2K of event 'cpu-clock'` for 2,000 to 2,999 samples), so it is only
checked against the sum.  The report is read tab-separated (`-t`), column by column, so a row
whose object or symbol holds spaces or brackets (`[JIT] tid 123`, `[unknown]`) is counted too.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError
from .tools import tool_path

EVENT = "cpu-clock"
SEP = "\t"
# `# Samples: 2K of event 'cpu-clock'`: perf's count divided by 1000 while above 1000 (truncated)
_TOTAL_RE = re.compile(r"^# Samples: (\d+)([KMG]?)\s+of event")
_SCALE = {"": 1, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000}
_LEVEL_RE = re.compile(r"^\[(.)\] (.*)$")     # "[.] hak_free", "[k] clear_page"
REPORT_ARGS = ("--stdio", "--sort", "dso,sym", "-n", "--percent-limit", "0", "-t", SEP)


def perf_path() -> str:
    """perf's executable (REPORTGEN_PERF names another), or a UserError naming the package."""
    return tool_path("perf", "REPORTGEN_PERF", "perf is not installed (apt-get install linux-perf): CPU profiles need it")


def check_allowed() -> None:
    """One short `perf record` of `true`: a UserError when this machine refuses it (perf_event_paranoid)."""
    perf = perf_path()
    with tempfile.TemporaryDirectory(prefix="reportgen-perf-") as tmp:
        proc = subprocess.run([perf, "record", "-q", "-e", EVENT, "-o", str(Path(tmp) / "probe.data"), "--", "true"],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["perf exited with status %d" % proc.returncode])[0]
        raise UserError(f"perf record is refused here ({last.strip()}); see /proc/sys/kernel/perf_event_paranoid")


def header_range(text: str) -> tuple[int, int] | None:
    """The range of sample counts perf's (abbreviated) `# Samples:` header allows, or None without one."""
    found = [m for m in map(_TOTAL_RE.match, text.splitlines()) if m]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"perf report lists {len(found)} events; a profile records one ({EVENT})")
    value, scale = int(found[0].group(1)), _SCALE[found[0].group(2)]
    return value * scale, (value + 1) * scale - 1 if scale > 1 else value


def parse_report(text: str) -> dict:
    """`perf report` run with REPORT_ARGS (tab-separated): the exact total and each symbol's count.

    The total is the sum of the rows (every sample is in exactly one dso,sym row); a row that
    cannot be read, or a sum outside what the header's abbreviated count allows, is a ValueError
    rather than a share of a wrong total."""
    columns, rows = None, []
    for line in text.splitlines():
        if line.startswith("#"):
            cells = [c.strip() for c in line[1:].split(SEP)]
            if columns is None and {"Samples", "Shared Object", "Symbol"} <= set(cells):
                columns = {name: i for i, name in enumerate(cells)}
            continue
        if not line.strip():
            continue
        cells = line.split(SEP)
        if columns is None or len(cells) != len(columns) or not cells[columns["Samples"]].strip().isdigit():
            raise ValueError(f"a perf report line reportgen cannot read: {line.strip()!r}")
        sym = cells[columns["Symbol"]].strip()
        m = _LEVEL_RE.match(sym)
        level, name = (m.group(1), m.group(2)) if m else ("", sym)
        rows.append({"symbol": name, "dso": cells[columns["Shared Object"]].strip(),
                     "samples": int(cells[columns["Samples"]]), "kernel": level == "k"})
    total = sum(r["samples"] for r in rows)
    allowed = header_range(text)
    if allowed is not None and not allowed[0] <= total <= allowed[1]:
        raise ValueError(f"perf report's rows add up to {total} samples, outside the {allowed[0]}..{allowed[1]} "
                         "its header counts")
    rows.sort(key=lambda r: -r["samples"])   # perf's order already; stable for equal counts
    return {"samples": total, "symbols": rows}


def report(perf: str, data: str) -> subprocess.CompletedProcess:
    """`perf report` of one recording (REPORT_ARGS), its output captured."""
    return subprocess.run([perf, "report", "-i", data, *REPORT_ARGS], capture_output=True, text=True)


def run(request: dict, freq: int, *, timeout: float = 600) -> dict:
    """Run one measurement child under perf record; its result plus the parsed report (`profile`)."""
    from .child import run_child

    perf = perf_path()
    with tempfile.TemporaryDirectory(prefix="reportgen-perf-") as tmp:
        ctl, ack, data = (str(Path(tmp) / n) for n in ("ctl", "ack", "perf.data"))
        os.mkfifo(ctl)
        os.mkfifo(ack)
        wrapper = (perf, "record", "-q", "-e", EVENT, "-F", str(freq), "-D", "-1",
                   "--control", f"fifo:{ctl},{ack}", "-o", data, "--")
        res = run_child({**request, "perf_control": [ctl, ack]}, timeout=timeout, wrapper=wrapper)
        if not res.get("ok"):
            return res
        proc = report(perf, data)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [""])[-1].strip()
            return {"ok": False, "failure": f"perf report exited with status {proc.returncode}"
                                            + (f": {last}" if last else "")}
    try:
        parsed = parse_report(proc.stdout)
    except ValueError as exc:
        return {"ok": False, "failure": str(exc)}
    return {**res, "profile": parsed}
