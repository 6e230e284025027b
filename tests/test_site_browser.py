"""The built site in a real browser: Debian's chromium, headless, driven by playwright.

The site is built from the fixture results (FAKE values, tests/fixtures/) into a
temporary directory, served over a local http.server on 127.0.0.1, and checked:
every chart on a report draws, the site's own links lead from one phase to
another (through mkdocs-material's instant navigation) and the charts draw again
there, and the browser logs no console error and fetches nothing off the machine.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.loader import fixture_results  # noqa: E402
from reportgen import render, site  # noqa: E402
from reportgen.phases import load_phases  # noqa: E402
from reportgen.project import Project  # noqa: E402

CHROMIUM = os.environ.get("REPORTGEN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (CI installs it)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    project = Project.locate()
    phases = load_phases(project)
    tmp = tmp_path_factory.mktemp("site")
    docs = tmp / "docs"
    shutil.copytree(project.docs_dir, docs, ignore=shutil.ignore_patterns("phases", "plotly.min.js"))
    render.render_all(project, phases, fixture_results(phases, quick=True), out_dir=docs / "phases")
    out = tmp / "site"
    out.mkdir()
    with site.serving(out) as url:
        # built for the URL it is served at, so the theme's instant navigation takes over links
        site.build_site(project, docs_dir=docs, site_dir=out, site_url=url)
        yield url, phases


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _page(browser, base):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def offsite(route):
        problems.append(f"off-site request: {route.request.url}")
        route.abort()

    # Offline: anything not from our server is a failure (no CDN, no fonts).
    page.route(lambda url: not url.startswith(base) and not url.startswith("data:"), offsite)
    return page, problems


def _charts_drawn(page) -> tuple[int, int]:
    page.wait_for_function(
        """() => { const c = document.querySelectorAll('div.rg-chart');
                   return c.length > 0 && [...c].every(d => d.dataset.rgState === 'drawn' || d.dataset.rgState === 'failed'); }""",
        timeout=30000)
    total = page.locator("div.rg-chart").count()
    drawn = page.locator("div.rg-chart:has(.plot-container .main-svg)").count()
    return total, drawn


def test_every_chart_draws_and_instant_navigation_redraws(built_site, browser):
    base, phases = built_site
    page, problems = _page(browser, base)
    page.goto(base + "phases/phase-6b/")
    assert "quick run" in page.content().lower()
    total, drawn = _charts_drawn(page)
    assert total >= 4 and drawn == total, f"{drawn} of {total} charts drew on phase-6b"

    # Through the site's own link to the older phase (instant navigation: no full reload).
    page.evaluate("window.__rg_marker = 1")
    page.locator("article a[href$='phase-6a/']").first.click()
    # navigation.tracking writes the section in view into the URL (#provenance, say): allow a fragment
    page.wait_for_url(re.compile(r".*/phases/phase-6a/(#.*)?$"))
    page.wait_for_selector("h1:has-text('Phase 6-A')")
    assert page.evaluate("window.__rg_marker") == 1, "the link did a full page load, not instant navigation"
    total, drawn = _charts_drawn(page)
    assert total >= 2 and drawn == total, f"{drawn} of {total} charts drew on phase-6a after navigation"

    # And to the timeline through the navigation sidebar; its history chart draws too.
    page.locator(".md-sidebar--primary a.md-nav__link[href$='phases/']:visible").first.click()
    page.wait_for_selector("h1:has-text('Phases, newest first')")
    total, drawn = _charts_drawn(page)
    assert drawn == total >= 1
    assert not problems, "\n".join(problems)
    page.close()


def test_timeline_lists_phases_newest_first_with_verdicts(built_site, browser):
    base, phases = built_site
    page, problems = _page(browser, base)
    page.goto(base + "phases/")
    headings = page.locator("article h2 a:not(.headerlink)").all_inner_texts()
    expected = [p.title for p in sorted(phases, key=lambda p: (p.date, p.id), reverse=True)]
    assert headings[: len(expected)] == expected
    assert page.locator("article .rg-verdict").count() == len(phases)
    # the data of every chart is downloadable
    link = page.locator("a.rg-download").first
    resp = page.request.get(link.evaluate("a => a.href"))
    assert resp.ok and "data" in resp.json()
    assert not problems, "\n".join(problems)
    page.close()


def test_dark_mode_toggle_keeps_charts(built_site, browser):
    base, _ = built_site
    page, problems = _page(browser, base)
    page.goto(base + "phases/phase-6b/")
    _charts_drawn(page)
    before = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    page.locator("label.md-header__button[for^='__palette']:visible").first.click()
    page.wait_for_function(f"document.body.getAttribute('data-md-color-scheme') !== '{before}'")
    assert not problems, "\n".join(problems)
    page.close()
