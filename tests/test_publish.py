"""The main job end to end, on real measurements: `reportgen publish --quick` in a copy of the project.

Then an edit under one variant's `#if` and a second publish: only what depends
on that variant is measured again, and the report says what changed. Asserts
behaviour (routing, counters, what was re-measured, what the pages say), never
a timing.
"""
from __future__ import annotations

import json
import re
import os
import shutil
from pathlib import Path

import pytest

from reportgen import hypotheses, plan, stats
from reportgen.cli import main
from reportgen.phases import load_phases
from reportgen.plan import collect
from reportgen.project import Project

PARTS = ("native", "phases", "templates", "docs", "mkdocs.yml", "variants.yaml", "workloads.yaml")


def copy_project(root: Path) -> Path:
    src = Project.locate()
    for part in PARTS:
        path = src.root / part
        if path.is_dir():
            # not what a publish generates: docs/phases/ and the plotly.js copy
            generated = ("phases", "plotly.min.js") if part == "docs" else ()
            shutil.copytree(path, root / part, ignore=shutil.ignore_patterns("*.o", "*.so", *generated))
        else:
            shutil.copy2(path, root / part)
    return root


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("lab"))
    # The build cache is content-addressed (paths do not enter a hash): the copy shares the suite's,
    # so libraries the other tests already built are found, not compiled again.
    env = {"REPORTGEN_RESULTS_DIR": str(root / "results"), "REPORTGEN_BUILD_DIR": str(Project.locate().build_dir)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert main(["--root", str(root), "publish", "--quick"]) == 0
        yield Project(root)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_a_missing_compiler_stops_publish_before_anything_is_written(tmp_path, monkeypatch, capsys):
    root = copy_project(tmp_path / "lab")
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(root / "results"))
    monkeypatch.setenv("REPORTGEN_BUILD_DIR", str(root / "build"))
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert main(["--root", str(root), "publish", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "reportgen: error: C compiler '/nonexistent/cc' not found" in err and "Traceback" not in err
    assert not (root / "results").exists() and not (root / "docs" / "phases").exists()
    assert not (root / "site").exists()


def bench_records(project: Project) -> dict[str, list[Path]]:
    """allocator -> its mid_mt_gap bench record files, oldest first."""
    out: dict[str, list[Path]] = {}
    for path in sorted(project.results_dir.glob("*/bench/*/*.json")):
        rec = json.loads(path.read_text())
        if rec["workload"] == "mid_mt_gap":
            out.setdefault(rec["allocator"], []).append(path)
    return out


def test_publish_leaves_a_site_with_the_phase_6b_findings(published):
    page = (published.docs_dir / "phases" / "phase-6b.md").read_text()
    assert "Quick run" in page or "quick run" in page
    # 1 KiB requests in Tiny, predicted and measured, from this machine's run
    assert "| 1,024 B | tiny | tiny |" in page
    assert "| 2,048 B | mid | mid |" in page
    # H1 as a measured fact: no mutex, registry lookup or remote free on the single-threaded benchmark
    assert "### H1" in page and "CONFIRMED" in page.split("### H1", 1)[1].split("###", 1)[0]
    # the claim check: whatever status this run's measurement gives, the over-claim section and the
    # page's opening sentences both carry that same status (computed here from the published results)
    spec = next(p for p in load_phases(published) if p.id == "phase-6b")
    claim = hypotheses.view(spec, collect(published, [spec])["phases"]["phase-6b"])["claim"]
    assert claim["status"] in stats.CLAIM_STATUSES
    opening = page.split("\n# ", 1)[1].split("**Question**", 1)[0]
    assert "the claimed +17..+27% " in opening and f"**{claim['status']}**" in opening, opening
    over = page.split("## Over-claim check", 1)[1].split("\n## ", 1)[0]
    assert f'"{claim["status"].capitalize()}"' in over.split("\n", 3)[2], over
    # memory, from the same timed processes: a table, the time-against-memory and RSS charts, and a
    # memory hypothesis decided from them (6-B's leak is resident: M1)
    assert '??? note "Memory on `mt_remote`' in page and "| `hak-6b` |" in page.split('Memory on `mt_remote`', 1)[1]
    assert 'data-src="memory-mt_remote.json"' in page and 'data-src="rss-mt_remote.json"' in page
    # and what the faults say of 6-B's time there, from its own timed loops
    assert "`hak-6b` takes " in page and "minor page faults per op in its timed loops against" in page
    m1 = page.split("### M1", 1)[1].split("\n### ", 1)[0]
    assert "CONFIRMED" in m1 and "memory.peak_rss.ratio` 95% CI" in m1
    site = published.site_dir
    for rel in ("index.html", "phases/phase-6b/index.html", "phases/phase-6a/index.html",
                "methodology/index.html", "javascripts/plotly.min.js"):
        assert (site / rel).is_file(), rel
    charts = list((site / "phases" / "phase-6b").glob("*.json"))
    assert charts and all(json.loads(c.read_text()).get("data") is not None for c in charts)


def test_the_6b_page_sweeps_slots_past_one_chunk_per_class(published):
    """Issue 20's question on the page: the slots sweep of mid_mt_gap with each value's interval, 6-A's
    registry lookups at 16,384 live blocks on one thread (W1, exact counts), and W2 decided from the
    sweep's own interval, whatever status this run gives it."""
    page = (published.docs_dir / "phases" / "phase-6b.md").read_text()
    sweeps = page.split("\n## Sweeps", 1)[1].split("\n## ", 1)[0]
    gap = sweeps.split("### `slots` on `mid_mt_gap`", 1)[1].split("\n### ", 1)[0]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in gap.splitlines() if re.match(r"\| [0-9,]+", line)}
    assert set(rows) == {"256 (the workload's own)", "4,096", "16,384"}, rows
    for value, cells in rows.items():
        assert re.match(r"[-+][0-9.]+% \.\. [-+][0-9.]+%", cells[3]), (value, cells)   # the 95% CI
    lookups_256 = rows["256 (the workload's own)"][7].split(" / ")[0]
    lookups_16k = rows["16,384"][7].split(" / ")
    assert lookups_256 == "0" and int(lookups_16k[0].replace(",", "")) > 0 and lookups_16k[2] == "0"
    assert 'data-src="sweep-mid_mt_gap-slots.json"' in gap
    assert (published.docs_dir / "phases" / "phase-6b" / "sweep-mid_mt_gap-slots.json").is_file()
    spec = next(p for p in load_phases(published) if p.id == "phase-6b")
    outcomes = {o.id: o.status for o in hypotheses.assess_all(spec, collect(published, [spec])["phases"]["phase-6b"])}
    assert outcomes["W1"] == "confirmed"
    w1 = page.split("### W1", 1)[1].split("\n### ", 1)[0]
    assert "CONFIRMED" in w1
    w2 = page.split("### W2", 1)[1].split("\n### ", 1)[0]
    assert outcomes["W2"] in ("confirmed", "rejected", "inconclusive") and outcomes["W2"].upper() in w2
    # the page says from which value the gain reaches the claim, or that it reaches it at none
    assert "reaches the claimed +17..+27%" in gap or "does the measured interval reach the claimed" in gap


def test_the_phase_pages_run_the_programs_and_say_whether_the_verdict_carries_over(published):
    """Issue 21 on the pages: each program a phase lists is run on its baseline and candidate (quick), with
    times, peak RSS and the carry-over of the headline verdict; the counted run shows hak received it."""
    from reportgen.measuring.programs.view import carries_over
    for spec in (p for p in load_phases(published) if p.programs):
        page = (published.docs_dir / "phases" / f"{spec.id}.md").read_text()
        section = page.split("\n## Real and stress programs", 1)[1].split("\n## ", 1)[0]
        phase = collect(published, [spec])["phases"][spec.id]
        res = phase["programs"]
        headline = next(c for c in phase["bench"][spec.headline_workload]["comparisons"]
                        if c["candidate"] == spec.candidate)
        for name in spec.programs:
            b = res[name]
            by = {r["variant"]: r for r in b["results"]}
            assert set(by) == {spec.baseline, spec.candidate}           # quick: the two judged sides
            assert all(r["samples"] and r["memory"]["peak_rss_bytes"] > 0 for r in by.values()), name
            cand = by[spec.candidate]["counters"]
            assert sum(cand.get(k, 0) for k in ("tiny_allocs", "mid_allocs", "large_allocs")) > 0, name
            row = next(l for l in section.splitlines() if l.startswith(f"| `{name}` |"))
            cells = [c.strip() for c in row.split("|")[1:-1]]
            assert re.match(r"[0-9.]+$", cells[1]) and re.match(r"[0-9.]+$", cells[2]), cells
            cmp = next(c for c in b["comparisons"] if c["candidate"] == spec.candidate)
            assert cells[8].split(":")[0] == carries_over(headline, cmp)[0], (cells, headline, cmp)
            assert cmp["family_size"] == len(spec.programs)          # Holm over the phase's programs
            assert f'??? note "`{name}`: every allocator' in section
    assert "larson" in next(p for p in load_phases(published) if p.id == "phase-6c").programs


def test_publish_one_phase_keeps_the_other_pages(published):
    assert main(["--root", str(published.root), "publish", "--quick", "--phase", "phase-6a"]) == 0
    for pid in ("phase-6a", "phase-6b", "phase-6c"):
        assert (published.docs_dir / "phases" / f"{pid}.md").is_file(), pid
        assert (published.site_dir / "phases" / pid / "index.html").is_file(), pid
    page = (published.docs_dir / "phases" / "phase-6b.md").read_text()
    assert "Not measured yet" not in page and "| 1,024 B | tiny | tiny |" in page
    assert "phase-6b/" in (published.site_dir / "phases" / "index.html").read_text()


def test_a_crashing_candidate_fails_publish_and_is_measured_again(published, monkeypatch, capsys):
    from reportgen.measuring import child as measure
    from reportgen.measuring.kinds import bench

    def crash_6b(request, **kw):
        if "hak-6b" in f"{request.get('bench_lib')} {request.get('hak_lib')}":   # timed and counted builds
            return measure.run_child({"kind": "_test_crash", "how": "segv"}, **kw)
        return measure.run_child(request, **kw)

    class CrashingSession(measure.LoopServer):      # the timed loops: 6-B's session processes crash
        def __init__(self, request, **kw):
            if "hak-6b" in str(request.get("bench_lib")):
                request = {"kind": "_test_crash", "how": "segv"}
            super().__init__(request, **kw)

    monkeypatch.setattr(bench, "run_child", crash_6b)
    monkeypatch.setattr(measure, "LoopServer", CrashingSession)
    before = bench_records(published)
    capsys.readouterr()
    # only the benches again (`--force bench`): what crashes is 6-B's bench; the rest is reused
    assert main(["--root", str(published.root), "publish", "--quick", "--phase", "phase-6b", "--force", "bench,offsets"]) == 1
    err = " ".join(capsys.readouterr().err.split())   # rich wraps long lines
    assert "measurement(s) failed" in err and "phase-6b: hak-6b on mid_mt_gap" in err and "SIGSEGV" in err
    assert "Traceback" not in err
    page = (published.site_dir / "phases" / "phase-6b" / "index.html").read_text()
    assert "SIGSEGV" in page and "Verdict: none, the measurement failed" in page
    assert "SIGSEGV" in (published.site_dir / "phases" / "index.html").read_text()
    crashed = bench_records(published)
    # one record per group of the phase holding 6-B on mid_mt_gap: its bench, its placement experiment
    spec = next(p for p in load_phases(published) if p.id == "phase-6b")
    groups = [n for n in plan.needs(spec, plan.available_peers(spec.peers, published)[0])
              if n.kind in ("bench", "offsets") and n.workload == "mid_mt_gap" and "hak-6b" in n.variants]
    assert len(groups) == 2
    assert len(crashed["hak-6b"]) == len(before["hak-6b"]) + len(groups)
    # the failed record is not reused: the next publish measures 6-B again, and it is a result again
    monkeypatch.undo()
    assert main(["--root", str(published.root), "publish", "--quick", "--phase", "phase-6b"]) == 0
    assert len(bench_records(published)["hak-6b"]) == len(crashed["hak-6b"]) + len(groups)
    assert "SIGSEGV" not in (published.docs_dir / "phases" / "phase-6b.md").read_text()


def test_failed_children_are_not_reused_as_current(published, monkeypatch):
    monkeypatch.setenv("REPORTGEN_CPUS", "99")     # every child fails to pin itself
    assert main(["--root", str(published.root), "publish", "--quick", "--phase", "phase-6a", "--force", "bench"]) == 1
    page = (published.docs_dir / "phases" / "phase-6a.md").read_text()
    assert "**failed**" in page and "Invalid argument" in page
    monkeypatch.delenv("REPORTGEN_CPUS")
    assert main(["--root", str(published.root), "publish", "--quick", "--phase", "phase-6a"]) == 0
    page = (published.docs_dir / "phases" / "phase-6a.md").read_text()
    assert "**failed**" not in page and "Not measured yet" not in page


def bench_groups(project: Project) -> dict[tuple, int]:
    """(workload, group of allocators, allocator) -> how many bench records it has."""
    out: dict[tuple, int] = {}
    for path in project.results_dir.glob("*/bench/*/*.json"):
        rec = json.loads(path.read_text())
        k = (rec["workload"], tuple(rec["params"]["group"]), rec["allocator"])
        out[k] = out.get(k, 0) + 1
    return out


def sessions_on(page: str) -> list[str]:
    return re.findall(r"(?:Session|Measurement) `([0-9a-f]+)`", page)


@pytest.mark.browser
def test_the_published_charts_draw_in_a_browser(published):
    chromium = os.environ.get("REPORTGEN_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"{chromium} is missing: apt-get install chromium (CI installs it)")
    api = pytest.importorskip("playwright.sync_api")
    from reportgen import site

    with site.serving(published.site_dir) as url, api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url.rstrip("/") + "/phases/phase-6b/")
            page.wait_for_function("document.querySelectorAll('div.rg-chart').length > 0 && "
                                   "[...document.querySelectorAll('div.rg-chart')].every("
                                   "d => d.getAttribute('data-rg-state') === 'drawn')", timeout=30000)
            assert page.locator("div.rg-chart .main-svg").count() >= page.locator("div.rg-chart").count()
            assert not errors, errors
        finally:
            browser.close()


# ---- an edit, under reportgen serve --watch (issue 22.6) ------------------------------------

# 6-B's and 6-C's free (the header read, compiled into the header variants only) made to spin: a
# cost of a few hundred cycles a Mid free, so 6-B's headline comparison cannot stay what it was
HEADER_READ = "  _hak_stat_inc(heap, header_reads);\n"
SPIN = "  for (int rg_i = 0; rg_i < 300; rg_i++) __asm__ volatile(\"\" : \"+r\"(rg_i));\n"
VERDICT_JS = ("(() => { const a = document.querySelector('#verdict-and-executive-summary ~ .admonition');"
              " return a ? [...a.classList].join(' ') + ' | ' + a.textContent : ''; })()")
BANNER_JS = "(() => { const b = document.querySelector('.md-banner'); return b ? b.textContent : ''; })()"


def _browser_page(stack, chromium: str):
    """A headless Chromium page, or None when this machine has no Chromium or playwright (the watch
    is then checked by its rebuilds alone)."""
    if not Path(chromium).exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    p = stack.enter_context(sync_playwright())
    browser = p.chromium.launch(executable_path=chromium, headless=True,
                                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                      "--disable-component-update", "--disable-sync", "--no-first-run"])
    stack.callback(browser.close)
    return browser.new_page()


def _rebuilt(watch, n: int, timeout: float):
    """The watch's n-th rebuild (1-based), waited for."""
    import time
    deadline = time.monotonic() + timeout
    while len(watch.outcomes) < n:
        assert time.monotonic() < deadline, f"no rebuild {n} within {timeout} s: {watch.outcomes}"
        time.sleep(0.2)
    return watch.outcomes[n - 1]


def test_an_edit_under_watch_measures_the_groups_it_touches_reloads_the_page_and_a_revert_reuses_them(published):
    """Every verdict comes from one session's interleaved runs.  With `serve --watch` running and the
    6-B page open: an edit of 6-B's free re-measures every comparison group holding a header variant,
    whole, and no other, and the open page reloads with its headline turned slower; an edit that
    breaks the build shows the compiler's error there while the server keeps running; the revert
    brings back the sessions measured before the edit, measuring nothing."""
    import contextlib
    import socket
    import threading

    from reportgen.watch import Watch, server

    before = bench_groups(published)
    page_before = (published.docs_dir / "phases" / "phase-6b.md").read_text()
    assert sessions_on(page_before)
    spec = next(p for p in load_phases(published) if p.id == "phase-6b")
    groups_6b = {tuple(n.variants) for n in plan.needs(spec, plan.available_peers(spec.peers, published)[0])
                 if n.kind in ("bench", "offsets", "sweep")}
    mid = published.native_dir / "mid.c"
    text = mid.read_text()
    assert text.count(HEADER_READ) == 1

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    # one phase's rebuilds (the others' groups are keyed the same way)
    watch = Watch(published, quick=True, phase_ids=["phase-6b"], site_url=url, say=lambda line: None)
    first = watch.rebuild()
    assert first.ok and first.measured == []        # everything current: nothing measured again
    srv = server(published, "127.0.0.1", port, watch)
    srv.build_delay = 0.5                           # an edit written in two steps is one rebuild
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    try:
        with contextlib.ExitStack() as stack:
            page = _browser_page(stack, os.environ.get("REPORTGEN_CHROMIUM", "/usr/bin/chromium"))
            if page is not None:
                page.goto(url + "phases/phase-6b/")
                verdict_before = page.evaluate(VERDICT_JS)
                assert verdict_before and "failure" not in verdict_before.split(" | ")[0]
                shown = page.evaluate(BANNER_JS)
                assert "rebuilt at" in shown and "quick measurements" in shown and "nothing was stale" in shown

            # an edit of 6-B's free
            mid.write_text(text.replace(HEADER_READ, HEADER_READ + SPIN))
            o = _rebuilt(watch, 2, 900)
            assert o.ok, o
            after = bench_groups(published)
            grew = {k for k in after if after[k] > before.get(k, 0)}
            touched = {k for k in before if {"hak-6b", "hak-6c"} & set(k[1]) and k[1] in groups_6b}
            assert touched and grew == touched    # whole groups: the peers of an edited variant's group too
            assert not any(k[1][0] == "hak-6a" and len(set(k[1]) & {"hak-6b", "hak-6c"}) == 0 for k in grew)
            assert "phase-6b: mid_mt_gap" in o.measured
            page_md = (published.docs_dir / "phases" / "phase-6b.md").read_text()
            assert "## What changed since the previous revision" in page_md
            assert set(sessions_on(page_md)).isdisjoint(sessions_on(page_before))
            if page is not None:     # the open page reloaded by itself
                # the headline's callout is a failure exactly when its verdict is "slower"
                page.wait_for_function(f"{VERDICT_JS}.split(' | ')[0].includes('failure')", timeout=60_000)

            # an edit that breaks the build
            mid.write_text(text.replace(HEADER_READ, HEADER_READ + "  this is not C;\n"))
            o = _rebuilt(watch, 3, 300)
            assert not o.ok and "mid.c" in (o.detail or "") and thread.is_alive()
            assert bench_groups(published) == after
            if page is not None:
                page.wait_for_function(f"{BANNER_JS}.includes('did not rebuild')", timeout=60_000)
                shown = page.evaluate(BANNER_JS)
                assert "mid.c" in shown and "error" in shown

            # the revert: the sessions measured before the edit are current again
            mid.write_text(text)
            o = _rebuilt(watch, 4, 300)
            assert o.ok and o.measured == []
            assert bench_groups(published) == after
            assert sessions_on((published.docs_dir / "phases" / "phase-6b.md").read_text()) == sessions_on(page_before)
            if page is not None:
                page.wait_for_function(f"{BANNER_JS}.includes('nothing was stale')", timeout=60_000)
                assert page.evaluate(VERDICT_JS) == verdict_before
    finally:
        mid.write_text(text)
        srv.shutdown()
        thread.join(timeout=10)


# ---- several machines, and the incremental render (issue 11.3, 11.6) ------------------------

FAKE_CPU = "Fake Server CPU 9000"


def _copy_published(published: Project, tmp_path: Path, monkeypatch) -> Project:
    root = tmp_path / "copy"
    shutil.copytree(published.root, root, symlinks=True, ignore=shutil.ignore_patterns(".site.lock"))
    monkeypatch.setenv("REPORTGEN_RESULTS_DIR", str(root / "results"))
    monkeypatch.setenv("REPORTGEN_BUILD_DIR", str(root / "build"))
    return Project(root)


def _as_another_machine(project: Project) -> str:
    """Every record of this machine written again as a second machine's (through the store, so each
    file is named by its content), with phase-6b's headline turned around there: a decided verdict
    opposite to this machine's, its speed-up interval wholly beyond this machine's."""
    from reportgen.machine import machine_id, machine_info
    from reportgen.store import Store

    local = Store.for_project(project, machine_id())
    fake_info = {**machine_info(), "cpu_model": FAKE_CPU, "cores": 64}
    fake = Store(project.results_dir, machine_id(fake_info))
    records, _problems = local.scan()
    for rec in records:
        env = json.loads(json.dumps(rec.environment))
        if isinstance(env.get("machine"), dict):          # a phase record: {"machine", "git"}
            env["machine"] = {**env["machine"], **fake_info}
        else:                                             # a measurement: environment() itself
            env.update(fake_info)
        extra = json.loads(json.dumps(rec.extra))
        if rec.kind == "phase" and rec.allocator == "phase-6b":
            for c in extra["results"]["bench"]["mid_mt_gap"]["comparisons"]:
                if c.get("candidate") != "hak-6b" or not c.get("speedup_ci95"):
                    continue
                lo, hi = c["speedup_ci95"]
                ci = [max(hi, 0) + 0.05, max(hi, 0) + 0.10] if c.get("verdict") == "slower" \
                    else [min(lo, 0) - 0.10, min(lo, 0) - 0.05]
                c.update(verdict="faster" if c.get("verdict") == "slower" else "slower", speedup=sum(ci) / 2,
                         speedup_ci95=ci, ratio=1 + sum(ci) / 2, ci95=[1 + ci[0], 1 + ci[1]])
        fake.put(rec.model_copy(update={"environment": env, "extra": extra}))
    return fake.machine


def test_two_machines_side_by_side(published, tmp_path, monkeypatch):
    project = _copy_published(published, tmp_path, monkeypatch)
    from reportgen.machine import machine_id
    other = _as_another_machine(project)
    assert main(["--root", str(project.root), "publish", "--quick"]) == 0
    page = (project.docs_dir / "phases" / "phase-6b.md").read_text()
    section = page.split("## On every machine", 1)[1].split("\n## ", 1)[0]
    assert machine_id() in section and other in section and FAKE_CPU in section
    assert "The machines disagree" in section
    warning = section.split('!!! warning "The machines disagree"', 1)[1].split("\n\n|", 1)[0]
    head = next(l for l in warning.splitlines() if l.strip().startswith("- **the headline verdict**"))
    assert f"`{machine_id()}` " in head and f"`{other}` " in head and "95% CI" in head
    assert head.endswith("the 95% intervals of the speed-up do not overlap")
    assert "**slower**" in section or "**faster**" in section
    machine_page = (project.docs_dir / "phases" / "machine.md").read_text()
    assert "## Every machine with results" in machine_page
    assert f"`{other}`" in machine_page and f"`{machine_id()}` (this machine)" in machine_page
    assert FAKE_CPU in machine_page and "| cores | 64 |" in machine_page
    html = (project.site_dir / "phases" / "phase-6b" / "index.html").read_text()
    assert "On every machine" in html and FAKE_CPU in html


def test_an_unchanged_publish_renders_nothing_and_an_edit_renders_its_page_and_the_lists(
        published, tmp_path, monkeypatch):
    from reportgen.publish import publish

    project = _copy_published(published, tmp_path, monkeypatch)
    publish(project, quick=True)                 # the copy's own stamps
    site_index = project.site_dir / "index.html"
    built = site_index.stat().st_ino
    again = publish(project, quick=True)
    assert again.pages.rendered == [] and len(again.pages) == len(load_phases(project)) + 2   # + index, machine
    assert site_index.stat().st_ino == built     # nothing changed: the site is not built again
    spec = project.phases_dir / "phase-6a.yaml"
    spec.write_text(spec.read_text().replace("summary: >", "summary: >\n  An edited summary.", 1))
    edited = publish(project, quick=True)
    assert sorted(p.name for p in edited.pages.rendered) == ["index.md", "machine.md", "phase-6a.md"]
    assert "An edited summary." in (project.site_dir / "phases" / "phase-6a" / "index.html").read_text()
    for pid in ("phase-6b", "phase-6c"):         # carried over whole, with their charts
        assert (project.docs_dir / "phases" / f"{pid}.md").is_file()
        assert list((project.docs_dir / "phases" / pid).glob("*.json"))

