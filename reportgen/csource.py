"""Where things are in the project's C sources: function bodies and excerpt markers, by line.

One reader for the page's code excerpts (render.extract_excerpt) and for the exact counts' source
attribution (kinds.counts: which function's lines, inlined or not, an instruction belongs to).
Functions are found the way the project writes them (native/*.c: a definition starts at column 0,
its body ends where its braces balance); nothing here is a C parser, and nothing needs one.
"""
from __future__ import annotations

import re

MARK_START = [re.compile(r"^\s*//\s*excerpt:\s*(?P<name>[\w\-.]+)\s*$"),
              re.compile(r"^\s*/\*\s*hak:excerpt\s+(?P<name>[\w\-.]+)\s*\*/\s*$")]
MARK_END = re.compile(r"^\s*(//\s*end-excerpt|/\*\s*hak:end\s*\*/)\s*$")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_NOT_NAMES = {"_Atomic", "__attribute__", "__typeof__", "typeof", "sizeof", "alignof", "_Alignas"}
_COMMENT = re.compile(r"/\*.*?\*/|//.*")


def _code(line: str) -> str:
    return _COMMENT.sub("", line).rstrip()


def _defined_name(line: str) -> str | None:
    """The name a line at column 0 would define as a function: the first `name(` that is no type."""
    if not re.match(r"[A-Za-z_]", line) or line.startswith(("typedef", "struct", "enum", "union", "extern")):
        return None
    for m in _CALL.finditer(_code(line)):
        if m.group(1) not in _NOT_NAMES:
            return m.group(1)
    return None


def _body_end(lines: list[str], i: int) -> int | None:
    """The 0-based index one past the line where the body starting at line i closes."""
    depth, seen = 0, False
    for j in range(i, len(lines)):
        depth += lines[j].count("{") - lines[j].count("}")
        seen = seen or "{" in lines[j]
        if seen and depth <= 0:
            return j + 1
        if not seen and _code(lines[j]).endswith(";"):
            return None                   # a declaration, not a definition
    return None


def function_span(lines: list[str], name: str) -> tuple[int, int] | None:
    """(start, end) 0-based, end exclusive, of the first definition of `name`; None if there is none."""
    for i, line in enumerate(lines):
        if _defined_name(line) == name:
            end = _body_end(lines, i)
            if end is not None:
                return i, end
    return None


def marker_span(lines: list[str], marker: str) -> tuple[int, int] | None:
    """(start, end) 0-based of the lines between `// excerpt: marker` and `// end-excerpt`."""
    start = None
    for i, line in enumerate(lines):
        if start is None and any((m := pat.match(line)) and m.group("name") == marker for pat in MARK_START):
            start = i + 1
        elif start is not None and MARK_END.match(line):
            return start, i
    return None


def functions(text: str) -> list[tuple[str, int, int]]:
    """Every function definition as (name, first line, last line), 1-based and inclusive."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        name = _defined_name(lines[i])
        if name:
            end = _body_end(lines, i)
            if end is not None:
                out.append((name, i + 1, end))
                i = end
                continue
        i += 1
    return out


def enclosing(spans: list[tuple[str, int, int]], line: int) -> str | None:
    """The function whose definition holds 1-based `line`, if any."""
    for name, first, last in spans:
        if first <= line <= last:
            return name
    return None
