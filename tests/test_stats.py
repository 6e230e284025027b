"""Decisions of reportgen.stats on synthetic samples with known answers.

No timings here: the samples are drawn from numpy Generators with fixed
seeds, so every assertion is about the decision rule, not about a machine.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from reportgen import stats


def draw(seed: int, center: float, cv: float, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(center, center * cv, n)


# --- compare: known answers ---------------------------------------------------

def test_clearly_faster_throughput():
    base, cand = draw(1, 40e6, 0.01, 7), draw(2, 44e6, 0.01, 7)  # +10%
    c = stats.compare(base, cand)
    assert c.verdict == "faster"
    assert c.ratio > 1 and c.ci95[0] > 1 and c.p_value < 0.05
    assert 0.05 < c.speedup < 0.15 and c.speedup_ci95[0] > 0


def test_clearly_slower_throughput():
    c = stats.compare(draw(3, 40e6, 0.01, 7), draw(4, 36e6, 0.01, 7))
    assert c.verdict == "slower" and c.ratio < 1 and c.speedup < 0


def test_time_metric_direction_is_inverted():
    # lower is better: a candidate taking 10% less time is faster, ratio < 1, speedup > 0
    base, cand = draw(5, 25.0, 0.01, 7), draw(6, 22.5, 0.01, 7)
    c = stats.compare(base, cand, higher_is_better=False)
    assert c.verdict == "faster" and c.ratio < 1 and c.speedup > 0
    assert c.speedup_ci95[0] > 0
    assert stats.compare(base, cand, higher_is_better=True).verdict == "slower"


def test_same_runs_in_another_order_no_change():
    # the same values in another order: identical distributions by construction
    # (two independent draws from one distribution are called different ~3% of
    # the time by design; that rate is tested below)
    a = draw(7, 40e6, 0.02, 7)
    c = stats.compare(a, np.random.default_rng(8).permutation(a))
    assert c.verdict == "no significant change" and c.ratio == 1.0
    assert c.ci95[0] <= 1 <= c.ci95[1] and c.p_value == pytest.approx(1.0)


def test_identical_constant_samples():
    c = stats.compare([10.0] * 5, [10.0] * 5)
    assert c.verdict == "no significant change" and c.ratio == 1.0 and c.p_value == 1.0


def test_significant_but_below_noise_floor():
    # 0.3% apart with CV 0.01%: clearly separated, p minimal, CI excludes 1,
    # but smaller than the 1% noise floor -> not called.
    base, cand = draw(9, 100.0, 0.0001, 8), draw(10, 100.3, 0.0001, 8)
    c = stats.compare(base, cand, noise_floor=0.01)
    assert c.p_value < 0.05 and c.ci95[0] > 1
    assert c.verdict == "no significant change" and "noise floor" in c.reason
    # the same data with no noise floor is a real (small) speed-up
    assert stats.compare(base, cand, noise_floor=0.0).verdict == "faster"


def test_too_few_runs_can_never_be_significant_and_says_so():
    c = stats.compare([1.0, 1.01, 1.02], [2.0, 2.01, 2.02])
    assert c.min_p_value == pytest.approx(0.1)
    assert c.verdict == "no significant change"
    assert any("smallest attainable p-value is 0.1" in w for w in c.warnings)
    assert c.mde is None and "no difference can be detected" in c.power_note


def test_tied_values_cannot_beat_the_exact_distribution():
    # a coarse clock: every run of a side gives the same value. The normal
    # approximation would say p = 0.047 for 3 vs 3; no split of 6 runs can.
    c = stats.compare([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert c.p_value == pytest.approx(0.1) and c.verdict == "no significant change"
    c5 = stats.compare([1.0, 1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0, 2.0])
    assert c5.p_value == pytest.approx(2 / 252) and c5.verdict == "faster"


def test_min_attainable_p_matches_exact_enumeration():
    # 5 vs 5: complete separation is 1 of C(10,5)=252 orderings, two-sided -> 2/252
    assert stats.min_attainable_p(5, 5) == pytest.approx(2 / 252)
    assert stats.min_attainable_p(4, 4) == pytest.approx(2 / 70)


def test_noisy_samples_are_flagged():
    c = stats.compare(draw(11, 100, 0.08, 6), draw(12, 100, 0.01, 6))
    assert any(w.startswith("baseline: noisy: coefficient of variation") for w in c.warnings)
    assert not any(w.startswith("candidate: noisy") for w in c.warnings)


def test_missing_side_is_no_change_not_a_crash():
    c = stats.compare([], [1.0, 2.0])
    assert c.verdict == "no significant change" and c.ratio is None
    assert "no successful runs" in c.reason


def test_bad_samples_rejected():
    with pytest.raises(ValueError):
        stats.compare([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError):
        stats.compare([1.0, 0.0], [1.0, 2.0])


def test_mde_shrinks_with_more_runs_and_respects_floor():
    small = stats.minimal_detectable_effect(0.02, 5, 5)
    large = stats.minimal_detectable_effect(0.02, 20, 20)
    assert small > large > 0
    assert stats.minimal_detectable_effect(0.0001, 20, 20, noise_floor=0.01) == 0.01


def test_aa_false_positive_rate_of_the_rule():
    """Property of the decision rule: 400 A/A pairs, n=5, CV 2%, one distribution."""
    rng = np.random.default_rng(2024)
    calls = 0
    for _ in range(400):
        a, b = rng.normal(40e6, 0.8e6, 5), rng.normal(40e6, 0.8e6, 5)
        calls += stats.compare(a, b).verdict != "no significant change"
    assert calls / 400 <= 0.05


def test_comparison_to_dict_has_the_json_contract_fields():
    d = stats.compare(draw(13, 1, 0.01, 5), draw(14, 1, 0.01, 5)).to_dict()
    for k in ("ratio", "ci95", "p_value", "verdict"):
        assert k in d
    assert d["verdict"] in stats.VERDICTS
    assert isinstance(d["ci95"], list) and len(d["ci95"]) == 2


def test_reproducible_with_fixed_seed():
    a, b = draw(15, 1, 0.02, 5), draw(16, 1, 0.02, 5)
    assert stats.compare(a, b).to_dict() == stats.compare(a, b).to_dict()


# --- summarize ------------------------------------------------------------------

def test_summary_known_values():
    s = stats.summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert s.n == 5 and s.median == 3.0 and s.mean == 3.0
    assert (s.q1, s.q3, s.iqr) == (2.0, 4.0, 2.0)
    assert s.min == 1.0 and s.max == 5.0
    assert s.best3of5 == pytest.approx(4.0)  # mean of 5, 4, 3
    assert s.cv == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1) / 3)
    assert stats.summarize([5.0, 1.0, 4.0, 2.0, 3.0], higher_is_better=False).best3of5 == pytest.approx(2.0)


def test_best3of5_uses_only_the_first_five():
    assert stats.best3of5([1, 1, 1, 1, 1, 100, 100]) == 1.0
    assert stats.best3of5([1, 2]) is None


def test_summary_warnings():
    few = stats.summarize([1.0, 1.1, 1.2])
    assert any("only 3 runs: too few for a significance test" in w for w in few.warnings)
    noisy = stats.summarize(draw(17, 100, 0.10, 8))
    assert any(w.startswith("noisy: coefficient of variation") and "above the 3.0% threshold" in w
               for w in noisy.warnings)
    quiet = stats.summarize(draw(18, 100, 0.001, 8))
    assert quiet.warnings == ()
    drifting = stats.summarize(np.linspace(100, 110, 10))
    assert any(w.startswith("drift: the runs trend up") for w in drifting.warnings)
    empty = stats.summarize([])
    assert empty.n == 0 and empty.median is None and empty.warnings


def test_summary_to_dict_is_json_ready():
    import json
    json.dumps(stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0]).to_dict())


# --- claims and Amdahl -----------------------------------------------------------

def test_claim_over_claim_sentence():
    c = stats.compare(draw(19, 40e6, 0.005, 5), draw(20, 40e6, 0.005, 5))
    chk = stats.claim_check(0.17, 0.27, c)
    assert chk["status"] == "over-claim"
    assert chk["sentence"].startswith("over-claim: the claim +17.00%..+27.00% lies above the measured 95% CI ")
    # also works from the JSON form
    assert stats.claim_check(0.17, 0.27, c.to_dict())["status"] == "over-claim"


def test_claim_consistent_under_and_partial():
    c = stats.compare(draw(21, 100, 0.005, 9), draw(22, 120, 0.005, 9))
    lo, hi = c.speedup_ci95
    assert stats.claim_check(lo + 0.001, hi - 0.001, c)["status"] == "consistent"
    assert stats.claim_check(0.01, 0.05, c)["status"] == "under-claim"
    assert stats.claim_check(0.05, hi, c)["status"] == "partly consistent"
    assert stats.claim_check(0.1, 0.2, {"speedup": None, "speedup_ci95": None})["status"] == "untestable"


def test_claim_overlapping_a_ci_that_contains_zero_is_not_excluded():
    # A noisy run whose CI straddles 0 and reaches the claimed range: it does not confirm the claim.
    c = {"speedup": 0.05, "speedup_ci95": [-0.08, 0.30], "verdict": "no significant change"}
    chk = stats.claim_check(0.17, 0.27, c)
    assert chk["status"] == "not excluded"
    assert "neither supports nor rules out" in chk["sentence"] and "contains 0" in chk["sentence"]
    # the same when the CI lies inside the claim's neighbourhood but only partly overlaps
    assert stats.claim_check(0.25, 0.40, c)["status"] == "not excluded"
    # a claim wholly outside that wide CI is still an over-claim
    assert stats.claim_check(0.35, 0.45, c)["status"] == "over-claim"
    # a CI excluding 0 with a verdict of no significant change (e.g. inside the noise floor) is not support either
    nsc = {"speedup": 0.006, "speedup_ci95": [0.002, 0.01], "verdict": "no significant change"}
    assert stats.claim_check(0.005, 0.008, nsc)["status"] == "not excluded"
    assert "verdict of no significant change" in stats.claim_check(0.005, 0.008, nsc)["sentence"]
    # from a real comparison of two samples of the same distribution (CI straddles 0)
    same = stats.compare(draw(31, 100, 0.05, 5), draw(32, 100, 0.05, 5))
    lo, hi = same.speedup_ci95
    assert lo < 0 < hi
    assert stats.claim_check(hi / 2, hi, same)["status"] == "not excluded"
    assert set(stats.CLAIM_STATUSES) >= {stats.claim_check(x, x + 0.01, same)["status"]
                                         for x in (-0.5, lo, 0.0, hi, 0.5)}


def test_amdahl():
    assert stats.amdahl_ceiling(0.0, 10) == 1.0
    assert stats.amdahl_ceiling(1.0, 1.27) == pytest.approx(1.27)
    assert stats.amdahl_ceiling(0.5, 2.0) == pytest.approx(1 / 0.75)
    r = stats.amdahl_range(0.75, 0.17, 0.27)
    assert r["ceiling"][0] == pytest.approx(stats.amdahl_ceiling(0.75, 1.17))
    assert r["overall"][1] == pytest.approx(stats.amdahl_ceiling(0.75, 1.27) - 1)
    # required speed-up is the inverse of the ceiling
    s = stats.amdahl_required_speedup(0.6, 0.17)
    assert stats.amdahl_ceiling(0.6, s) == pytest.approx(1.17)
    assert stats.amdahl_required_speedup(0.1, 0.17) is None  # even infinitely fast: 1/0.9 < 1.17
    with pytest.raises(ValueError):
        stats.amdahl_ceiling(1.5, 2)


def test_share_ci_resolution():
    lo, hi = stats.share_ci(3, 121)  # the reference's 121-sample profile: a 2.5% share
    assert lo < 3 / 121 < hi and hi - lo > 0.05  # cannot resolve a few percent


# --- properties -------------------------------------------------------------------

positive = st.floats(min_value=1.0, max_value=1e9, allow_nan=False, allow_infinity=False)
runs = st.lists(positive, min_size=2, max_size=9)


@settings(max_examples=60, deadline=None)
@given(runs, runs)
def test_ratio_ci_contains_point_and_swap_mirrors(a, b):
    ab, ba = stats.compare(a, b), stats.compare(b, a)
    assert ab.ci95[0] <= ab.ratio * (1 + 1e-12) and ab.ratio <= ab.ci95[1] * (1 + 1e-12)
    assert ba.ratio == pytest.approx(1 / ab.ratio)
    mirror = {"faster": "slower", "slower": "faster", "no significant change": "no significant change"}
    assert ba.verdict == mirror[ab.verdict]
    assert ba.p_value == pytest.approx(ab.p_value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=12))
def test_summary_invariants(xs):
    s = stats.summarize(xs)
    eps = 1e-9 * (1 + max(abs(v) for v in xs))
    assert s.min - eps <= s.q1 <= s.median + eps and s.median <= s.q3 + eps and s.q3 <= s.max + eps
    if s.n >= 2:
        assert s.ci95[0] - eps <= s.median <= s.ci95[1] + eps
    else:
        assert s.ci95 is None
    if s.n >= 3:
        assert s.best3of5 >= s.min - eps
    assert sorted(stats.summarize(list(reversed(xs))).samples) == sorted(s.samples)
    assert math.isclose(stats.summarize(list(reversed(xs))).median, s.median)


# --- benchmarks/aa_rate.py on the real engine (a few short rounds) ---------------------------

def test_aa_rate_script_runs_a_library_against_itself(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "aa_rate.py"
    spec = importlib.util.spec_from_file_location("aa_rate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--pairs", "2", "--rounds", "4", "--sessions", "3", "--ops", "20000", "--variant", "hak-6a"]) == 0
    out = capsys.readouterr().out
    assert "A/A on hak-6a / mid_mt_gap: 2 pairs" in out and "no significant change:" in out
    assert out.count("3 sessions, 12 rounds (session limit reached") == 2


def test_holm_is_statsmodels_holm():
    from statsmodels.stats.multitest import multipletests
    from reportgen.stats import holm
    for ps in ([0.01], [0.04, 0.01, 0.03, 0.5], [0.02, 0.02, 0.9, 0.001, 0.2], [0.6, 0.7]):
        assert holm(ps) == [float(x) for x in multipletests(ps, method="holm")[1]]
    assert holm([]) == []


# ---- over sessions ------------------------------------------------------------------------

def _sessions(rng, k, n, effect, session_sd, round_sd, level=1e6):
    """k sessions of n paired rounds: each session's effect moves by session_sd (log), each round by round_sd."""
    base, cand = [], []
    for _ in range(k):
        e = effect + rng.normal(0, session_sd)
        b = level * np.exp(rng.normal(0, round_sd, n))
        base.append(list(b))
        cand.append(list(b * np.exp(e + rng.normal(0, round_sd, n))))
    return base, cand


def test_the_interval_over_sessions_is_students_t_on_the_session_estimates():
    rng = np.random.default_rng(1)
    base, cand = _sessions(rng, 8, 20, 0.05, 0.02, 0.05)
    c = stats.compare_sessions(base, cand)
    est = [float(np.mean(sorted(np.log(np.asarray(y) / np.asarray(x)))[2:-2])) for x, y in zip(base, cand)]
    ci = __import__("scipy").stats.ttest_1samp(est, 0).confidence_interval()
    assert c.level == "sessions" and c.sessions == 8
    assert c.speedup_ci95[0] == pytest.approx(math.expm1(ci.low)) and c.speedup_ci95[1] == pytest.approx(math.expm1(ci.high))
    assert c.verdict == "faster" and c.between_sd > 0


def test_sessions_that_disagree_widen_the_interval_that_one_session_would_give():
    """Rounds alone describe one session: with a session effect, the interval over sessions covers
    the true effect where the pooled rounds' interval (the old method) misses it far more often."""
    rng = np.random.default_rng(7)
    covered_sessions = covered_rounds = 0
    trials = 40
    for _ in range(trials):
        base, cand = _sessions(rng, 6, 20, 0.03, 0.02, 0.03)
        lo, hi = stats.compare_sessions(base, cand).speedup_ci95
        if lo <= math.expm1(0.03) <= hi:
            covered_sessions += 1
        flat = stats.compare(sum(base, []), sum(cand, []), paired=True)
        if flat.speedup_ci95[0] <= math.expm1(0.03) <= flat.speedup_ci95[1]:
            covered_rounds += 1
    assert covered_sessions >= 0.88 * trials
    assert covered_rounds < covered_sessions


def test_fewer_than_three_sessions_fall_back_to_rounds_and_say_so():
    rng = np.random.default_rng(3)
    base, cand = _sessions(rng, 2, 20, 0.0, 0.0, 0.02)
    c = stats.compare_sessions(base, cand)
    assert c.level == "rounds" and c.sessions == 2
    assert any("2 sessions only" in w for w in c.warnings)


def test_sessions_needed_reaches_the_target():
    k = stats.sessions_needed(0.02, 0.01)
    t = __import__("scipy").stats.t.ppf(0.975, k - 1)
    assert t * 0.02 / math.sqrt(k) <= math.log1p(0.01)
    t_prev = __import__("scipy").stats.t.ppf(0.975, k - 2)
    assert t_prev * 0.02 / math.sqrt(k - 1) > math.log1p(0.01)


def test_an_interval_far_wider_than_its_target_is_underpowered_not_no_change():
    from reportgen.measuring.kinds.bench import _mark_underpowered
    rng = np.random.default_rng(5)
    while True:            # no effect, much noise: a draw whose interval holds 0 (most of them do)
        base, cand = _sessions(rng, 5, 10, 0.0, 0.03, 0.1)
        c = {**stats.compare_sessions(base, cand).to_dict(), "target": 0.01,
             "pace": {"per_session_s": 0.8, "budget_s": 60}}
        if c["verdict"] == "no significant change":
            break
    c["half_width"] = (c["speedup_ci95"][1] - c["speedup_ci95"][0]) / 2
    assert c["verdict"] == "no significant change" and c["half_width"] > 0.02
    _mark_underpowered(c)
    assert c["verdict"] == "underpowered" and c["underpowered"]
    assert "sessions would reach the target" in c["reason"] and c["needed_sessions"] > 5
    # the same interval against a target it meets within 2x is an honest "no significant change"
    d = {**c, "verdict": "no significant change", "target": c["half_width"]}
    _mark_underpowered(d)
    assert d["verdict"] == "no significant change" and not d["underpowered"]


def test_two_modes_are_found_and_placed_and_one_mode_is_not_split():
    from reportgen import noise
    rng = np.random.default_rng(2)
    fast = 60e6 * np.exp(rng.normal(0, 0.02, 300))
    slow = 48e6 * np.exp(rng.normal(0, 0.02, 200))
    m = noise.modes(np.concatenate([fast, slow]))
    assert m is not None and m["dip_p"] < 0.05
    (a, b) = m["modes"]
    assert a["level"] == pytest.approx(60e6, rel=0.02) and b["level"] == pytest.approx(48e6, rel=0.02)
    assert a["share"] == pytest.approx(0.6, abs=0.05)
    assert noise.modes(60e6 * np.exp(rng.normal(0, 0.05, 500))) is None
