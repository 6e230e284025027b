"""A machine's noise, said before its verdicts: what a comparison group's own loops show.

From the timed loops of one group (kinds.bench), per allocator: the spread of single loops
(coefficient of variation, over all sessions and within a session), how far the sessions'
levels move, a slow first loop (each session's discarded warm-up loop against the rest),
outliers, and whether the loops fall into separate modes (Hartigan's dip test, from the
`diptest` package; when it finds more than one mode, a two-component Gaussian mixture from
scikit-learn gives each mode's level and share).  With several modes, each comparison is
also given per mode: the rounds in which both sides ran in the same mode.  Warnings follow
pyperf's `check` and hyperfine: a CV above 10%, outliers, a slow first run, several modes.
"""
from __future__ import annotations

import math

import numpy as np

# Warn at these (pyperf `check` warns above 10% standard deviation of the mean).
NOISY_LOOP_CV = 0.10
SLOW_FIRST = 1.10          # the warm-up loop this much slower than the median loop (hyperfine warns too)
DIP_ALPHA = 0.05
MIN_LOOPS_FOR_MODES = 30
MIN_MODE_SHARE = 0.10      # a mode holds at least this share of the loops to be reported


def _cv(x: np.ndarray) -> float | None:
    return float(np.std(x, ddof=1) / np.mean(x)) if len(x) >= 2 and np.mean(x) else None


def modes(samples) -> dict | None:
    """{"dip_p", "modes": [{"level", "share"}, ...] (fastest first)} when the loops are multimodal."""
    x = np.log(np.asarray(samples, float))
    if len(x) < MIN_LOOPS_FOR_MODES or np.ptp(x) == 0:
        return None
    import diptest
    _, p = diptest.diptest(x)
    if p >= DIP_ALPHA:
        return None
    from sklearn.mixture import GaussianMixture
    gm = GaussianMixture(n_components=2, random_state=0).fit(x.reshape(-1, 1))
    order = np.argsort(-gm.means_.ravel())           # highest throughput first
    means, weights = gm.means_.ravel()[order], gm.weights_[order]
    if weights.min() < MIN_MODE_SHARE:
        return {"dip_p": float(p), "modes": None}
    labels = np.argsort(order)[gm.predict(x.reshape(-1, 1))]   # 0 = fast mode
    return {"dip_p": float(p), "modes": [{"level": float(math.exp(m)), "share": float(w)}
                                         for m, w in zip(means, weights)],
            "labels": [int(v) for v in labels]}


def describe(workload, specs, series) -> dict:
    """The group's noise: per allocator, per comparison by mode, and warnings (said once)."""
    rows, warnings, mode_of = [], [], {}
    for spec, s in zip(specs, series):
        x = np.asarray(s.samples, float)
        if not len(x):
            rows.append({"variant": spec.name, "loops": 0})
            continue
        sess = np.asarray(s.sessions or [0] * len(x))
        levels = [float(np.median(x[sess == k])) for k in sorted(set(sess.tolist()))]
        within = [_cv(x[sess == k]) for k in sorted(set(sess.tolist()))]
        within = [v for v in within if v is not None]
        med = float(np.median(x))
        q1, q3 = np.percentile(x, [25, 75])
        outliers = int(np.sum((x < q1 - 1.5 * (q3 - q1)) | (x > q3 + 1.5 * (q3 - q1)))) if len(x) >= 10 else 0
        first = float(np.median(s.warmup)) if s.warmup else None
        m = modes(x)
        row = {"variant": spec.name, "loops": int(len(x)), "sessions": len(levels), "median": med,
               "cv": _cv(x), "cv_within_session": float(np.mean(within)) if within else None,
               "session_level_cv": _cv(np.asarray(levels)) if len(levels) >= 2 else None,
               "outliers": outliers, "first_loop_slowdown": (med / first) if first else None,
               "modes": (m or {}).get("modes"), "dip_p": (m or {}).get("dip_p")}
        rows.append(row)
        if m and m.get("labels"):
            mode_of[spec.name] = dict(zip(s.rounds, m["labels"]))
        if row["cv"] is not None and row["cv"] > NOISY_LOOP_CV:
            warnings.append(f"{spec.name}: single loops vary by {row['cv']:.1%} (CV above {NOISY_LOOP_CV:.0%})")
        if outliers:
            warnings.append(f"{spec.name}: {outliers} of {len(x)} loops outside the 1.5 IQR fences")
        if row["first_loop_slowdown"] and row["first_loop_slowdown"] > SLOW_FIRST:
            warnings.append(f"{spec.name}: the first loop of a session runs {row['first_loop_slowdown'] - 1:.0%} "
                            f"slower than the median (discarded as warm-up)")
        if row["modes"]:
            a, b = row["modes"]
            warnings.append(f"{spec.name}: loops fall in two modes, {a['share']:.0%} at the faster level and "
                            f"{b['share']:.0%} at a level {1 - b['level'] / a['level']:.0%} slower "
                            f"(dip test p = {row['dip_p']:.2g})")
    by_mode = []
    base = series[0] if series else None
    for spec, s in zip(specs[1:], series[1:]):
        if base is None or specs[0].name not in mode_of or spec.name not in mode_of:
            continue
        mb, mc = mode_of[specs[0].name], mode_of[spec.name]
        b, c = base.by_round(), s.by_round()
        for label, name in ((0, "faster mode"), (1, "slower mode")):
            rounds = [r for r in sorted(set(b) & set(c)) if mb.get(r) == label and mc.get(r) == label]
            if len(rounds) < 10:
                continue
            d = np.log([c[r] for r in rounds]) - np.log([b[r] for r in rounds])
            from scipy import stats as _st
            by_mode.append({"baseline": specs[0].name, "candidate": spec.name, "mode": name,
                            "rounds": len(rounds), "speedup": float(math.expm1(_st.trim_mean(d, 0.1)))})
    return {"allocators": rows, "by_mode": by_mode, "warnings": warnings,
            "method": "single timed loops of this group; CV = sd / mean; modes by Hartigan's dip test "
                      "(diptest) and a two-component Gaussian mixture (scikit-learn) on log throughput"}
