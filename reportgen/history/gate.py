"""`reportgen check`: the work tree's variants against a reference commit, as a CI regression gate.

Pairs.  For each selected phase, each of its project variants (baseline, candidate) that is built
from the work tree (no `revision:` of its own) on the phase's headline workload (a driver loop;
a program headline is skipped): the reference is the variant's flags built at `--against` (as
reportgen.history.series builds a commit, never touching the work tree), the candidate the work
tree's build.  Both run the work tree's harness, so only the allocator differs.  The two named
by their library (`<variant>@<lib_hash>`).  The same library on both sides is "unchanged" and
nothing is measured; the same pair (workload, both libraries) in several phases is measured once.

Gates.
- time: the reference and the work tree interleaved in sessions (kinds.bench, one comparison
  group per pair, the groups' sessions spread in time among each other), Holm over the check's
  time pairs.  A regression is decided when the whole 95% CI of the work tree's speed-up over the
  reference lies below -threshold and the p-value of no change, Holm-adjusted over the pairs, is
  below 0.05; an improvement, the mirror.  (The interval itself is each pair's own 95%: the
  family-wise control is on the test of no change, not on the threshold.)  An interval that
  reaches across -threshold decides nothing: status `undecided`, which does not fail the gate.
- counts: exact counts (callgrind) of the timed loop, one run per side (exact counts of the
  same loop repeat; `reportgen counts` counts twice to show it).  A regression is instructions
  per op grown by more than the threshold; an improvement, shrunk by more.  No interval: exact.
  On a single-threaded loop every instruction of the loop counts; on a multi-threaded one
  (mt_remote) only the allocator's functions, as the harness's threads wait on each other a
  number of times the scheduling decides (_count_metric).
- auto: counts where this machine's noise floor exceeds the threshold, time elsewhere.  The
  floor is the larger of the verdicts' floor (stats.NOISE_FLOOR: smaller effects come and go
  with code layout) and what the time measurement itself shows: a time pair whose interval
  reaches across -threshold (the run's noise is wider than the threshold asks) is decided by
  its counts.  Without valgrind, auto stays with time and says so.

Exit status: 1 when any pair is a regression or failed (the work tree or the reference does not
build, or a side has no successful run: a gate that could not judge a pair does not pass it), 0
otherwise.  The `check --json` shape is in docs/json.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import stats
from ..errors import UserError
from ..project import Project

GATES = ("auto", "time", "counts")
ALPHA = 0.05


@dataclass
class _Unit:
    """One measurement: a workload, the reference's and the work tree's library (shared by phases)."""
    workload: str
    variant: str
    reference: object | None = None          # AllocatorSpec named <variant>@<lib_hash>
    candidate: object | None = None
    failed: str | None = None                 # why it cannot be measured
    detail: str | None = None
    gate: str | None = None
    gate_reason: str = ""
    result: dict = field(default_factory=dict)  # status, reason and figures


def _sides(project: Project, variant, commit: str, memo: dict) -> tuple:
    """(reference spec, candidate spec, failure, detail) of `variant`, built once a check."""
    if variant.name in memo:
        return memo[variant.name]
    from ..build import lib_hash
    from ..measuring.child import resolve_allocator
    from .series import build_series

    ref = cand = None
    why = detail = None
    built, specs, skipped = build_series(project, variant, [{"commit": commit, "subject": ""}])
    if specs:
        ref = specs[0]
    else:
        s = skipped[0]
        why, detail = f"the reference ({commit[:10]}) does not build {variant.name}: {s['reason']}", s.get("detail")
    try:
        spec = resolve_allocator(project, variant)
        cand = replace(spec, name=f"{variant.name}@{lib_hash(Path(spec.hak_lib))}")
    except UserError as exc:
        reason = str(exc).replace(" (compiler output follows)", "")
        tree = f"the work tree does not build {variant.name}: {reason}"
        why, detail = (f"{tree}; {why}" if why else tree), exc.detail or detail
    memo[variant.name] = (ref, cand, why, detail)
    return memo[variant.name]


def plan(project: Project, commit: str, phases: list[str] | None = None) -> tuple[list[dict], dict, list[dict]]:
    """(rows [{phase, workload, variant, unit key}], units by key, skipped [{phase, workload, variant, reason}])."""
    from ..measuring.workloads import get_workload
    from ..phases import load_phases
    from ..variants import get_variant

    rows, units, skipped, memo = [], {}, [], {}
    for ph in load_phases(project, phases):
        wl = get_workload(ph.headline_workload)
        for name in ph.project_variants:
            if wl.is_program:
                skipped.append({"phase": ph.id, "workload": wl.name, "variant": name,
                                "reason": f"the headline {wl.name} is a program (check gates driver loops only)"})
                continue
            v = get_variant(name, project)
            if v.revision:
                skipped.append({"phase": ph.id, "workload": wl.name, "variant": name,
                                "reason": f"{name} is built from its own revision {v.revision!r}, not the work tree"})
                continue
            ref, cand, why, detail = _sides(project, v, commit, memo)
            key = (wl.name, ref.name if ref else f"{name}@?", cand.name if cand else f"{name}@!")
            if key not in units:
                units[key] = _Unit(wl.name, name, ref, cand, why, detail)
            rows.append({"phase": ph.id, "workload": wl.name, "variant": name, "key": key})
    return rows, units, skipped


def _lib(spec) -> str | None:
    return spec.name.rsplit("@", 1)[-1] if spec is not None else None


def _time_sampling(sampling, threshold: float):
    """The stopping rule of the time gate: the caller's, aiming at an interval that can resolve
    the threshold (half-width at most half of it) unless a fixed design was asked for."""
    from ..measuring.kinds.bench import Sampling
    s = sampling or Sampling()
    if s.precision > 0:
        s = replace(s, precision=min(s.precision, threshold / 2))
    return s


def _decide_time(c: dict, p_adj: float | None, threshold: float) -> tuple[str, str, bool]:
    """(status, reason, decided) of one time comparison at the threshold."""
    ci = c.get("speedup_ci95")
    if ci is None or c.get("p_value") is None:
        return "failed", f"no interval: {c.get('reason') or 'too few runs'}", True
    lo, hi = ci
    txt = f"95% CI of the speed-up [{lo:+.2%}, {hi:+.2%}], Holm-adjusted p = {p_adj:.3g}"
    if p_adj < ALPHA and hi < -threshold:
        return "regression", f"{txt}: the whole interval lies below -{threshold:.1%}", True
    if p_adj < ALPHA and lo > threshold:
        return "improvement", f"{txt}: the whole interval lies above +{threshold:.1%}", True
    if lo >= -threshold:
        return "pass", f"{txt}: no slowdown beyond -{threshold:.1%} (the interval lies above it)", True
    return "pass", (f"{txt}: undecided, the interval reaches across -{threshold:.1%} (not a decided "
                    f"regression)"), False


def _measure_time(project, units: list[_Unit], threshold: float, sampling, ops, store, force, progress) -> None:
    from ..measuring.kinds.bench import bench_kind, run_interleaved

    s = _time_sampling(sampling, threshold)
    kinds = [bench_kind(project, u.workload, [u.reference, u.candidate], sampling=s, ops=ops) for u in units]
    outs = run_interleaved(kinds, store, force=force, progress=progress)
    comps = []
    for u, out in zip(units, outs):
        if isinstance(out, Exception):      # that pair's failure (run_interleaved keeps the others)
            u.result = {"status": "failed", "reason": f"the time measurement failed: {out}"}
            comps.append(None)
            continue
        c = next(iter(out.get("comparisons") or []), None)
        failures = [f"{r['variant']}: {f['cause']}" for r in out.get("results") or [] for f in r.get("failures") or []]
        if c is None or c.get("speedup_ci95") is None:
            u.result = {"status": "failed", "reason": "no comparison: " + ("; ".join(failures[:3]) or
                                                                        (c or {}).get("reason", "no successful run"))}
            comps.append(None)
            continue
        u.result = {"speedup": c.get("speedup"), "ci95": c.get("speedup_ci95"), "p_value": c.get("p_value"),
                    "half_width": c.get("half_width"), "sessions": c.get("sessions"),
                    "measurement": out.get("session"), "reused": out.get("reused")}
        comps.append(c)
    measured = [(u, c) for u, c in zip(units, comps) if c is not None]
    for (u, c), p_adj in zip(measured, stats.holm([c["p_value"] for _, c in measured])):
        status, reason, decided = _decide_time(c, p_adj, threshold)
        u.result.update(status=status, reason=reason, p_adjusted=p_adj, decided=decided)


def _measure_counts(project, units: list[_Unit], threshold: float, ops, store, force, progress) -> None:
    from ..machine import cache_geometry
    from ..measuring.callgrind import valgrind_path
    from ..measuring.kinds.base import measure_through_store
    from ..measuring.kinds.counts import QUICK_RUNS, CountsKind, count_ops
    from ..measuring.workloads import get_workload

    valgrind_path()
    geometry = cache_geometry()
    rows: dict = {}
    progress.start(2 * len(units), f"exact counts of {len(units)} pair{'s' if len(units) != 1 else ''}")
    for u in units:
        wl = get_workload(u.workload, drivers_only="check's counts gate")
        n = count_ops(wl, False, ops)
        side = {}
        for name, spec in (("reference", u.reference), ("candidate", u.candidate)):
            k = (u.workload, spec.name, n)
            if k not in rows:
                rows[k] = measure_through_store(CountsKind(project, spec, wl, n, geometry, QUICK_RUNS), store,
                                                force=force, progress=progress)
            side[name] = rows[k]
        of, metric = _count_metric(wl)
        ref, cand = metric(side["reference"]), metric(side["candidate"])
        if not ref or cand is None:
            causes = [f"{s['variant']}: {f['cause']}" for s in side.values() for f in s.get("failures") or []]
            u.result = {"status": "failed", "reason": "no counts: " + ("; ".join(causes[:2]) or "no instructions")}
            continue
        change = cand / ref - 1
        exact = "exact" if of == "the timed loop" else "counted; the threads' interleaving moves them slightly"
        txt = f"instructions per op of {of} {ref:,.1f} -> {cand:,.1f} ({change:+.2%}, {exact}, {n:,} ops)"
        status = ("regression" if change > threshold else "improvement" if change < -threshold else "pass")
        why = {"regression": f"grown by more than {threshold:.1%}", "improvement": f"shrunk by more than {threshold:.1%}",
               "pass": f"within ±{threshold:.1%}"}[status]
        u.result = {**{k: v for k, v in u.result.items() if k in ("speedup", "ci95", "p_value", "p_adjusted",
                                                                   "time_reason")},
                    "status": status, "reason": f"{txt}: {why}",
                    "instructions_per_op": {"reference": ref, "candidate": cand, "change": change, "of": of},
                    "ops": n}


# The allocator's own function groups (callgrind.GROUPS): the harness's are "driver" and "other".
ALLOCATOR_GROUPS = ("malloc", "free", "router", "refill", "locks")


def _count_metric(wl):
    """What the counts gate compares: on a single-threaded loop every instruction of the timed loop
    (the same ops execute the same instructions: exact); on a multi-threaded one only the allocator's
    functions, since the harness's threads wait on each other a number of times the scheduling
    decides (the remote driver's thread loop falls in callgrind's "other" group)."""
    threads = wl.threads if wl.driver == "remote" else 1
    if threads <= 1:
        return "the timed loop", lambda row: row.get("instructions_per_op")

    def allocator(row):
        groups = row.get("groups") or {}
        if not row.get("per_op"):
            return None
        return sum(((groups.get(g) or {}).get("per_op") or {}).get("instructions") or 0.0 for g in ALLOCATOR_GROUPS)
    return "the allocator's functions", allocator


def _valgrind_missing() -> str | None:
    from ..measuring.callgrind import valgrind_path
    try:
        valgrind_path()
    except UserError as exc:
        return str(exc)
    return None


def run_check(project: Project, against: str, *, threshold: float = 0.02, phases: list[str] | None = None,
              gate: str = "auto", sampling=None, ops: int | None = None, store=None, force: bool = False,
              progress=None) -> dict:
    """Check the work tree's variants against commit `against`: the `check --json` shape."""
    from ..measuring.child import NullProgress

    if gate not in GATES:
        raise UserError(f"--gate must be one of {', '.join(GATES)}, got {gate!r}")
    if not 0 < threshold < 1:
        raise UserError(f"--threshold must be a relative change above 0 and below 100%, got {threshold!r}")
    progress = progress or NullProgress()
    from ..revisions import resolve
    commit = resolve(project, against, "--against")
    rows, units, skipped = plan(project, commit, phases)
    floor = stats.NOISE_FLOOR
    no_valgrind = _valgrind_missing() if gate == "auto" else None
    todo_time, todo_counts = [], []
    for u in units.values():
        if u.failed:
            u.result = {"status": "failed", "reason": u.failed}
        elif u.reference.name == u.candidate.name:
            u.result = {"status": "unchanged", "reason": "the work tree builds the reference's library: nothing to measure"}
        elif gate == "counts":
            u.gate, u.gate_reason = "counts", "asked for (--gate counts)"
            todo_counts.append(u)
        elif gate == "time":
            u.gate, u.gate_reason = "time", "asked for (--gate time)"
            todo_time.append(u)
        elif floor >= threshold and not no_valgrind:
            u.gate = "counts"
            u.gate_reason = (f"auto: the time verdicts' noise floor ±{floor:.1%} is not below the threshold "
                             f"{threshold:.1%}, so time cannot decide a change of that size")
            todo_counts.append(u)
        else:
            u.gate = "time"
            u.gate_reason = (f"auto: the noise floor ±{floor:.1%} is below the threshold {threshold:.1%}"
                             + (f"; counts unavailable ({no_valgrind})" if no_valgrind else ""))
            todo_time.append(u)
    if todo_time:
        _measure_time(project, todo_time, threshold, sampling, ops, store, force, progress)
        if gate == "auto" and not no_valgrind:
            for u in todo_time:
                if u.result.get("status") == "pass" and not u.result.get("decided", True):
                    hw = u.result.get("half_width")
                    u.gate = "counts"
                    u.gate_reason = (f"auto: time undecided, its 95% CI (±{hw:.2%}: this machine's noise in this "
                                     f"run) reaches across -{threshold:.1%}; the exact counts decide"
                                     if hw is not None else "auto: time undecided; the exact counts decide")
                    u.result["time_reason"] = u.result.get("reason")
                    todo_counts.append(u)
    if todo_counts:
        _measure_counts(project, todo_counts, threshold, ops, store, force, progress)
    pairs = []
    for r in rows:
        u = units[r["key"]]
        res = {k: v for k, v in u.result.items() if k not in ("decided",)}
        if res.get("status") == "pass" and not u.result.get("decided", True):
            res["status"] = "undecided"      # not a regression, and not shown to be none: said so
        pairs.append({"phase": r["phase"], "workload": r["workload"], "variant": r["variant"],
                      "reference_lib": _lib(u.reference), "candidate_lib": _lib(u.candidate),
                      "gate": u.gate, "gate_reason": u.gate_reason, **res,
                      **({"detail": u.detail} if u.detail else {})})
    regressions = sum(p["status"] == "regression" for p in pairs)
    failed = sum(p["status"] == "failed" for p in pairs)
    undecided = sum(p["status"] == "undecided" for p in pairs)
    return {"against": against, "against_commit": commit, "threshold": threshold, "gate_requested": gate,
            "noise_floor": floor, "pairs": pairs, "skipped": skipped, "measured": sum(1 for u in units.values() if u.gate),
            "regressions": regressions, "failed": failed, "undecided": undecided,
            "exit": 1 if regressions or failed else 0}


# ---- the pull-request comment -------------------------------------------------------------

def _change(p: dict) -> str:
    if p["status"] == "unchanged":
        return "same library"
    ipo = p.get("instructions_per_op")
    if p.get("gate") == "counts" and ipo:
        return f"{ipo['change']:+.2%} instructions/op"
    if p.get("gate") == "time" and p.get("ci95"):
        lo, hi = p["ci95"]
        return f"{p['speedup']:+.2%} ops/s [{lo:+.2%}, {hi:+.2%}]"
    return "-"


def _code(text: str) -> str:
    """`text` (a compiler's line, a reason naming files) as a Markdown code span: nothing in it is
    read as HTML or emphasis; the fence is longer than any run of backticks in it."""
    import re
    text = " ".join(str(text).split())
    if not text:
        return ""
    fence = "`" * (1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown(out: dict) -> str:
    """The check as Markdown fit for a pull-request comment."""
    thr = out["threshold"]
    short = out["against_commit"][:10]
    lines = [f"## reportgen check: the work tree against `{out['against']}` (`{short}`)", ""]
    if out["regressions"] or out["failed"]:
        what = []
        if out["regressions"]:
            what.append(f"**{out['regressions']} regression{'s' if out['regressions'] != 1 else ''}** beyond {thr:.1%}")
        if out["failed"]:
            what.append(f"**{out['failed']} pair{'s' if out['failed'] != 1 else ''} failed** (not judged)")
        lines.append(f"{' and '.join(what)}: exit 1.")
    else:
        lines.append(f"No regression beyond {thr:.1%}: exit 0."
                     + (f" **{out['undecided']} pair{'s' if out['undecided'] != 1 else ''} undecided**: the interval "
                        f"reaches across -{thr:.1%} (more sessions, `--budget` or `--gate counts` may decide)"
                        if out.get("undecided") else ""))
    lines += ["", "| phase | variant | workload | gate | change | status |", "| --- | --- | --- | --- | --- | --- |"]
    for p in out["pairs"]:
        status = f"**{p['status']}**" if p["status"] in ("regression", "failed") else p["status"]
        lines.append(f"| {p['phase']} | {p['variant']} | {p['workload']} | {p.get('gate') or '-'} | "
                     f"{_change(p)} | {status} |")
    if not out["pairs"]:
        lines.append("| - | - | - | - | - | nothing to check |")
    used = {}
    for p in out["pairs"]:
        if p.get("gate"):
            used[p["gate"]] = used.get(p["gate"], 0) + 1
    how = {"time": (f"time: the work tree against the reference in interleaved sessions, a regression when the "
                    f"whole 95% CI of the speed-up lies below -{thr:.1%} and its p-value of no change, "
                    f"Holm-adjusted over the pairs, is below {ALPHA}"),
           "counts": (f"counts: exact instructions per op (callgrind) of the timed loop (of the allocator's "
                      f"functions on a multi-threaded workload), a regression when they grow by more than {thr:.1%}")}
    auto = (f" (counts where the noise floor ±{out['noise_floor']:.1%} or a time interval is wider than the "
            f"threshold, time elsewhere)" if out["gate_requested"] == "auto" else "")
    decided = ", ".join(f"{g} ({n} pair{'s' if n != 1 else ''})" for g, n in used.items()) or "nothing measured"
    unchanged = sum(p["status"] == "unchanged" for p in out["pairs"])
    lines += ["", f"Gate: `{out['gate_requested']}` asked for{auto}; decided by {decided}. "
                  + "; ".join(how[g] for g in used) + ("." if used else "")
                  + (f" {unchanged} unchanged: the work tree builds the reference's library, not measured."
                     if unchanged else "")]
    lines.append("")
    for p in out["pairs"]:
        why = f"{p['gate']}, {p['gate_reason']}: " if p.get("gate") else ""
        lines.append(f"- {p['phase']} {p['variant']} on {p['workload']}: {why}{_code(p.get('reason', ''))}")
    for s in out.get("skipped") or []:
        lines.append(f"- {s['phase']} {s['variant']} skipped: {_code(s['reason'])}")
    return "\n".join(lines) + "\n"
