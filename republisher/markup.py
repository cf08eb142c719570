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

from republisher import text

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
# The HTML parser's cost grows with tags times nesting depth, and a source decides both:
# nesting can be hidden from any count short of parsing (`<div/>` opens a div; `</span>`
# after `<span><div>` closes nothing). So a fragment with more than MAX_TAGS "<" is never
# parsed (at 5,000 the worst shapes took 0.06 s; real articles hold a few hundred tags),
# nor one whose tags, as written, nest deeper than MAX_DEPTH: such markup keeps its text.
MAX_TAGS = 5_000
MAX_DEPTH = 200  # open tags deep: real markup nests a few dozen at most
# A tag as written, for counting depth: up to its ">" or the next "<" (so each character
# is read once, whatever is left unclosed).
_TAG = re.compile(r"<(/?)[A-Za-z][^<>]*?(/?)>")


def sanitize(fragment: str, base: str | None = None) -> str:
    """Clean HTML: only allowed tags, attributes and URL schemes; relative URLs resolved
    against `base` (dropped when there is no absolute http(s) base to resolve them).

    Hostile markup is bounded first: one longer than MAX_HTML is cut (the parser closes
    what the cut leaves open), and one the parser could take quadratic time on (see
    MAX_TAGS) keeps only its text."""
    fragment = fragment[:MAX_HTML]
    if not _parseable(fragment):
        return html.escape(_text_unparsed(fragment))
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


# Plain text of markup, for routing and for titles given as HTML: the parser (html5ever,
# as browsers parse) keeps only the tags that separate words, drops scripts, styles,
# comments and every attribute, and text.strip_simple_markup reads what it wrote.
_TEXT_CLEANER = nh3.Cleaner(
    tags=set(text.BLOCK_TAGS),
    clean_content_tags={"script", "style"},
    attributes={},
    url_schemes=set(),
    link_rel=None,
    strip_comments=True,
)


def plain_text(fragment: str) -> str:
    """Plain text of any HTML fragment, entities decoded, whitespace collapsed, in time
    linear in its length (text.strip_markup takes the sanitizer's own markup itself)."""
    if not _parseable(fragment):
        return _text_unparsed(fragment)
    plain = text.strip_simple_markup(_TEXT_CLEANER.clean(fragment))
    return plain if plain is not None else _text_unparsed(fragment)


# Markup the parser is not given (see MAX_TAGS), read in one pass: scripts, styles and
# comments dropped with their content (to the end when unclosed), any other tag up to its
# ">" or the next "<". A tag's attributes may hold a ">" only this once cuts short:
# nothing here is published as markup, and it is the text of hostile markup.
_ANY_TAG = re.compile(
    r"<(script|style)\b[^<>]*>.*?(?:</\1[ \t\n\r\f]*>|\Z)"
    r"|<!--.*?(?:-->|\Z)"
    r"|<[!?][^<>]*>?"
    r"|</?([A-Za-z][A-Za-z0-9]*)[^<>]*>?",
    re.DOTALL | re.IGNORECASE,
)


def _text_unparsed(fragment: str) -> str:
    def separator(tag: re.Match[str]) -> str:
        return " " if (tag.group(2) or "").lower() in text.BLOCK_TAGS else ""

    return text.collapse_space(html.unescape(_ANY_TAG.sub(separator, fragment)))


def _parseable(fragment: str) -> bool:
    """Whether the parser may be given the fragment: it costs at most about MAX_TAGS times
    MAX_DEPTH steps."""
    return fragment.count("<") <= MAX_TAGS and not _too_deep(fragment)


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
