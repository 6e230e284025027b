"""The machine a measurement ran on: what a result record needs to be interpreted.

Results are filed per machine (`machine_id()`), since figures from two CPUs
are not comparable; `environment()` is stored in every record.
"""
from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

CPU_CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")


def _parse_size(text: str) -> int | None:
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)\s*B?\s*", text, re.IGNORECASE)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]


def cache_sizes(cache_dir: Path = CPU_CACHE_DIR) -> dict[str, int]:
    """{"L1d": bytes, "L1i": ..., "L2": ..., "L3": ...} of cpu0, from sysfs ({} where absent)."""
    caches: dict[str, int] = {}
    for index in sorted(cache_dir.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
        except OSError:
            continue
        if size is None:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        caches[f"L{level}{suffix}"] = size
    return caches


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler_version() -> str | None:
    cc = os.environ.get("CC", "gcc").split()[0]
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0] if out else None


@functools.lru_cache(maxsize=1)
def machine_info() -> dict:
    """CPU model, core count, cache sizes, kernel, compiler and Python."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "caches": cache_sizes(),
        "kernel": platform.release(),
        "os": platform.system(),
        "arch": platform.machine(),
        "compiler": _compiler_version(),
        "python": sys.version.split()[0],
    }


def machine_id() -> str:
    """A stable slug naming this machine's results: CPU model + core count."""
    info = machine_info()
    slug = re.sub(r"[^a-z0-9]+", "-", info["cpu_model"].lower()).strip("-") or "unknown-cpu"
    return f"{slug}-{info['cores']}c"


def _git(project_root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(project_root), *args], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_state(project) -> dict:
    """{"commit", "short", "dirty"} of the project's checkout (None where git cannot say).

    Dirty: any tracked file of the whole tree differs from the commit (untracked files,
    such as new results, do not count)."""
    commit = _git(project.root, "rev-parse", "HEAD")
    status = _git(project.root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "short": commit[:10] if commit else None,
            "dirty": None if status is None else bool(status)}


def environment(project, build_flags: list[str] | dict | None = None) -> dict:
    """machine_info() plus the build flags, the git commit and whether the tree was dirty."""
    env = dict(machine_info())
    env["caches"] = dict(env["caches"])
    env["build_flags"] = build_flags
    git = git_state(project)
    env["git_commit"], env["git_dirty"] = git["commit"], git["dirty"]
    return env
