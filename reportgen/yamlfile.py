"""Reading the project's YAML files (phase specs, variant declarations): one loader, one-line errors.

The loader is safe_load's, except that a key given twice in one mapping is an error (not "the
last one wins") and dates stay text, for the spec's own check of a real calendar date.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from .errors import UserError


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
