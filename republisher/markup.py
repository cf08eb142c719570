"""The one HTML sanitizer for everything published. The only module that imports nh3.

Sources are untrusted, and a declared content type proves nothing (`text/xml`,
`application/xhtml+xml`, `text/html; charset=utf-8` or no type at all may all hold
markup), so whatever is not plain text is cleaned here by content, with an allowlist
(nh3, the binding of Rust's Ammonia): tags and attributes not on the list go, URLs keep
only http, https and mailto schemes and are made absolute against the document's base.
Everything that writes output (Atom, JSON Feed, the HTML pages) passes stored HTML through
`sanitize` again, so an entry stored by an older, laxer version is cleaned on its way out;
only HTML stored under the id of the sanitizer running now (sanitizer_id) is not cleaned
twice.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import sys
import threading
from urllib.parse import urljoin, urlsplit

import nh3

from republisher import text
from republisher.codeid import code_digest

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
DROPPED_WITH_CONTENT = text.HIDDEN_CONTENT


MAX_HTML = 1_000_000  # characters of one summary or content kept: no feed reader shows more
# The parser (html5ever) is quadratic on some markup, and a source chooses its markup:
# in tags times nesting depth (nesting can hide from a plain count: `<div/>` opens a div,
# a stray `</span>` closes nothing), in tags times the formatting elements it re-opens
# after each block (`<b>` left open, then `<p/>x` again and again: each run of text
# copies every open `<b>` and its attributes), and in the characters its output escapes
# (`&`, no-break spaces). So the parser is given no fragment with more than MAX_TAGS "<",
# more than MAX_ESCAPED of those characters, or whose tags, read as HTML nests them,
# nest deeper than MAX_DEPTH or add up to more than MAX_WORK (see _parser_work); such
# markup keeps only its text (_text_unparsed). Real articles are far inside every bound.
MAX_TAGS = 5_000
MAX_ESCAPED = 20_000  # 0.01 s at 20,000 ("&" or U+00A0), 13 s at 1,000,000
MAX_DEPTH = 200  # open tags deep: real markup nests a few dozen at most
MAX_WORK = 5_000_000  # estimated steps (see _parser_work); a 100-tag article: thousands
SMALL = 50_000  # characters: a fragment this short with under MAX_DEPTH "<" is never costly


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


@functools.cache
def sanitizer_id() -> str:
    """Names the sanitizer running now: this program's code (this module, and the parsers
    that call it on every fragment they keep) and nh3's version. HTML a parser stored under
    the id of the sanitizer running now is already what that sanitizer makes of it, so a
    publish need not clean it again; anything else it does clean again."""
    digest = hashlib.sha256(code_digest())
    # Python's own URL parsing decides what _absolute_url keeps: its version counts too.
    digest.update(f"nh3 {getattr(nh3, '__version__', '?')} python {sys.version}".encode())
    return digest.hexdigest()[:32]


# Worked out as the sanitizer is loaded: the id names the code this process runs, even if
# the files on disk change before its first use.
sanitizer_id()


def plain_text(fragment: str) -> str:
    """Plain text of any HTML fragment, entities decoded, whitespace collapsed, in time
    linear in its length: the text of what `sanitize` makes of it, so that text no reader
    is shown (scripts, templates, frames, attributes, comments) never routes an item.
    (text.strip_markup reads the sanitizer's own markup itself: this is for the rest.)"""
    plain = text.strip_simple_markup(sanitize(fragment))
    return plain if plain is not None else _text_unparsed(fragment[:MAX_HTML])


# A tag as HTML reads it: "<" or "</", a name, then anything up to the first ">" outside
# quotes, or the end: each character is read once, whatever is left unclosed.
_TAG_AS_HTML = r"""<(/?)([A-Za-z][^\t\n\f\r />]*)(?:[^>"']|"[^"]*(?:"|\Z)|'[^']*(?:'|\Z))*(?:>|\Z)"""

# Markup the parser is not given (see MAX_TAGS), read in one pass as HTML reads it, each
# construct running to its end or to the end of the fragment (so each character is read
# about once, whatever is left unclosed): the elements the sanitizer drops with their
# content, comments and bogus comments (`<!x`, `<?x`, `</ x`) go whole; any other tag goes
# up to its first ">" outside quotes.
_ANY_TAG = re.compile(
    r"<(" + "|".join(sorted(DROPPED_WITH_CONTENT - {"embed"})) + r")(?![^\t\n\f\r />])"  # embed is void
    r"""(?:[^>"']|"[^"]*(?:"|\Z)|'[^']*(?:'|\Z))*(?:>|\Z).*?(?:</\1[ \t\n\r\f]*>|\Z)"""
    r"|<!--.*?(?:-->|\Z)"
    r"|<(?:[!?]|/(?![A-Za-z]))[^>]*(?:>|\Z)"
    r"|" + _TAG_AS_HTML,
    re.DOTALL | re.IGNORECASE,
)


def _text_unparsed(fragment: str) -> str:
    def separator(tag: re.Match[str]) -> str:
        return " " if (tag.group(2) or "").lower() in text.BLOCK_TAGS else ""

    return text.collapse_space(html.unescape(_ANY_TAG.sub(separator, fragment)))


def _parseable(fragment: str) -> bool:
    """Whether the parser may be given the fragment (see MAX_TAGS)."""
    tags = fragment.count("<")
    if tags > MAX_TAGS or fragment.count("&") + fragment.count("\xa0") > MAX_ESCAPED:
        return False
    if tags < MAX_DEPTH and len(fragment) < SMALL:
        return True
    return _parser_work(fragment) <= MAX_WORK


_SCAN_TAG = re.compile(_TAG_AS_HTML)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
                   "param", "source", "track", "wbr"})  # fmt: skip
_FORMATTING = frozenset({"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong",
                         "tt", "u"})  # fmt: skip
_ONE_OPEN = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option"})  # a new one closes the last


def _parser_work(fragment: str) -> int:
    """An upper estimate of the parser's steps: for each tag, the elements open and the
    characters of the formatting elements open (each may be copied again). Elements are
    counted open as HTML opens them: a slash does not close a non-void element, and an end
    tag closes only an element of its name that is open. Past MAX_DEPTH it is MAX_WORK + 1."""
    open_by_name: dict[str, list[int]] = {}
    depth = formatting = work = 0
    for tag in _SCAN_TAG.finditer(fragment):
        name = tag.group(2).lower()
        if name in _VOID:
            continue
        opened = open_by_name.setdefault(name, [])
        if tag.group(1):
            if opened:
                depth -= 1
                formatting -= opened.pop()
        elif not (name in _ONE_OPEN and opened):
            opened.append(len(tag.group()) if name in _FORMATTING else 0)
            depth += 1
            formatting += opened[-1]
            if depth > MAX_DEPTH:
                return MAX_WORK + 1
        work += depth + formatting
    return work


def _absolute_url(tag: str, attribute: str, value: str, base: str | None) -> str | None:
    if attribute not in ("href", "src", "cite"):
        return value
    try:
        scheme = urlsplit(value).scheme
        if scheme:
            # nh3 checks href's and src's scheme after this filter, but not cite's.
            return value if scheme.lower() in URL_SCHEMES else None
        if base is None or urlsplit(base).scheme not in ("http", "https"):
            return None
        return urljoin(base, value)
    except ValueError:  # not a URL at all (`//[::1`): drop the attribute
        return None
