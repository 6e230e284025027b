"""The machine a measurement ran on: what a result record needs to be interpreted.

Results are filed per machine (`machine_id()`), since figures from two
machines are not comparable.  A machine is its full environment: CPU model,
cache sizes, core count, kernel, C library and compiler (COMPARABILITY_KEYS);
two machines differing in any of them never share a results directory.
`environment()` is stored in every record.
"""
from __future__ import annotations

import functools
import hashlib
import json
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


def _cache_levels(cache_dir: Path):
    """(name such as "L1d", its sysfs folder, size in bytes) of each cache of cpu0 that sysfs describes."""
    for index in sorted(cache_dir.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
        except OSError:
            continue
        if size is not None:
            yield f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, ""), index, size


def cache_sizes(cache_dir: Path = CPU_CACHE_DIR) -> dict[str, int]:
    """{"L1d": bytes, "L1i": ..., "L2": ..., "L3": ...} of cpu0, from sysfs ({} where absent)."""
    return {name: size for name, _index, size in _cache_levels(cache_dir)}


def cache_geometry(cache_dir: Path = CPU_CACHE_DIR) -> dict[str, dict]:
    """{"L1d": {"size", "assoc", "line"}, ...} of cpu0 from sysfs: what a cache simulator is told
    (valgrind's --D1/--LL).  A level whose associativity or line size sysfs leaves out is omitted."""
    out: dict[str, dict] = {}
    for name, index, size in _cache_levels(cache_dir):
        try:
            assoc = int((index / "ways_of_associativity").read_text().strip())
            line = int((index / "coherency_line_size").read_text().strip())
        except (OSError, ValueError):
            continue
        if size and assoc > 0 and line > 0:
            out[name] = {"size": size, "assoc": assoc, "line": line}
    return out


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
        "libc": "-".join(x for x in platform.libc_ver() if x) or None,
        "python": sys.version.split()[0],
    }


# What decides whether two results are comparable (Python only starts the C loops: not part of it).
COMPARABILITY_KEYS = ("cpu_model", "cores", "caches", "kernel", "os", "arch", "libc", "compiler")


def environment_digest(info: dict) -> str:
    """Short hash of the comparability keys of a machine_info() dict."""
    key = {k: info.get(k) for k in COMPARABILITY_KEYS}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def machine_id(info: dict | None = None) -> str:
    """The results directory of a machine: CPU model and cores (readable) + a hash of its whole
    environment (caches, kernel, C library, compiler), so two different machines never share one."""
    info = info or machine_info()
    slug = re.sub(r"[^a-z0-9]+", "-", str(info.get("cpu_model") or "").lower()).strip("-") or "unknown-cpu"
    return f"{slug}-{info.get('cores')}c-{environment_digest(info)}"


def machine_label(info: dict | None = None) -> str:
    """One line naming a machine for a page: CPU, cores, L1d/L2/L3, kernel, compiler."""
    info = info or machine_info()
    caches = info.get("caches") or {}
    cache = "/".join(f"{k} {v // 1024} KiB" for k, v in caches.items() if k in ("L1d", "L2", "L3") and v)
    return (f"{info.get('cpu_model', 'unknown CPU')}, {info.get('cores')} cores"
            + (f", {cache}" if cache else "") + f", Linux {info.get('kernel')}, {info.get('compiler') or 'no compiler'}"
            + f" [{machine_id(info)}]")


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
