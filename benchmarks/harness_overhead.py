"""Does the lab's harness show in its figures?  mid_mt_gap, tool vs a stand-alone C loop.

For glibc and tcmalloc: the tool's figure, taken as `reportgen bench` takes it (a session's
process, reportgen.measuring.child.LoopServer: ctypes, the driver in a shared library, its first loop
discarded, then one timed loop with the memory readings around it: statm and getrusage, outside
the timed region) against benchmarks/harness_gap.c, a minimal program with the same loop, sizes,
slots, seed, warm-up, discarded loop and ops, compiled with the same compiler and flags, on the
same CPUs.  The stand-alone loop takes its allocator as the tool does, preloaded (LD_PRELOAD, as
mimalloc-bench runs every allocator): so the ratio is the harness's, not how the allocator is
loaded.  For tcmalloc the loop is also run linked against it (calling tc_malloc), printed beside:
linking instead of preloading moves tcmalloc's figure by itself (the script prints by how much), which is not the
harness's.  Runs are interleaved (tool, stand-alone, ...) in one session; printed: the medians and
the ratio tool / stand-alone (preloaded) per allocator, which should lie within 5% of 1.

usage: python benchmarks/harness_overhead.py [--runs N] [--ops N]
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

from reportgen import build, stats
from reportgen.measuring import child as measure  # noqa: E402
from reportgen.project import Project  # noqa: E402
from reportgen.variants import peer_status  # noqa: E402
from reportgen.measuring.workloads import get_workload  # noqa: E402

TOLERANCE = 0.05


def build_standalone(allocator: str, out_dir: Path, linked: bool = False) -> Path:
    """harness_gap.c as an executable, with the compiler and flags of the driver libraries; `linked`:
    against tcmalloc, calling tc_malloc (else malloc, whichever allocator is preloaded)."""
    from setuptools._distutils import ccompiler, sysconfig as dsysconfig

    cc = ccompiler.new_compiler()
    dsysconfig.customize_compiler(cc)
    macros = [("NDEBUG", None)]
    extra_link: list[str] = []
    if linked:
        macros.append(("STANDALONE_TCMALLOC", "1"))
        extra_link.append(peer_status("tcmalloc")[1])
        allocator = f"{allocator}-linked"
    obj_dir = out_dir / allocator
    obj_dir.mkdir(parents=True, exist_ok=True)
    objs = cc.compile([str(ROOT / "benchmarks" / "harness_gap.c")], output_dir=str(obj_dir), macros=macros,
                      extra_postargs=list(build.BASE_FLAGS))
    exe = out_dir / f"harness_gap_{allocator}"
    cc.link_executable(objs, str(exe), extra_postargs=extra_link + ["-pthread"])
    return exe


def tool_loop(request: dict, cpus: list[int]) -> tuple[int, int, str | None]:
    """One session process of the tool (as kinds.bench runs them): set-up and warm-up, the first loop
    discarded, then one timed loop; its (ns, ops), or the failure."""
    srv = measure.LoopServer({**request, "cpus": cpus})
    try:
        if not srv.ready() or srv.loop() is None:
            return 0, 0, srv.failure
        res = srv.loop()
        if res is None:
            return 0, 0, srv.failure
        assert res.get("rss_kb") is not None and res.get("minflt") is not None   # memory was measured
        return int(res["ns"]), int(res["ops"]), None
    finally:
        srv.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--ops", type=int, default=None)
    args = ap.parse_args()

    project = Project.locate()
    w = get_workload("mid_mt_gap")
    ops = args.ops or w.ops
    allocators = [a for a in ("glibc", "tcmalloc") if peer_status(a)[0]]
    with tempfile.TemporaryDirectory() as tmp:
        plain = build_standalone("plain", Path(tmp))
        exes = {a: plain for a in allocators}
        preload = {a: peer_status(a)[1] for a in allocators if a != "glibc"}
        linked = build_standalone("tcmalloc", Path(tmp), linked=True) if "tcmalloc" in allocators else None
        specs = {a: measure.resolve_allocator(project, a) for a in allocators}
        requests = {a: measure.workload_request(specs[a], w, ops=ops) for a in allocators}
        warm = requests[allocators[0]]["warmup_ops"]
        tool = {a: [] for a in allocators}
        alone = {a: [] for a in allocators}
        alone_linked: list[float] = []
        cpus = measure.measurement_cpus(1)
        for run in range(args.runs + 1):          # run 0: warm-up, discarded
            for a in allocators:
                ns_tool, n_tool, failure = tool_loop(requests[a], cpus)
                if failure:
                    print(f"{a}: tool run failed: {failure}", file=sys.stderr)
                    return 1
                env = {"GLIBC_TUNABLES": measure.CHILD_TUNABLES, **({"LD_PRELOAD": preload[a]} if a in preload else {})}
                ns, n = standalone_loop(exes[a], ops, warm, w.seed, env, cpus)
                if run:
                    tool[a].append(n_tool / ns_tool * 1e9)
                    alone[a].append(n / ns * 1e9)
                if a == "tcmalloc" and linked is not None:
                    ns, n = standalone_loop(linked, ops, warm, w.seed, {"GLIBC_TUNABLES": measure.CHILD_TUNABLES}, cpus)
                    if run:
                        alone_linked.append(n / ns * 1e9)
    worst = 0.0
    print(f"mid_mt_gap, {ops:,} ops, {args.runs} interleaved runs each (median ops/s)")
    for a in allocators:
        t, s = statistics.median(tool[a]), statistics.median(alone[a])
        ratio = t / s
        worst = max(worst, abs(ratio - 1))
        c = stats.compare(alone[a], tool[a], higher_is_better=True)
        cv_t, cv_s = stats.summarize(tool[a]).cv, stats.summarize(alone[a]).cv
        print(f"  {a:9s} tool {t / 1e6:8.2f} M (CV {cv_t:.1%})   stand-alone {s / 1e6:8.2f} M (CV {cv_s:.1%})   "
              f"ratio tool/stand-alone {ratio:.4f}, 95% CI [{c.ci95[0]:.4f}, {c.ci95[1]:.4f}], "
              f"{c.verdict}   {'within' if abs(ratio - 1) <= TOLERANCE else 'OUTSIDE'} {TOLERANCE:.0%}")
    if alone_linked:
        s_link = statistics.median(alone_linked)
        c = stats.compare(alone_linked, alone["tcmalloc"], higher_is_better=True)
        print(f"  for reference: the stand-alone loop linked against tcmalloc {s_link / 1e6:8.2f} M; preloaded / "
              f"linked {statistics.median(alone['tcmalloc']) / s_link:.4f}, 95% CI [{c.ci95[0]:.4f}, {c.ci95[1]:.4f}], "
              f"{c.verdict} (how tcmalloc is loaded, not the harness); tool / linked "
              f"{statistics.median(tool['tcmalloc']) / s_link:.4f}")
    return 0 if worst <= TOLERANCE else 1


def standalone_loop(exe: Path, ops: int, warm: int, seed: int, env: dict, cpus: list[int]) -> tuple[int, int]:
    """One run of the stand-alone loop: (elapsed ns, ops)."""
    p = subprocess.run([str(exe), str(ops), str(warm), str(seed)], capture_output=True, text=True, check=True,
                       env=env, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    ns, n = map(int, p.stdout.split())
    return ns, n


if __name__ == "__main__":
    sys.exit(main())
