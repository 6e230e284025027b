"""The page's first paragraph: at most five sentences that answer the phase's question.

Generated from what this run decided, never authored: the reference's figures against this
machine's comparison (reproduced or not), the measured effect with its 95% CI and verdict, the
claim check, the hypotheses the evidence supports, rules out and leaves open, and the first
recommendation whose hypotheses all hold.  Every number comes from the results or from the
spec's quotes of the reference (its `reference_statements`, `claim`), formatted by reportgen.units.

The mechanism sentences name hypotheses by their authored titles.  Hypotheses that only restate
the headline effect (a check on the headline comparison's speed-up alone, e.g. "equivalent
within ±2%" or "the claim holds") are left to the effect sentence, so no fact is said twice.
"""
from __future__ import annotations

from markupsafe import Markup

from .phases import Phase, _leaves
from .units import f_num, f_ops, f_range, f_spct


def _effect_only(h, headline_path: str) -> bool:
    """The hypothesis's check reads nothing but the headline comparison's speed-up (or the claim)."""
    paths = [p for _f, leaf in _leaves(h.check, "") for p in (leaf.metric, leaf.ref) if p]
    return bool(paths) and all(p == headline_path or p.startswith("claim.") for p in paths)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_REPRODUCED = {"reproduced": "**reproduced**",
               "not reproduced": "**not reproduced**",
               "not excluded": "neither reproduced nor ruled out (the interval also holds zero)",
               "not measured": "not measured yet"}


def _effect(head: dict, cand: str, base: str, wl: str) -> str:
    """What the headline comparison measured: "`hak-6b` is **faster** than `hak-6a` on `w` by **+5.63%** (95% CI ...)"
    (`cand`, `base`, `wl` already escaped)."""
    cmp = head.get("comparison") or {}
    pair = f"`{cand}` against `{base}` on `{wl}`"
    if head.get("failed"):
        return f"{pair} has **no verdict**: the measurement failed"
    verdict = head.get("verdict")
    if not cmp or verdict is None:
        return f"{pair} is not measured yet"
    sp, ci = cmp.get("speedup"), cmp.get("speedup_ci95")
    level = cmp.get("interval_level")
    over = ""
    if level == "layouts" and cmp.get("sessions"):
        over = f", over {(cmp.get('layouts') or {}).get('count')} layouts and {cmp['sessions']} sessions"
    elif level == "sessions" and cmp.get("sessions"):
        over = f", over {cmp['sessions']} sessions"
    ci_txt = f"95% CI {f_range(ci)}{over}"
    lay = _layouts_clause(cmp, verdict)
    if verdict in ("faster", "slower"):
        return f"`{cand}` is **{verdict}** than `{base}` on `{wl}` by **{f_spct(sp)}** ({ci_txt}){lay}"
    if verdict == "no significant change":
        return (f"`{cand}` shows **no significant change** against `{base}` on `{wl}`: {f_spct(sp)} ({ci_txt}), "
                f"{_undecided(cmp)}{lay}")
    if verdict == "underpowered":
        return f"{pair} is **underpowered**: {f_spct(sp)} ({ci_txt}), an interval too wide to decide{lay}"
    return f"{pair}: {verdict}, {f_spct(sp)} ({ci_txt}){lay}"


def _undecided(cmp: dict) -> str:
    """Why an interval decides nothing, in words that are true of it."""
    ci = cmp.get("speedup_ci95") or [0, 0]
    if ci[0] <= 0 <= ci[1]:
        return "an interval that holds zero"
    floor = cmp.get("noise_floor")
    if floor is not None and (min(abs(ci[0]), abs(ci[1])) < floor):
        return f"an interval that reaches inside the noise floor (±{floor:.1%})"
    if cmp.get("family_size") and cmp["family_size"] > 1:
        return f"not significant once held to the page's {cmp['family_size']} judged comparisons (Holm)"
    return "not significant"


def _layouts_clause(cmp: dict, verdict: str | None) -> str:
    """Whether the headline holds across the layouts it was measured in (kinds.bench.layout_robustness)."""
    per = cmp.get("per_layout") or []
    robust = cmp.get("layout_robust")
    if len(per) < 2:
        return ""
    lo, hi = min(x["speedup"] for x in per), max(x["speedup"] for x in per)
    if robust and verdict in ("faster", "slower"):
        return f", and it holds across layouts ({verdict} in each of its {len(per)}: {f_spct(lo)} to {f_spct(hi)})"
    if robust:
        return f", in each of its {len(per)} layouts alike"
    if robust is None:
        return f"; its {len(per)} layouts range from {f_spct(lo)} to {f_spct(hi)}"
    if verdict in ("faster", "slower"):
        return (f", but it **does not hold across layouts**: its {len(per)} layouts range from {f_spct(lo)} "
                f"to {f_spct(hi)}")
    return (f", and the effect **depends on the layout**: its {len(per)} layouts range from {f_spct(lo)} "
            f"to {f_spct(hi)}")


_CLAIM = {"over-claim": "lies above that interval (an **over-claim**)",
          "under-claim": "lies below that interval (an **under-claim**)",
          "consistent": "lies inside that interval (**consistent**)",
          "partly consistent": "overlaps that interval (**partly consistent**)",
          "not excluded": "is **not excluded**, but neither is no change at all",
          "untestable": "is **untestable** on this run (no interval was measured)"}


def _ceiling(mech: dict | None, esc) -> str | None:
    """The claim's mechanism ceiling (reportgen.ceilings) as a clause, when it bounds the claim."""
    if not mech or not mech.get("measured") or mech.get("ceiling") is None:
        return None
    who = f"`{esc(mech['variant'])}`'s timed loop"
    if not mech.get("ran"):
        return f"the code it credits ({esc(mech['title'])}) ran **0** instructions in {who}: a ceiling of **0%**"
    if mech.get("claim_possible") is False:
        return (f"the code it credits ({esc(mech['title'])}) takes at most {mech['share_high']:.1%} of {who}: "
                f"a ceiling of **{f_spct(mech['ceiling'], 1)}**")
    return None


def sentences(spec: Phase, head: dict, claim: dict, statement_rows: list[dict], outcomes,
              checks: dict, claim_text: str, esc, mechanism: dict | None = None,
              sweeps: list[dict] | None = None) -> list[Markup]:
    """The synthesis, sentence by sentence (at most five).  `esc` makes authored text safe
    (render.md_text); `checks` is reportgen.statements.check_statements of this page; `mechanism`
    the claim's mechanism ceiling (hypotheses view: impact.mechanism); `sweeps` the page's sweep
    rows (kinds.sweep.page_rows): where a sweep of the headline workload reaches the claim."""
    out: list[str] = []
    wl = head.get("workload")
    headline_path = f"bench.{wl}.comparisons.{spec.candidate}.speedup" if spec.candidate else None

    # 1. the measured effect and the premise (the reference's figures, the claim), in one sentence
    if spec.candidate:
        first = "On this machine " + _effect(head, esc(spec.candidate), esc(spec.baseline), esc(wl))
        figures = [r for r in statement_rows if r["metric"] == headline_path]
        premise = []
        if figures:
            by: dict[str, list[str]] = {}
            for r in figures:
                by.setdefault(_REPRODUCED.get(r["verdict"], esc(r["verdict"])), []).append(r["range"])
            # "the reference's +2.65% and +0.15% were not reproduced" (and "its +x% was ..." for a second verdict)
            parts = [f"{'its' if k else 'the reference' + chr(39) + 's'} {_join(vals)} "
                     f"{'was' if len(vals) == 1 else 'were'} {word}" for k, (word, vals) in enumerate(by.items())]
            premise.append(" and ".join(parts))
        if claim and claim.get("status") in _CLAIM and spec.claim:
            premise.append(f"the claimed {esc(claim_text)} {_CLAIM[claim['status']]}")
        if spec.claim and (bound := _ceiling(mechanism, esc)):
            premise.append(bound)
        for sw in sweeps or []:
            if sw.get("claim") and sw.get("workload") == wl and sw.get("points"):
                param = esc(sw["param"])
                premise.append(f"swept over `{param}`, the gain reaches the claim from {param} = "
                               f"**{f_num(sw['claim_reached_from'])}**" if sw.get("claim_reached_from") is not None
                               else f"at none of the swept values of `{param}` does the gain reach the claim")
        out.append(first + "".join("; " + p for p in premise) + ".")
    elif head.get("verdict") == "measured":
        out.append(f"On this machine `{esc(spec.baseline)}` runs `{esc(wl)}` at {f_ops(head.get('median'))} "
                   f"(95% CI {f_range(head.get('ci95'), f_ops)}).")
    else:
        out.append(f"On this machine {esc(head.get('sentence'))}.")

    # 2-3. the mechanisms: what the evidence supports, rules out and leaves open
    mech = [o for o, h in zip(outcomes, spec.hypotheses) if not (headline_path and _effect_only(h, headline_path))]

    def named(status):
        return [f"{esc(o.title.rstrip('.'))} ({esc(o.id)})" for o in mech if o.status == status]

    supported, ruled_out, open_ = named("confirmed"), named("rejected"), named("inconclusive")
    if supported:
        out.append("The evidence supports: " + "; ".join(supported) + ".")
    rest = []
    if ruled_out:
        rest.append("it rules out: " + "; ".join(ruled_out))
    if open_:
        rest.append("it leaves open: " + "; ".join(open_))
    if rest:
        s = "; and ".join(rest)
        out.append(s[0].upper() + s[1:] + ".")
    if not mech:
        out.append("No hypothesis of this phase reads more than the headline comparison.")

    # 4. what to do next: the first recommendation that survives its checks
    for i, r in enumerate(spec.recommendations):
        chk = checks.get(f"recommendations[{i}].text")
        if chk is None or chk.holds:
            basis = [b.id for b in chk.basis] if chk else []
            out.append(f"Next: {esc(r.title.rstrip('.'))}"
                       + (f" (it rests on {_join([esc(b) for b in basis])}, confirmed)" if basis else "") + ".")
            break
    else:
        if spec.recommendations:
            out.append("Next: every recommendation below rests on a hypothesis this run did not confirm "
                       "(each is flagged where it stands).")
    return [Markup(s) for s in out[:5]]
