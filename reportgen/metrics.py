"""What a path into a phase's results view means for a check: which values carry a 95% CI, which are noise.

Read by the spec loader (phases.py refuses checks decided by noise) and by the
hypothesis evaluation (hypotheses.py judges an estimate on its interval).
"""
from __future__ import annotations

# A measured point estimate -> the key of its 95% CI beside it (same node of the view).
INTERVAL_OF = {"speedup": "speedup_ci95", "ratio": "ci95", "median": "ci95", "delta_ns_median": "delta_ns_ci95",
               "claim.measured": "measured_ci95"}


def interval_key(path: str) -> str | None:
    """The key of the CI beside the estimate at `path`, if it is an estimate with one."""
    if path in INTERVAL_OF:
        return INTERVAL_OF[path]
    leaf = path.rpartition(".")[2]
    return INTERVAL_OF.get(leaf) if path.split(".")[0] in ("bench", "header_cost", "sweep", "programs") else None
# Values decided by noise that have no interval: a check on them is refused at spec load.
NOISY_LEAVES = {
    "verdict": "a verdict hides its interval; check `speedup` (judged on its 95% CI: > 0 faster, < 0 slower, "
               "within [-m, m] equivalent)",
    "p_value": "stop and decide on intervals, not p-values; check `speedup` instead",
    "p_adjusted": "stop and decide on intervals, not p-values; check `speedup` instead",
    "mde": "the detectable effect is a design estimate; the sampling stops on precision, check `speedup`",
    **{k: "a single run statistic with no interval; check `median` (judged on its CI) instead"
       for k in ("best3of5", "mean", "q1", "q3", "iqr", "min", "max", "cv", "ns_per_op")},
    **{k: "a time share or ceiling comes from timed runs with no interval; check a count share instead"
       for k in ("time_share", "share_time", "ceiling_low", "ceiling_high", "overall_low", "overall_high",
                 "relative_error", "time_model_error", "ns_per_op_measured", "ns_per_op_modelled")},
    **{k: "one allocator's memory is a median over sessions with no test; check its comparison's "
          "`memory.peak_rss.ratio` (judged on its CI) instead"
       for k in ("peak_rss_bytes", "end_rss_bytes", "baseline_rss_bytes", "minor_faults", "major_faults",
                 "minor_faults_per_op", "major_faults_per_op")},
    **{k: "a header-cost timing with no interval; check `delta_ns_median` (judged on its CI) instead"
       for k in ("delta_ns_min", "delta_ns_max", "rel_median", "dependent_delta_ns", "independent_delta_ns")},
}
