"""Does the lab's memory figure agree with the kernel's?  Peak RSS of a gap workload, tool vs stand-alone.

For each allocator: the tool's peak RSS added (`reportgen bench` rows, memory.peak_rss_bytes: statm after
each timed loop in the session's process, less that process's own RSS before the allocator was loaded)
against benchmarks/memory_gap.c, a stand-alone program with the same recipe (slots, sizes, seed, one
written byte per block, warm-up, ops) run with the allocator preloaded, whose figure is the kernel's
high-water mark (VmHWM) less its RSS at the start of main.  Printed: both medians, their ratio and their
difference; they agree when within 10% or 2 MiB.

usage: python benchmarks/memory_agreement.py [--workload mid_only] [--variant hak-6a] [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reportgen import build  # noqa: E402
from reportgen.errors import UserError  # noqa: E402
from reportgen.measuring.kinds.bench import Sampling, run_bench  # noqa: E402
from reportgen.measuring.child import CHILD_TUNABLES, resolve_allocator  # noqa: E402
from reportgen.project import Project  # noqa: E402
from reportgen.measuring.workloads import get_workload  # noqa: E402

RATIO, BYTES = 0.10, 2 * 2**20


def build_standalone(out_dir: Path) -> Path:
    from setuptools._distutils import ccompiler, sysconfig as dsysconfig

    cc = ccompiler.new_compiler()
    dsysconfig.customize_compiler(cc)
    objs = cc.compile([str(ROOT / "benchmarks" / "memory_gap.c")], output_dir=str(out_dir),
                      extra_postargs=list(build.BASE_FLAGS))
    exe = out_dir / "memory_gap"
    cc.link_executable(objs, str(exe))
    return exe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mid_only")
    ap.add_argument("--variant", default="hak-6a")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    project = Project.locate()
    try:
        w = get_workload(args.workload)
        spec = resolve_allocator(project, args.variant)
    except UserError as exc:
        print(f"memory_agreement: {exc}", file=sys.stderr)
        return 2
    if w.driver != "gap":
        print(f"memory_agreement: {w.name} is not a gap workload (one process, no threads)", file=sys.stderr)
        return 2
    out = run_bench(project, w.name, [args.variant], sampling=Sampling.fixed(3, sessions=args.runs, layouts=1))
    tool = out["results"][0]["memory"]["peak_rss_bytes"]
    # what the stand-alone program preloads: the variant's LD_PRELOAD build, or the peer's library (glibc: none)
    if spec.is_project:
        from reportgen.variants import VARIANTS
        preload = str(build.build_variant(project, VARIANTS[args.variant], "preload"))
    else:
        preload = spec.timed_links[0] if spec.timed_links else ""
    alone = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_standalone(Path(tmp))
        for _ in range(args.runs):
            p = subprocess.run([str(exe), str(w.ops * w.runs), str(w.warmup_ops), str(w.seed), str(w.slots),
                                *map(str, w.sizes)], capture_output=True, text=True, check=True,
                               env={"GLIBC_TUNABLES": CHILD_TUNABLES, **({"LD_PRELOAD": preload} if preload else {})})
            start, hwm, _end = map(int, p.stdout.split())
            alone.append((hwm - start) * 1024)
    med = statistics.median(alone)
    ratio = tool / med if med else float("nan")
    agree = abs(tool - med) <= BYTES or abs(ratio - 1) <= RATIO
    mib = 2 ** 20
    print(f"{args.variant} on {w.name}: the tool's peak RSS added {tool / mib:.2f} MiB (median of {args.runs} "
          f"sessions); stand-alone VmHWM less start {med / mib:.2f} MiB (median of {args.runs} runs, "
          f"{', '.join(f'{a / mib:.2f}' for a in alone)})")
    print(f"ratio tool / stand-alone {ratio:.3f}, difference {(tool - med) / mib:+.2f} MiB: "
          f"{'agree' if agree else 'DISAGREE'} (within {RATIO:.0%} or {BYTES // mib} MiB)")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
