"""Allocators the lab can measure: project variants (compile flags over native/) and system peers.

A project variant is a set of build flags, never a copy of the code: declared in the
project's `variants.yaml` (name, description, flags, and optionally a git revision whose
native/ it is built from), so a new phase with a new variant needs no Python change.  A bad
declaration is one UserError line (exit 2).  A
system peer is an allocator installed from Debian, found on disk; when it
is missing we say which package provides it rather than fail.
"""
from __future__ import annotations

import contextlib

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from collections.abc import Mapping
from pathlib import Path
from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from .errors import UserError
from .yamlfile import Declared


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    flags: dict[str, str] = field(default_factory=dict)
    revision: str | None = None     # a git revision to build native/ from (None: the working tree)


VARIANTS_FILE = "variants.yaml"
# Where the tool's own declarations live: a project without a variants.yaml uses these.

_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
_MACRO_RE = r"[A-Za-z_][A-Za-z0-9_]*"
# A revision as git spells one (sha, tag, branch, HEAD~3, v1^{commit}); never an option.
_REVISION_RE = r"[A-Za-z0-9_][A-Za-z0-9._/~^{}@+-]{0,199}"


class _VariantEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{_NAME_RE}$")
    description: str = Field(min_length=1)
    flags: dict[str, Union[StrictStr, StrictInt]] = Field(default_factory=dict)
    revision: Optional[str] = Field(default=None, pattern=f"^{_REVISION_RE}$")

    @field_validator("flags")
    @classmethod
    def _c_macros(cls, flags):
        import re
        out = {}
        for k, v in flags.items():
            if not re.fullmatch(_MACRO_RE, k):
                raise ValueError(f"flag {k!r} is not a C identifier (letters, digits, _; not a digit first)")
            v = str(v)
            if "\n" in v or "\0" in v:
                raise ValueError(f"flag {k}: a value is one line")
            out[k] = v
        return out

    @field_validator("revision")
    @classmethod
    def _revision(cls, v):
        if v is not None and (".." in v or v.endswith((".lock", "/", "."))):
            raise ValueError(f"{v!r} is not a git revision name")
        return v


class _VariantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variants: list[_VariantEntry] = Field(min_length=1)


def variants_file(project) -> Path:
    """The project's variants.yaml, or the tool's own when the project has none."""
    from .yamlfile import declaration_file
    return declaration_file(project, VARIANTS_FILE)


def _bad(shown: str, where: str, msg: str) -> UserError:
    return UserError(f"{shown}: {where}: {msg}")


@functools.lru_cache(maxsize=16)
def _load(path: Path, _stamp: tuple) -> dict[str, Variant]:
    from pydantic import ValidationError

    from .yamlfile import entry_error, read_yaml

    shown = path.name
    data = read_yaml(path, shown, "the variant declarations")
    if not isinstance(data, dict):
        raise UserError(f"{shown}: expected a mapping with a `variants:` list at the top level")
    try:
        parsed = _VariantsFile.model_validate(data)
    except ValidationError as exc:
        raise entry_error(shown, data, exc, "variants", ("str", "int")) from None
    out: dict[str, Variant] = {}
    for i, e in enumerate(parsed.variants):
        where = f"variants[{i}] ({e.name})"
        if e.name in out:
            raise _bad(shown, where, f"name {e.name!r} is declared twice")
        if e.name in PEERS:
            raise _bad(shown, where, f"name {e.name!r} is a system allocator's; choose another")
        out[e.name] = Variant(e.name, " ".join(e.description.split()), dict(e.flags), e.revision)
    return out


def project_variants(project=None) -> dict[str, Variant]:
    """name -> Variant of every project variant the project declares (variants.yaml)."""

    from .yamlfile import file_stamp
    path = variants_file(project or _current_project())
    return _load(path, file_stamp(path))


_CURRENT: list = []


@contextlib.contextmanager
def using_project(project):
    """The project whose declarations `VARIANTS` and `WORKLOADS` show while a command runs (the CLI
    sets it from --root); the previous one is back afterwards, so a call of `main` leaves no trace."""
    saved = list(_CURRENT)
    _CURRENT[:] = [project]
    try:
        yield project
    finally:
        _CURRENT[:] = saved


def _current_project():
    from .project import Project
    return _CURRENT[0] if _CURRENT else Project.locate()


VARIANTS: Mapping[str, Variant] = Declared("VARIANTS", lambda: project_variants())


def variant_with(base: Variant | str, name: str, extra_flags: dict[str, str]) -> Variant:
    """A derived variant (e.g. HAK_TINY_MAX=1023 on hak-6b) for tests and experiments."""
    base = get_variant(base) if isinstance(base, str) else base
    flags = {**base.flags, **{str(k): str(v) for k, v in extra_flags.items()}}
    extra = ", ".join(f"{k}={v}" for k, v in extra_flags.items())
    return Variant(name, f"{base.description} Built with {extra}.", flags, base.revision)


def get_variant(name: str, project=None) -> Variant:
    declared = project_variants(project)
    try:
        return declared[name]
    except KeyError:
        raise UserError(f"unknown variant {name!r}; project variants are: {', '.join(declared)}"
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


@functools.lru_cache(maxsize=1)
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
