"""A/A rate on this machine: how often the A/B rule calls a variant different from itself.

Runs one variant against itself K times through the real measurement engine
(reportgen.bench.run_bench: a child process per run, the timed loop in C)
and applies reportgen.stats.compare to each pair. Each pair is one
run_bench call with 2*runs runs of the same library, split into the even
and the odd runs: the two halves interleave in time exactly as an ABAB A/B
run does, so drift affects both alike.

The rule's false-positive rate on ideal (normal, independent) samples is a
property tested in tests/test_stats.py; this script measures it on real,
noisy runs of this machine, where drift and neighbours can push it up.
Output: the fraction of "no significant change" verdicts (ideally >= 95%),
the calls made, and the spread of the per-pair ratios. No absolute speed.

    python benchmarks/aa_rate.py --variant hak-6b --workload mid_mt_gap --pairs 20 --runs 5 --ops 200000
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reportgen import stats  # noqa: E402
from reportgen.project import Project  # noqa: E402


def _samples(result, variant: str) -> list[float]:
    """Samples of `variant` from run_bench's answer: the `bench --json` shape
    ({"results": [{"variant", "samples"}, ...]}), or an object with .results."""
    results = result.get("results") if isinstance(result, dict) else getattr(result, "results", None)
    if results is None and isinstance(result, dict) and variant in result:
        results = [dict(variant=variant, samples=getattr(result[variant], "samples", result[variant]))]
    for r in results or []:
        name = r.get("variant") if isinstance(r, dict) else getattr(r, "variant", None)
        if name == variant:
            samples = r.get("samples") if isinstance(r, dict) else getattr(r, "samples")
            return [float(s) for s in samples]
    raise SystemExit(f"aa_rate: run_bench returned no samples for {variant!r} (shape: {type(result).__name__})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="hak-6b")
    ap.add_argument("--workload", default="mid_mt_gap")
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5, help="runs per side of each pair")
    ap.add_argument("--ops", type=int, default=200_000, help="ops per run (quick by default)")
    ap.add_argument("--noise-floor", type=float, default=0.01)
    ap.add_argument("--root", default=None)
    args = ap.parse_args(argv)

    try:
        from reportgen.bench import run_bench
    except ImportError as exc:
        print(f"aa_rate: the measurement engine is not available ({exc})", file=sys.stderr)
        return 2
    project = Project.locate(args.root)

    verdicts: Counter[str] = Counter()
    ratios, cvs, failures = [], [], 0
    for i in range(args.pairs):
        result = run_bench(project, args.workload, [args.variant], runs=2 * args.runs, ops=args.ops)
        samples = _samples(result, args.variant)
        failures += 2 * args.runs - len(samples)
        a, b = samples[0::2], samples[1::2]
        if len(a) < 2 or len(b) < 2:
            print(f"pair {i + 1}: too few successful runs ({len(samples)})", file=sys.stderr)
            verdicts["(failed)"] += 1
            continue
        c = stats.compare(a, b, noise_floor=args.noise_floor)
        verdicts[c.verdict] += 1
        ratios.append(c.ratio)
        cvs.extend(s.cv for s in (c.baseline, c.candidate) if s.cv is not None)
        print(f"pair {i + 1:2d}/{args.pairs}: ratio {c.ratio:.4f}  p = {c.p_value:.3g}  {c.verdict}", flush=True)

    done = sum(v for k, v in verdicts.items() if k != "(failed)")
    if not done:
        print("aa_rate: no pair completed", file=sys.stderr)
        return 1
    same = verdicts["no significant change"]
    r = np.asarray(ratios)
    print()
    print(f"A/A on {args.variant} / {args.workload}: {done} pairs of {args.runs} vs {args.runs} runs, "
          f"{args.ops} ops each, noise floor {args.noise_floor:.1%}")
    print(f"  no significant change: {same}/{done} = {same / done:.1%}   "
          f"(false calls: {done - same}/{done} = {(done - same) / done:.1%}; "
          f"faster {verdicts['faster']}, slower {verdicts['slower']})")
    print(f"  A/A ratio: median {np.median(r):.4f}, range {r.min():.4f}..{r.max():.4f}; "
          f"per-side CV median {np.median(cvs):.2%}" if cvs else "")
    if failures:
        print(f"  failed runs: {failures}")
    if verdicts["(failed)"]:
        print(f"  pairs without enough runs: {verdicts['(failed)']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
