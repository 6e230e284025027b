"""Measurement kinds: one module per kind of evidence (bench, route, header_cost).

Each kind says what it measures, how its records are keyed and when they are
stale; reportgen.measuring.kinds.base.measure_through_store reuses, runs and records them
all the same way.  To add a kind: a module here with a MeasurementKind and a
`run_<kind>` function, a result model in reportgen/results.py, and (for phases)
a row in plan.measure_need.
"""

# The kinds a phase measures (plan.Need.kind), which `run --force` / `publish --force` may name.
KIND_NAMES = ("bench", "program", "layout_aa", "offsets", "route", "header_cost", "counts", "coverage", "profile", "placement",
              "sweep")
