"""CPU profiles with their resolution: `perf record` with a software clock event, over the timed loops only.

The measurement child runs under `perf record -e cpu-clock -F <freq> -D -1 --control fifo:...`:
sampling starts disabled and the child switches it on right before its timed loops and off
right after (measure._perf_control), so the samples are those of the timed loop.  `perf
report` gives each symbol's sample count; a symbol's share comes with its 95% Wilson interval
(stats.share_ci), which says what a profile of that many samples can resolve.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from .errors import UserError
from .tools import tool_path

EVENT = "cpu-clock"
_LINE_RE = re.compile(r"^\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[([.k])\]\s+(.+?)\s*$")
_TOTAL_RE = re.compile(r"^# Samples: (\d+)")


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


def parse_report(text: str) -> dict:
    """`perf report --stdio --sort dso,sym -n`: the total samples and each symbol's count."""
    total, rows = None, []
    for line in text.splitlines():
        m = _TOTAL_RE.match(line)
        if m:
            total = int(m.group(1))
            continue
        m = _LINE_RE.match(line)
        if m:
            rows.append({"symbol": m.group(5), "dso": m.group(3), "samples": int(m.group(2)),
                         "kernel": m.group(4) == "k"})
    if total is None:
        total = sum(r["samples"] for r in rows)
    return {"samples": total, "symbols": rows}


def run(request: dict, freq: int, *, timeout: float = 600) -> dict:
    """Run one measurement child under perf record; its result plus the parsed report (`profile`)."""
    from .measure import run_child

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
        proc = subprocess.run([perf, "report", "-i", data, "--stdio", "--sort", "dso,sym", "-n"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return {"ok": False, "failure": f"perf report exited with status {proc.returncode}"}
    return {**res, "profile": parse_report(proc.stdout)}
