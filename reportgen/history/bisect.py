"""The first commit between a good and a bad one whose figure moved beyond a threshold, found by
binary search with each step a decided comparison (interleaved rounds, not a point estimate).

The commits searched are those after `good` up to `bad` that touched native/ (the same listing as
reportgen.history.series, without its cap of one comparison group: a bisect measures a few of
them), and `bad` itself at the end when it did not touch native/ (it then has the last one's
library).  Each commit is built from its own native/ (reportgen.revisions; the work tree and HEAD
are never touched) and named by its library (`<variant>@<lib hash>`), so commits with the same
code are one library, measured once.

"Differs from good by more than the threshold": the comparison's verdict is decided (faster or
slower: p below 0.05 and the whole 95% CI of the speed-up beyond the noise floor,
stats.decide) AND the point estimate of the speed-up is beyond ±threshold.  Asking the whole
interval to lie beyond the threshold would need many more sessions to decide a change near it;
the interval is reported with the culprit for the reader to weigh.

1. good against bad, interleaved (good the baseline).  Unless they differ by more than the
   threshold (or build the same library) there is nothing to find: culprit null, with the reason.
2. Binary search over the commits between, lo "like good" (good itself at first), hi "like bad"
   (bad).  A probe whose library was already classified (good's, bad's, an earlier probe's)
   inherits the classification without a measurement.  Otherwise it is measured in one group
   [good, probe, bad]: probe against good (a comparison) and probe against bad (a contrast of the
   same rounds).  Like bad: it differs from good by more than the threshold in bad's direction.
   Like good: it does not, and it is told apart from bad (a decided verdict toward good's side).
   Neither (undecided): classified by the point estimate against good and the threshold, the rule
   above without the verdict, and the probe is marked `undecided` (the confirmation below
   measures the result again).
   A probe that does not build is skipped: the nearest buildable neighbour of the midpoint is
   probed instead, alternating sides (mid+1, mid-1, mid+2, ...), and the binary search goes on
   (never a linear search from the failure).
3. The culprit (the first commit like bad) is confirmed by measuring it against its parent: the
   previous buildable commit of the series (or good), interleaved.  Its size, interval and verdict
   are the report's; if commits between the two did not build, they are named
   (`parent_skipped`): the change may be in one of them.

Measured commits: good, bad and about log2(N) probes, each library once (a rerun over the same
code finds its records in the store).
"""
from __future__ import annotations

from .. import stats
from ..errors import UserError
from ..project import Project


def _git(project: Project, *args: str) -> tuple[int, str, str]:
    from .series import _git as git
    return git(project, *args)


def _subject(project: Project, commit: str) -> str:
    return _git(project, "log", "-1", "--format=%s", commit)[1].strip()


def bisect_range(project: Project, good: str, bad: str) -> tuple[dict, list[dict]]:
    """(good as {commit, subject}, the commits searched after it up to bad, oldest first: those that
    touched native/, and bad itself last when it did not)."""
    from ..revisions import resolve
    g, b = resolve(project, good, "--good"), resolve(project, bad, "--bad")
    if g == b:
        raise UserError(f"--good {good!r} and --bad {bad!r} are the same commit ({g[:10]}): nothing to search")
    if _git(project, "merge-base", "--is-ancestor", g, b)[0] != 0:
        raise UserError(f"--good {good!r} is not an ancestor of --bad {bad!r}: bisect searches the commits "
                        f"from one to the other")
    rc, out, err = _git(project, "log", "--reverse", "--format=%H%x09%s", f"{g}..{b}", "--", "native/")
    if rc != 0:
        raise UserError(f"git log {good}..{bad} failed: {(err.strip().splitlines() or ['?'])[-1]}")
    later = [dict(zip(("commit", "subject"), line.split("\t", 1))) for line in out.splitlines() if line]
    if not later or later[-1]["commit"] != b:
        later.append({"commit": b, "subject": _subject(project, b)})
    return {"commit": g, "subject": _subject(project, g)}, later


def neighbours(mid: int, lo: int, hi: int):
    """mid, then mid+1, mid-1, mid+2, mid-2, ... strictly between lo and hi."""
    for d in range(0, hi - lo):
        for j in ((mid,) if d == 0 else (mid + d, mid - d)):
            if lo < j < hi:
                yield j


def search(n: int, probe) -> tuple[int, int, list[int]]:
    """Binary search over positions 0..n-1, position n-1 known like bad and -1 (good) like good.

    probe(i) -> "good" | "bad" | None (does not build).  Returns (lo, hi, skipped): hi the first
    position like bad, lo the last buildable one before it known like good (-1: good), skipped the
    positions between them that did not build (the change may be in one of them)."""
    lo, hi, dead = -1, n - 1, set()
    while hi - lo > 1:
        found = None
        for j in neighbours((lo + hi) // 2, lo, hi):
            if j in dead:
                continue
            found = probe(j)
            if found is None:
                dead.add(j)
                continue
            if found == "bad":
                hi = j
            else:
                lo = j
            break
        if found is None:           # every commit between lo and hi failed to build
            break
    return lo, hi, sorted(d for d in dead if lo < d < hi)


def differs(c: dict | None, threshold: float) -> tuple[int, str]:
    """(direction: -1 slower, +1 faster, 0 not beyond the threshold, verdict) of a comparison: a
    decided verdict and the speed-up's point estimate beyond ±threshold."""
    if not c or c.get("speedup") is None:
        return 0, "not compared"
    verdict, _ = stats.decide(c.get("speedup_ci95"), _p(c), noise_floor=c.get("noise_floor", stats.NOISE_FLOOR))
    if verdict in ("faster", "slower") and abs(c["speedup"]) > threshold:
        return (1 if verdict == "faster" else -1), verdict
    return 0, verdict


def _p(c: dict):
    """The comparison's p-value, Holm-adjusted over its group's comparisons where the group gave one
    (a probe's run holds two: against good, and against bad)."""
    return c.get("p_adjusted") if c.get("p_adjusted") is not None else c.get("p_value")


def _brief(c: dict | None) -> dict | None:
    if not c:
        return None
    return {"speedup": c.get("speedup"), "ci95": c.get("speedup_ci95"), "p_value": c.get("p_value"),
            "p_adjusted": c.get("p_adjusted"),
            "verdict": stats.decide(c.get("speedup_ci95"), _p(c), noise_floor=c.get("noise_floor", stats.NOISE_FLOOR))[0],
            "sessions": c.get("sessions")}


def _failed(out: dict, label: str) -> str | None:
    """Why `label` has no successful run in a bench output (a build that runs but crashes), or None."""
    row = next((r for r in out.get("results") or [] if r.get("variant") == label), None)
    if row is None:
        return "not measured"
    if not row.get("n"):
        causes = [f.get("cause") for f in row.get("failures") or [] if f.get("cause")]
        return f"every run failed: {causes[0] if causes else 'no sample'}"
    return None


def _pct(x) -> str:
    return f"{x:+.2%}" if x is not None else "?"


def _ci(ci) -> str:
    return f"[{ci[0]:+.2%}, {ci[1]:+.2%}]" if ci else "[no interval]"


def _undecided(c: dict | None, threshold: float) -> str:
    ci = (c or {}).get("speedup_ci95")
    if ci and (ci[0] < -threshold or ci[1] > threshold):
        return (f" (the interval reaches beyond ±{threshold:.1%}: this measurement cannot tell; more sessions "
                f"or --budget may decide it)")
    return ""


def run_bisect(project: Project, workload: str, variant: str, good: str, bad: str, *, threshold: float = 0.02,
               sampling=None, ops: int | None = None, threads: int | None = None, store=None,
               force: bool = False, progress=None) -> dict:
    """The `bisect --json` shape (docs/json.md)."""
    from ..measuring.kinds.bench import run_bench
    from ..measuring.workloads import get_workload
    from ..variants import get_variant
    from .series import build_series

    if not 0 < threshold < 1:
        raise UserError(f"--threshold must be above 0 and below 100%, got {threshold!r}")
    v = get_variant(variant, project)
    w = get_workload(workload)          # a bad workload is refused before anything is built
    good_c, cands = bisect_range(project, good, bad)
    n = len(cands)

    builds: dict[str, tuple | None] = {}     # commit -> (entry with lib_hash and label, spec), None: no build
    skipped: list[dict] = []

    def build(c: dict):
        if c["commit"] not in builds:
            built, specs, failed = build_series(project, v, [c])
            builds[c["commit"]] = (built[0], specs[0]) if built else None
            skipped.extend(failed)
        return builds[c["commit"]]

    ends = {}
    for flag, c in (("--good", good_c), ("--bad", cands[-1])):
        got = build(c)
        if got is None:
            s = skipped.pop()
            raise UserError(f"{flag} {c['commit'][:10]} ({c['subject'][:50]}) does not build {v.name}: {s['reason']}",
                            s.get("detail"))
        ends[flag] = got
    g_entry, b_entry = ends["--good"][0], ends["--bad"][0]

    measured: list[str] = []            # commits whose library was measured, each library once
    lib_commit: dict[str, str] = {}
    runs: list[dict] = []
    done: dict[tuple, dict] = {}

    def measure(entries_specs: list[tuple], contrasts, purpose: str) -> dict:
        labels = tuple(e["label"] for e, _ in entries_specs)
        key = (labels, tuple(contrasts))
        again = key in done         # the same libraries in the same group: the same rounds answer
        if not again:
            done[key] = run_bench(project, w.name, [s for _, s in entries_specs], sampling=sampling, ops=ops,
                                  threads=threads, store=store, force=force, progress=progress,
                                  contrasts=list(contrasts))
        out = done[key]
        for e, _ in entries_specs:
            if e["lib_hash"] not in lib_commit:
                lib_commit[e["lib_hash"]] = e["commit"]
                measured.append(e["commit"])
        runs.append({"purpose": purpose, "commits": [e["commit"] for e, _ in entries_specs],
                     "libraries": list(labels), "reused": again or bool(out.get("reused")),
                     "sessions": out.get("sessions")})
        return out

    def comparison(out: dict, candidate: str, baseline: str) -> dict | None:
        for c in (out.get("comparisons") or []) + (out.get("contrasts") or []):
            if c.get("candidate") == candidate and c.get("baseline") == baseline:
                return c
        return None

    result = {"workload": w.name, "variant": v.name, "good": good_c["commit"], "bad": cands[-1]["commit"],
              "threshold": threshold, "culprit": None, "candidate": None, "undecided_probes": [], "subject": None, "parent": None, "parent_skipped": [],
              "size": None, "ci95": None, "verdict": None, "confirmed": None, "confirmation": None, "reason": None,
              "change": None, "measured": measured, "skipped": [], "skipped_reasons": [], "probes": [],
              "range_commits": n + 1, "runs": runs}

    def finish(**kw) -> dict:
        result.update(kw)
        result["skipped"] = [s["commit"] for s in skipped]
        result["skipped_reasons"] = [{"commit": s["commit"], "subject": s["subject"], "reason": s["reason"]}
                                     for s in skipped]
        return result

    if g_entry["lib_hash"] == b_entry["lib_hash"]:
        return finish(reason=f"good and bad build the same library ({g_entry['label']}): no commit between "
                             f"them changed the code {v.name} compiles")

    ends_out = measure([ends["--good"], ends["--bad"]], (), "good against bad")
    for flag, c, e in (("--good", good_c, g_entry), ("--bad", cands[-1], b_entry)):
        why = _failed(ends_out, e["label"])
        if why:         # a regression that crashes is not "no change": nothing to bisect against
            raise UserError(f"{flag} {c['commit'][:10]} ({c['subject'][:50]}) builds {v.name} but does not run "
                            f"{w.name}: {why}")
    change = comparison(ends_out, b_entry["label"], g_entry["label"])
    direction, verdict = differs(change, threshold)
    result["change"] = _brief(change)
    if not direction:
        return finish(size=change and change.get("speedup"), ci95=change and change.get("speedup_ci95"),
                      verdict=verdict,
                      reason=f"bad does not differ from good by more than {threshold:.1%}: "
                             f"{_pct(change and change.get('speedup'))} "
                             f"{_ci(change and change.get('speedup_ci95'))}, {verdict}" + _undecided(change, threshold))

    known = {g_entry["lib_hash"]: ("good", good_c["commit"], None), b_entry["lib_hash"]: ("bad", cands[-1]["commit"], change)}
    probes = result["probes"]

    def probe(i: int):
        c = cands[i]
        got = build(c)
        if got is None:
            return None
        entry, spec = got
        row = {"commit": c["commit"], "subject": c["subject"], "lib_hash": entry["lib_hash"]}
        if entry["lib_hash"] in known:
            cls, origin, against_good = known[entry["lib_hash"]]
            row.update(classified=cls, how="same library", same_library_as=origin, undecided=False,
                       speedup=against_good and against_good.get("speedup"),
                       ci95=against_good and against_good.get("speedup_ci95"), against_good=_brief(against_good),
                       against_bad=None)
            probes.append(row)
            return cls
        out = measure([ends["--good"], got, ends["--bad"]], ((entry["label"], b_entry["label"]),), "probe")
        crashed = _failed(out, entry["label"])
        if crashed:     # it builds but does not run: skipped like a commit that does not build
            skipped.append({"commit": c["commit"], "subject": c["subject"], "reason": f"runs but fails: {crashed}",
                            "detail": None})
            builds[c["commit"]] = None
            return None
        vs_good = comparison(out, entry["label"], g_entry["label"])
        vs_bad = comparison(out, entry["label"], b_entry["label"])
        d_good, _ = differs(vs_good, threshold)
        verdict_bad = _brief(vs_bad)["verdict"] if vs_bad else None
        toward_good = verdict_bad == ("faster" if direction < 0 else "slower")
        undecided = False
        if d_good == direction:
            cls = "bad"
        elif toward_good:
            cls = "good"
        else:       # told apart from neither: the point estimate against good and the threshold
            undecided = True
            s = (vs_good or {}).get("speedup")
            cls = "bad" if s is not None and s * direction > threshold else "good"
        known[entry["lib_hash"]] = (cls, c["commit"], vs_good)
        row.update(classified=cls, how="measured", undecided=undecided,
                   speedup=vs_good and vs_good.get("speedup"), ci95=vs_good and vs_good.get("speedup_ci95"),
                   against_good=_brief(vs_good), against_bad=_brief(vs_bad))
        probes.append(row)
        return cls

    lo, hi, between = search(n, probe)
    culprit = cands[hi]
    parent = good_c if lo < 0 else cands[lo]
    p_got = builds[parent["commit"]]
    c_got = build(culprit)
    conf_out = measure([p_got, c_got], (), "culprit against its parent")
    conf = comparison(conf_out, c_got[0]["label"], p_got[0]["label"])
    d, verdict = differs(conf, threshold)
    confirmed = d == direction
    parent_skipped = [cands[i]["commit"] for i in between]
    undecided = [p["commit"] for p in probes if p.get("undecided")]
    # a culprit only on decided evidence: confirmed against its parent, with no probe on the way
    # classified by its point estimate alone; otherwise the commit is a candidate, said as such
    decided = confirmed and not undecided
    why = [f"{culprit['commit'][:10]} is the first commit whose {v.name} on {w.name} differs from good's "
           f"by more than {threshold:.1%}" if decided else
           f"{culprit['commit'][:10]} is a candidate, not a decided culprit"
           + (f" ({len(undecided)} probe(s) could not be told apart from good or bad: "
              f"{', '.join(x[:10] for x in undecided)})" if undecided else "")]
    if confirmed:
        why.append(f"against its parent {parent['commit'][:10]}: {_pct(conf.get('speedup'))} "
                   f"{_ci(conf.get('speedup_ci95'))}, {verdict}")
    else:
        why.append(f"but against its parent {parent['commit'][:10]} it is {_pct(conf and conf.get('speedup'))} "
                   f"{_ci(conf and conf.get('speedup_ci95'))}, {verdict}: not confirmed (the change may be "
                   f"spread over several commits, or a probe was undecided)")
    if parent_skipped:
        why.append(f"{len(parent_skipped)} commit(s) between the parent and it did not build "
                   f"({', '.join(x[:10] for x in parent_skipped)}): the change may be in one of them")
    return finish(culprit=culprit["commit"] if decided else None, candidate=culprit["commit"],
                  undecided_probes=undecided, subject=culprit["subject"], parent=parent["commit"],
                  parent_skipped=parent_skipped, size=conf and conf.get("speedup"),
                  ci95=conf and conf.get("speedup_ci95"), verdict=verdict, confirmed=confirmed,
                  confirmation=_brief(conf), reason="; ".join(why))

