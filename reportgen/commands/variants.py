"""`reportgen variants`: every allocator the lab can measure, built (or found built) and described."""
from __future__ import annotations

import json
import sys

from ..build import build_variant, is_built, source_hash
from ..errors import UserError
from ..project import Project
from ..variants import PEERS, peer_status, project_variants
from ._shared import stderr_console


def describe(project: Project) -> list[dict]:
    """Every allocator with its availability: project variants are built (or found built)."""

    rows: list[dict] = []
    for variant in project_variants(project).values():
        row = {"name": variant.name, "kind": "project", "available": False, "library": None,
               "preload": None, "flags": dict(variant.flags), "description": variant.description,
               **({"revision": variant.revision} if variant.revision else {}),
               "built": False, "compiled_now": False, "source_hash": None, "why": None}
        try:
            was_cached = is_built(project, variant, "lib") and is_built(project, variant, "preload")
            row["library"] = str(build_variant(project, variant, "lib"))
            row["preload"] = str(build_variant(project, variant, "preload"))
            row["source_hash"] = source_hash(project, variant)
            row["available"] = True
            # built: both libraries are in the build cache (compiled by this call or earlier);
            # compiled_now: this call compiled them
            row["built"] = is_built(project, variant, "lib") and is_built(project, variant, "preload")
            row["compiled_now"] = not was_cached
        except UserError as exc:
            row["library"] = row["preload"] = None
            row["why"] = str(exc)
            row["detail"] = exc.detail
        rows.append(row)
    for peer in PEERS.values():
        available, library, why = peer_status(peer.name)
        rows.append({"name": peer.name, "kind": "system", "available": available,
                     "library": library, "why": why, "description": peer.description})
    return rows


def main(args, project: Project) -> int:
    err = stderr_console()
    if getattr(args, "json", False):
        rows = describe(project)
        print(json.dumps(rows, indent=2))
        return 0
    with err.status("building project variants (cached after the first time)..."):
        rows = describe(project)
    _print_table(rows)
    for row in rows:
        if row.get("detail"):
            err.print(f"[red]{row['name']}[/red]: {row['why']}")
            err.print(row["detail"], markup=False, highlight=False)
    return 0


def _print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(file=sys.stdout)
    table = Table(title="Allocators", show_lines=True)
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("available", no_wrap=True)
    table.add_column("library / why not", overflow="fold")
    for row in rows:
        if row["available"]:
            where = row["library"]
            if row.get("preload"):
                where += f"\npreload: {row['preload']}"
            if row["kind"] == "project":
                flags = " ".join(f"{k}={v}" for k, v in row["flags"].items())
                where += (f"\nflags: {flags}\n"
                          f"{'compiled now' if row['compiled_now'] else 'cached'}, hash {row['source_hash']}")
        else:
            where = f"[red]{row['why']}[/red]"
        table.add_row(row["name"], row["kind"], "yes" if row["available"] else "[red]no[/red]", where)
    out.print(table)
    for row in rows:
        out.print(f"[bold]{row['name']}[/bold]: {row.get('description') or ''}")
