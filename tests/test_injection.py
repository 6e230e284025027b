"""Authored text is text: a phase spec with script, handlers and hostile markdown, rendered and
built into the site, runs nothing -- checked in the built HTML and in a real browser.

Values are the fixture results (FAKE, tests/fixtures/); the spec is phase-6b's with hostile text
in every kind of field a person authors.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.loader import fixture_results  # noqa: E402
from reportgen import render, site  # noqa: E402
from reportgen.errors import UserError  # noqa: E402
from reportgen.phases import load_phases  # noqa: E402
from reportgen.project import Project  # noqa: E402

CHROMIUM = os.environ.get("REPORTGEN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def pwn(n: int) -> str:
    return f"window.__pwned=(window.__pwned||[]).concat({n})"


def hostile_spec(src: Path) -> dict:
    d = yaml.safe_load(src.read_text())
    d["title"] = f"Phase 6-B <script>{pwn(1)}</script> </title><script>{pwn(2)}</script>"
    d["question"] = d["question"] + f" <img src=x onerror=\"{pwn(3)}\"> {{{{ '<script>' ~ '{pwn(4)}' ~ '</script>' }}}}"
    d["summary"] = (f"**Bold** and `code <b>` and [a link](https://example.org/) and [bad](javascript:{pwn(5)}) "
                    f"and ![img](x.png) and text{{: onmouseover=\"{pwn(6)}\" }} and <svg onload=\"{pwn(7)}\">")
    d["claim"]["text"] = f"<img src=x onerror=\"{pwn(8)}\">"
    d["claim"]["source"] = f"[src](javascript:{pwn(9)})"
    h = d["hypotheses"][0]
    h["title"] = f"<img src=x onerror=\"{pwn(10)}\"> title"
    h["statement"] = f"<img src=x onerror=\"{pwn(11)}\"> statement {{: onclick=\"{pwn(12)}\" }}"
    h["check"]["all"][0]["label"] = f"<img src=x onerror=\"{pwn(13)}\">"
    d["recommendations"][0]["title"] = f"<img src=x onerror=\"{pwn(14)}\"> rec"
    d["recommendations"][1]["text"] = f"<script>{pwn(15)}</script> text"
    d["reference_statements"][0]["said"] = f"<img src=x onerror=\"{pwn(16)}\"> said | pipe"
    d["excerpts"][0]["title"] = f"<img src=x onerror=\"{pwn(17)}\">"
    d["conclusion"] = d["conclusion"] + f" <iframe src=\"javascript:{pwn(18)}\"></iframe>"
    return d


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    real = Project.locate()
    root = tmp_path_factory.mktemp("hostile")
    for part in ("phases", "templates", "docs"):
        shutil.copytree(real.root / part, root / part, ignore=shutil.ignore_patterns("phases", "plotly.min.js")
                        if part == "docs" else None)
    shutil.copy2(real.root / "mkdocs.yml", root / "mkdocs.yml")
    (root / "native").symlink_to(real.native_dir)
    spec = root / "phases" / "phase-6b.yaml"
    spec.write_text(yaml.safe_dump(hostile_spec(spec), sort_keys=False, allow_unicode=True))
    project = Project(root)
    phases = load_phases(project)
    render.render_all(project, phases, fixture_results(phases), out_dir=root / "docs" / "phases")
    site.build_site(project)
    return project


def test_hostile_text_is_escaped_in_the_markdown(hostile_site):
    md = (hostile_site.docs_dir / "phases" / "phase-6b.md").read_text()
    assert "<script" not in md and "<img" not in md and "<iframe" not in md and "<svg" not in md
    assert "](javascript:" not in md
    assert "{: on" not in md
    # formatting of authored markdown is kept, with safe links only
    assert "**Bold**" in md and "`code <b>`" in md and "[a link](https://example.org/)" in md


def test_no_active_content_in_the_built_site(hostile_site):
    for page in hostile_site.site_dir.rglob("*.html"):
        text = page.read_text()
        assert "__pwned" not in "".join(re.findall(r"<script[^>]*>(.*?)</script>", text, re.S)), page
        assert not re.search(r"<(img|iframe|svg)\b[^>]*\bon\w+=", text), page
        assert not re.search(r"""href=["']?javascript:""", text, re.I), page
        assert not re.search(r"<[a-z][^>]*\son(error|load|click|mouseover)=", text), page
    page = (hostile_site.site_dir / "phases" / "phase-6b" / "index.html").read_text()
    assert "&lt;script&gt;" in page  # shown as text


def test_the_site_hook_refuses_active_content():
    from reportgen.site_hooks import active_content
    assert active_content('<p>a <em>b</em> <a href="https://x.org/">l</a> <a href="#x">f</a></p>') == []
    assert active_content("<p><script>x</script></p>")
    assert active_content('<p><img src="x" onerror="y"></p>')
    assert active_content('<a href=" JaVa\tscript:alert(1)">x</a>')


def test_a_huge_repetition_in_authored_text_is_refused(tmp_path):
    real = Project.locate()
    spec = next(p for p in load_phases(real) if p.id == "phase-6b")
    for text, expect in (("{{ 'a' * 10**8 }}", "longer than"), ("{{ 10 ** 100000 }}", "exponent"), ("{{ 'a' * 100000000 }}", "longer than"),
                         ("{{ 'ab' * 9000 }}{{ 'ab' * 9000 }}", "characters, more than")):
        bad = spec.model_copy(update={"conclusion": text})
        with pytest.raises(UserError, match=expect) as exc:
            render.render_phase(real, bad, fixture_results([spec]))
        assert "\n" not in str(exc.value)


def test_a_missing_value_reads_not_measured_not_none():
    real = Project.locate()
    spec = next(p for p in load_phases(real) if p.id == "phase-6b")
    out = render.authored("It is {{ m('bench.mid_mt_gap.comparisons.hak-6b.verdict') }}.", spec, {}, "conclusion")
    assert out == "It is not measured."


@pytest.mark.browser
def test_no_script_from_a_spec_runs_in_a_browser(hostile_site):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (CI installs it)")
    api = pytest.importorskip("playwright.sync_api")
    with site.serving(hostile_site.site_dir) as url, api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.route(lambda u: not u.startswith(url), lambda route: route.abort())
            for path in ("phases/phase-6b/", "phases/", "phases/phase-6a/", ""):
                page.goto(url + path)
                page.wait_for_load_state("load")
                # every event a handler could sit on, dispatched to every element of the article (hidden
                # ones too: a real hover waits for an element to show, and most of a page is folded)
                page.evaluate("""() => { for (const e of document.querySelectorAll('article *'))
                    for (const t of ['mouseover', 'mouseenter', 'focus', 'load', 'error', 'animationstart'])
                        e.dispatchEvent(new Event(t)); }""")
                page.wait_for_timeout(200)
                assert page.evaluate("window.__pwned === undefined"), (path, page.evaluate("window.__pwned"))
                handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(
                    e => [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))""")
                assert handlers == [], (path, handlers)
                assert page.evaluate("[...document.querySelectorAll('a')].filter("
                                     "a => a.href.toLowerCase().startsWith('javascript:')).length") == 0
            page.goto(url + "phases/phase-6b/")
            h1 = page.locator("article h1").first.inner_text()
            assert "<script>" in h1  # the authored title, as text
            assert "<script>" in page.title()
            nav = page.locator(".md-sidebar--primary").inner_text()
            assert "<script>" in nav
            # the search index holds the text too: its results render it as text
            page.keyboard.press("/")   # the theme's search shortcut
            page.keyboard.type("statement", delay=20)
            page.wait_for_selector(".md-search-result__item", timeout=15000)
            page.wait_for_timeout(300)
            assert page.evaluate("window.__pwned === undefined"), page.evaluate("window.__pwned")
            assert not dialogs
        finally:
            browser.close()
