"""mkdocs hook of `reportgen site`: no page of the site carries active content.

The renderer escapes every authored string (reportgen.render.md_text / safe_markdown);
this is the check behind it, on the HTML each page's markdown became: a <script> (or
another element that runs or loads code), an event-handler attribute (onclick=...) or a
javascript:/data:/vbscript: URL stops the build with the page named, before the new
site replaces the old one.
"""
from __future__ import annotations

from html.parser import HTMLParser

from mkdocs.exceptions import PluginError

ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form",
                         "meta", "link", "style", "svg", "math", "template", "portal"})
URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "srcset", "poster",
                       "background", "lowsrc", "ping"})
SAFE_SCHEMES = ("http", "https", "mailto")


def unsafe_url(value: str) -> bool:
    v = "".join(ch for ch in (value or "") if ch > " ").lower()  # browsers ignore control chars and spaces
    head = v.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return ":" in head and head.split(":", 1)[0] not in SAFE_SCHEMES


class _Finder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ACTIVE_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            elif name in URL_ATTRS and value and unsafe_url(value):
                self.found.append(f"<{tag} {name}={value[:40]!r}>")

    handle_startendtag = handle_starttag


def active_content(html: str) -> list[str]:
    """What in `html` could run code or load it: tags, handlers, URLs (empty: nothing)."""
    f = _Finder()
    f.feed(html)
    f.close()
    return f.found


def on_page_content(html, page, config, files):
    found = active_content(html)
    if found:
        raise PluginError(f"{page.file.src_uri}: the page carries active content ({', '.join(found[:3])}); "
                          "refusing to publish it (authored text must be text)")
    return html
