"""History: a range of commits measured as one experiment (series) and the steps in it (steps).

`reportgen history` (reportgen/commands/history.py) is the command; docs/json.md its JSON shape.
"""
