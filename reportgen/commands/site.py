"""`reportgen site`: the static site into site/ (the engine: reportgen.site)."""
from __future__ import annotations

from ..project import Project


def main(args, project: Project) -> int:
    from ..site import build_site
    out = build_site(project)
    print(f"site built into {out} (open it with `reportgen serve`)")
    return 0
