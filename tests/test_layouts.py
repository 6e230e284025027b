"""Layouts as a measured factor (reportgen.measuring.layouts, kinds.bench with Sampling.layouts).

Real builds and real runs: a layout build is the timed build's very objects relinked behind drawn
pads (same code, other addresses), a measurement runs its sessions in turn in its layouts and
judges over them, and the layout A/A of a publish is the baseline against itself in other layouts.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from reportgen import stats
from reportgen.measuring.kinds.bench import Sampling, layout_robustness, run_bench
from reportgen.measuring.layouts.builds import aa_specs, layout_of, layout_spec
from reportgen.measuring.layouts.draw import draw
from reportgen.measuring.child import resolve_allocator
from reportgen.measuring.native import HakLib
from reportgen.store import Store
from reportgen.variants import variant_with

OPS = 20_000


def _functions(lib: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of every function the library defines (nm)."""
    out = subprocess.run(["nm", "-S", "--defined-only", str(lib)], capture_output=True, text=True,
                         check=True).stdout
    funcs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            funcs[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    return funcs


@pytest.fixture(scope="module")
def laid(project):
    spec = resolve_allocator(project, "hak-6a")
    layout = next(layout_of(spec, 1234, j, heap=True) for j in range(32)
                  if layout_of(spec, 1234, j, heap=True).mid_chunk_offset and layout_of(spec, 1234, j).code_pad)
    return spec, layout, layout_spec(project, spec, layout)


def test_a_layout_draw_is_reproducible_from_its_seed_and_differs_by_allocator():
    objects = ["heap", "large", "mid", "router", "segment", "stats", "tiny"]
    a, b = draw(7, 3, "hak-6a", objects), draw(7, 3, "hak-6a", objects)
    assert a == b and sorted(a.order) == objects
    assert draw(7, 3, "hak-6a'", objects) != a and draw(8, 3, "hak-6a", objects) != a
    assert a.code_pad % 16 == 0 and a.data_pad % 64 == 0 and a.mid_chunk_offset % 16 == 0
    assert type(a).from_dict(a.to_dict()) == a
    # hak's own block and heap offsets are its design: drawn only for the placement experiment
    assert a.mid_chunk_offset == a.heap_offset == 0
    h = draw(7, 3, "hak-6a", objects, heap=True)
    assert (h.code_pad, h.order, h.env_pad) == (a.code_pad, a.order, a.env_pad) and h.mid_chunk_offset % 16 == 0


def test_a_layout_build_is_the_same_code_at_other_addresses(laid):
    spec, layout, ls = laid
    base, moved = _functions(Path(spec.timed_links[0])), _functions(Path(ls.timed_links[0]))
    ours = [f for f in base if f.startswith(("hak_", "_hak_"))]
    assert len(ours) > 20
    assert {f: base[f][1] for f in ours} == {f: moved[f][1] for f in ours}      # every function's size
    assert any(base[f][0] % 4096 != moved[f][0] % 4096 for f in ours)          # their page offsets moved
    assert ls.layout == layout.to_dict() and ls.child_env["HAK_LAYOUT_ENV_PAD"] == "x" * layout.env_pad
    assert ls.timed_bench_lib != spec.timed_bench_lib and ls.bench_lib == spec.bench_lib   # counts unchanged


def test_a_layout_build_moves_mid_blocks_by_its_chunk_offset(laid):
    spec, layout, ls = laid
    base, moved = HakLib(spec.timed_links[0]), HakLib(ls.timed_links[0])
    assert moved.config()["mid_chunk_offset"] == layout.mid_chunk_offset
    assert moved.config()["heap_offset"] == layout.heap_offset and base.config()["mid_chunk_offset"] == 0
    p, q = base.malloc(4096), moved.malloc(4096)
    try:
        assert base.pool_name(p) == moved.pool_name(q) == "mid"
        assert (q - p) % 4096 == layout.mid_chunk_offset % 4096
    finally:
        base.free(p)
        moved.free(q)


def test_sessions_are_judged_over_layouts_and_the_layouts_travel_with_the_records(project, tmp_path):
    store = Store(tmp_path / "results", "test-machine")
    sampling = Sampling.fixed(3, sessions=6, layouts=3)
    out = run_bench(project, "mid_mt_gap", ["hak-6a", "hak-6b"], sampling=sampling, ops=OPS, store=store)
    (c,) = out["comparisons"]
    assert c["interval_level"] == "layouts" and c["layouts"]["count"] == 3 and c["layouts"]["seed"] is not None
    assert [x["sessions"] for x in c["per_layout"]] == [2, 2, 2]
    assert c["layout_robust"] in (True, False, None) and c["layout_reason"]
    draws = {r["variant"]: r["layouts"]["draws"] for r in out["results"]}
    assert len(draws["hak-6a"]) == 3 and draws["hak-6a"] != draws["hak-6b"]     # each side draws its own
    again = run_bench(project, "mid_mt_gap", ["hak-6a", "hak-6b"], sampling=sampling, ops=OPS, store=store)
    assert again["reused"] and again["comparisons"][0]["per_layout"] == c["per_layout"]
    assert again["comparisons"][0]["speedup_ci95"] == c["speedup_ci95"]


def test_a_known_slowdown_of_every_mid_free_is_called_slower_across_layouts(project):
    """A variant that spins 16 iterations of a register loop on every Mid free (a few ns per op),
    against the same code without, in eight layouts as a phase measures: slower overall, and no
    layout reverses it. The interval is Student's t over the layouts' means: with three layouts
    (2 degrees of freedom) one noisy session hid even a 25% slowdown. A whole process on this machine
    now and then runs at half speed in every round (its layout rerun is not slow: docs/methodology.md), so one layout of the eight may land the other way; with one session a layout
    that is noise, and layout_robust says so with None, never a reversal (False)."""
    spin = variant_with("hak-6a", "hak-6a-spin16", {"HAK_MID_FREE_SPIN": "16"})
    out = run_bench(project, "mid_only", ["hak-6a", spin], sampling=Sampling.fixed(3, sessions=8, layouts=8),
                    ops=20 * OPS)
    (c,) = out["comparisons"]
    assert c["verdict"] == "slower" and c["layout_robust"] is not False, c["reason"]
    assert len(c["per_layout"]) == 8 and sum(x["speedup"] < 0 for x in c["per_layout"]) >= 7, c["per_layout"]


def test_the_layout_a_a_is_one_variant_in_fixed_layouts(project):
    specs = aa_specs(project, "hak-6a", 3)
    assert [s.name for s in specs] == ["hak-6a@layout0", "hak-6a@layout1", "hak-6a@layout2"]
    assert len({s.timed_bench_lib for s in specs}) == 3 and all(s.layout for s in specs)
    assert [s.layout for s in aa_specs(project, "hak-6a", 3)] == [s.layout for s in specs]   # same code, same draws
    out = run_bench(project, "mid_mt_gap", specs, sampling=Sampling.fixed(3, sessions=3), ops=OPS)
    for row in out["results"]:
        assert row["layouts"]["fixed"] is True and len(row["layouts"]["draws"]) == 1
    assert all(c["interval_level"] == "sessions" and c["per_layout"] == [] for c in out["comparisons"])


# ---- the interval over layouts (stats) ---------------------------------------------------------

def _sessions(effects_by_layout, per_layout=4, rounds=5, noise=0.002, seed=0):
    rng = np.random.default_rng(seed)
    base, cand, laid = [], [], []
    for j, eff in enumerate(effects_by_layout):
        for _ in range(per_layout):
            b = 1e6 * np.exp(rng.normal(0, 0.01, rounds))
            base.append(list(b))
            cand.append(list(b * np.exp(eff + rng.normal(0, noise, rounds))))
            laid.append(j)
    return base, cand, laid


def test_layouts_that_differ_widen_the_interval_beyond_the_sessions():
    b, c, laid = _sessions([0.03, -0.02, 0.01, -0.015])
    over_sessions = stats.compare_sessions(b, c)
    over_layouts = stats.compare_sessions(b, c, layouts=laid)
    w = lambda x: x.speedup_ci95[1] - x.speedup_ci95[0]      # noqa: E731
    assert over_layouts.level == "layouts" and over_sessions.level == "sessions"
    assert w(over_layouts) > 2 * w(over_sessions)
    assert over_layouts.layout_heterogeneity_p < 0.01 and over_layouts.layout_sd > 0.01
    assert [x["layout"] for x in over_layouts.per_layout] == [0, 1, 2, 3]


def test_one_session_per_layout_is_the_sessions_interval():
    b, c, laid = _sessions([0.01] * 8, per_layout=1)
    assert stats.compare_sessions(b, c, layouts=laid).speedup_ci95 == stats.compare_sessions(b, c).speedup_ci95


def test_two_layouts_are_shown_apart_not_made_a_level():
    b, c, laid = _sessions([0.01, 0.02])
    res = stats.compare_sessions(b, c, layouts=laid)
    assert res.level == "sessions" and any("2 layouts only" in w for w in res.warnings)
    assert len(res.per_layout) == 2


def _cmp(verdict, speedups, het=None, role="primary", ci=(0.01, 0.02), underpowered=False):
    return {"verdict": verdict, "role": role, "speedup_ci95": list(ci), "layout_heterogeneity_p": het,
            "underpowered": underpowered, "layout_sd": None,
            "per_layout": [{"layout": j, "sessions": 2, "speedup": s, "ci95": None} for j, s in enumerate(speedups)]}


def test_an_outcome_holds_across_layouts_only_when_each_layout_agrees():
    assert layout_robustness(_cmp("faster", [0.02, 0.01, 0.03]))[0] is True
    # a layout on the other side reverses it only when the layouts differ beyond their sessions
    ok, why = layout_robustness(_cmp("faster", [0.02, -0.01, 0.03], het=0.01))
    assert ok is False and "layout 1" in why
    ok, why = layout_robustness(_cmp("faster", [0.02, -0.01, 0.03], het=0.6))
    assert ok is True and "within that noise" in why
    assert layout_robustness(_cmp("faster", [0.02, -0.01, 0.03]))[0] is None     # one session a layout
    # a context peer's outcome is the side of zero its interval lies on
    assert layout_robustness(_cmp(None, [-0.2, -0.3], role="context", ci=(-0.3, -0.2)))[0] is True
    # "no change" holds unless the layouts differ beyond their sessions (one test, not one per layout)
    assert layout_robustness(_cmp("no significant change", [0.01, -0.01], het=0.5, ci=(-0.01, 0.02)))[0] is True
    ok, why = layout_robustness(_cmp("no significant change", [0.03, -0.03], het=0.001, ci=(-0.01, 0.02)))
    assert ok is False and "depends on the layout" in why
    assert layout_robustness(_cmp("underpowered", [0.03, -0.03], het=0.001, underpowered=True,
                                  ci=(-0.05, 0.08)))[0] is None
    # an interval above zero that no verdict decides (short of the noise floor): its side, per layout
    ok, why = layout_robustness(_cmp("no significant change", [0.004, 0.003], ci=(0.001, 0.006)))
    assert ok is True and why.startswith("above zero in each")
    assert layout_robustness(_cmp("faster", [0.02]))[0] is None
