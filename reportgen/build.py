"""Build stage: compile native code into shared libraries, cached by content hash.

A library lives in ``project.build_dir/<name>-<hash>/lib<name>.so`` where the
hash covers its translation units as the compiler sees them (preprocessed
with the build's own macros, so every header they include is in it), the
compile and link flags and the compiler's identity.  So an edit in
``native/`` changes the hash, and therefore rebuilds and re-measures, only
the libraries whose code it really changes -- code under a variant's
``#if`` reaches that variant alone, a comment reaches none -- at their next
use, with no reinstall; and a library found on disk is always the one its
sources describe.

The compiler is setuptools' (``new_compiler`` + ``customize_compiler``), so
``CC``/``CFLAGS`` in the environment are honoured like for any extension.
A build happens in a temporary directory that is renamed into place, so a
concurrent process sees either no library or a complete one.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .errors import UserError
from .project import Project

# Flags every allocator build shares (the brief's contract); kind-specific ones are added below.
BASE_FLAGS = ["-O2", "-g", "-fPIC", "-std=gnu11", "-pthread", "-fvisibility=hidden",
              "-ftls-model=initial-exec"]
ASAN_FLAGS = ["-O1", "-g", "-fPIC", "-std=gnu11", "-pthread", "-fvisibility=hidden",
              "-ftls-model=initial-exec", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
              # Python's own CFLAGS (which customize_compiler adds) carry -DNDEBUG: undo it.
              "-UNDEBUG"]
LINK_FLAGS = ["-shared", "-pthread"]
KINDS = ("lib", "timed", "preload", "preload-timed", "asan", "coverage")
# The coverage kind (reportgen.measuring.coverage): gcc's line counts; -O0 so each source line keeps its own code.
COVERAGE_FLAGS = ["-O0" if f == "-O2" else f for f in BASE_FLAGS] + ["--coverage"]

_INCLUDE_RE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.MULTILINE)


def _ccompiler():
    """setuptools' C compiler, configured like for an extension module, with captured output."""
    from setuptools._distutils import ccompiler, sysconfig as dsysconfig

    compiler = ccompiler.new_compiler()
    dsysconfig.customize_compiler(compiler)

    # distutils lets the compiler write straight to our terminal; capture it
    # instead, so a failure can be reported as one line plus the output.
    def run(cmd, env=None, **_kwargs):
        cmd = [str(c) for c in cmd]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        except (FileNotFoundError, PermissionError):
            raise _MissingCompiler(cmd[0])
        if proc.returncode != 0:
            raise _ToolFailed(cmd, proc.returncode, proc.stdout)

    # Older distutils runs tools through spawn(), newer ones (setuptools >= 74) through call().
    compiler.spawn = run
    compiler.call = run
    # Objects go flat into the build directory (distutils would mirror the
    # sources' absolute paths under it).
    object_filenames = compiler.object_filenames
    compiler.object_filenames = lambda sources, strip_dir=0, output_dir="": object_filenames(
        sources, strip_dir=1, output_dir=output_dir)
    return compiler


def _distutils_errors() -> tuple[type[Exception], ...]:
    from setuptools._distutils import errors

    return tuple(getattr(errors, n) for n in ("CompileError", "LinkError", "DistutilsExecError")
                 if hasattr(errors, n))


class _MissingCompiler(Exception):
    def __init__(self, exe: str):
        super().__init__(exe)
        self.exe = exe


class _ToolFailed(Exception):
    def __init__(self, cmd, status, output):
        super().__init__(f"{cmd[0]} exited with status {status}")
        self.cmd, self.status, self.output = cmd, status, output


def _missing_compiler_error(exe: str) -> UserError:
    return UserError(f"C compiler {exe!r} not found: install gcc (apt-get install gcc) "
                     f"or point CC at a working compiler")


@functools.lru_cache(maxsize=None)
def _compiler_identity(command: tuple[str, ...]) -> str:
    """The compiler's version banner (part of every hash: a new gcc rebuilds everything)."""
    exe = command[0]
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True)
    except (FileNotFoundError, PermissionError):
        raise _missing_compiler_error(exe)
    if proc.returncode != 0:
        raise UserError(f"C compiler {exe!r} does not run (`{exe} --version` exited with "
                        f"{proc.returncode})", detail=proc.stdout + proc.stderr)
    return proc.stdout.splitlines()[0] if proc.stdout else exe


def include_closure(source: Path, include_dirs: Sequence[Path] = ()) -> list[Path]:
    """`source` and every header it reaches through ``#include "..."``, recursively.

    A quoted include is looked up next to the including file, then in
    `include_dirs` (what the preprocessor does).  Conditional includes are
    all followed: a hash that covers too much only costs a rebuild.
    A header that cannot be found is left out (the compiler will say so).
    """
    seen: dict[Path, None] = {}
    stack = [Path(source).resolve()]
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen[path] = None
        try:
            text = path.read_bytes()
        except OSError:
            continue
        for match in _INCLUDE_RE.finditer(text):
            name = match.group(1).decode("utf-8", "replace")
            for base in (path.parent, *include_dirs):
                candidate = (Path(base) / name).resolve()
                if candidate.is_file():
                    stack.append(candidate)
                    break
    return sorted(seen)


def _raw_digest(sources: Sequence[Path], include_dirs: Sequence[Path]) -> str:
    """Hash of every file the sources reach, as text: a cheap key for the preprocessing below."""
    h = hashlib.sha256()
    for path in sorted({p for src in sources for p in include_closure(src, include_dirs)}):
        h.update(f"{path}:{path.stat().st_size}:".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=256)
def _preprocessed(preprocessor: tuple[str, ...], sources: tuple[Path, ...], include_dirs: tuple[Path, ...],
                  macros: tuple, compile_args: tuple[str, ...], raw_digest: str) -> bytes:
    """The translation units as the compiler sees them (``cc -E -P``), for this build's flags.

    Hashing this rather than the files means an edit reaches exactly the
    builds it changes: code under ``#if defined(HAK_MID_FREE_HEADER)``
    changes hak-6b's hash and not hak-6a's, and a comment changes neither.
    `raw_digest` is only the cache key (same files, same answer).
    """
    from setuptools._distutils.ccompiler import gen_preprocess_options

    options = gen_preprocess_options(list(macros), [str(d) for d in include_dirs])
    # -O2 & co. define macros (__OPTIMIZE__), so they belong; -g/-f flags are harmless to -E.
    cmd = [*preprocessor, "-P", *options, *compile_args, *map(str, sources)]
    try:
        proc = subprocess.run(cmd, capture_output=True)
    except (FileNotFoundError, PermissionError):
        raise _MissingCompiler(cmd[0])
    if proc.returncode != 0:
        raise _ToolFailed(cmd, proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return proc.stdout


def _portable(arg: str, build_dir: Path) -> str:
    """A link argument as the hash sees it: a library of our own build cache by its place in the
    cache (its directory name carries its own hash), not by where the checkout lives."""
    path = Path(arg)
    if path.is_absolute():
        try:
            return "<build>/" + path.resolve().relative_to(build_dir.resolve()).as_posix()
        except ValueError:
            return arg
    return arg


def _digest(preprocessed: bytes, source_names: Sequence[str], macros, compile_args, link_args,
            identity: Sequence[str]) -> str:
    h = hashlib.sha256()

    def put(label: str, data: bytes | str) -> None:
        data = data.encode() if isinstance(data, str) else data
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    for name in source_names:  # file names, not absolute paths: a moved checkout keeps its hashes
        put("source", name)
    put("preprocessed", preprocessed)
    put("macros", repr(sorted(macros)))
    put("compile", repr(list(compile_args)))
    put("link", repr(list(link_args)))
    for part in identity:
        put("tool", part)
    return h.hexdigest()[:16]


class _Spec:
    """Everything that determines one library; computes its hash and its place."""

    def __init__(self, project: Project, name: str, sources: Iterable[Path], defines: dict,
                 compile_args: Sequence[str], extra_link: Sequence[str], include_dirs: Sequence[Path],
                 executable: bool = False):
        self.project = project
        self.name = name
        self.sources = [Path(s).resolve() for s in sources]
        if not self.sources:
            raise UserError(f"no C sources to build {name} from (is {project.native_dir} empty?)")
        basenames = [s.stem for s in self.sources]
        if len(set(basenames)) != len(basenames):
            raise UserError(f"{name}: two sources share a file name ({', '.join(basenames)}); "
                            f"rename one (objects are stored flat)")
        self.include_dirs = [Path(d).resolve() for d in include_dirs]
        self.macros = [(str(k), None if v is None else str(v)) for k, v in sorted(defines.items())]
        self.compile_args = list(compile_args)
        self.executable = executable
        self.link_args = [f for f in LINK_FLAGS if not (executable and f == "-shared")] + list(extra_link)
        self.compiler = _ccompiler()
        identity = (_compiler_identity(tuple(self.compiler.compiler_so)),
                    " ".join(self.compiler.compiler_so), " ".join(self.compiler.linker_so))
        if "--coverage" in self.compile_args:
            # gcov's notes (.gcno) record each source by its absolute path, so a coverage build is
            # not relocatable: two checkouts sharing one cache keep a coverage build each
            identity += tuple(str(s.parent) for s in self.sources[:1])
        try:
            preprocessed = _preprocessed(tuple(self.compiler.preprocessor), tuple(self.sources),
                                         tuple(self.include_dirs), tuple(self.macros),
                                         tuple(self.compile_args),
                                         _raw_digest(self.sources, self.include_dirs))
        except _MissingCompiler as exc:
            raise _missing_compiler_error(exc.exe) from None
        except _ToolFailed as exc:
            first = next((l for l in exc.output.splitlines() if "error" in l), "").strip()
            raise UserError(f"compile of {name} failed (preprocessing): {first or exc} (compiler output follows)",
                            detail=f"$ {' '.join(map(str, exc.cmd))}\n{exc.output}") from None
        self.hash = _digest(preprocessed, [s.name for s in self.sources], self.macros, self.compile_args,
                            [_portable(a, project.build_dir) for a in self.link_args], identity)
        self.dir = project.build_dir / f"{name}-{self.hash}"
        self.library = self.dir / (name if executable else f"lib{name}.so")


# Each build keeps the sources it compiled (build dir/src/): its debug info names their lines, and
# the hash leaves out what the compiler does not see (comments, blank lines), so the working tree's
# lines may have moved since (kinds.counts reads a build's lines against this copy).
SOURCES_DIR = "src"


def _snapshot_sources(spec: _Spec, into: Path) -> None:
    into.mkdir()
    for src in spec.sources:
        shutil.copy2(src, into / src.name)
    for d in spec.include_dirs:
        for h in d.glob("*.h"):
            if not (into / h.name).exists():
                shutil.copy2(h, into / h.name)


def sources_of(library: Path) -> Path | None:
    """The copy of the sources a library of this cache was compiled from, or None (an older build)."""
    d = Path(library).parent / SOURCES_DIR
    return d if d.is_dir() else None


def _build(spec: _Spec, out_dir: Path | None = None, after: Sequence[Path] = ()) -> Path:
    """Compile `spec` and link it, followed by the objects `after` (relink), into `out_dir` (default:
    the spec's own place in the cache); a cached library is returned as it is."""
    out_dir = out_dir or spec.dir
    library = out_dir / spec.library.name
    if library.is_file():
        return library
    spec.project.build_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=spec.project.build_dir))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is for every user
    try:
        compiler = spec.compiler
        _DISTUTILS_ERRORS = _distutils_errors()
        stage = "compile"
        try:
            objects = compiler.compile([str(s) for s in spec.sources], output_dir=str(tmp),
                                       macros=spec.macros,
                                       include_dirs=[str(d) for d in spec.include_dirs],
                                       extra_postargs=spec.compile_args)
            stage = "link"
            link = compiler.link_executable if spec.executable else compiler.link_shared_object
            link([*objects, *map(str, after)], str(tmp / library.name), extra_postargs=spec.link_args)
        except _MissingCompiler as exc:
            raise _missing_compiler_error(exc.exe) from None
        except _DISTUTILS_ERRORS as exc:  # a tool run that did not go through `run` above
            raise UserError(f"{stage} of {spec.name} failed: {exc}") from None
        except _ToolFailed as exc:
            first = next((l for l in exc.output.splitlines() if "error" in l), "").strip()
            raise UserError(f"{stage} of {spec.name} failed: {first or exc} "
                            f"(compiler output follows)",
                            detail=f"$ {' '.join(map(str, exc.cmd))}\n{exc.output}") from None
        _snapshot_sources(spec, tmp / SOURCES_DIR)
        try:
            os.rename(tmp, out_dir)  # atomic: the directory appears complete or not at all
        except OSError:
            if not library.is_file():  # not a concurrent build of the same thing: a real problem
                raise
        # else another process won the race with an identical build; use theirs
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return library


def relink(project: Project, base_library: Path, name: str, first: Path, first_macros: dict,
           order: Sequence[str] | None = None, extra_link: Sequence[str] = ()) -> Path:
    """`base_library` linked again from its own objects, with `first` (compiled with `first_macros`,
    the allocator's flags) linked in front of them and the others in `order` (source stems; None:
    as they are).  The objects are the base build's, so the code is the very code it measured;
    only where the linker puts it changes (reportgen.measuring.layouts).  Cached like any build, under
    ``<base dir>.L<hash>/``; `extra_link` replaces the base build's libraries to link against."""
    base_dir = Path(base_library).parent
    objects = {p.stem: p for p in sorted(base_dir.glob("*.o"))}
    objects.pop(Path(first).stem, None)
    if order is not None:
        missing = set(order) ^ set(objects)
        if missing:
            raise UserError(f"layout of {name}: link order {list(order)} does not name the objects of "
                            f"{base_dir.name} ({', '.join(sorted(objects))})")
        objects = {k: objects[k] for k in order}
    defines = {**first_macros, "NDEBUG": None}
    spec = _Spec(project, name, [first], defines, BASE_FLAGS, extra_link, [project.native_dir])
    h = hashlib.sha256(f"{base_dir.name}:{spec.hash}:{list(objects)}".encode()).hexdigest()[:12]
    return _build(spec, project.build_dir / f"{base_dir.name}.L{h}", list(objects.values()))


def lib_hash(library: Path) -> str:
    """The build hash of a library build_library made: it sits in <name>-<hash>/."""
    return Path(library).parent.name.rsplit("-", 1)[-1]


def build_library(project: Project, name: str, sources: Iterable[Path], defines: dict | None = None,
                  extra_link: Sequence[str] = (), *, compile_args: Sequence[str] | None = None,
                  include_dirs: Sequence[Path] | None = None) -> Path:
    """Compile `sources` into ``lib<name>.so`` (cached); return its path.

    `defines` maps macro names to values (None: defined without a value).
    `compile_args` defaults to the allocator's flags plus -DNDEBUG; the
    native directory is always on the include path.
    """
    defines = dict(defines or {})
    if compile_args is None:
        compile_args = BASE_FLAGS
        defines.setdefault("NDEBUG", None)
    dirs = [project.native_dir, *(include_dirs or [])]
    return _build(_Spec(project, name, sources, defines, compile_args, extra_link, dirs))


def code_hash(project: Project, name: str, sources: Iterable[Path], defines: dict | None = None) -> str:
    """The hash build_library would give `sources` built with the allocator's flags and nothing linked:
    what the compiler sees of them, computed without building, and the same in every checkout (a
    coverage build's own hash names its checkout: gcov's notes hold absolute paths)."""
    defines = {"NDEBUG": None, **(defines or {})}
    return _Spec(project, name, sources, defines, BASE_FLAGS, (), [project.native_dir]).hash


def build_program(project: Project, name: str, sources: Iterable[Path]) -> Path:
    """Compile `sources` into an executable `name` (cached by content, as libraries are): the stress
    programs of native/stress/, which a program workload runs with an allocator preloaded.  No
    allocator is linked in: each run's LD_PRELOAD is its allocator."""
    compile_args = [f for f in BASE_FLAGS if f not in ("-fvisibility=hidden", "-ftls-model=initial-exec")]
    return _build(_Spec(project, name, sources, {"NDEBUG": None}, compile_args, (), [project.native_dir],
                        executable=True))


def allocator_sources(project: Project, kind: str = "lib", native_dir: Path | None = None) -> list[Path]:
    """The allocator's translation units: native/*.c but the bench drivers and (unless preloading) preload.c.

    `native_dir`: another native/ tree (a revision's, reportgen.revisions) instead of the project's."""
    if kind not in KINDS:
        raise UserError(f"unknown build kind {kind!r}; expected one of {', '.join(KINDS)}")
    sources = []
    for path in sorted((native_dir or project.native_dir).glob("*.c")):
        if path.name.startswith("bench"):
            continue
        if path.name == "preload.c" and not kind.startswith("preload"):
            continue
        sources.append(path)
    return sources


def _variant_spec(project: Project, variant, kind: str) -> _Spec:
    native = project.native_dir
    if getattr(variant, "revision", None):   # built from native/ as it stood at that commit
        from .revisions import native_at
        native = native_at(project, variant.revision)
    sources = allocator_sources(project, kind, native)
    defines: dict = dict(variant.flags)
    # The library reports its own name in hak_config_json (derived variants included).
    defines.setdefault("HAK_VARIANT_NAME", f'"{variant.name}"')
    if kind == "asan":
        compile_args = ASAN_FLAGS
        defines["HAK_DEBUG"] = "1"
        extra_link = ["-fsanitize=address,undefined"]
    elif kind == "coverage":
        compile_args = COVERAGE_FLAGS
        defines["NDEBUG"] = None
        extra_link = ["--coverage"]
    else:
        compile_args = BASE_FLAGS
        defines["NDEBUG"] = None
        extra_link = []
    if kind.startswith("preload"):
        defines["HAK_PRELOAD"] = "1"
    if kind in ("timed", "preload-timed"):
        defines["HAK_STATS"] = "0"   # hot-path counters compiled out: what timed runs measure
    suffix = "" if kind == "lib" else f"-{kind}"
    return _Spec(project, f"{variant.name}{suffix}", sources, defines, compile_args, extra_link, [native])


def _resolve_variant(variant, project: Project | None = None):
    if isinstance(variant, str):
        from .variants import get_variant
        return get_variant(variant, project)
    return variant


def build_variant(project: Project, variant, kind: str = "lib") -> Path:
    """The shared library of an allocator variant (a Variant or its name), building it if needed.

    kind "lib": for ctypes, with every counter; "timed": the same without hot-path counters
    (HAK_STATS=0), for timed runs; "preload": also exports malloc & co. for LD_PRELOAD;
    "preload-timed": that without hot-path counters, for timed runs of programs;
    "asan": AddressSanitizer + UBSan with HAK_DEBUG (needs libasan preloaded to load);
    "coverage": gcc --coverage at -O0 (each run writes .gcda line counts; reportgen.measuring.coverage).
    """
    return _build(_variant_spec(project, _resolve_variant(variant, project), kind))


def is_built(project: Project, variant, kind: str = "lib") -> bool:
    """Whether the library build_variant would return is already in the cache."""
    return _variant_spec(project, _resolve_variant(variant, project), kind).library.is_file()


def source_hash(project: Project, variant) -> str:
    """Hash of a variant's ctypes library (its preprocessed sources, flags, compiler).

    The same string names its build directory, so a result record points at
    the exact library that produced it.
    """
    return _variant_spec(project, _resolve_variant(variant, project), "lib").hash
