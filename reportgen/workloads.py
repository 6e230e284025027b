"""The workloads: the one place their shapes are defined.

The C drivers (native/bench.c) take these numbers as arguments; the report's
"benchmark characterisation" and the routing prediction read them from here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import UserError


@dataclass(frozen=True)
class Workload:
    name: str
    driver: str                 # "gap" (bench_gap_*) or "remote" (bench_remote)
    sizes: tuple[int, ...]      # request sizes, drawn uniformly
    slots: int                  # live blocks in the working set (gap driver)
    ops: int                    # default timed operations (one free + one malloc each)
    threads: int                # threads (remote driver; gap runs on one thread)
    runs: int                   # default runs per allocator
    warmup_ops: int             # untimed ops before the timed loop, in the same child
    seed: int                   # every allocator sees the same sequence
    description: str
    # Timed loops per process (one sample: their total ops over their total time).  Several
    # when a loop is short, so one process's sample is not one scheduler tick's luck; one for
    # mt_remote, where hak-6b leaks every block of every loop.
    values: int = 3
    # Rounds of one session (kinds.bench): each round runs one timed loop of every allocator, in the
    # session's processes.  Fewer on mt_remote, where hak-6b's process leaks every loop's blocks.
    session_rounds: int = 20

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        return d


WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (
        Workload(
            name="mid_mt_gap", driver="gap", sizes=(1024, 2048, 4096, 8192), slots=256,
            ops=1_000_000, threads=1, runs=5, warmup_ops=100_000, seed=0x6B,
            description="The reference's bench_mid_mt_gap: a working set of 256 blocks; each op frees "
                        "a random slot's block and allocates a new one of 1, 2, 4 or 8 KiB (uniform). "
                        "Single-threaded, so every free is local.",
        ),
        Workload(
            name="mid_only", driver="gap", sizes=(8192, 16384, 32768), slots=256,
            ops=1_000_000, threads=1, runs=5, warmup_ops=100_000, seed=0x6B,
            description="The pure Mid MT benchmark the reference recommends: the same shape as "
                        "mid_mt_gap over 8, 16 and 32 KiB, so every request is routed to Mid.",
        ),
        Workload(
            name="mt_remote", driver="remote", sizes=(2048, 4096, 8192), slots=0,
            # Modest: hak-6b leaks every remote Mid block by design (about 5 KiB each on average).
            ops=100_000, threads=2, runs=5, warmup_ops=10_000, seed=0x6B, values=1, session_rounds=5,
            description="Cross-thread frees: threads in a ring, each allocating 2, 4 or 8 KiB blocks "
                        "and handing them to the next thread through a lock-free single-producer/"
                        "single-consumer ring; every free is a remote free of a Mid block.",
        ),
    )
}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise UserError(f"unknown workload {name!r}; known workloads: {', '.join(WORKLOADS)}") from None
