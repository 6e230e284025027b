"""Allocators the lab can measure: project variants (compile flags over native/) and system peers.

A project variant is a set of build flags, never a copy of the code.  A
system peer is an allocator installed from Debian, found on disk; when it
is missing we say which package provides it rather than fail.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    flags: dict[str, str] = field(default_factory=dict)


VARIANTS: dict[str, Variant] = {
    v.name: v for v in (
        Variant(
            "hak-6a",
            "Phase 6-A, registry free: Mid chunks are registered in a global registry at refill; "
            "a free inside the caller's current chunk of that class is local and lock-free, any other "
            "Mid pointer (another thread's block, or an older chunk of the caller's) takes a "
            "mutex-guarded registry lookup, and a block owned by another thread goes back to its owner.",
            {"HAK_MID_FREE_REGISTRY": "1"},
        ),
        Variant(
            "hak-6b",
            "Phase 6-B, header free: every Mid block carries a header (class index, magic) that "
            "every free reads; a free by the owning thread is local and lock-free, a free by another "
            "thread (remote) is not implemented: the block is leaked and counted (leaked_blocks, "
            "leaked_bytes).",
            {"HAK_MID_FREE_HEADER": "1"},
        ),
        Variant(
            "hak-6c",
            "Phase 6-C, header free with lock-free remote free (the next phase the 6-B report "
            "recommends): the 6-B header free, and a free by another thread pushes the block onto its "
            "owner's lock-free list for its class, which the owner drains when its own list runs dry; "
            "nothing is leaked and no mutex is taken.",
            {"HAK_MID_FREE_HEADER": "1", "HAK_MID_REMOTE_LOCKFREE": "1"},
        ),
        Variant(
            "hak-6a-pad16",
            "Control for Phase 6-B: hak-6a with 16 bytes of padding after every Mid block and no "
            "header, so its blocks sit where 6-B's do (stride = class size + 16) while its free path "
            "stays 6-A's. It separates the cost of reading the header from the header's side effect "
            "on block placement (power-of-two strides put every block on the same cache sets).",
            {"HAK_MID_FREE_REGISTRY": "1", "HAK_MID_BLOCK_PAD": "16"},
        ),
    )
}


def variant_with(base: Variant | str, name: str, extra_flags: dict[str, str]) -> Variant:
    """A derived variant (e.g. HAK_TINY_MAX=1023 on hak-6b) for tests and experiments."""
    base = get_variant(base) if isinstance(base, str) else base
    flags = {**base.flags, **{str(k): str(v) for k, v in extra_flags.items()}}
    extra = ", ".join(f"{k}={v}" for k, v in extra_flags.items())
    return Variant(name, f"{base.description} Built with {extra}.", flags)


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise UserError(f"unknown variant {name!r}; project variants are: {', '.join(VARIANTS)}"
                        f" (system peers: {', '.join(PEERS)})") from None


# ---- system peers ----------------------------------------------------------

@dataclass(frozen=True)
class Peer:
    name: str
    soname: str | None        # None: the C library itself
    package: str | None       # the Debian package that provides it
    description: str


PEERS: dict[str, Peer] = {
    p.name: p for p in (
        Peer("glibc", None, None, "the system C library's malloc (ptmalloc2)"),
        Peer("mimalloc", "libmimalloc.so.2", "libmimalloc2.0", "Microsoft's mimalloc"),
        Peer("jemalloc", "libjemalloc.so.2", "libjemalloc2", "jemalloc"),
        Peer("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4", "gperftools' tcmalloc (minimal)"),
    )
}


def _library_dirs() -> list[Path]:
    """Where the dynamic linker looks on a Debian system, multiarch first."""
    dirs = []
    try:
        arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    except OSError:
        arch = ""
    if not arch:
        import sysconfig
        arch = sysconfig.get_config_var("MULTIARCH") or ""
    for prefix in ("/usr/lib", "/lib", "/usr/local/lib"):
        if arch:
            dirs.append(Path(prefix) / arch)
        dirs.append(Path(prefix))
    return dirs


def _ldconfig_lookup(soname: str) -> str | None:
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
    if not ldconfig:
        return None
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    except OSError:
        return None
    for line in out.splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split(" ")[0] == soname and os.path.exists(parts[1]):
            return parts[1]
    return None


def find_shared_library(soname: str) -> str | None:
    for d in _library_dirs():
        path = d / soname
        if path.exists():
            return str(path)
    return _ldconfig_lookup(soname)


def peer_status(name: str) -> tuple[bool, str | None, str | None]:
    """(available, library path, why not) of a system allocator."""
    try:
        peer = PEERS[name]
    except KeyError:
        raise UserError(f"unknown system allocator {name!r}; known: {', '.join(PEERS)}") from None
    if peer.soname is None:
        libc = find_shared_library("libc.so.6")
        return True, libc, None
    path = find_shared_library(peer.soname)
    if path is None:
        return False, None, f"{peer.soname} not found: apt-get install {peer.package}"
    return True, path, None
