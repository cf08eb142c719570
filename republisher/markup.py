"""The one HTML sanitizer for everything published. The only module that imports nh3.

Sources are untrusted, and a declared content type proves nothing (`text/xml`,
`application/xhtml+xml`, `text/html; charset=utf-8` or no type at all may all hold
markup), so whatever is not plain text is cleaned here by content, with an allowlist
(nh3, the binding of Rust's Ammonia): tags and attributes not on the list go, URLs keep
only http, https and mailto schemes and are made absolute against the document's base.
Everything that writes output (Atom, JSON Feed, the HTML pages) passes stored HTML through
`sanitize` again, so an entry stored by an older, laxer version is cleaned on its way out.
"""

from __future__ import annotations

import html
import re
import threading
from urllib.parse import urljoin, urlsplit

import nh3

from republisher.text import strip_markup

# Formatting and structure a feed reader can show; no forms, frames, media players,
# SVG/MathML, style or script. Images stay: they are most of what a feed carries.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dfn",
        "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
        "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "time", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "q": {"cite"},
    "blockquote": {"cite"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Dropped with everything inside them, not just unwrapped: their text is not content.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "svg", "math",
                                  "form", "noscript", "title", "textarea", "select", "button"})  # fmt: skip


MAX_HTML = 1_000_000  # characters of one summary or content kept: no feed reader shows more
MAX_DEPTH = 200  # open tags deep: real markup nests a few dozen at most
_TAG = re.compile(r"<(/?)[A-Za-z][^>]*?(/?)>")


def sanitize(fragment: str, base: str | None = None) -> str:
    """Clean HTML: only allowed tags, attributes and URL schemes; relative URLs resolved
    against `base` (dropped when there is no absolute http(s) base to resolve them).

    Hostile markup is bounded first: the sanitizer's cost grows with the square of the
    nesting depth, so a fragment nested deeper than MAX_DEPTH keeps only its text, and
    one longer than MAX_HTML is cut (the parser closes what the cut leaves open)."""
    fragment = fragment[:MAX_HTML]
    if _too_deep(fragment):
        return html.escape(strip_markup(fragment))
    previous, _current.base = getattr(_current, "base", None), base
    try:
        return _CLEANER.clean(fragment)
    finally:
        _current.base = previous


# The base URL of the fragment being cleaned, for _absolute_url: one Cleaner is built
# once (building nh3's configuration at every call took three quarters of its time), so
# the base cannot be bound into its filter; the filter runs in the calling thread.
_current = threading.local()


def _filter(tag: str, attribute: str, value: str) -> str | None:
    return _absolute_url(tag, attribute, value, getattr(_current, "base", None))


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    attribute_filter=_filter,
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def _too_deep(fragment: str) -> bool:
    """Whether tags nest deeper than MAX_DEPTH (counted as written: one pass, linear)."""
    if fragment.count("<") < MAX_DEPTH:
        return False
    depth = 0
    for match in _TAG.finditer(fragment):
        if match.group(1):
            depth -= 1
        elif not match.group(2):
            depth += 1
            if depth > MAX_DEPTH:
                return True
    return False


def _absolute_url(tag: str, attribute: str, value: str, base: str | None) -> str | None:
    if attribute not in ("href", "src", "cite"):
        return value
    try:
        if urlsplit(value).scheme:
            return value  # nh3 checks the scheme against URL_SCHEMES after this filter
        if base is None or urlsplit(base).scheme not in ("http", "https"):
            return None
        return urljoin(base, value)
    except ValueError:  # not a URL at all (`//[::1`): drop the attribute
        return None
