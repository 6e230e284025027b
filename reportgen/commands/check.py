"""`reportgen check`: the work tree's variants against a reference commit, a CI regression gate
(the engine: reportgen.history.gate).  Exit 1 on a decided regression beyond the threshold or a
pair that could not be judged (a build that fails), 0 otherwise; bad input is exit 2."""
from __future__ import annotations

import json
from dataclasses import replace

from ..project import Project
from ._shared import cli_progress, opened_store


def sampling_of(args):
    """The time gate's stopping rule from check's options (as bench's: --rounds, --sessions,
    --layouts, --budget)."""
    from ..measuring.kinds.bench import Sampling

    sampling = Sampling()
    if args.rounds:       # a fixed design: --sessions sessions (default 1) of --rounds rounds
        sampling = Sampling.fixed(args.rounds, args.sessions or 1)
    over = {k: v for k, v in (("budget_s", args.budget), ("min_sessions", None if args.rounds else args.sessions),
                              ("layouts", args.layouts)) if v is not None}
    if over.get("min_sessions") and over["min_sessions"] > sampling.max_sessions:
        over["max_sessions"] = over["min_sessions"]
    return replace(sampling, **over)


def main(args, project: Project) -> int:
    from ..history.gate import markdown, run_check

    sampling = sampling_of(args)
    with opened_store(project) as store, cli_progress(args.json) as progress:
        out = run_check(project, args.against, threshold=args.threshold, phases=args.phase, gate=args.gate,
                        sampling=sampling, ops=args.ops, store=store, force=args.force, progress=progress)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(markdown(out), end="")
    return out["exit"]
