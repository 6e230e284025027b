"""Change coverage: which native source lines a phase changes, and how often a run executed them.

A phase's baseline and candidate are flags over one code base, so "what the phase
changed" is what the two builds compile differently: each variant's allocator
sources are preprocessed with its own macros, keeping the line markers (no -P),
each preprocessed line is mapped back to its (file, line), and the changed lines are
those one build compiles and the other does not, plus those both compile to different
text (a macro whose value differs).  The variants' names, which every build embeds,
are set alike for this comparison.

How often a run executed each line comes from a coverage build of the variant
(build kind "coverage": gcc --coverage at -O0), run on the workload in a child
whose .gcda files go to a private folder (GCOV_PREFIX), read with
`gcov --json-format --stdout`.  Counts cover the whole child: set-up, warm-up and
the timed loops.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError
from .tools import tool_path
from ..project import Project

_MARKER_RE = re.compile(r'^#\s+(\d+)\s+"([^"]*)"')
_EXCERPT_RE = re.compile(r"//\s*excerpt:\s*([\w\-]+)|/\*\s*hak:excerpt\s+([\w\-]+)\s*\*/")
_EXCERPT_END_RE = re.compile(r"//\s*end-excerpt|/\*\s*hak:end\s*\*/")


def gcov_path() -> str:
    """gcov's executable (REPORTGEN_GCOV names another), or a UserError."""
    return tool_path("gcov", "REPORTGEN_GCOV",
                     "gcov is not installed (it comes with gcc: apt-get install gcc): change coverage needs it")


def _relative(project: Project, path: str) -> str | None:
    try:
        return Path(path).resolve().relative_to(project.root.resolve()).as_posix()
    except ValueError:
        return None


def compiled_lines(project: Project, variant) -> dict[tuple[str, int], str]:
    """(file under the project, line) -> the text it preprocesses to, for every non-blank
    preprocessed line of the variant's allocator sources."""
    from .. import build

    spec = build._variant_spec(project, build._resolve_variant(variant), "lib")
    macros = [(k, '"variant"' if k == "HAK_VARIANT_NAME" else v) for k, v in spec.macros]
    opts = [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in macros]
    opts += [f"-I{d}" for d in spec.include_dirs]
    out: dict[tuple[str, int], str] = {}
    for src in build.allocator_sources(project, "lib"):
        cmd = [*spec.compiler.preprocessor, *opts, *spec.compile_args, str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise UserError(f"preprocessing {src.name} for {spec.name} failed",
                            detail=f"$ {' '.join(cmd)}\n{proc.stderr}")
        file, line = None, 0
        for text in proc.stdout.splitlines():
            m = _MARKER_RE.match(text)
            if m:
                line, file = int(m.group(1)), _relative(project, m.group(2))
                continue
            if file is not None and file.startswith("native/") and text.strip():
                out[(file, line)] = " ".join(text.split())
            line += 1
    return out


def changed_lines(project: Project, baseline, candidate) -> list[dict]:
    """The lines the two builds compile differently, in file and line order, each with the
    variants that compile it (`in`), its source text, and its enclosing excerpt marker."""
    a, b = compiled_lines(project, baseline), compiled_lines(project, candidate)
    names = (getattr(baseline, "name", baseline), getattr(candidate, "name", candidate))
    rows = []
    for key in sorted(set(a) | set(b)):
        if key in a and key in b and a[key] == b[key]:
            continue
        file, line = key
        rows.append({"file": file, "line": line, "in": [n for n, side in zip(names, (a, b)) if key in side],
                     "text": source_line(project, file, line), "marker": marker_at(project, file, line)})
    return rows


@functools.lru_cache(maxsize=64)
def _source(path: Path, _stamp: float) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def _lines_of(project: Project, file: str) -> list[str]:
    path = project.root / file
    try:
        return _source(path, path.stat().st_mtime)
    except OSError:
        return []


def source_line(project: Project, file: str, line: int) -> str:
    lines = _lines_of(project, file)
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def marker_at(project: Project, file: str, line: int) -> str | None:
    """The excerpt marker (`// excerpt: NAME` .. `// end-excerpt`) around `line`, if any."""
    current = None
    for i, text in enumerate(_lines_of(project, file), 1):
        m = _EXCERPT_RE.search(text)
        if m:
            current = m.group(1) or m.group(2)
        elif _EXCERPT_END_RE.search(text):
            if i >= line:
                return current
            current = None
        if i == line:
            return current
    return None


def coverage_driver(project: Project, variant) -> tuple[Path, Path]:
    """The variant's coverage library and the driver linked against it (built when missing)."""
    from .. import build
    variant = build._resolve_variant(variant)
    lib = build.build_variant(project, variant, "coverage")
    drv = build.build_library(project, f"bench-{variant.name}-coverage", [project.native_dir / "bench.c"],
                              {"BENCH_ALLOC_HAK": "1"}, extra_link=[str(lib)])
    return lib, drv


def run_counts(project: Project, lib: Path, request: dict, *, timeout: float = 600) -> dict:
    """Run `request` (its bench_lib the coverage driver) and read the line counts of every native
    file: {"ok": True, "lines": {file: {line: count}}} or {"ok": False, "failure": ...}."""
    from .child import run_child

    gcov = gcov_path()
    with tempfile.TemporaryDirectory(prefix="reportgen-gcov-") as tmp:
        res = run_child(request, timeout=timeout, env={"GCOV_PREFIX": tmp, "GCOV_PREFIX_STRIP": "999"})
        if not res.get("ok"):
            return res
        gcda = sorted(Path(tmp).glob("*.gcda"))
        if not gcda:
            return {"ok": False, "failure": "the coverage build wrote no .gcda file"}
        for gcno in Path(lib).parent.glob("*.gcno"):
            shutil.copy(gcno, tmp)
        proc = subprocess.run([gcov, "--json-format", "--stdout", *[g.name for g in gcda]], cwd=tmp,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return {"ok": False, "failure": f"gcov exited with status {proc.returncode}: "
                                            f"{(proc.stderr.strip().splitlines() or [''])[-1]}"}
    lines: dict[str, dict[int, int]] = {}
    functions: dict[str, dict[int, str]] = {}
    for text in proc.stdout.splitlines():
        if not text.strip():
            continue
        for f in json.loads(text).get("files", []):
            rel = _relative(project, f["file"] if Path(f["file"]).is_absolute() else str(project.root / f["file"]))
            if rel is None:
                continue
            per, fn = lines.setdefault(rel, {}), functions.setdefault(rel, {})
            for ln in f.get("lines", []):
                n = int(ln["line_number"])
                per[n] = per.get(n, 0) + int(ln["count"])   # a header's line in several units: summed
                if ln.get("function_name"):
                    fn.setdefault(n, ln["function_name"])
    if not lines:
        return {"ok": False, "failure": "gcov's counts name no source file of this project (a coverage build "
                                        "compiled from another checkout?)"}
    return {"ok": True, "lines": lines, "functions": functions, "ops": res.get("ops")}
