"""Turn a fetched body into FeedData. The only module that imports feedparser.

feedparser reads the XML and resolves xml:base; this module turns its loose dicts into
frozen dataclasses at once. feedparser's own HTML sanitizing and link resolving are off:
they run a private, lax HTML parser that passed markup declared as `text/xml` unsanitized
and could crash on one item's junk (`<![ x`), losing the whole document. Instead every
summary and content that is not plain text, whatever type it declares, goes through
`markup.sanitize` (which also makes its links absolute against the element's xml:base).

One item that cannot be turned into an EntryData is dropped and named in `dropped`;
the rest of the document is kept.
"""

from __future__ import annotations

import calendar
import copy
import functools
import html
import re
import time
import types
from datetime import UTC, datetime
from typing import Any

import feedparser
import feedparser.mixin
import feedparser.urls
import feedparser.util

from republisher import enclosures, text
from republisher.errors import ParseError
from republisher.markup import sanitize, sanitizer_id
from republisher.models import Category, Enclosure, EntryData, FeedData, SourceMeta
from republisher.sources import fastparse, feedtext, identity, jsonfeed
from republisher.text import XML_FORBIDDEN, clean, plausible_date, web_url

# feedparser resolves a permalink guid against the document URL, so "12345" fetched from
# old.example.org and, after a move, from new.example.org would be two different items.
# An item's identity must not depend on where we fetched it: keep ids as written.
feedparser.mixin._FeedParserMixin.can_be_relative_uri = (
    feedparser.mixin._FeedParserMixin.can_be_relative_uri - {"id"}
)

# feedparser looks for an e-mail address in an author string with a regex that is
# quadratic in the string's length: 40 KB of "a" takes seconds, 400 KB minutes. No real
# author name is that long, so it is cut before the search.
LONGEST_AUTHOR = fastparse.LONGEST_AUTHOR  # one limit for both readers
_sync_author_detail = feedparser.mixin._FeedParserMixin._sync_author_detail


def _bounded_sync_author_detail(self: Any, key: str = "author") -> None:
    context = self._get_context()
    value = context.get(key)
    if isinstance(value, str) and len(value) > LONGEST_AUTHOR:
        context[key] = value[:LONGEST_AUTHOR]
    _sync_author_detail(self, key)


feedparser.mixin._FeedParserMixin._sync_author_detail = _bounded_sync_author_detail

# feedparser resolves the base URI again at every element (to follow xml:base), joining
# the document URL with itself with urllib: a fifth of its time on a plain feed. These are
# pure functions of their strings, so the last results are kept; the results are the same.
feedparser.mixin.make_safe_absolute_uri = functools.lru_cache(maxsize=1024)(
    feedparser.urls.make_safe_absolute_uri
)
feedparser.mixin._urljoin = functools.lru_cache(maxsize=1024)(feedparser.urls._urljoin)

# feedparser's dict looks every key up in its table of aliases and special keys, hundreds
# of thousands of times per feed; the same lookups, done for those keys only.
_FeedDict = feedparser.util.FeedParserDict
_SPECIAL_KEYS = frozenset(_FeedDict.keymap) | {
    "category",
    "enclosures",
    "license",
    "updated",
    "updated_parsed",
}
_special_getitem, _special_get, _special_contains = (
    _FeedDict.__getitem__,
    _FeedDict.get,
    _FeedDict.__contains__,
)
_special_setitem = _FeedDict.__setitem__


def _getitem(self: dict[str, Any], key: str) -> Any:
    return _special_getitem(self, key) if key in _SPECIAL_KEYS else dict.__getitem__(self, key)


def _get(self: dict[str, Any], key: str, default: Any = None) -> Any:
    return _special_get(self, key, default) if key in _SPECIAL_KEYS else dict.get(self, key, default)


def _contains(self: dict[str, Any], key: object) -> bool:
    return _special_contains(self, key) if key in _SPECIAL_KEYS else dict.__contains__(self, key)


def _setitem(self: dict[str, Any], key: str, value: Any) -> None:
    if key in _SPECIAL_KEYS:
        _special_setitem(self, key, value)
    else:
        dict.__setitem__(self, key, value)


_FeedDict.__getitem__, _FeedDict.get, _FeedDict.__contains__ = _getitem, _get, _contains
_FeedDict.__setitem__ = _setitem


def _copy_details(value: Any, memo: Any = None) -> Any:
    """copy.deepcopy for the text constructs' details feedparser copies at every element: a
    dict of strings (or None) is copied key by key, as deepcopy would; anything else by it."""
    if type(value) is _FeedDict and all(v is None or type(v) in (str, int) for v in value.values()):
        copied = _FeedDict()
        for key, item in value.items():
            copied[key] = item
        return copied
    return copy.deepcopy(value, memo)


feedparser.mixin.copy = types.SimpleNamespace(deepcopy=_copy_details)  # its only use of `copy`


def _time(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return plausible_date(datetime.fromtimestamp(calendar.timegm(parsed), UTC))
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _updated(element: Any) -> time.struct_time | None:
    """The element's own updated time. Plain dict access: feedparser's item access
    silently substitutes the published time, which would hide that none was given."""
    value: time.struct_time | None = dict.get(element, "updated_parsed")
    return value


def _is_plain_text(detail: Any, default: str) -> bool:
    """Whether a text construct is plain text; any other type, even unknown, is markup."""
    kind = str(detail.get("type") or default).partition(";")[0].strip().lower()
    return kind in ("text/plain", "text")


def _plain(detail: Any) -> str | None:
    """Text construct -> plain text (a title written as HTML loses its tags and entities)."""
    if not detail:
        return None
    value = clean(detail.get("value"))
    if value is not None and not _is_plain_text(detail, "text/plain"):
        value = clean(text.strip_markup(value))
    return value


def _html(detail: Any, url: str) -> str | None:
    """Text construct -> safe HTML. Plain text is escaped so it renders as written;
    anything else (html, xhtml, text/xml, an unknown or missing type) is sanitized as HTML,
    its links resolved against the element's xml:base, else the document URL."""
    if not detail:
        return None
    value = clean(detail.get("value"))
    if value is None:
        return None
    if _is_plain_text(detail, "text/html"):
        return html.escape(value, quote=False)
    return clean(sanitize(value, web_url(detail.get("base"), url) or url))


_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Byte patterns of "<" at the start of a document in the wide encodings XML allows.
_WIDE_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


_DECLARED_ENCODING_TEXT = re.compile(r"""^(\s*<\?xml[^>]*encoding\s*=\s*["'])[A-Za-z0-9._-]+""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?[^;"'\s]*""", re.IGNORECASE)


def _wide_to_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """A body in UTF-16 or UTF-32 re-encoded as UTF-8, its declaration and charset saying so.

    Everything after this scans bytes (entity declarations, character references, stray
    invalid UTF-8), which only works on an ASCII-compatible encoding: a UTF-16 feed's
    bytes could look like broken UTF-8 and be "repaired" into garbage.
    """
    for start, encoding in _WIDE_ENCODINGS:
        if body.startswith(start):
            text = body.decode(encoding, errors="replace").lstrip("\ufeff")
            text = _DECLARED_ENCODING_TEXT.sub(r"\1utf-8", text, count=1)
            return text.encode("utf-8"), _CHARSET.sub("charset=utf-8", content_type) if content_type else None
    return body, content_type


def refuse_entity_declarations(body: bytes, url: str) -> None:
    """Refuse a document that declares entities: that is where entity bombs live.

    feedparser's loose parser expands internal entities itself, so "billion laughs" turns
    100 KB into hundreds of MB. Real feeds do not declare entities; refusing them is
    simpler and safer than limiting expansion. Any `<!ENTITY` anywhere is refused: a
    DOCTYPE's quoted literals can imitate the start of a comment or a CDATA section, so
    no "it is only inside a comment" exception can be trusted. (A feed quoting `<!ENTITY`
    raw inside CDATA is refused too; escaped as `&lt;!ENTITY` it is fine.) The body is
    ASCII-compatible by then (_wide_to_utf8), so a UTF-16 declaration cannot hide.
    """
    if _ENTITY_DECLARATION.search(body):
        raise ParseError(url, "refused: the document declares XML entities (a DOCTYPE internal subset)")


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


def _drop_forbidden_references(body: bytes) -> bytes:
    """Remove character references to code points XML forbids (&#1;, &#xD800;): feedparser
    would either pass them through or crash on them."""

    def keep(found: re.Match[bytes]) -> bytes:
        hex_digits, decimal = found.groups()
        digits = (hex_digits or decimal).lstrip(b"0")
        if len(digits) > 8:  # beyond U+10FFFF (feedparser's chr() would raise on it)
            return b""
        code = int(hex_digits, 16) if hex_digits else int(decimal)
        if code > 0x10FFFF or XML_FORBIDDEN.match(chr(code)):
            return b""
        return found.group(0)

    return _CHAR_REF.sub(keep, body) if b"&#" in body else body


def _drop_invalid_utf8(body: bytes, content_type: str | None) -> bytes:
    """A UTF-8 feed with a few stray invalid bytes: drop those bytes, keep the text.

    Left alone, feedparser decodes the whole document as Windows-1252 and garbles every
    non-ASCII character. A document with no valid multi-byte sequence at all is more
    likely Latin-1 without a declaration, which feedparser's fallback handles well
    (Latin-1 text rarely forms a valid UTF-8 sequence by accident).
    """
    declared = _DECLARED_ENCODING.match(body[:200])
    charset = (content_type or "").lower().partition("charset=")[2].strip(" \"'")
    says_utf8 = declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")
    if not says_utf8 or charset not in ("", "utf-8", "utf8"):
        return body
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    decoded = body.decode("utf-8", errors="replace")
    if any(c >= "\x80" and c != "\ufffd" for c in decoded):
        return decoded.replace("\ufffd", "").encode("utf-8")
    return body


def parse_feed(body: bytes, url: str, content_type: str | None = None, *, fast: bool = True) -> FeedData:
    """Parse an RSS, Atom or JSON Feed body fetched from url. ParseError when it is not a feed.

    Plain, well-formed RSS 2.0 and Atom 1.0 are read by fastparse (`fast`), which gives
    what feedparser would; everything else, and everything it declines, by feedparser."""
    if jsonfeed.looks_like_json_feed(body, content_type):
        return jsonfeed.parse_json_feed(body, url)
    body, content_type = _wide_to_utf8(body, content_type)
    refuse_entity_declarations(body, url)
    body = _drop_invalid_utf8(_drop_forbidden_references(body), content_type)
    read = fastparse.read(body, url, content_type, _LOOKS_LIKE_HTML) if fast else None
    if read is not None:
        return _feed_data(read["feed"], read["entries"], url, None)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(
            body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except (ValueError, UnicodeError, AssertionError, IndexError, KeyError, TypeError, OverflowError) as e:
        raise ParseError(url, f"unreadable feed ({type(e).__name__}: {e})") from e
    if not parsed.get("version") and not parsed.get("entries"):
        raise ParseError(url, _not_a_feed_reason(body, parsed))
    warning = None
    error = parsed.get("bozo_exception")
    if parsed.bozo and parsed.entries and "SAXParseException" in type(error).__name__:
        warning = f"malformed XML ({error}); kept {len(parsed.entries)} entries"
    return _feed_data(parsed.feed, parsed.entries, url, warning)


# feedparser's guess whether an RSS title is HTML: fastparse must guess the same.
_LOOKS_LIKE_HTML = feedparser.mixin._FeedParserMixin.looks_like_html


def _feed_data(feed: Any, items: list[Any], url: str, warning: str | None) -> FeedData:
    """FeedData from feedparser's dicts (or fastparse's, which have the same shape)."""
    link = web_url(feed.get("link"), url)
    meta = SourceMeta(
        title=_plain(feed.get("title_detail")) or url,
        id=identity.source_id(feed.get("id"), link, url),
        self_url=url,
        link=link,
        updated=_time(_updated(feed) or feed.get("published_parsed")),
        author=_author(feed),
        own_self=_own_self(feed, url),
    )
    entries: list[EntryData] = []
    dropped: list[str] = []
    for position, item in enumerate(items, 1):
        try:
            entry = _entry(item, url)
        except Exception as e:  # isolates one item: the rest of the document is kept
            title = (item.get("title_detail") or {}).get("value")
            names = (title, item.get("id"), item.get("link"))
            dropped.append(
                identity.dropped_item(names, f"unreadable ({identity.describe_error(e)})", position)
            )
            continue
        if not identity.has_something_to_publish(entry):
            dropped.append(identity.dropped_item((entry.guid,), identity.NOTHING_TO_PUBLISH, position))
            continue
        if warning and not (entry.guid or entry.link):
            # In a cut-off document the last item is usually cut too; an item with neither
            # guid nor link cannot be recognised when it arrives whole, so it is left out.
            dropped.append(identity.dropped_item((entry.title,), "cut off, with no id or link", position))
            continue
        entries.append(entry)
    return FeedData(
        meta=meta,
        entries=tuple(entries),
        warning=warning,
        dropped=tuple(dropped),
        sanitized_by=sanitizer_id(),
    )


def _not_a_feed_reason(body: bytes, parsed: Any) -> str:
    head = body.lstrip()[:512].lower()
    if not head:
        return "empty body"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page, not a feed"
    error = parsed.get("bozo_exception")
    if error is None:
        return "not an RSS, Atom or JSON feed"
    # The XML parser names no document ("<unknown>:2:0: ...") and counts columns from 0.
    located = _SAX_PLACE.fullmatch(str(error))
    if located is None:
        return f"not an RSS, Atom or JSON feed ({error})"
    line, column, reason = located.groups()
    return f"not an RSS, Atom or JSON feed (XML {reason} at line {line}, column {int(column) + 1})"


_SAX_PLACE = re.compile(r"<unknown>:(\d+):(\d+): (.*)", re.DOTALL)


def _entry(e: Any, base: str) -> EntryData:
    link = web_url(e.get("link"), base)
    summary = _html(e.get("summary_detail"), base)
    contents = e.get("content") or []
    content = _html(contents[0], base) if contents else None
    if summary is not None and summary == content:
        summary = None
    title = _plain(e.get("title_detail"))
    categories = tuple(
        Category(term=term, scheme=web_url(t.get("scheme"), base), label=clean(t.get("label")))
        for t in e.get("tags") or []
        if (term := clean(t.get("term")))
    )
    return EntryData(
        guid=clean(e.get("id")),
        title=title or "",
        link=link,
        summary=summary,
        content=content,
        author=_author(e),
        categories=categories,
        published=_time(e.get("published_parsed")),
        updated=_time(_updated(e)),
        enclosures=_enclosures(e, base),
    )


def _author(element: Any) -> str | None:
    """An entry's or a feed's author (RSS author, managingEditor, dc:creator, atom:author)."""
    given = clean(element.get("author"))
    if given and "@" in given and (name := feedtext.named_author(given)) is not None:
        return name
    author_detail = element.get("author_detail") or {}
    return clean(author_detail.get("name")) or given


def _own_self(feed: Any, url: str) -> str | None:
    """The document's own rel="self" link (feedparser resolved it against xml:base)."""
    for link in feed.get("links") or []:
        if link.get("rel") == "self" and (own := web_url(link.get("href"), url)):
            return own
    return None


def _enclosures(e: Any, base: str) -> tuple[Enclosure, ...]:
    """RSS enclosures and Atom rel="enclosure" links (feedparser gathers both in
    `enclosures`, hrefs resolved against xml:base), then Media RSS content and
    thumbnails (URLs as written: resolved against the document URL)."""
    # feedparser gives an Atom link without a type "text/html", which no enclosure is.
    given = [
        (link.get("href"), None if link.get("type") == "text/html" else link.get("type"), link.get("length"))
        for link in e.get("enclosures") or []
    ]
    given += [(m.get("url"), m.get("type"), m.get("filesize")) for m in e.get("media_content") or []]
    given += [(m.get("url"), None, None) for m in e.get("media_thumbnail") or []]
    return enclosures.collected(given, base)
