"""Steps in a commit series: where the figure moved, found by change-point detection and judged
as any comparison is.

ruptures (PELT, least squares) proposes where the per-commit log medians change level, with a
BIC-like penalty from the medians' own noise, never below the noise floor's: a level change no
larger than that cannot be a verdict anyway, and a smaller penalty would only propose noise.
Each proposed step is then decided by the comparison of the measured commits on either side of
it (the last before, the first after), computed by the bench kind from the same interleaved
rounds (a `contrast`): its speed-up, interval over sessions and p-value; verdicts by
stats.decide on Holm-adjusted p-values over the series' proposals, so the family-wise error of
the steps of one series stays at 5%.  A proposal whose interval reaches into the noise floor,
or whose p-value does not pass, is not a step (it is kept in `candidates` with the reason).
"""
from __future__ import annotations

import math

import numpy as np

from .. import stats


def change_points(log_medians: list[float], noise_var: float) -> list[int]:
    """Indices i where a new level starts (a step between i-1 and i)."""
    if len(log_medians) < 2:
        return []
    import ruptures

    y = np.asarray(log_medians, dtype=float).reshape(-1, 1)
    pen = 2.0 * noise_var * math.log(len(y))      # BIC: a mean and a position per change point
    algo = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(y)
    return [i for i in algo.predict(pen=pen) if i < len(y)]


def _median_var(row: dict) -> float:
    """Variance of a commit's log median from its samples (asymptotic: pi/2 times the mean's)."""
    xs = np.log([x for x in row.get("samples") or [] if x and x > 0])
    if len(xs) < 2:
        return 0.0
    return float(np.var(xs, ddof=1)) / len(xs) * math.pi / 2


def find_steps(series: list[dict], contrasts: dict, skipped: list[dict], order: list[str]) -> tuple[list, list]:
    """(steps, candidates) of a measured series (reportgen.history.series): steps decided faster or
    slower; candidates every proposal with its verdict and reason."""
    measured = [c for c in series if (c.get("results") or {}).get("median")]
    if len(measured) < 2:
        return [], []
    y = [math.log(c["results"]["median"]) for c in measured]
    floor = math.log1p(stats.NOISE_FLOOR) / 2        # a level change of the floor is 2 sd of this noise
    noise = max(float(np.mean([_median_var(c["results"]) for c in measured])), floor ** 2)
    where = {c: i for i, c in enumerate(order)}
    candidates = []
    for i in change_points(y, noise):
        before, after = measured[i - 1], measured[i]
        if before["label"] == after["label"]:     # the same library on both sides: no change in code
            continue
        c = contrasts.get((after["label"], before["label"])) or {}
        lo, hi = where.get(before["commit"], -1), where.get(after["commit"], -1)
        candidates.append({
            "commit": after["commit"], "subject": after["subject"], "parent": before["commit"],
            "size": c.get("speedup"), "ci95": c.get("speedup_ci95"), "p_value": c.get("p_value"),
            "noise_floor": c.get("noise_floor", stats.NOISE_FLOOR), "sessions": c.get("sessions"),
            # a commit between the two that did not build may be the one that moved the figure
            "unmeasured_between": [s["commit"] for s in skipped if lo < where.get(s["commit"], -1) < hi],
            "verdict": None, "reason": c.get("reason") or "not compared"})
    judged = [c for c in candidates if c["p_value"] is not None]
    for c, p_adj in zip(judged, stats.holm([c["p_value"] for c in judged])):
        verdict, reason = stats.decide(c["ci95"], p_adj, noise_floor=c["noise_floor"])
        c.update(p_adjusted=p_adj, family_size=len(judged), verdict=verdict,
                 reason=f"{verdict}: {reason}" + (f" (Holm-adjusted over the {len(judged)} proposed steps)"
                                                  if len(judged) > 1 else ""))
    steps = [{k: c[k] for k in ("commit", "parent", "size", "ci95", "verdict", "subject", "p_adjusted",
                                "unmeasured_between")}
             for c in candidates if c["verdict"] in ("faster", "slower")]
    return steps, candidates
