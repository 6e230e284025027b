"""Reading the project's YAML files (phase specs, variant declarations): one loader, one-line errors.

The loader is safe_load's, except that a key given twice in one mapping is an error (not "the
last one wins") and dates stay text, for the spec's own check of a real calendar date.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from .errors import UserError

_SHIPPED_ROOT = Path(__file__).resolve().parent.parent     # the tool's own checkout


def declaration_file(project, name: str) -> Path:
    """The project's declaration file `name` (variants.yaml, workloads.yaml), or the tool's own when the
    project has none."""
    path = Path(project.root) / name
    return path if path.exists() else _SHIPPED_ROOT / name


class _SpecLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):   # libyaml's parser where installed
    """YAML as safe_load reads it, except: a key given twice in one mapping is an error (not
    "the last one wins"), and dates stay text for the spec's own check (a real calendar date)."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _unique_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping (first at line {first + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_SpecLoader.add_constructor("tag:yaml.org,2002:map", _unique_mapping)


def read_yaml(path: Path, shown: str, what: str):
    """The YAML document at `path`; a file that cannot be read or parsed is one UserError line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SpecLoader)
    except OSError as exc:
        raise UserError(f"{shown}: cannot read {what} ({exc.strerror})") from None
    except (RecursionError, MemoryError):
        raise UserError(f"{shown}: {what} nests too deeply or is too large to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{shown}: not valid YAML{where}: {problem}") from None


# ---- declaration files (variants.yaml, workloads.yaml): one shape, one error form, one lazy mapping ----

def file_stamp(path: Path) -> tuple:
    """What a cached read of `path` is keyed on besides the path: an edit makes it stale."""
    try:
        st = path.stat()
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return ()


def entry_error(shown: str, data, exc, key: str, drop_prefixes: tuple = ()) -> UserError:
    """A pydantic ValidationError of a `{key: [entries]}` file as one line: `key[i] (name): field f: why`.
    `drop_prefixes`: pydantic's union-branch names in a location (str, int) that say nothing to a user."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    entries = data.get(key) if isinstance(data, dict) else None
    where = key
    if len(loc) >= 2 and loc[0] == key and isinstance(loc[1], int):
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        named = entry.get("name") if isinstance(entry, dict) else None
        where = f"{key}[{loc[1]}]" + (f" ({named})" if isinstance(named, str) else "")
        if len(loc) > 2:
            where += ": field " + ".".join(str(x) for x in loc[2:] if not (drop_prefixes and str(x).startswith(drop_prefixes)))
    elif loc:
        where = "field " + ".".join(map(str, loc))
    msg = {"extra_forbidden": "unknown field (check its spelling)",
           "missing": "required field is missing"}.get(err["type"], err["msg"].removeprefix("Value error, "))
    if err["type"] == "string_pattern_mismatch":
        msg = f"{err['input']!r} is not allowed here (expected {err['ctx']['pattern']})"
    return UserError(f"{shown}: {where}: {msg}")


class Declared(Mapping):
    """A name -> declaration mapping read anew from the current project's file at each use (`read()`):
    `VARIANTS`, `WORKLOADS`."""

    def __init__(self, label: str, read):
        self._label, self._read = label, read

    def __getitem__(self, name):
        return self._read()[name]

    def __iter__(self):
        return iter(self._read())

    def __len__(self):
        return len(self._read())

    def __repr__(self):
        return f"{self._label}({list(self)})"
