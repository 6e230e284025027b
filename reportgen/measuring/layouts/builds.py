"""Layout builds: an allocator's timed build and driver, linked again under a drawn layout.

Nothing is compiled again but native/layout.c: the allocator's objects are its timed build's
(so a layout build runs the very code the default build measured), linked after layout.c's pads
in the layout's order; the driver's bench.o is linked after its own pads against that library.
A system peer's library is as installed: only its driver's placement and the child's
environment move.  Builds are cached like every build (reportgen.build.relink).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ... import build
from ..child import AllocatorSpec, resolve_allocator
from ...project import Project
from .draw import Layout, draw


def _objects(spec: AllocatorSpec) -> list[str]:
    """The stems of the objects a layout orders: the allocator's timed build's, but layout.o."""
    if not spec.is_project:
        return []
    lib_dir = Path(spec.timed_links[0]).parent
    return sorted(p.stem for p in lib_dir.glob("*.o") if p.stem != "layout")


def layout_of(spec: AllocatorSpec, seed: int, index: int, name: str | None = None, heap: bool = False) -> Layout:
    """The layout `index` of this allocator under `seed` (`name`: whose draw, default the spec's;
    `heap`: the Mid chunk and heap offsets drawn too)."""
    return draw(seed, index, name or spec.name, _objects(spec), heap=heap)


def layout_spec(project: Project, spec: AllocatorSpec, layout: Layout) -> AllocatorSpec:
    """`spec` whose timed runs load its builds relinked under `layout` (counted runs unchanged)."""
    layout_c = project.native_dir / "layout.c"
    links = list(spec.timed_links)
    if spec.is_project:
        hak = build.relink(project, Path(spec.timed_links[0]), Path(spec.timed_links[0]).stem[3:],
                           layout_c, layout.macros(), layout.order)
        links = [str(hak)]
    driver = build.relink(project, Path(spec.timed_bench_lib), Path(spec.timed_bench_lib).stem[3:], layout_c,
                          layout.driver_macros(), None, links)
    return replace(spec, timed_bench_lib=str(driver), timed_driver_hash=build.lib_hash(driver),
                   layout=layout.to_dict(), child_env=layout.env(), timed_links=tuple(links))


def aa_specs(project: Project, name: str, count: int) -> list[AllocatorSpec]:
    """`name` under `count` layouts, each a side of its own (`name@layoutJ`): a layout A/A.

    The seed comes from the variant's timed build, so the same code draws the same layouts (its
    record is reused) and a change of the code draws new ones."""
    base = resolve_allocator(project, name)
    seed = int(base.timed_driver_hash[:8], 16)
    return [replace(layout_spec(project, base, layout_of(base, seed, j)), name=f"{name}@layout{j}")
            for j in range(count)]
