"""`reportgen render`: the phase reports into docs/phases, from the last recorded results (the engine: reportgen.render)."""
from __future__ import annotations

from ..project import Project


def main(args, project: Project) -> int:
    from ..phases import load_phases
    from ..plan import collect
    from ..history.page import attach_histories
    from ..machines import attach_machines
    from ..render import render_all

    phases = load_phases(project, getattr(args, "phase", None))
    results = collect(project, phases)
    attach_machines(project, phases, results)
    attach_histories(project, phases, results)
    written = render_all(project, phases, results)
    print(f"rendered {len(written)} pages into {project.docs_dir / 'phases'}")
    return 0
