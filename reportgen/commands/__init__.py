"""The command layer: one module per `reportgen` command (`commands/<name>.py`, its `main`).

A command turns parsed arguments into typed calls of the engine (build,
measure, kinds/, store, plan, render, site, publish) and owns what only a
person at a terminal needs: tables, progress bars and `--json` printing.  The
engine never imports this package (tests/test_layout.py checks it).  To add a
command: a module here with `main(args, project) -> int`, a row in
`reportgen.cli.COMMANDS` and its arguments in `cli.build_parser`.
"""
