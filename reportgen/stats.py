"""Statistics of measured samples: summaries, A/B verdicts, claim checks, Amdahl ceilings.

Everything here is a pure function of the samples it is given (numpy/scipy;
no hand-written significance tests). Bootstrap confidence intervals use a
fixed seed so a report regenerated from the same records shows the same
numbers.

Direction conventions (after pyperf/asv):
- A sample is whatever the benchmark measured: a throughput (ops/s,
  `higher_is_better=True`) or a time (`higher_is_better=False`).
- `ratio` is always median(candidate) / median(baseline) of that metric, as
  the `bench --json` contract shows it. For a throughput ratio > 1 is faster;
  for a time ratio < 1 is faster.
- `speedup` is direction-free: the relative gain of the candidate, positive
  when it is faster (throughput: ratio - 1; time: 1/ratio - 1). Claims such
  as "+17-27%" are checked against `speedup_ci95`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats as _st

# A run set with fewer runs than this gets a warning: a median of 3 runs
# moves with one bad run, and the exact Mann-Whitney test cannot reach 0.05.
MIN_RUNS = 5
# Coefficient of variation above which a run set is called noisy. The
# reference saw 1-2% run-to-run variance; 3% is already too much to resolve
# the sub-percent effects these phases argue about.
NOISY_CV = 0.03
# Bootstrap resamples (scipy's default); fixed seed for reproducible reports.
N_RESAMPLES = 9999
CONFIDENCE = 0.95
# The power used for the minimal detectable effect estimate.
POWER = 0.80
# A difference is called only when its whole 95% CI lies beyond this relative
# size: smaller effects come and go with code layout between builds, so even a
# resolved one is reported as "no significant change", never as a win.
NOISE_FLOOR = 0.005
# Paired comparisons (interleaved rounds): the per-round log-ratios are summarised
# by their trimmed mean, which one slow round cannot move the way it moves a
# median of 5, and which a bootstrap resolves smoothly (a median's does not).
TRIM = 0.1
# Fewer pairs than this: the exact signed-rank test cannot reach 0.05 (2/2^5 > 0.05).
MIN_PAIRS = 6

VERDICTS = ("faster", "slower", "no significant change", "underpowered")
# A comparison whose interval is wider than this many times its target half-width, and that does
# not decide a difference, is "underpowered": its "no significant change" would only say that the
# run could not tell.
UNDERPOWERED_FACTOR = 2.0
# Sessions a comparison needs before its interval is taken over sessions (a t interval on 2
# sessions has 1 degree of freedom: 12.7 standard errors wide).
MIN_SESSIONS = 3


def _as_samples(samples: Sequence[float], what: str = "samples") -> np.ndarray:
    arr = np.asarray(list(samples), dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a flat sequence of numbers")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite numbers (a failed run is a recorded failure, not a sample)")
    return arr


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _spct(x: float) -> str:
    """Signed percentage with enough digits for sub-percent effects."""
    return f"{x * 100:+.2f}%"


def _bootstrap_ci(data: tuple[np.ndarray, ...], statistic, seed: int) -> tuple[float, float] | None:
    """Percentile bootstrap CI (scipy). Percentile, not BCa: BCa's jackknife
    acceleration is degenerate for the median of a handful of runs (NaN or
    wild intervals); the percentile interval is stable and transforms
    exactly under log/negation, which keeps A/B vs B/A symmetric."""
    if any(len(d) < 2 for d in data):
        return None
    res = _st.bootstrap(data, statistic, n_resamples=N_RESAMPLES, paired=False,
                        vectorized=True, method="percentile", confidence_level=CONFIDENCE,
                        rng=np.random.default_rng(seed), batch=_batch(data))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def _batch(data) -> int | None:
    """Resamples per batch: a few million values in memory at a time, whatever the sample size."""
    n = max(len(d) for d in data)
    return None if n * N_RESAMPLES <= 4_000_000 else max(100, 4_000_000 // n)


def _median_stat(x, axis=-1):
    return np.median(x, axis=axis)


def _log_ratio_stat(b, c, axis=-1):
    return np.log(np.median(c, axis=axis)) - np.log(np.median(b, axis=axis))


def _trimmed_mean(x, axis=-1):
    return _st.trim_mean(x, TRIM, axis=axis)


def paired_log_ci(log_ratios: Sequence[float], *, seed: int = 0,
                  n_resamples: int = N_RESAMPLES) -> tuple[float, float] | None:
    """95% BCa bootstrap CI (scipy) of the trimmed mean of per-round log-ratios.

    The rounds are the resampled units: each holds one process of each side, run
    back to back, so what the interval covers is process-to-process and
    round-to-round variation, not only the spread of values inside a process."""
    d = np.sort(_as_samples(log_ratios, "log-ratios"))
    if len(d) < 3:
        return None
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    res = _st.bootstrap((d,), _trimmed_mean, n_resamples=n_resamples, vectorized=True, method="BCa",
                        confidence_level=CONFIDENCE, rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def speedup_interval(log_ci: tuple[float, float], higher_is_better: bool = True) -> tuple[float, float]:
    """The relative gain of the candidate (> 0 faster) from a CI of log(candidate / baseline)."""
    lo, hi = log_ci
    return (math.expm1(lo), math.expm1(hi)) if higher_is_better else (math.expm1(-hi), math.expm1(-lo))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values: the family-wise error of a page's primary comparisons stays at
    alpha however many of them it makes.

    The step-down of statsmodels' ``multipletests(method="holm")``, written out: that call
    runs a full garbage collection each time (0.15 s), which a publish of 200 phases paid
    200 times (tests/test_stats.py checks both agree)."""
    import numpy as np
    if not len(p_values):
        return []
    p = np.asarray(list(p_values), dtype=float)
    order = np.argsort(p)
    adjusted = np.minimum(np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)), 1.0)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return [float(x) for x in out]


def decide(speedup_ci: Sequence[float] | None, p_value: float | None, *, alpha: float = 0.05,
           noise_floor: float = NOISE_FLOOR) -> tuple[str, str]:
    """(verdict, reason) from a speed-up CI and a (possibly Holm-adjusted) p-value.

    "faster"/"slower" only when the p-value is below alpha *and* the whole 95% CI
    of the speed-up lies beyond the noise floor (in log terms, so swapping the
    sides mirrors the verdict exactly); otherwise "no significant change"."""
    if speedup_ci is None:
        return "no significant change", "too few runs for a confidence interval"
    lo, hi = (math.log1p(x) for x in speedup_ci)
    floor = math.log1p(noise_floor)
    ci_txt = f"{_spct(speedup_ci[0])}..{_spct(speedup_ci[1])}"
    if p_value is None or p_value >= alpha:
        return "no significant change", (f"p = {p_value:.3g} is not below alpha = {alpha}" if p_value is not None
                                         else "no test could be made")
    if lo > floor:
        return "faster", f"the 95% CI of the speed-up {ci_txt} lies above +{_pct(noise_floor)}, p = {p_value:.3g}"
    if hi < -floor:
        return "slower", f"the 95% CI of the speed-up {ci_txt} lies below -{_pct(noise_floor)}, p = {p_value:.3g}"
    if lo <= 0 <= hi:
        return "no significant change", f"the 95% CI of the speed-up {ci_txt} includes 0"
    return "no significant change", (f"the 95% CI of the speed-up {ci_txt} reaches into the noise floor "
                                     f"of ±{_pct(noise_floor)}")


@dataclass(frozen=True)
class Summary:
    """One allocator's runs on one workload.

    `best3of5` is the reference report's figure: the mean of the 3 best of the
    first 5 runs (best = highest when higher is better). It is biased towards
    the lucky runs and is shown only because the reference quotes it; the
    median and its CI are what decisions use.
    """
    n: int
    median: float | None
    mean: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    best3of5: float | None
    ci95: tuple[float, float] | None  # bootstrap CI of the median
    cv: float | None  # sample std (ddof=1) / mean
    min: float | None
    max: float | None
    samples: tuple[float, ...]
    higher_is_better: bool = True
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci95"] = list(self.ci95) if self.ci95 is not None else None
        d["samples"] = list(self.samples)
        d["warnings"] = list(self.warnings)
        return d


def best3of5(samples: Sequence[float], *, higher_is_better: bool = True) -> float | None:
    """Mean of the 3 best of the first 5 samples (the reference's figure); None with < 3 samples."""
    first = sorted(float(s) for s in list(samples)[:5])
    if len(first) < 3:
        return None
    best = first[-3:] if higher_is_better else first[:3]
    return float(np.mean(best))


def summarize(samples: Sequence[float], *, higher_is_better: bool = True, seed: int = 0,
              noisy_cv: float = NOISY_CV, with_ci: bool = True) -> Summary:
    """Median, quartiles, bootstrap CI of the median, CV and adequacy warnings.

    Samples are in run order (the order matters only for best3of5 and the
    drift check). An empty list is allowed (every run failed): the figures
    are None and the warning says so.
    """
    arr = _as_samples(samples)
    n = len(arr)
    warnings: list[str] = []
    if n == 0:
        return Summary(0, None, None, None, None, None, None, None, None, None, None, (),
                       higher_is_better, ("no successful runs: nothing to summarise",))
    q1, med, q3 = (float(v) for v in np.percentile(arr, [25, 50, 75]))
    mean = float(np.mean(arr))
    cv = float(np.std(arr, ddof=1) / abs(mean)) if n >= 2 and mean != 0 else None
    # Sorted input makes the CI independent of run order.
    ci = _bootstrap_ci((np.sort(arr),), _median_stat, seed) if with_ci else None

    if n < MIN_RUNS:
        warnings.append(f"only {n} run{'s' if n != 1 else ''}: too few for a significance test "
                        f"(at least {MIN_RUNS} are needed)")
    if cv is not None and cv > noisy_cv:
        warnings.append(f"noisy: coefficient of variation {_pct(cv)} above the {_pct(noisy_cv)} threshold")
    if n >= 10:  # Tukey fences mean little on fewer runs: with 5, normal data often "has outliers"
        iqr = q3 - q1
        lo_f, hi_f = q1 - 1.5 * iqr, q3 + 1.5 * iqr
        out = [float(v) for v in arr if v < lo_f or v > hi_f]
        if out and iqr > 0:
            warnings.append(f"{len(out)} of {n} runs outside the 1.5 IQR fences (outliers): "
                            + ", ".join(f"{v:.6g}" for v in out))
    if n >= 6 and np.ptp(arr) > 0:
        # Runs drifting steadily in one direction (warm-up, thermal, a neighbour):
        # the median then depends on how many runs were taken.
        rho, p = _st.spearmanr(np.arange(n), arr)
        if p < 0.05:
            warnings.append(f"drift: the runs trend {'up' if rho > 0 else 'down'} over time "
                            f"(Spearman rho {rho:+.2f}, p = {p:.3g})")
    return Summary(n=n, median=med, mean=mean, q1=q1, q3=q3, iqr=q3 - q1,
                   best3of5=best3of5(arr, higher_is_better=higher_is_better), ci95=ci, cv=cv,
                   min=float(arr.min()), max=float(arr.max()), samples=tuple(float(v) for v in arr),
                   higher_is_better=higher_is_better, warnings=tuple(warnings))


def min_attainable_p(n1: int, n2: int) -> float:
    """Smallest two-sided p-value the exact Mann-Whitney U test can give for
    these sample sizes (complete separation, no ties), computed by scipy."""
    if n1 < 1 or n2 < 1:
        return 1.0
    res = _st.mannwhitneyu(np.arange(n1), np.arange(n1, n1 + n2), alternative="two-sided", method="exact")
    return float(res.pvalue)


def _pooled_cv(a: Summary, b: Summary) -> float | None:
    if a.cv is None or b.cv is None or a.n + b.n <= 2:
        return None
    return math.sqrt(((a.n - 1) * a.cv ** 2 + (b.n - 1) * b.cv ** 2) / (a.n + b.n - 2))


def minimal_detectable_effect(cv: float | None, n1: int, n2: int, *, alpha: float = 0.05,
                              power: float = POWER, noise_floor: float = 0.0) -> float | None:
    """Estimate of the smallest relative difference of medians this design would
    call, with the given power.

    Normal approximation: the standard error of a median is sqrt(pi/2) times
    that of a mean for normal data, so the relative difference of two medians
    has SE ~ 1.2533 * cv * sqrt(1/n1 + 1/n2); the effect detectable with
    `power` at two-sided `alpha` is (z_{1-alpha/2} + z_power) times that. It
    is then raised to the noise floor (smaller effects are never called) and is
    None when the exact test cannot reach `alpha` at all with these sizes.
    An estimate to judge a design by, not a measured fact.
    """
    if cv is None or n1 < 2 or n2 < 2 or min_attainable_p(n1, n2) >= alpha:
        return None
    z = _st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(power)
    mde = float(z * math.sqrt(math.pi / 2) * cv * math.sqrt(1 / n1 + 1 / n2))
    return max(mde, noise_floor)


# Up to this many distinct splits of the pooled runs, the p-value comes from
# enumerating all of them (exact even with tied values, e.g. a coarse clock).
_EXACT_SPLITS = 20000


def _mann_whitney_p(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """Two-sided Mann-Whitney U p-value (scipy). For small samples the null
    distribution is enumerated exactly (scipy's PermutationMethod): scipy's
    'auto' falls back to the normal approximation when values tie, which on
    3 vs 3 runs can report p < 0.05 where no split of the data could."""
    if math.comb(len(x) + len(y), len(x)) <= _EXACT_SPLITS:
        method = _st.PermutationMethod(n_resamples=_EXACT_SPLITS, rng=np.random.default_rng(seed))
    else:
        method = "auto"
    p = float(_st.mannwhitneyu(y, x, alternative="two-sided", method=method).pvalue)
    return p if math.isfinite(p) else 1.0  # every value tied: no evidence of a difference


@dataclass(frozen=True)
class Comparison:
    """Candidate against baseline. `to_dict()` gives the fields of the
    `comparisons` entries of `bench --json` (the caller adds the baseline and
    candidate names)."""
    ratio: float | None  # median(candidate) / median(baseline) of the metric as measured
    ci95: tuple[float, float] | None  # bootstrap CI of that ratio
    # (paired: the ratio is the geometric trimmed mean of the per-round ratios)
    speedup: float | None  # relative gain of the candidate, > 0 when faster
    speedup_ci95: tuple[float, float] | None
    p_value: float | None  # two-sided Mann-Whitney U
    min_p_value: float  # smallest p the exact test can give for these sizes
    verdict: str  # one of VERDICTS
    reason: str  # one sentence: why this verdict
    mde: float | None  # estimated minimal detectable relative effect (see minimal_detectable_effect)
    power_note: str
    warnings: tuple[str, ...]
    baseline: Summary
    candidate: Summary
    higher_is_better: bool
    alpha: float
    noise_floor: float
    paired: bool = False
    # Over sessions (compare_sessions): how many, and the spread of the per-session estimates
    # (log-ratio sd), of the rounds inside a session, and what sessions add beyond the rounds.
    sessions: int | None = None
    session_sd: float | None = None
    round_sd: float | None = None
    between_sd: float | None = None
    level: str = "rounds"          # what the interval covers: "layouts", "sessions" (and rounds) or "rounds" only
    # Over layouts (sessions grouped by the layout they ran in): each layout's estimate, the spread
    # between layouts beyond their sessions' (log-ratio sd), and a test of whether they differ.
    per_layout: tuple = ()
    layout_sd: float | None = None
    layout_heterogeneity_p: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "paired": self.paired,
            "sessions": self.sessions,
            "session_sd": self.session_sd,
            "round_sd": self.round_sd,
            "between_sd": self.between_sd,
            "interval_level": self.level,
            "per_layout": [dict(x) for x in self.per_layout],
            "layout_sd": self.layout_sd,
            "layout_heterogeneity_p": self.layout_heterogeneity_p,
            "ratio": self.ratio,
            "ci95": list(self.ci95) if self.ci95 else None,
            "speedup": self.speedup,
            "speedup_ci95": list(self.speedup_ci95) if self.speedup_ci95 else None,
            "p_value": self.p_value,
            "min_p_value": self.min_p_value,
            "verdict": self.verdict,
            "reason": self.reason,
            "mde": self.mde,
            "power_note": self.power_note,
            "warnings": list(self.warnings),
            "n_baseline": self.baseline.n,
            "n_candidate": self.candidate.n,
            "higher_is_better": self.higher_is_better,
            "alpha": self.alpha,
            "noise_floor": self.noise_floor,
        }


def _canonical_pair(b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Sort each sample and put the pair in a fixed order, so that the
    bootstrap draws (and hence the CI) do not depend on which side is the
    baseline: compare(a, b) and compare(b, a) give exactly mirrored answers."""
    bs, cs = np.sort(b), np.sort(c)
    swapped = (len(cs), tuple(cs)) < (len(bs), tuple(bs))
    return (cs, bs, True) if swapped else (bs, cs, False)


def compare(baseline: Sequence[float], candidate: Sequence[float], *, paired: bool = False,
            higher_is_better: bool = True, noise_floor: float = NOISE_FLOOR, alpha: float = 0.05, seed: int = 0,
            noisy_cv: float = NOISY_CV) -> Comparison:
    """A/B verdict of candidate against baseline (see `decide` for the rule).

    paired=True (interleaved rounds, baseline[i] and candidate[i] from round i):
    the effect is the trimmed mean of the per-round log-ratios, its CI a BCa
    bootstrap over rounds and the test Wilcoxon's signed-rank test; a drift
    that hits a whole round cancels.  paired=False: the ratio of medians, a
    percentile bootstrap of it and the Mann-Whitney U test.

    Samples must be positive (throughputs or times).
    """
    b, c = _as_samples(baseline, "baseline samples"), _as_samples(candidate, "candidate samples")
    if (len(b) and b.min() <= 0) or (len(c) and c.min() <= 0):
        raise ValueError("samples must be positive (a throughput or a time) to form a ratio")
    if not 0 < alpha < 1 or noise_floor < 0:
        raise ValueError("alpha must be in (0, 1) and noise_floor >= 0")
    if paired and len(b) != len(c):
        raise ValueError(f"paired samples need one baseline value per candidate value ({len(b)} != {len(c)})")
    sb = summarize(b, higher_is_better=higher_is_better, seed=seed, noisy_cv=noisy_cv)
    sc = summarize(c, higher_is_better=higher_is_better, seed=seed, noisy_cv=noisy_cv)
    if paired:
        min_p = 2.0 / 2 ** len(b) if len(b) else 1.0   # exact signed-rank test: all pairs one way
    else:
        min_p = min_attainable_p(len(b), len(c))
    warnings = [f"baseline: {w}" for w in sb.warnings] + [f"candidate: {w}" for w in sc.warnings]
    if min_p >= alpha and len(b) and len(c):
        warnings.append(f"too few runs for the test to ever reach alpha = {alpha}: with {len(b)} and "
                        f"{len(c)} runs the smallest attainable p-value is {min_p:.3g}")
    d = np.log(c) - np.log(b) if paired and len(b) else None
    if paired:
        spread = float(np.std(d, ddof=1)) if d is not None and len(d) >= 2 else None
        mde = _paired_mde(spread, len(b), alpha, noise_floor) if min_p < alpha else None
        pooled = spread
    else:
        pooled = _pooled_cv(sb, sc)
        mde = minimal_detectable_effect(pooled, len(b), len(c), alpha=alpha, noise_floor=noise_floor)
    if mde is None:
        power_note = ("no difference can be detected with these runs"
                      if len(b) and len(c) else "no runs to compare")
    else:
        what = "rounds and a spread of the per-round log-ratio" if paired else "runs and a pooled CV"
        power_note = (f"estimate: with {len(b)} and {len(c)} {what} of {_pct(pooled)}, "
                      f"this design detects a difference of about {_pct(mde)} or more "
                      f"{int(POWER * 100)}% of the time (normal approximation)")

    def result(ratio, log_ci, p, verdict, reason):
        ci = (math.exp(log_ci[0]), math.exp(log_ci[1])) if log_ci else None
        if ratio is None:
            speed, speed_ci = None, None
        else:
            speed = ratio - 1 if higher_is_better else 1 / ratio - 1
            speed_ci = speedup_interval(log_ci, higher_is_better) if log_ci else None
        return Comparison(ratio=ratio, ci95=ci, speedup=speed, speedup_ci95=speed_ci, p_value=p,
                          min_p_value=min_p, verdict=verdict, reason=reason, mde=mde,
                          power_note=power_note, warnings=tuple(warnings), baseline=sb, candidate=sc,
                          higher_is_better=higher_is_better, alpha=alpha, noise_floor=noise_floor,
                          paired=paired)

    if len(b) == 0 or len(c) == 0:
        side = "baseline" if len(b) == 0 else "candidate"
        return result(None, None, None, "no significant change",
                      f"no significant change: the {side} has no successful runs")

    if paired:
        log_ratio = float(_trimmed_mean(d))
        log_ci = paired_log_ci(d, seed=seed)
        p = _signed_rank_p(d)
    else:
        log_ratio = math.log(sc.median) - math.log(sb.median)
        first, second, swapped = _canonical_pair(b, c)
        log_ci = _bootstrap_ci((first, second), _log_ratio_stat, seed)
        if log_ci is not None and swapped:
            log_ci = (-log_ci[1], -log_ci[0])
        p = _mann_whitney_p(first, second, seed)
    ratio = math.exp(log_ratio)
    verdict, reason = decide(speedup_interval(log_ci, higher_is_better) if log_ci else None, p,
                             alpha=alpha, noise_floor=noise_floor)
    return result(ratio, log_ci, p, verdict, f"{verdict}: {reason}")


def _signed_rank_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of per-round log-ratios (scipy; exact for small n)."""
    if not np.any(d != 0):
        return 1.0
    p = float(_st.wilcoxon(d, alternative="two-sided").pvalue)
    return p if math.isfinite(p) else 1.0


def _paired_mde(spread: float | None, n: int, alpha: float, noise_floor: float) -> float | None:
    """Estimate of the smallest effect `n` rounds resolve with POWER: (z_a/2 + z_power) * sd / sqrt(n)."""
    if spread is None or n < 2:
        return None
    z = _st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(POWER)
    return max(float(math.expm1(z * spread / math.sqrt(n))), noise_floor)


def compare_sessions(baseline: Sequence[Sequence[float]], candidate: Sequence[Sequence[float]], *,
                     higher_is_better: bool = True, noise_floor: float = NOISE_FLOOR, alpha: float = 0.05,
                     seed: int = 0, noisy_cv: float = NOISY_CV, layouts: Sequence[int] | None = None) -> Comparison:
    """A/B verdict over independent sessions: `baseline[k][i]` and `candidate[k][i]` are round i of
    session k (one timed loop of each side, back to back).

    Each session gives one estimate, the trimmed mean of its per-round log-ratios; the effect is
    the mean of the session estimates and its interval and test are Student's t over sessions
    (scipy's ttest_1samp), with sessions - 1 degrees of freedom.  This is the summary-statistics
    form of a mixed model with session as a random effect (exact for equal-sized sessions): the
    spread of the session estimates holds both the rounds' noise and whatever differs from one
    session to the next (new processes, new addresses, the machine's state), so the interval
    covers what a rerun would meet, not only what varied inside one run.  With fewer than
    MIN_SESSIONS sessions the interval falls back to the rounds (`compare(paired=True)`) and
    says so.

    `layouts[k]`: the layout session k ran in (reportgen.measuring.layouts).  Sessions are then nested in
    layouts: each layout's estimate is the mean of its sessions', and with MIN_SESSIONS layouts or
    more the interval and test are Student's t over the layouts' estimates (layouts - 1 degrees
    of freedom), the summary form of a mixed model with layout and session as nested random
    effects: it covers what another draw of layouts would meet, and no number of sessions in the
    same layouts narrows it below their spread.  With one session per layout it is the sessions'
    interval."""
    laid = layouts is not None and len(layouts) == len(baseline)
    pairs = [(np.asarray(b, float), np.asarray(c, float), (layouts[i] if laid else 0))
             for i, (b, c) in enumerate(zip(baseline, candidate))]
    pairs = [(b, c, j) for b, c, j in pairs if len(b) and len(b) == len(c)]
    slots = [j for _, _, j in pairs]
    pairs = [(b, c) for b, c, _ in pairs]
    b_all = np.concatenate([b for b, _ in pairs]) if pairs else np.asarray([], float)
    c_all = np.concatenate([c for _, c in pairs]) if pairs else np.asarray([], float)
    k = len(pairs)
    d_by = [np.log(c) - np.log(b) for b, c in pairs]
    within = [float(np.var(d, ddof=1)) for d in d_by if len(d) >= 2]
    round_sd = math.sqrt(float(np.mean(within))) if within else None
    if k < MIN_SESSIONS or not len(b_all):
        base = compare(b_all, c_all, paired=True, higher_is_better=higher_is_better, noise_floor=noise_floor,
                       alpha=alpha, seed=seed, noisy_cv=noisy_cv)
        if not len(b_all):
            return replace(base, sessions=k)
        warn = (f"{k} session{'s' if k != 1 else ''} only: the interval covers the rounds of "
                f"{'that session' if k == 1 else 'those sessions'}, not what differs between sessions")
        return replace(base, sessions=k, round_sd=round_sd, level="rounds", warnings=base.warnings + (warn,))
    if (b_all.min() <= 0) or (c_all.min() <= 0):
        raise ValueError("samples must be positive (a throughput or a time) to form a ratio")
    # the sides' own summaries (each row of the result has them, with their CIs): counts only here
    sb = summarize(b_all, higher_is_better=higher_is_better, seed=seed, noisy_cv=noisy_cv, with_ci=False)
    sc = summarize(c_all, higher_is_better=higher_is_better, seed=seed, noisy_cv=noisy_cv, with_ci=False)
    base = Comparison(ratio=None, ci95=None, speedup=None, speedup_ci95=None, p_value=None, min_p_value=0.0,
                      verdict="no significant change", reason="", mde=None, power_note="",
                      warnings=(),   # the loops' spread, outliers and modes: reportgen.noise, said once per group
                      baseline=sb, candidate=sc, higher_is_better=higher_is_better, alpha=alpha,
                      noise_floor=noise_floor, paired=True)
    est = session_estimates(d_by)
    sd = float(np.std(est, ddof=1))
    n_mean = float(np.mean([len(d) for d in d_by]))
    between = (math.sqrt(max(0.0, sd ** 2 - (round_sd ** 2) / n_mean)) if round_sd is not None else None)
    mean, log_ci, p, level = nested_interval(est, slots if laid else None)
    over, layout_fields, layout_warn = f"t over {k} sessions", {}, ()
    if laid and len(set(slots)) >= 2:
        layout_fields = layout_estimates(est, slots, higher_is_better)
        n_layouts = len(layout_fields["per_layout"])
        if level == "layouts":
            over = f"t over {n_layouts} layouts, {k} sessions"
        else:
            layout_warn = (f"{n_layouts} layouts only: the interval is over sessions, not over layouts "
                           f"(their estimates are shown apart)",)
    speed_ci = speedup_interval(log_ci, higher_is_better)
    verdict, reason = decide(speed_ci, p, alpha=alpha, noise_floor=noise_floor)
    ratio = math.exp(mean)
    z = _st.t.ppf(1 - alpha / 2, k - 1) + _st.t.ppf(POWER, k - 1)
    mde = max(float(math.expm1(z * sd / math.sqrt(k))), noise_floor) if sd > 0 else noise_floor
    power_note = (f"estimate: with {k} sessions whose estimates spread by {_pct(sd)} (sd), this design "
                  f"detects a difference of about {_pct(mde)} or more {int(POWER * 100)}% of the time")
    return replace(base, ratio=ratio, ci95=(math.exp(log_ci[0]), math.exp(log_ci[1])),
                   speedup=ratio - 1 if higher_is_better else 1 / ratio - 1, speedup_ci95=speed_ci, p_value=p,
                   min_p_value=0.0, verdict=verdict, reason=f"{verdict}: {reason} ({over})",
                   mde=mde, power_note=power_note, sessions=k, session_sd=sd, round_sd=round_sd,
                   between_sd=between, level=level, warnings=layout_warn,
                   per_layout=tuple(layout_fields.get("per_layout", ())), layout_sd=layout_fields.get("layout_sd"),
                   layout_heterogeneity_p=layout_fields.get("heterogeneity_p"))


def layout_means(estimates: Sequence[float], layouts: Sequence[int]) -> list[float]:
    """The mean of each layout's session estimates, layouts in order."""
    groups: dict[int, list[float]] = {}
    for e, j in zip(estimates, layouts):
        groups.setdefault(int(j), []).append(float(e))
    return [float(np.mean(groups[j])) for j in sorted(groups)]


def nested_interval(estimates: Sequence[float], layouts: Sequence[int] | None = None
                    ) -> tuple[float, tuple[float, float], float, str]:
    """(mean, 95% t interval, p, level) of session estimates, over the layouts' means when the
    sessions ran in MIN_SESSIONS layouts or more (level "layouts"), else over the sessions."""
    if layouts is not None and len(set(layouts)) >= MIN_SESSIONS:
        mean, ci, p = session_interval(layout_means(estimates, layouts))
        return mean, ci, p, "layouts"
    mean, ci, p = session_interval(estimates)
    return mean, ci, p, "sessions"


def layout_estimates(estimates: Sequence[float], layouts: Sequence[int], higher_is_better: bool = True) -> dict:
    """Session estimates (log-ratios) grouped by layout: each layout's speed-up (the mean of its
    sessions') with a t interval when it has 2 sessions or more; the spread between layouts beyond
    what their sessions explain (one-way random effects, method of moments: `layout_sd`, log
    scale); and whether the layouts differ more than their sessions do (scipy's one-way ANOVA,
    when at least two layouts have 2 sessions or more)."""
    groups: dict[int, list[float]] = {}
    for e, j in zip(estimates, layouts):
        groups.setdefault(int(j), []).append(float(e))
    per = []
    for j in sorted(groups):
        g = np.asarray(groups[j])
        m = float(np.mean(g))
        ci = None
        if len(g) >= 2 and float(np.ptp(g)) > 0:
            _, lc, _ = session_interval(g)
            ci = list(speedup_interval(lc, higher_is_better))
        per.append({"layout": j, "sessions": int(len(g)),
                    "speedup": math.expm1(m) if higher_is_better else math.expm1(-m), "ci95": ci})
    means = np.asarray(layout_means(estimates, layouts))
    multi = [np.asarray(groups[j]) for j in sorted(groups) if len(groups[j]) >= 2]
    layout_sd = het_p = None
    if multi and len(means) >= 2:
        within = float(np.mean([np.var(g, ddof=1) for g in multi]))
        n_bar = float(np.mean([len(groups[j]) for j in groups]))
        layout_sd = math.sqrt(max(0.0, float(np.var(means, ddof=1)) - within / n_bar))
        if len(multi) >= 2 and any(float(np.ptp(g)) > 0 for g in multi):
            het_p = float(_st.f_oneway(*multi).pvalue)
    return {"per_layout": per, "layout_sd": layout_sd, "heterogeneity_p": het_p}


def session_estimates(log_ratios_by_session: Sequence[Sequence[float]]) -> np.ndarray:
    """One estimate per session: the trimmed mean of its per-round log-ratios."""
    return np.asarray([float(_trimmed_mean(np.asarray(d, float))) for d in log_ratios_by_session])


def session_interval(estimates: Sequence[float]) -> tuple[float, tuple[float, float], float]:
    """(mean, 95% t interval, two-sided p) of the session estimates (scipy's one-sample t-test)."""
    est = np.asarray(estimates, float)
    mean = float(np.mean(est))
    if len(est) < 2 or float(np.ptp(est)) == 0:    # no spread to test against: nothing is decided
        return mean, (mean, mean), 1.0
    res = _st.ttest_1samp(est, 0.0)
    ci = res.confidence_interval(confidence_level=CONFIDENCE)
    return mean, (float(ci.low), float(ci.high)), float(res.pvalue)


def sessions_needed(session_sd: float, target: float, alpha: float = 0.05) -> int | None:
    """Sessions a t interval needs for a half-width within `target` (relative), at this spread."""
    if not session_sd or target <= 0:
        return None
    half = math.log1p(target)
    k = max(MIN_SESSIONS, math.ceil((_st.norm.ppf(1 - alpha / 2) * session_sd / half) ** 2))
    while _st.t.ppf(1 - alpha / 2, k - 1) * session_sd / math.sqrt(k) > half:
        k += 1
    return k


def median_ci(values: Sequence[float], seed: int = 0) -> list[float] | None:
    """Percentile bootstrap 95% CI of the median of `values` (None with fewer than 3)."""
    arr = np.sort(_as_samples(values))
    if len(arr) < 3:
        return None
    ci = _bootstrap_ci((arr,), _median_stat, seed)
    return list(ci) if ci else None


def _get(obj: Any, name: str):
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name)


CLAIM_STATUSES = ("over-claim", "under-claim", "consistent", "partly consistent", "not excluded", "untestable")


def claim_check(claim_low: float, claim_high: float, comparison: Comparison | Mapping) -> dict[str, Any]:
    """Is a claimed relative speed-up range (0.17, 0.27 for "+17-27%") consistent
    with the measured 95% CI of the speed-up?

    Returns {"status": one of CLAIM_STATUSES, "claim": [lo, hi], "measured": speedup,
    "measured_ci95": [lo, hi] | None, "sentence": "..."}. Accepts a Comparison
    or its to_dict() form.

    - "over-claim" / "under-claim": the claim lies wholly above / below the CI.
    - "not excluded": the claim overlaps the CI, but the CI also contains 0 (or
      the A/B verdict is "no significant change"): the run cannot tell the claim
      from no effect at all, so it neither supports nor rules it out.
    - "consistent" (the claim lies inside the CI) / "partly consistent" (they
      overlap): only when the CI excludes 0 and the verdict is a difference.
    - "untestable": no CI was measured.
    """
    lo, hi = sorted((float(claim_low), float(claim_high)))
    speed = _get(comparison, "speedup")
    ci = _get(comparison, "speedup_ci95")
    verdict = comparison.get("verdict") if isinstance(comparison, Mapping) else getattr(comparison, "verdict", None)
    claim_txt = f"{_spct(lo)}..{_spct(hi)}" if lo != hi else _spct(lo)
    out = {"claim": [lo, hi], "measured": speed, "measured_ci95": list(ci) if ci else None}
    if ci is None:
        out.update(status="untestable",
                   sentence=f"untestable: no confidence interval was measured to check the claim {claim_txt} against")
        return out
    mlo, mhi = float(ci[0]), float(ci[1])
    ci_txt = f"{_spct(mlo)}..{_spct(mhi)}"
    measured_txt = f" (measured {_spct(speed)})" if speed is not None else ""
    if lo > mhi:
        status, sentence = "over-claim", f"the claim {claim_txt} lies above the measured 95% CI {ci_txt}{measured_txt}"
    elif hi < mlo:
        status, sentence = "under-claim", f"the claim {claim_txt} lies below the measured 95% CI {ci_txt}{measured_txt}"
    elif mlo <= 0 <= mhi or verdict == "no significant change":
        why = ("also contains 0" if mlo <= 0 <= mhi
               else "comes with a verdict of no significant change")
        status = "not excluded"
        sentence = (f"the claim {claim_txt} overlaps the measured 95% CI {ci_txt}{measured_txt}, but that "
                    f"interval {why}: this run neither supports nor rules out the claim")
    elif mlo <= lo and hi <= mhi:
        status, sentence = "consistent", f"the claim {claim_txt} lies inside the measured 95% CI {ci_txt}{measured_txt}"
    else:
        status, sentence = "partly consistent", f"the claim {claim_txt} overlaps the measured 95% CI {ci_txt}{measured_txt}"
    out.update(status=status, sentence=f"{status}: {sentence}")
    return out


def amdahl_ceiling(share: float, speedup: float) -> float:
    """Overall speed-up factor when a path taking `share` (E, a *time* share in
    [0, 1]) of the run becomes `speedup` (S, a factor > 0) times faster:
    1 / ((1 - E) + E / S)."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be within [0, 1], got {share}")
    if speedup <= 0:
        raise ValueError(f"speedup must be a positive factor, got {speedup}")
    return 1.0 / ((1.0 - share) + share / speedup)


def amdahl_range(share: float, claim_low: float, claim_high: float) -> dict[str, Any]:
    """Ceiling of the overall gain when the affected path gets the claimed
    relative speed-up (0.17..0.27 -> factors 1.17..1.27). Returns
    {"share", "claim": [lo, hi], "ceiling": [factor_lo, factor_hi],
    "overall": [gain_lo, gain_hi]} with gain = factor - 1."""
    lo, hi = sorted((float(claim_low), float(claim_high)))
    c = [amdahl_ceiling(share, 1 + lo), amdahl_ceiling(share, 1 + hi)]
    return {"share": share, "claim": [lo, hi], "ceiling": c, "overall": [c[0] - 1, c[1] - 1]}


def amdahl_required_speedup(share: float, overall_gain: float) -> float | None:
    """Speed-up factor the affected path needs for the whole run to gain
    `overall_gain` (0.17 for +17%); None when impossible even if the path
    took no time at all (gain >= E / (1 - E))."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be within [0, 1], got {share}")
    target = 1.0 / (1.0 + overall_gain)  # time fraction that must remain
    rest = target - (1.0 - share)
    if share == 0:
        return None if overall_gain > 0 else 1.0
    if rest <= 0:
        return None
    return share / rest


def share_ci(count: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson CI of a share measured by counting (e.g. 3 of 121 profile samples):
    tells whether a profile has enough samples to resolve a few percent."""
    if total <= 0 or not 0 <= count <= total:
        raise ValueError(f"need 0 <= count <= total and total > 0, got {count} of {total}")
    ci = _st.binomtest(int(count), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)
