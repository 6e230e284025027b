"""Command line: a thin layer over the pipeline stages.

Each subcommand parses its arguments here and runs `main` of its module in
reportgen/commands/, imported lazily so `reportgen variants` does not import plotly.
Bad input raises UserError anywhere below; it is printed as one line and
the exit status is 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import UserError
from .measuring.kinds import KIND_NAMES
from .measuring.native import POOL_NAMES
from .project import Project


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 (argparse prints usage too)."""

    def error(self, message):  # noqa: D401 - argparse API
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _float_arg(name: str, ok, expected: str):
    """A parser of a number `ok(value)` accepts; else "expected <expected>, got '<text>'"."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    parse.__name__ = name
    return parse


_fraction = _float_arg("fraction", lambda v: 0 < v < 1, "a fraction between 0 and 1 (0.01 for +-1%)")
_seconds = _float_arg("seconds", lambda v: 0 < v <= 86400, "seconds between 0 and 86400")


def _threshold(text: str) -> float:
    """A relative change: "2%" or 0.02, above 0 and below 100%."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a relative change above 0 and below 100% (2% or 0.02), got {text!r}")
    return value


# Upper bounds of what a command line may ask for: beyond them a number is a typo, and the C
# drivers take 64-bit counts (--ops 2**64 would overflow them).
MAX_OPS = 10**12
MAX_THREADS = 1024


def _force_kinds(text: str) -> frozenset[str]:
    """`--force bench,route`: the kinds of measurement to take again (argparse: exit 2 on a bad one)."""
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    bad = sorted(kinds - set(KIND_NAMES))
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kind {', '.join(bad) or repr(text)}; kinds: {', '.join(KIND_NAMES)}")
    return kinds


def _bounded_int(low: int, high: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be from {low:,} to {high:,}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in its messages
    return parse


def _claim_range(text: str) -> tuple[float, float]:
    """`--claim 0.17..0.27` (a claimed relative speed-up, low..high; one number: low = high)."""
    parts = text.split("..")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(v == v and abs(v) != float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected LO..HI, e.g. 0.17..0.27 for +17..+27%, got {text!r}")
    lo, hi = values[0], values[-1]
    from .phases import CLAIM_MAX, CLAIM_MIN
    if not (CLAIM_MIN < lo and hi <= CLAIM_MAX):
        raise argparse.ArgumentTypeError(f"a claimed speed-up must lie in ({CLAIM_MIN:g}, {CLAIM_MAX:g}] "
                                         f"(above -100%, at most +10000%), got {text!r}")
    if lo > hi:
        raise argparse.ArgumentTypeError(f"the low end of {text!r} exceeds the high end")
    return lo, hi


# name -> help; the command is `reportgen/commands/<name with _ for ->.py`, whose main(args, project)
# returns an exit status (imported only when run, so `reportgen variants` does not import plotly)
COMMANDS = {
    "variants": "list project variants and system peers",
    "route": "routing of a workload on a variant: predicted vs measured",
    "bench": "benchmark variants on a workload, with comparisons",
    "sweep": "one parameter of a workload over several values, each a full comparison",
    "history": "a variant at each commit of a range that touched native/, measured together; its steps",
    "bisect": "the first commit between a good and a bad one whose figure moved beyond a threshold",
    "check": "the working tree's variants against a reference commit; exit 1 on a decided regression",
    "header-cost": "cost of the Mid header read, time and space",
    "counts": "exact counts per op of the timed loop (callgrind): instructions, reads, writes, cache misses",
    "profile": "CPU profile of a workload's timed loops (perf), each symbol's share with its interval",
    "coverage": "did the benchmarks run what a phase changed: its changed lines, executed per workload (gcov)",
    "run": "measure what the phases need (only what is missing or stale)",
    "render": "render phase reports into docs/phases",
    "site": "build the static site into site/",
    "serve": "serve the built site locally",
    "publish": "build, measure, render and build the site",
}


def command_module(name: str) -> str:
    return "reportgen.commands." + name.replace("-", "_")


def _sampling_options(q) -> None:
    """bench's and sweep's options: the workload, the allocators, and when sampling stops."""
    q.add_argument("--workload", required=True)
    q.add_argument("--variant", action="append", required=True,
                   help="repeat for each allocator; the first is the baseline")
    q.add_argument("--rounds", type=_bounded_int(1, 10_000, "rounds"), default=None,
                   help="a fixed design: exactly this many rounds in each of --sessions sessions "
                        "(default 1 session), no stopping rule")
    q.add_argument("--sessions", type=_bounded_int(1, 10_000, "sessions"), default=None,
                   help="sessions (fresh processes) before the stopping rule looks (default 8); "
                        "with --rounds, exactly this many")
    q.add_argument("--precision", type=_fraction, default=None, metavar="HALF_WIDTH",
                   help="target half-width of each comparison's 95%% CI of the speed-up over sessions "
                        "(default 0.01: +-1%%)")
    q.add_argument("--budget", type=_seconds, default=None, metavar="SECONDS",
                   help="seconds all sessions of the group may take together; sessions stop being added "
                        "after it even if the precision is not reached (default 60)")
    q.add_argument("--max-sessions", type=_bounded_int(1, 10_000, "max-sessions"), default=None)
    q.add_argument("--layouts", type=_bounded_int(1, 64, "layouts"), default=None,
                   help="layouts (code, data and heap placement drawn from the measurement's seed) the "
                        "sessions run in, in turn; 1: the default build's only (default 8; with --rounds 1)")
    q.add_argument("--ops", type=_bounded_int(1, MAX_OPS, "ops"), default=None)
    q.add_argument("--threads", type=_bounded_int(1, MAX_THREADS, "threads"), default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reportgen", description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="project checkout (default: the one this package runs from)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    p = {name: sub.add_parser(name, help=help_) for name, help_ in COMMANDS.items()}

    for name in ("variants", "route", "bench", "sweep", "history", "bisect", "check", "header-cost", "run"):
        p[name].add_argument("--json", action="store_true", help="machine-readable output")

    p["route"].add_argument("--workload", required=True)
    p["route"].add_argument("--variant", required=True)
    p["route"].add_argument("--ops", type=_bounded_int(1, MAX_OPS, "ops"), default=None)
    p["route"].add_argument("--claim", type=_claim_range, default=None, metavar="LO..HI",
                            help="a claimed speed-up of one pool, e.g. 0.17..0.27: adds its Amdahl ceiling")
    p["route"].add_argument("--claim-pool", choices=POOL_NAMES, default=None,
                            help="the pool the claim is about (default mid)")

    for name in ("bench", "sweep", "history", "bisect"):
        _sampling_options(p[name])
    p["bisect"].add_argument("--good", required=True, metavar="REV", help="a commit with the old figure")
    p["bisect"].add_argument("--bad", required=True, metavar="REV", help="a later commit with the new figure")
    for name in ("bisect", "check"):
        p[name].add_argument("--threshold", type=_threshold, default=0.02, metavar="CHANGE",
                             help="the smallest change that counts (default 2%%)")
    p["check"].add_argument("--against", required=True, metavar="REV", help="the reference commit (e.g. main)")
    p["check"].add_argument("--phase", action="append", default=None,
                            help="the phases whose headline workloads and variants are checked (default: all)")
    p["check"].add_argument("--gate", choices=("auto", "time", "counts"), default="auto",
                            help="what decides: time (interleaved sessions), exact counts (callgrind), or "
                                 "auto: counts where this machine's noise floor exceeds the threshold")
    for flag, kind in (("--rounds", _bounded_int(1, 10_000, "rounds")), ("--sessions", _bounded_int(1, 10_000, "sessions")),
                       ("--layouts", _bounded_int(1, 64, "layouts")), ("--ops", _bounded_int(1, MAX_OPS, "ops")),
                       ("--budget", _seconds)):
        p["check"].add_argument(flag, type=kind, default=None, help="as for bench")
    p["history"].add_argument("--range", required=True, metavar="A..B",
                              help="commits after A up to B that touched native/, as git reads A..B; A is the reference")
    p["history"].add_argument("--every", type=_bounded_int(1, 10_000, "every"), default=1, metavar="N",
                              help="measure every Nth of those commits (and always the last)")
    p["sweep"].add_argument("--param", required=True,
                            help="the workload's parameter to vary: slots or ops (gap), threads or ops (remote)")
    p["sweep"].add_argument("--values", required=True, metavar="V1,V2,...",
                            help="its values, comma-separated; each value is a full comparison")

    p["header-cost"].add_argument("--variant", action="append", default=None)
    p["header-cost"].add_argument("--quick", action="store_true")

    for name in ("route", "bench", "sweep", "history", "bisect", "check", "header-cost"):
        p[name].add_argument("--force", action="store_true",
                             help="measure again even if results/ holds a current record")

    for name in ("run", "publish"):
        p[name].add_argument("--force", nargs="?", const=True, default=False, type=_force_kinds, metavar="KINDS",
                             help="measure again even if up to date: everything, or only these kinds "
                                  f"(comma-separated: {', '.join(KIND_NAMES)})")
        p[name].add_argument("--quick", action="store_true",
                             help="fewer ops and runs (labelled as such on every page)")
        p[name].add_argument("--phase", action="append", default=None)

    # evidence: exact counts (reportgen.measuring.kinds.counts) and change coverage (reportgen.measuring.kinds.coverage)
    p["counts"].add_argument("--workload", required=True)
    p["counts"].add_argument("--variant", action="append", required=True,
                             help="repeat for each allocator; the first is the baseline of the differences")
    p["counts"].add_argument("--ops", type=_bounded_int(1, MAX_OPS, "ops"), default=None)
    p["profile"].add_argument("--workload", required=True)
    p["profile"].add_argument("--variant", action="append", required=True)
    p["profile"].add_argument("--ops", type=_bounded_int(1, MAX_OPS, "ops"), default=None)
    p["coverage"].add_argument("--phase", required=True)
    p["coverage"].add_argument("--workload", action="append", default=None,
                               help="default: the phase's workloads")
    for name in ("counts", "coverage", "profile"):
        p[name].add_argument("--json", action="store_true", help="machine-readable output")
        p[name].add_argument("--quick", action="store_true", help="fewer ops")
        p[name].add_argument("--force", action="store_true",
                             help="measure again even if results/ holds a current record")

    p["serve"].add_argument("--port", type=_bounded_int(1, 65535, "port"), default=8000)
    p["serve"].add_argument("--host", default="127.0.0.1")
    p["serve"].add_argument("--watch", action="store_true",
                            help="re-measure what an edit of native/, phases/, variants.yaml or workloads.yaml "
                                 "made stale (quick), re-render, and reload the open pages")
    p["serve"].add_argument("--full", action="store_true",
                            help="with --watch: measure at full length instead of quick")
    p["serve"].add_argument("--phase", action="append", default=None,
                            help="with --watch: the phases a rebuild measures (default: all; the others keep their pages)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        project = Project.locate(args.root)
        from .variants import using_project
        with using_project(project):     # `VARIANTS`, `WORKLOADS`: this project's declarations
            return int(importlib.import_module(command_module(args.command)).main(args, project) or 0)
    except UserError as exc:
        print(f"reportgen: error: {exc}", file=sys.stderr)
        if exc.detail:
            print(exc.detail.rstrip(), file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `reportgen route --json | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full disk, a folder that vanished: one line, not a traceback
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"reportgen: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reportgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
