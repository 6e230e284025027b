"""Large malloc/free and realloc: hak's LD_PRELOAD library against glibc, side by side.

One C program (benchmarks/large_loops.c, the timed loops) runs each
workload under glibc and under each hak variant's LD_PRELOAD library,
interleaved (glibc, hak, glibc, hak, ...), in child processes pinned to the
same CPU.  Printed: per workload, the median time per operation of each and
the ratio hak / glibc (1.0 = as fast as glibc; 3.0 = three times slower).
No absolute thresholds: the ratios are the result.

usage: python benchmarks/large_vs_glibc.py [--runs N] [--variant hak-6b ...] [--workload NAME ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reportgen import build  # noqa: E402
from reportgen.measuring.child import measurement_cpus  # noqa: E402
from reportgen.project import Project  # noqa: E402
from reportgen.variants import VARIANTS  # noqa: E402

WORKLOADS = {
    "pairs_40k": "malloc(40000) + free, 200,000 times",
    "pairs_256k": "malloc(256 KiB) + free, 100,000 times",
    "pairs_8m": "malloc(8 MiB) + free, 2,000 times",
    "churn": "64 live blocks of 33 KB .. 1 MB, one replaced per step, 200,000 steps",
    "grow_64m": "realloc one buffer from 4 KiB to 64 MiB in 4 KiB steps",
    "resize": "realloc one block to random sizes in 40 KB .. 400 KB, 100,000 times",
}


def compile_loops(out: Path) -> Path:
    exe = out / "large_loops"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "benchmarks" / "large_loops.c")],
                   check=True, capture_output=True, text=True)
    return exe


def time_one(exe: Path, workload: str, preload: Path | None, cpu: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "HAK_STATS")}
    if preload is not None:
        env["LD_PRELOAD"] = str(preload)
    proc = subprocess.run([str(exe), workload], capture_output=True, text=True, env=env, timeout=600,
                          preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    if proc.returncode != 0:
        who = preload.name if preload else "glibc"
        raise SystemExit(f"large_loops {workload} under {who} failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-300:]}")
    ns, ops = map(int, proc.stdout.split())
    return ns / ops


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--variant", action="append", choices=list(VARIANTS))
    ap.add_argument("--workload", action="append", choices=list(WORKLOADS))
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    project = Project.locate()
    variants = args.variant or ["hak-6b"]
    workloads = args.workload or list(WORKLOADS)
    libs = {v: build.build_variant(project, VARIANTS[v], "preload") for v in variants}
    cpu = measurement_cpus()[0]
    with tempfile.TemporaryDirectory() as tmp:
        exe = compile_loops(Path(tmp))
        print(f"Large workloads, {args.runs} interleaved runs each on CPU {cpu}; "
              f"median ns/op and the ratio hak / glibc (lower is better for hak)")
        for w in workloads:
            times: dict[str, list[float]] = {"glibc": [], **{v: [] for v in variants}}
            for run in range(args.runs + 1):        # run 0: warm-up, discarded
                for name in times:
                    t = time_one(exe, w, libs.get(name), cpu)
                    if run:
                        times[name].append(t)
            g = statistics.median(times["glibc"])
            cells = "   ".join(f"{v} {statistics.median(times[v]):9.1f} ns  ratio {statistics.median(times[v]) / g:6.2f}"
                               for v in variants)
            print(f"  {w:11s} glibc {g:9.1f} ns   {cells}   ({WORKLOADS[w]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
